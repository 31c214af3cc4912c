"""Adding a feed at a refused address, from the web: a 422 in plain words, no traceback."""

import logging

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import World, post_form, sign_in
from tribe.infra.netguard import unreachable


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert "unexpected error" not in caplog.text


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://0177.0.0.1:9/feed", "127.0.0.1"),
        ("http://no-such-host.invalid/feed", "no-such-host.invalid"),
    ],
)
def test_adding_a_feed_at_a_refused_address_answers_422_in_plain_words(
    app: TestClient, world: World, caplog: pytest.LogCaptureFixture, url: str, host: str
) -> None:
    caplog.set_level(logging.INFO)
    sign_in(app, world.carol.email)
    answer = post_form(
        app,
        "/feeds",
        {"url": url},
        page="/feeds",
        headers={"X-Tribe-Inplace": "1"},
    )
    assert answer.status_code == 422
    assert answer.text == unreachable(host)
    assert_no_traceback(caplog)
