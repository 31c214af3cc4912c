"""The Mastodon adapter, with the real Mastodon.py client against the fake instance."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from mastodon import MastodonRatelimitError

from tests.fakenet.common import (
    HOST,
    INTERNAL,
    SECRET,
    TEST_POLICY,
    FakeServer,
    closed_port,
    internal_server,
    redirector,
)
from tests.fakenet.mastodon import FakeMastodon, iso
from tribe.core.errors import InvalidInputError
from tribe.core.outcomes import (
    AccountContext,
    Credentials,
    NeedsReconnect,
    Publication,
    RateLimited,
    Rejected,
    ReshareKind,
    Sent,
    Transient,
    Unknown,
)
from tribe.infra.netguard import unreachable
from tribe.networks.mastodon import MastodonPublisher
from tribe.networks.mastodon.client import SCOPES
from tribe.networks.mastodon.connect import (
    authorize_url,
    describe_account,
    exchange_code,
    instance_base_url,
    register_app,
)
from tribe.networks.mastodon.errors import classify

REDIRECT = "https://tribe.example/connect/mastodon/callback"
TEXT = "Why tomatoes split\n\nhttps://alice.blog/1\n\nvia Alice #Gardening"
POSTS = "POST /api/v1/statuses"


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


@pytest.fixture
def token(fake: FakeMastodon) -> str:
    return fake.token_for("alice")


def no_refresh(update: object) -> Credentials:
    raise AssertionError("Mastodon credentials are never refreshed")


def account(
    base_url: str, token: str, *, timeout: float = 2.0, remote_user_id: str | None = None
) -> AccountContext:
    return AccountContext(
        account_id=1,
        handle="alice@fake.social",
        remote_user_id=remote_user_id,
        base_url=base_url,
        credentials={"access_token": token},
        timeout=timeout,
        refresh=no_refresh,
    )


def item(
    kind: ReshareKind = ReshareKind.POST,
    *,
    text: str = TEXT,
    key: str = "delivery-7-3f9a",
    target_id: str | None = None,
    created_at: datetime | None = None,
) -> Publication:
    return Publication(
        delivery_id=7,
        kind=kind,
        text=text,
        link="https://alice.blog/1",
        title="Why tomatoes split",
        summary="",
        target_id=target_id,
        target_cid=None,
        key=key,
        created_at=created_at or datetime.now(UTC),
    )


# Posting ---------------------------------------------------------------------------------


def test_post_makes_one_public_status_sent_with_the_idempotency_key(
    fake: FakeMastodon, token: str
) -> None:
    post = item()
    sent = MastodonPublisher(policy=TEST_POLICY).publish(account(fake.base_url, token), post)

    [status] = fake.statuses_by("alice")
    assert sent == Sent(remote_id=status.id, remote_url=f"{fake.base_url}/@alice/{status.id}")
    assert (status.text, status.visibility, status.idempotency_key) == (TEXT, "public", post.key)
    [request] = fake.calls("POST", "/api/v1/statuses")
    assert request.header("Idempotency-Key") == post.key
    assert request.header("Authorization") == f"Bearer {token}"


def test_a_retry_after_a_dropped_answer_returns_the_same_status(
    fake: FakeMastodon, token: str
) -> None:
    publisher, post = MastodonPublisher(policy=TEST_POLICY), item()
    fake.drop(commit=True, match=POSTS)

    with pytest.raises(Unknown, match="may have gone out"):
        publisher.publish(account(fake.base_url, token), post)
    [made] = fake.statuses_by("alice")  # the server acted before hanging up

    sent = publisher.publish(account(fake.base_url, token), post)
    assert sent.remote_id == made.id
    assert len(fake.statuses_by("alice")) == 1
    assert len(fake.calls("POST", "/api/v1/statuses")) == 2


def test_a_different_key_is_a_different_status(fake: FakeMastodon, token: str) -> None:
    publisher = MastodonPublisher(policy=TEST_POLICY)
    first = publisher.publish(account(fake.base_url, token), item(key="a"))
    second = publisher.publish(account(fake.base_url, token), item(key="b"))
    assert first.remote_id != second.remote_id
    assert len(fake.statuses_by("alice")) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_is_unknown_and_the_retry_does_not_post_twice(
    fake: FakeMastodon, token: str, status: int
) -> None:
    publisher, post = MastodonPublisher(policy=TEST_POLICY), item()
    fake.fail(status, commit=True, match=POSTS)

    with pytest.raises(Unknown, match=f"HTTP {status}"):
        publisher.publish(account(fake.base_url, token), post)

    sent = publisher.publish(account(fake.base_url, token), post)
    [status_made] = fake.statuses_by("alice")
    assert sent.remote_id == status_made.id


def test_a_slow_server_is_unknown_once_the_timeout_passes(fake: FakeMastodon, token: str) -> None:
    fake.slow(3.0, match=POSTS)
    started = time.monotonic()
    with pytest.raises(Unknown, match="timed out"):
        MastodonPublisher(policy=TEST_POLICY).publish(
            account(fake.base_url, token, timeout=0.5), item()
        )
    assert time.monotonic() - started < 1.5


def test_a_refused_connection_is_transient() -> None:
    base = f"http://{HOST}:{closed_port()}"
    with pytest.raises(Transient, match=r"could not reach 127\.0\.0\.2:.*connection refused"):
        MastodonPublisher(policy=TEST_POLICY).publish(account(base, "token"), item())


def test_a_429_waits_until_the_reset_the_server_gave(fake: FakeMastodon, token: str) -> None:
    until = (datetime.now(UTC) + timedelta(seconds=90)).replace(microsecond=250000)
    fake.rate_limited(until, match=POSTS)

    with pytest.raises(RateLimited) as caught:
        MastodonPublisher(policy=TEST_POLICY).publish(account(fake.base_url, token), item())

    assert caught.value.until == until
    assert f"waiting until {until:%H:%M} UTC" in str(caught.value)
    assert fake.statuses_by("alice") == []


def window_end(period: int) -> datetime:
    now = datetime.now(UTC).timestamp()
    return datetime.fromtimestamp(now - now % period + period, UTC)


def test_going_over_the_instance_limit_is_rate_limited_until_the_window_ends() -> None:
    with FakeMastodon(rate_limit=2, rate_period=3600) as fake:
        mine = fake.token_for("alice")
        publisher = MastodonPublisher(policy=TEST_POLICY)
        publisher.publish(account(fake.base_url, mine), item(key="1"))
        publisher.publish(account(fake.base_url, mine), item(key="2"))
        before = window_end(3600)
        with pytest.raises(RateLimited) as caught:
            publisher.publish(account(fake.base_url, mine), item(key="3"))
        assert caught.value.until in {before, window_end(3600)}
        assert len(fake.statuses_by("alice")) == 2
        [*_, refused] = fake.calls("POST", "/api/v1/statuses")
        assert refused.header("Idempotency-Key") == "3"


def test_without_a_reset_header_a_429_waits_five_minutes() -> None:
    error = classify(MastodonRatelimitError("Hit rate limit."), host="m.example", response=None)
    assert isinstance(error, RateLimited)
    wait = error.until - datetime.now(UTC)
    assert timedelta(minutes=4, seconds=55) < wait <= timedelta(minutes=5)


def test_a_reset_already_past_still_waits_a_little(fake: FakeMastodon, token: str) -> None:
    fake.rate_limited(datetime.now(UTC) - timedelta(minutes=1), match=POSTS)
    with pytest.raises(RateLimited) as caught:
        MastodonPublisher(policy=TEST_POLICY).publish(account(fake.base_url, token), item())
    wait = caught.value.until - datetime.now(UTC)
    assert timedelta(seconds=8) < wait <= timedelta(seconds=10)


def test_a_server_clock_far_behind_ours_is_allowed_for() -> None:
    now = datetime.now(UTC)
    server_now = now - timedelta(minutes=10)
    answer = requests.Response()
    answer.status_code = 429
    answer.headers["Date"] = format_datetime(server_now, usegmt=True)
    answer.headers["X-RateLimit-Reset"] = iso(server_now + timedelta(seconds=60))
    error = classify(MastodonRatelimitError("Hit rate limit."), host="m.example", response=answer)
    assert isinstance(error, RateLimited)
    assert abs(error.until - (now + timedelta(seconds=60))) < timedelta(seconds=2)


def test_an_unreadable_rate_limit_header_on_success_is_unknown_not_rate_limited(
    fake: FakeMastodon, token: str
) -> None:
    # Mastodon.py raises MastodonRatelimitError when it cannot parse X-RateLimit-Reset,
    # even on a 200 for a status that was made.
    publisher, post = MastodonPublisher(policy=TEST_POLICY), item()
    fake.fail(200, commit=True, match=POSTS, headers={"X-RateLimit-Reset": "soon-ish"})
    with pytest.raises(Unknown):
        publisher.publish(account(fake.base_url, token), post)
    sent = publisher.publish(account(fake.base_url, token), post)
    assert [s.id for s in fake.statuses_by("alice")] == [sent.remote_id]


def test_a_revoked_token_needs_reconnecting(fake: FakeMastodon, token: str) -> None:
    fake.revoke(token)
    with pytest.raises(NeedsReconnect, match=r"no longer accepts tribe's access.*revoked"):
        MastodonPublisher(policy=TEST_POLICY).publish(account(fake.base_url, token), item())
    assert fake.statuses_by("alice") == []


def test_an_unknown_token_needs_reconnecting(fake: FakeMastodon) -> None:
    with pytest.raises(NeedsReconnect, match="The access token is invalid"):
        MastodonPublisher(policy=TEST_POLICY).publish(account(fake.base_url, "not-a-token"), item())


def test_a_token_without_write_scope_needs_reconnecting(fake: FakeMastodon) -> None:
    read_only = fake.token_for("alice", scopes=["read"])
    with pytest.raises(NeedsReconnect, match="outside the authorized scopes"):
        MastodonPublisher(policy=TEST_POLICY).publish(account(fake.base_url, read_only), item())


def test_a_disabled_login_needs_reconnecting_but_a_refused_post_is_rejected(
    fake: FakeMastodon, token: str
) -> None:
    fake.fail(403, match=POSTS, body={"error": "Your login is currently disabled"})
    with pytest.raises(NeedsReconnect, match="Your login is currently disabled"):
        MastodonPublisher(policy=TEST_POLICY).publish(account(fake.base_url, token), item())

    fake.fail(403, match=POSTS, body={"error": "This action is not allowed"})
    with pytest.raises(Rejected, match="refused the post: This action is not allowed"):
        MastodonPublisher(policy=TEST_POLICY).publish(account(fake.base_url, token), item())


def test_a_text_over_the_limit_is_rejected_in_the_servers_words(
    fake: FakeMastodon, token: str
) -> None:
    with pytest.raises(Rejected) as caught:
        MastodonPublisher(policy=TEST_POLICY).publish(
            account(fake.base_url, token), item(text="x" * 501)
        )

    assert str(caught.value) == (
        f"{HOST}:{fake.port} refused the post: Text character limit of 500 exceeded"
    )
    assert fake.statuses_by("alice") == []


# Boosting --------------------------------------------------------------------------------


def test_a_boost_is_sent_once_however_often_it_is_asked(fake: FakeMastodon, token: str) -> None:
    original = fake.add_status("carol", "My new article https://carol.blog/2")
    publisher, boost = (
        MastodonPublisher(policy=TEST_POLICY),
        item(ReshareKind.REPOST, target_id=original.id),
    )

    first = publisher.publish(account(fake.base_url, token), boost)
    again = publisher.publish(account(fake.base_url, token), boost)

    [made] = fake.reblogs_of(original.id)
    assert first == again == Sent(made.id, f"{fake.base_url}/@carol/{original.id}")
    assert made.username == "alice"
    assert fake.reblog_count(original.id) == 1
    assert fake.statuses_by("alice") == []  # a boost is not a post of her own


def test_a_post_from_another_instance_is_found_by_its_url_and_boosted(
    fake: FakeMastodon, token: str
) -> None:
    url = "https://other.social/@carol/42"
    local = fake.federate(url, "carol@other.social", "My new article https://carol.blog/3")
    publisher = MastodonPublisher(policy=TEST_POLICY)

    sent = publisher.publish(account(fake.base_url, token), item(ReshareKind.REPOST, target_id=url))

    [made] = fake.reblogs_of(local.id)
    assert sent.remote_id == made.id
    with pytest.raises(Rejected, match="cannot find the author's post"):
        publisher.publish(
            account(fake.base_url, token),
            item(ReshareKind.REPOST, target_id="https://other.social/@carol/404"),
        )


def test_boosting_a_deleted_post_is_rejected(fake: FakeMastodon, token: str) -> None:
    original = fake.add_status("carol", "Soon gone")
    fake.delete_status(original.id)
    with pytest.raises(Rejected, match="cannot find the post to boost"):
        MastodonPublisher(policy=TEST_POLICY).publish(
            account(fake.base_url, token), item(ReshareKind.REPOST, target_id=original.id)
        )


def test_boosting_a_followers_only_post_is_rejected(fake: FakeMastodon, token: str) -> None:
    private = fake.add_status("carol", "Followers only", visibility="private")
    with pytest.raises(Rejected, match="refused the boost: This action is not allowed"):
        MastodonPublisher(policy=TEST_POLICY).publish(
            account(fake.base_url, token), item(ReshareKind.REPOST, target_id=private.id)
        )
    assert fake.reblog_count(private.id) == 0


def test_a_repost_without_a_target_is_rejected_without_calling(fake: FakeMastodon) -> None:
    with pytest.raises(Rejected, match="no Mastodon post to boost"):
        MastodonPublisher(policy=TEST_POLICY).publish(
            account(fake.base_url, "t"), item(ReshareKind.REPOST)
        )
    assert fake.requests == []


# Finding ---------------------------------------------------------------------------------


def test_find_sees_a_post_that_went_out(fake: FakeMastodon, token: str) -> None:
    publisher, post = MastodonPublisher(policy=TEST_POLICY), item()
    sent = publisher.publish(account(fake.base_url, token), post)
    assert publisher.find(account(fake.base_url, token), post) == sent


def test_find_says_absent_only_when_the_account_posted_nothing_since(
    fake: FakeMastodon, token: str
) -> None:
    publisher, post = MastodonPublisher(policy=TEST_POLICY), item()
    assert publisher.find(account(fake.base_url, token), post) is None

    fake.add_status("alice", "Something else entirely")
    with pytest.raises(Unknown, match="none with this text"):
        publisher.find(account(fake.base_url, token), post)


def test_find_sees_a_boost_and_its_absence(fake: FakeMastodon, token: str) -> None:
    original = fake.add_status("carol", "My new article")
    publisher, boost = (
        MastodonPublisher(policy=TEST_POLICY),
        item(ReshareKind.REPOST, target_id=original.id),
    )
    assert publisher.find(account(fake.base_url, token), boost) is None

    sent = publisher.publish(account(fake.base_url, token), boost)
    assert publisher.find(account(fake.base_url, token), boost) == sent


def test_find_cannot_tell_when_the_server_fails(fake: FakeMastodon, token: str) -> None:
    fake.fail(503, match="GET /api/v1/accounts")
    with pytest.raises(Unknown, match="could not look at the account"):
        MastodonPublisher(policy=TEST_POLICY).find(account(fake.base_url, token), item())


# Connecting ------------------------------------------------------------------------------


@pytest.mark.parametrize("oauth_metadata", [True, False])
def test_connecting_an_account_end_to_end(oauth_metadata: bool) -> None:
    with FakeMastodon(
        domain="fake.social",
        max_characters=1000,
        characters_reserved_per_url=30,
        oauth_metadata=oauth_metadata,
    ) as fake:
        app = register_app(fake.base_url, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=2)
        assert fake.app_registrations == 1
        registered = fake.apps[app["client_id"]]
        assert (registered.client_secret, registered.scopes) == (app["client_secret"], SCOPES)
        assert registered.redirect_uris == [REDIRECT]

        url = authorize_url(fake.base_url, app, redirect_uri=REDIRECT, state="s3cret")
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.base_url}/oauth/authorize"
        assert parse_qs(parts.query) == {
            "client_id": [app["client_id"]],
            "response_type": ["code"],
            "redirect_uri": [REDIRECT],
            "scope": [" ".join(SCOPES)],
            "state": ["s3cret"],
        }

        code = fake.authorize("alice")  # the member approves tribe
        credentials = exchange_code(
            fake.base_url, app, code, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=2
        )
        assert list(credentials) == ["access_token"]
        assert fake.tokens[credentials["access_token"]].username == "alice"

        about = describe_account(
            fake.base_url, credentials["access_token"], policy=TEST_POLICY, timeout=2
        )
        assert about["handle"] == "alice@fake.social"
        assert about["remote_user_id"] == fake.users["alice"].id
        assert (about["max_characters"], about["characters_reserved_per_url"]) == (1000, 30)
        assert about["base_url"] == fake.base_url

        sent = MastodonPublisher(policy=TEST_POLICY).publish(
            account(
                about["base_url"],
                credentials["access_token"],
                remote_user_id=about["remote_user_id"],
            ),
            item(),
        )
        assert [s.id for s in fake.statuses_by("alice")] == [sent.remote_id]
        assert fake.app_registrations == 1


def test_a_used_code_is_refused(fake: FakeMastodon) -> None:
    app = register_app(fake.base_url, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=2)
    code = fake.authorize("alice")
    exchange_code(fake.base_url, app, code, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=2)
    with pytest.raises(InvalidInputError, match=r"did not accept the sign-in.*grant is invalid"):
        exchange_code(
            fake.base_url, app, code, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=2
        )


def test_an_unreachable_instance_is_transient_while_connecting() -> None:
    base = f"http://{HOST}:{closed_port()}"
    with pytest.raises(Transient, match="connection refused"):
        register_app(base, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=1)
    with pytest.raises(Transient, match="connection refused"):
        exchange_code(
            base,
            {"client_id": "a", "client_secret": "b"},
            "c",
            redirect_uri=REDIRECT,
            policy=TEST_POLICY,
            timeout=1,
        )


def test_a_server_that_is_not_mastodon_is_invalid_input() -> None:
    with FakeServer() as other, pytest.raises(InvalidInputError, match="no route for POST"):
        register_app(other.base_url, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=2)


@pytest.mark.parametrize("typed", ["", "ftp://mastodon.social", "https://m.social/?x=1"])
def test_a_malformed_instance_address_is_invalid_input(typed: str) -> None:
    with pytest.raises(InvalidInputError):
        register_app(typed, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=1)


def test_describing_with_a_revoked_token_needs_reconnecting(fake: FakeMastodon, token: str) -> None:
    fake.revoke(token)
    with pytest.raises(NeedsReconnect, match="revoked"):
        describe_account(fake.base_url, token, policy=TEST_POLICY, timeout=2)


def test_describing_an_older_instance_reads_the_v1_limits() -> None:
    with FakeMastodon(
        version="3.5.3", domain="old.social", max_characters=700, characters_reserved_per_url=20
    ) as fake:
        about = describe_account(
            fake.base_url, fake.token_for("bob"), policy=TEST_POLICY, timeout=2
        )
        assert about["handle"] == "bob@old.social"
        assert (about["max_characters"], about["characters_reserved_per_url"]) == (700, 20)
        assert fake.calls("GET", "/api/v1/instance/?")


# One guarded way out: Mastodon.py's session connects only where the guard allows. -------


@pytest.fixture
def internal() -> Iterator[FakeServer]:
    with internal_server() as server:
        yield server


def test_a_redirect_to_an_internal_server_is_refused_not_followed(
    fake: FakeMastodon, token: str, internal: FakeServer
) -> None:
    fake.fail(307, match=POSTS, headers={"Location": f"{internal.base_url}/api/v1/statuses"})
    with pytest.raises(Unknown) as caught:
        MastodonPublisher(policy=TEST_POLICY).publish(account(fake.base_url, token), item())
    assert internal.requests == []  # the token and the text never left for it
    assert "answered with a redirect (HTTP 307)" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_registering_on_an_instance_that_redirects_inside_is_refused(internal: FakeServer) -> None:
    with redirector(internal.base_url) as hostile, pytest.raises(InvalidInputError) as caught:
        register_app(hostile.base_url, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=2)
    assert internal.requests == []
    assert "answered with a redirect" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_an_instance_at_a_refused_address_is_never_connected_to(internal: FakeServer) -> None:
    with pytest.raises(Transient) as caught:
        MastodonPublisher(policy=TEST_POLICY).publish(account(internal.base_url, "t"), item())
    assert str(caught.value) == unreachable(INTERNAL)
    with pytest.raises(InvalidInputError) as refused:
        register_app(internal.base_url, redirect_uri=REDIRECT, policy=TEST_POLICY, timeout=2)
    assert str(refused.value) == unreachable(INTERNAL)
    assert internal.requests == []


@pytest.mark.parametrize("typed", ["http://host:99999", "https://h:1:2", "http://[::1"])
def test_an_instance_address_that_is_not_one_is_a_sentence(typed: str) -> None:
    with pytest.raises(InvalidInputError, match=r"port|not a valid web address"):
        instance_base_url(typed)
