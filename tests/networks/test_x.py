"""The X adapter with the real tweepy against the fake X API (tests/fakenet/x.py)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fakenet.common import (
    HOST,
    INTERNAL,
    SECRET,
    TEST_POLICY,
    CredentialStore,
    FakeServer,
    closed_port,
    internal_server,
)
from tests.fakenet.x import (
    DUPLICATE,
    OAUTH1_PERMISSIONS,
    SERVICE_UNAVAILABLE,
    FakeUser,
    FakeX,
    s256,
)
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
from tribe.networks.x import XApp, XConnectError, XPublisher, XSession
from tribe.networks.x.connect import (
    describe_account,
    oauth1_finish,
    oauth1_start,
    oauth2_finish,
    oauth2_start,
)

REDIRECT = "http://127.0.0.1:9/x/callback"


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with FakeX() as running:
        yield running


@pytest.fixture
def app(fake: FakeX) -> XApp:
    return XApp(
        api_url=fake.base_url,
        consumer_key=fake.consumer_key,
        consumer_secret=fake.consumer_secret,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        policy=TEST_POLICY,
    )


@pytest.fixture
def alice(fake: FakeX) -> FakeUser:
    return fake.add_user("alice")


def context(
    user: FakeUser,
    creds: Credentials,
    *,
    store: CredentialStore | None = None,
    timeout: float = 3.0,
) -> AccountContext:
    store = store or CredentialStore(creds)
    return AccountContext(
        account_id=1,
        handle=user.username,
        remote_user_id=user.id,
        base_url=None,
        credentials=dict(creds),
        timeout=timeout,
        refresh=store.refresh,
    )


def publication(
    text: str = "New post: A walk in the hills https://blog.example.org/hills",
    *,
    kind: ReshareKind = ReshareKind.POST,
    target: str | None = None,
    created_at: datetime | None = None,
) -> Publication:
    return Publication(
        delivery_id=7,
        kind=kind,
        text=text,
        link="https://blog.example.org/hills",
        title="A walk in the hills",
        summary="",
        target_id=target,
        target_cid=None,
        key="k-7",
        created_at=created_at or datetime.now(UTC) - timedelta(seconds=5),
    )


def creds_for(fake: FakeX, user: FakeUser, auth: str) -> Credentials:
    return fake.issue_oauth1(user) if auth == "oauth1" else fake.issue_oauth2(user)


# Connecting -------------------------------------------------------------------------


def test_oauth1_connect_flow_end_to_end(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    url, state = oauth1_start(app)

    assert url.startswith(f"{fake.base_url}/oauth/authorize?oauth_token=")
    token = dict(parse_qsl(urlsplit(url).query))["oauth_token"]
    assert token == state["oauth_token"]
    (asked,) = fake.calls("POST", "/oauth/request_token")
    assert 'oauth_callback="oob"' in (asked.header("Authorization") or "")
    verifier = fake.authorize_oauth1(token, alice)

    creds = oauth1_finish(app, state, verifier)

    assert creds["auth"] == "oauth1"
    assert creds["access_token"].startswith(f"{alice.id}-")
    assert set(creds) == {"auth", "access_token", "access_token_secret"}
    assert describe_account(app, creds, timeout=2) == {
        "remote_user_id": alice.id,
        "handle": "alice",
        "name": "Alice",
    }


def test_oauth1_wrong_pin_is_invalid_input(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    _, state = oauth1_start(app)
    fake.authorize_oauth1(state["oauth_token"], alice)

    with pytest.raises(InvalidInputError, match="refused"):
        oauth1_finish(app, state, "0000000")


def test_oauth2_pkce_flow_end_to_end(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    url, state = oauth2_start(app, redirect_uri=REDIRECT)

    assert url.startswith(f"{fake.base_url}/i/oauth2/authorize?")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["code_challenge"] == s256(state["code_verifier"])
    assert query["scope"] == "tweet.read tweet.write users.read offline.access"
    assert query["state"] == state["state"]
    redirected = fake.oauth2_redirect(url, alice)

    creds = oauth2_finish(app, state, redirected)

    assert creds["auth"] == "oauth2"
    assert creds["refresh_token"] in fake.valid_refresh_tokens()
    assert abs(creds["expires_at"] - (time.time() + 7200)) < 60
    assert describe_account(app, creds, timeout=2)["remote_user_id"] == alice.id
    # The code was exchanged once, with the verifier (the fake checked S256).
    assert fake.code_exchanges == 1
    form = fake.calls("POST", "/2/oauth2/token")[0].body
    assert form["code_verifier"] == state["code_verifier"]


def test_oauth2_finish_takes_a_bare_code_and_checks_the_verifier(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    url, state = oauth2_start(app, redirect_uri=REDIRECT)
    code = fake.authorize_oauth2(url, alice)

    with pytest.raises(InvalidInputError, match="refused"):
        oauth2_finish(app, {**state, "code_verifier": "x" * 64}, code)

    url, state = oauth2_start(app, redirect_uri=REDIRECT)
    creds = oauth2_finish(app, state, fake.authorize_oauth2(url, alice))
    assert describe_account(app, creds, timeout=2)["handle"] == "alice"


def test_oauth2_finish_refuses_another_attempts_answer(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    _, state = oauth2_start(app, redirect_uri=REDIRECT)
    other_url, _ = oauth2_start(app, redirect_uri=REDIRECT)

    with pytest.raises(InvalidInputError, match="another attempt"):
        oauth2_finish(app, state, fake.oauth2_redirect(other_url, alice))
    assert fake.code_exchanges == 0


def test_connect_flow_has_a_timeout(fake: FakeX, app: XApp) -> None:
    fake.slow(3.0, match="POST /oauth/request_token")
    started = time.monotonic()
    with pytest.raises(XConnectError):
        oauth1_start(app, timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_missing_app_keys_name_the_settings() -> None:
    bare = XApp()
    with pytest.raises(InvalidInputError, match="TRIBE_X_API_KEY and TRIBE_X_API_SECRET"):
        oauth1_start(bare)
    with pytest.raises(InvalidInputError, match="TRIBE_X_CLIENT_ID"):
        oauth2_start(bare, redirect_uri=REDIRECT)


# Publishing ---------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["oauth1", "oauth2"])
def test_post(fake: FakeX, app: XApp, alice: FakeUser, auth: str) -> None:
    item = publication()

    sent = XPublisher(app).publish(context(alice, creds_for(fake, alice, auth)), item)

    [tweet] = fake.tweets_by(alice)
    assert tweet.original == item.text
    assert sent == Sent(remote_id=tweet.id, remote_url=f"https://x.com/alice/status/{tweet.id}")
    [call] = fake.calls("POST", "/2/tweets")
    authorization = call.header("Authorization") or ""
    assert authorization.startswith("OAuth " if auth == "oauth1" else "Bearer ")


def test_the_session_sends_tweepy_to_the_configured_host(fake: FakeX, alice: FakeUser) -> None:
    creds = fake.issue_oauth2(alice)
    with XSession(fake.base_url + "/", 2.0, policy=TEST_POLICY) as session:
        answer = session.get(
            "https://api.twitter.com/2/users/me",
            headers={"Authorization": f"Bearer {creds['access_token']}"},
        )
    assert answer.json()["data"]["username"] == "alice"
    assert len(fake.calls("GET", "/2/users/me")) == 1
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= {
        name.lower() for name in answer.headers
    }


@pytest.mark.parametrize("auth", ["oauth1", "oauth2"])
def test_retweet(fake: FakeX, app: XApp, alice: FakeUser, auth: str) -> None:
    bob = fake.add_user("bob")
    original = fake.add_tweet(bob, "My new article https://bob.example.net/a")
    item = publication(kind=ReshareKind.REPOST, target=original.id)
    account = context(alice, creds_for(fake, alice, auth))

    sent = XPublisher(app).publish(account, item)

    assert fake.retweets == [(alice.id, original.id)]
    assert sent.remote_id == original.id
    assert fake.calls("POST", rf"/2/users/{alice.id}/retweets")[0].body == {"tweet_id": original.id}
    assert fake.calls("GET", "/2/users/me") == []  # the stored user id is used
    assert XPublisher(app).find(account, item) == sent


def test_retweet_without_target_is_rejected(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    item = publication(kind=ReshareKind.REPOST, target=None)
    with pytest.raises(Rejected):
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), item)
    assert fake.requests == []


def test_duplicate_is_rejected(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    account = context(alice, fake.issue_oauth1(alice))
    XPublisher(app).publish(account, publication())

    with pytest.raises(Rejected, match="duplicate of an earlier post") as caught:
        XPublisher(app).publish(account, publication())
    assert not isinstance(caught.value, NeedsReconnect)
    assert len(fake.tweets_by(alice)) == 1


def test_other_forbidden_is_rejected_with_x_words(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    body = {**DUPLICATE, "detail": "You are not permitted to create this Tweet."}
    fake.fail(403, body=body)
    with pytest.raises(Rejected, match="not permitted to create this Tweet"):
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication())


def test_429_waits_for_the_latest_spent_limit(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    now = int(time.time())
    fake.fail(
        429,
        headers={
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "57",  # not spent: its reset does not count
            "x-rate-limit-reset": str(now + 600),
            "x-user-limit-24hour-limit": "17",
            "x-user-limit-24hour-remaining": "0",
            "x-user-limit-24hour-reset": str(now + 50_000),
            "x-app-limit-24hour-limit": "1667",
            "x-app-limit-24hour-remaining": "1200",  # not spent either
            "x-app-limit-24hour-reset": str(now + 80_000),
        },
    )
    with pytest.raises(RateLimited) as caught:
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication())
    assert caught.value.until == datetime.fromtimestamp(now + 50_000, UTC)


def test_429_with_both_daily_limits_spent_waits_for_the_later(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    now = int(time.time())
    fake.fail(
        429,
        headers={
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(now + 600),
            "x-user-limit-24hour-remaining": "0",
            "x-user-limit-24hour-reset": str(now + 50_000),
            "x-app-limit-24hour-remaining": "0",
            "x-app-limit-24hour-reset": str(now + 80_000),
        },
    )
    with pytest.raises(RateLimited) as caught:
        XPublisher(app).publish(context(alice, fake.issue_oauth2(alice)), publication())
    assert caught.value.until == datetime.fromtimestamp(now + 80_000, UTC)


def test_429_without_headers_waits_15_minutes(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    fake.fail(429)
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication())
    assert timedelta(minutes=14) < caught.value.until - before < timedelta(minutes=16)


def test_revoked_oauth1_token_needs_reconnect(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    creds = fake.issue_oauth1(alice)
    fake.revoke(creds["access_token"])
    with pytest.raises(NeedsReconnect, match="connect the account again"):
        XPublisher(app).publish(context(alice, creds), publication())
    assert fake.tweets == []


def test_revoked_oauth2_needs_reconnect_after_one_refresh_attempt(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    creds = fake.issue_oauth2(alice)
    fake.revoke(creds["access_token"])
    fake.revoke(creds["refresh_token"])
    store = CredentialStore(creds)

    with pytest.raises(NeedsReconnect):
        XPublisher(app).publish(context(alice, creds, store=store), publication())
    assert len(fake.calls("POST", "/2/tweets")) == 1
    assert len(fake.calls("POST", "/2/oauth2/token")) == 1
    assert store.saved == []


def test_missing_app_permission_needs_reconnect(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    fake.fail(403, body=OAUTH1_PERMISSIONS)
    with pytest.raises(NeedsReconnect, match="permissions"):
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication())


def test_error_453_needs_reconnect(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    fake.fail(
        403,
        body={
            "errors": [
                {
                    "message": "You currently have access to a subset of X API V2 endpoints",
                    "code": 453,
                }
            ]
        },
    )
    with pytest.raises(NeedsReconnect):
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication())


def test_bad_request_is_rejected(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    with pytest.raises(Rejected, match="Tweet text is empty"):
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication(text=""))


# Unknown outcomes and finding the post ---------------------------------------------------


def test_server_error_after_acting_is_unknown_and_find_sees_the_post(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    account = context(alice, fake.issue_oauth1(alice))
    # X shows links as t.co and escapes "&": find must still recognise the text.
    item = publication("Tom & Jerry, again:  https://blog.example.org/tom-jerry?a=1&b=2 #cats")
    fake.fail(503, commit=True, body=SERVICE_UNAVAILABLE)

    with pytest.raises(Unknown):
        XPublisher(app).publish(account, item)
    [tweet] = fake.tweets_by(alice)
    assert "t.co" in tweet.text
    assert "&amp;" in tweet.text

    found = XPublisher(app).find(account, item)

    assert found == Sent(remote_id=tweet.id, remote_url=f"https://x.com/alice/status/{tweet.id}")
    assert len(fake.tweets_by(alice)) == 1


def test_server_error_before_acting_is_unknown_and_find_says_absent(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    account = context(alice, fake.issue_oauth2(alice))
    item = publication()
    fake.add_tweet(alice, "New post: A walk in the hills", created_at=datetime.now(UTC))
    fake.fail(503, body=SERVICE_UNAVAILABLE)

    with pytest.raises(Unknown):
        XPublisher(app).publish(account, item)

    assert XPublisher(app).find(account, item) is None  # the similar tweet has no link


def test_find_pages_back_until_before_the_publication(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    account = context(alice, fake.issue_oauth1(alice))
    created = datetime.now(UTC) - timedelta(hours=1)
    for n in range(150):
        fake.add_tweet(alice, f"old {n}", created_at=created - timedelta(days=1, minutes=n))
    for n in range(120):
        fake.add_tweet(alice, f"new {n}", created_at=created + timedelta(seconds=n))
    item = publication("the one", created_at=created)

    assert XPublisher(app).find(account, item) is None
    assert len(fake.calls("GET", rf"/2/users/{alice.id}/tweets")) == 2

    fake.add_tweet(alice, "the one", created_at=created + timedelta(minutes=5))
    assert XPublisher(app).find(account, item) is not None


def test_find_cannot_tell_when_the_timeline_does_not_reach_back(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    account = context(alice, fake.issue_oauth1(alice))
    created = datetime.now(UTC) - timedelta(hours=2)
    for n in range(310):
        fake.add_tweet(alice, f"busy {n}", created_at=created + timedelta(seconds=n))

    with pytest.raises(Unknown, match="too much"):
        XPublisher(app).find(account, publication(created_at=created))


def test_find_is_unknown_when_x_fails(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    fake.fail(503, match="GET /2/users/", body=SERVICE_UNAVAILABLE)
    with pytest.raises(Unknown):
        XPublisher(app).find(context(alice, fake.issue_oauth1(alice)), publication())


def test_find_repost_absent(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    bob = fake.add_user("bob")
    original = fake.add_tweet(bob, "mine")
    other = fake.add_tweet(bob, "other")
    account = context(alice, fake.issue_oauth1(alice))
    XPublisher(app).publish(account, publication(kind=ReshareKind.REPOST, target=other.id))

    item = publication(kind=ReshareKind.REPOST, target=original.id)
    assert XPublisher(app).find(account, item) is None


def test_slow_answer_times_out_as_unknown(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    fake.slow(3.0)
    account = context(alice, fake.issue_oauth1(alice), timeout=0.5)
    started = time.monotonic()

    with pytest.raises(Unknown):
        XPublisher(app).publish(account, publication())

    assert time.monotonic() - started < 1.5


def test_dropped_connection_after_acting_is_unknown(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    fake.drop(commit=True)
    with pytest.raises(Unknown):
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication())
    assert len(fake.tweets_by(alice)) == 1


def test_closed_port_is_transient(fake: FakeX, alice: FakeUser) -> None:
    app = XApp(
        api_url=f"http://{HOST}:{closed_port()}",
        consumer_key="k",
        consumer_secret="s",
        policy=TEST_POLICY,
    )

    with pytest.raises(Transient):
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication())


# OAuth 2.0 refresh ----------------------------------------------------------------------


def test_expired_oauth2_token_is_refreshed_first(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    creds = fake.issue_oauth2(alice)
    fake.expire(creds["access_token"])
    creds["expires_at"] = int(time.time()) - 10
    store = CredentialStore(creds)

    XPublisher(app).publish(context(alice, creds, store=store), publication())

    assert fake.token_refreshes == 1
    assert len(fake.calls("POST", "/2/tweets")) == 1  # no 401 first
    [saved] = store.saved
    assert saved["refresh_token"] != creds["refresh_token"]
    assert fake.valid_refresh_tokens() == {saved["refresh_token"]}  # rotated
    assert saved["expires_at"] > time.time() + 3600
    assert len(fake.tweets_by(alice)) == 1


def test_oauth2_401_refreshes_once_and_retries(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    creds = fake.issue_oauth2(alice)  # expires_at says it is fine, X says otherwise
    fake.expire(creds["access_token"])
    store = CredentialStore(creds)

    sent = XPublisher(app).publish(context(alice, creds, store=store), publication())

    assert fake.token_refreshes == 1
    assert len(fake.calls("POST", "/2/tweets")) == 2
    assert sent.remote_id == fake.tweets_by(alice)[0].id
    assert store.credentials["access_token"] != creds["access_token"]


def test_stale_context_uses_what_another_worker_stored(
    fake: FakeX, app: XApp, alice: FakeUser
) -> None:
    old = fake.issue_oauth2(alice)
    fake.expire(old["access_token"])
    old["expires_at"] = int(time.time()) - 10
    store = CredentialStore(fake.issue_oauth2(alice))  # someone already refreshed

    XPublisher(app).publish(context(alice, old, store=store), publication())

    assert fake.token_refreshes == 0
    assert store.saved == []
    assert fake.calls("POST", "/2/tweets")[0].header("Authorization") == (
        f"Bearer {store.credentials['access_token']}"
    )


def test_concurrent_workers_refresh_once(fake: FakeX, app: XApp, alice: FakeUser) -> None:
    creds = fake.issue_oauth2(alice)
    fake.expire(creds["access_token"])
    creds["expires_at"] = int(time.time()) - 10
    store = CredentialStore(creds)
    account = context(alice, creds, store=store)
    publisher = XPublisher(app)
    barrier = threading.Barrier(8)

    def send(n: int) -> Sent:
        barrier.wait()
        return publisher.publish(account, publication(f"post number {n} https://b.example/{n}"))

    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(send, range(8)))

    assert fake.token_refreshes == 1
    assert len(store.saved) == 1
    assert len(fake.tweets_by(alice)) == 8
    assert len({s.remote_id for s in sent}) == 8


# One guarded way out: tweepy's and requests_oauthlib's sessions go through the guard. ----


@pytest.fixture
def internal() -> Iterator[FakeServer]:
    with internal_server() as server:
        yield server


def test_a_redirect_from_the_api_is_refused_not_followed(
    fake: FakeX, app: XApp, alice: FakeUser, internal: FakeServer
) -> None:
    fake.fail(307, match="POST /2/tweets", headers={"Location": f"{internal.base_url}/2/tweets"})
    with pytest.raises(Unknown, match="answered with a redirect") as caught:
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication())
    assert internal.requests == []
    assert SECRET not in str(caught.value)


def test_the_sign_in_refuses_redirects(fake: FakeX, app: XApp, internal: FakeServer) -> None:
    target = f"{internal.base_url}/oauth/request_token"
    fake.fail(307, match="POST /oauth/request_token", headers={"Location": target})
    with pytest.raises(XConnectError, match="answered with a redirect") as caught:
        oauth1_start(app)
    assert internal.requests == []
    assert SECRET not in str(caught.value)


def test_an_api_at_a_refused_address_is_never_connected_to(
    fake: FakeX, alice: FakeUser, internal: FakeServer
) -> None:
    app = XApp(api_url=internal.base_url, consumer_key="k", consumer_secret="s", policy=TEST_POLICY)
    with pytest.raises(Transient, match=re.escape(unreachable(INTERNAL))):
        XPublisher(app).publish(context(alice, fake.issue_oauth1(alice)), publication())
    with pytest.raises(XConnectError, match=re.escape(unreachable(INTERNAL))) as caught:
        oauth1_start(app)
    assert internal.requests == []
    assert SECRET not in str(caught.value)
