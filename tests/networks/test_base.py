"""The shared ladder: one rule from HTTP status or transport failure to outcome kind, and
where each network reads a status its own way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import requests

from tests.fakenet.common import HOST, INTERNAL, TEST_POLICY, closed_port
from tribe.core.outcomes import (
    NeedsReconnect,
    PublishError,
    RateLimited,
    Rejected,
    Transient,
    Unknown,
)
from tribe.infra.guarded_requests import guard_session
from tribe.infra.netguard import unreachable
from tribe.infra.transports import GuardedTransport
from tribe.networks.base import (
    ErrorAnswer,
    Failure,
    Ladder,
    NoAnswer,
    SignedOut,
    httpx_no_answer,
    requests_no_answer,
)
from tribe.networks.bluesky.errors import BlueskyLadder
from tribe.networks.mastodon.errors import MastodonLadder
from tribe.networks.x.errors import XLadder

WRITE, READ = True, False


@pytest.mark.parametrize(
    ("status", "acts", "kind"),
    [
        (429, WRITE, RateLimited),
        (401, WRITE, SignedOut),
        (401, READ, SignedOut),
        (408, WRITE, Transient),  # the server did not take the request
        (400, WRITE, Rejected),
        (403, WRITE, Rejected),
        (422, WRITE, Rejected),
        (409, WRITE, Unknown),  # it may have acted
        (409, READ, Transient),
        (500, WRITE, Unknown),
        (502, READ, Transient),
    ],
)
def test_an_http_answer_takes_its_rung(status: int, acts: bool, kind: type[PublishError]) -> None:
    outcome = Ladder(acts=acts).answer(ErrorAnswer(status, "the server's words"))
    assert type(outcome) is kind


def test_rejected_and_signed_out_keep_the_servers_words() -> None:
    ladder = Ladder(acts=True)
    assert "Text too long" in str(ladder.answer(ErrorAnswer(422, "Text too long")))
    assert "token revoked" in str(ladder.answer(ErrorAnswer(401, "token revoked")))
    assert isinstance(ladder.answer(ErrorAnswer(401, "")), NeedsReconnect)


def test_a_429_waits_for_the_networks_reset_or_the_fallback() -> None:
    ladder = Ladder(acts=True)
    soon = datetime.now(UTC) + timedelta(minutes=7)
    limited = ladder.answer(ErrorAnswer(429, "slow down", until=soon))
    assert isinstance(limited, RateLimited)
    assert limited.until == soon
    for until in (None, datetime.now(UTC) - timedelta(minutes=1)):
        limited = ladder.answer(ErrorAnswer(429, "slow down", until=until))
        assert isinstance(limited, RateLimited)
        assert limited.until - datetime.now(UTC) > timedelta(minutes=4)


@pytest.mark.parametrize(
    ("failure", "acts", "kind"),
    [
        (Failure.NOT_SENT, WRITE, Transient),
        (Failure.BLOCKED, WRITE, Transient),
        (Failure.TIMED_OUT, WRITE, Unknown),
        (Failure.TIMED_OUT, READ, Transient),
        (Failure.DROPPED, WRITE, Unknown),
        (Failure.REDIRECTED, WRITE, Unknown),
        (Failure.REDIRECTED, READ, Transient),
        (Failure.UNREADABLE, WRITE, Unknown),
    ],
)
def test_no_answer_is_transient_unless_the_call_may_have_acted(
    failure: Failure, acts: bool, kind: type[PublishError]
) -> None:
    assert type(Ladder(acts=acts).no_answer(NoAnswer(failure, "why"))) is kind


def test_a_refused_address_speaks_in_the_guards_words() -> None:
    refused = Ladder(acts=True).no_answer(NoAnswer(Failure.BLOCKED, unreachable(INTERNAL)))
    assert str(refused) == unreachable(INTERNAL)


@pytest.mark.parametrize(
    ("ladder", "status", "kind"),
    [
        (XLadder(acts=True), 408, Unknown),  # X: every doubt is looked up on the timeline
        (MastodonLadder("m.example", "post"), 409, Rejected),
        (MastodonLadder("m.example", "post"), 408, Transient),
        (MastodonLadder("m.example", "boost"), 404, Rejected),
        (BlueskyLadder("write", "a.example", "https://pds.example", 2), 408, Rejected),
        (BlueskyLadder("read", "a.example", "https://pds.example", 2), 400, Unknown),
        (BlueskyLadder("login", "a.example", "https://pds.example", 2), 400, NeedsReconnect),
        (BlueskyLadder("write", "a.example", "https://pds.example", 2), 501, NeedsReconnect),
    ],
)
def test_each_network_reads_some_statuses_its_own_way(
    ladder: Ladder, status: int, kind: type[PublishError]
) -> None:
    assert type(ladder.answer(ErrorAnswer(status, "words"))) is kind


def test_own_rungs_come_first() -> None:
    x = XLadder(acts=True)
    assert isinstance(x.answer(ErrorAnswer(403, "Duplicate content")), Rejected)
    assert isinstance(x.answer(ErrorAnswer(403, "nope", codes=("453",))), NeedsReconnect)
    mastodon = MastodonLadder("m.example", "post")
    login = mastodon.answer(ErrorAnswer(403, "Your login is currently disabled"))
    assert isinstance(login, NeedsReconnect)
    bluesky = BlueskyLadder("write", "a.example", "https://pds.example", 2)
    assert isinstance(bluesky.answer(ErrorAnswer(400, "gone", ("ExpiredToken",))), NeedsReconnect)


def test_requests_and_httpx_failures_are_read_alike() -> None:
    url = f"http://{HOST}:{closed_port()}/"
    session = guard_session(requests.Session(), TEST_POLICY, timeout=2)
    with pytest.raises(requests.RequestException) as caught:
        session.get(url)
    assert requests_no_answer(caught.value) == NoAnswer(Failure.NOT_SENT, "connection refused")
    with pytest.raises(requests.RequestException) as caught:
        session.get(f"http://{INTERNAL}:{closed_port(INTERNAL)}/")
    assert requests_no_answer(caught.value) == NoAnswer(Failure.BLOCKED, unreachable(INTERNAL))
    with httpx.Client(transport=GuardedTransport(TEST_POLICY)) as client:
        with pytest.raises(httpx.HTTPError) as failed:
            client.get(url)
        assert httpx_no_answer(failed.value).failure == Failure.NOT_SENT
        with pytest.raises(httpx.HTTPError) as failed:
            client.get(f"http://{INTERNAL}:9/")
        assert httpx_no_answer(failed.value) == NoAnswer(Failure.BLOCKED, unreachable(INTERNAL))
