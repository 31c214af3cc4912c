"""A refused feed address is the feed's error in plain words, never a traceback in the log.

`0177.0.0.1` is 127.0.0.1 to getaddrinfo (octal) but an invalid URL to httpx, which
used to escape the fetcher as an unexpected error ("unexpected error polling feed",
with a traceback), on a stored URL and on a redirect alike.
"""

import logging

import pytest

from tests import builders as b
from tests.builders import poll_now
from tests.fakenet.feeds import FeedServer, redirect
from tribe.core.errors import InvalidInputError
from tribe.core.kinds import PollOutcome
from tribe.core.urls import check_feed_url
from tribe.infra.db import session_scope
from tribe.infra.models import Feed
from tribe.infra.netguard import unreachable

pytestmark = pytest.mark.usefixtures("db")


def polled_error(url: str) -> str | None:
    with session_scope() as s:
        feed_id = b.pk(b.feed(s, b.member(s, "Alice"), url))
    poll_now(feed_id)
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        assert feed.last_outcome == PollOutcome.ERROR
        return feed.error_message


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert "unexpected error" not in caplog.text


@pytest.mark.parametrize("host", ["0177.0.0.1", "0x7f.0.0.1", "2130706433", "127.1"])
def test_a_stored_url_in_another_ipv4_form_is_refused_plainly(
    caplog: pytest.LogCaptureFixture, host: str
) -> None:
    caplog.set_level(logging.INFO)
    assert polled_error(f"http://{host}:9/feed") == unreachable("127.0.0.1")
    assert_no_traceback(caplog)


def test_a_redirect_to_an_octal_address_is_refused_plainly(
    server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.routes["/feed"] = redirect(302, f"http://0177.0.0.1:{server.port}/feed")
    assert polled_error(server.url("/feed")) == unreachable("127.0.0.1")
    assert_no_traceback(caplog)
    assert "loopback" in caplog.text  # the operator's log says why


@pytest.mark.parametrize("url", ["http://[::1", "http://host:99999/", "https://h:1:2/"])
def test_a_broken_feed_url_is_a_sentence(url: str) -> None:
    with pytest.raises(InvalidInputError, match=r"valid web address|invalid port"):
        check_feed_url(url)
