"""The Threads adapter against the fake Threads API (tests/fakenet/threads.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fakenet.common import (
    INTERNAL,
    SECRET,
    TEST_POLICY,
    CredentialStore,
    FakeServer,
    internal_server,
    redirector,
)
from tests.fakenet.threads import LONG_LIVED, REGAIN_MINUTES, FakeThreads, FakeUser
from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network
from tribe.core.outcomes import (
    AccountContext,
    NeedsReconnect,
    Publication,
    RateLimited,
    ReshareKind,
    Sent,
    Transient,
    Unknown,
)
from tribe.networks.threads import (
    ThreadsApp,
    ThreadsConnectError,
    ThreadsConnector,
    ThreadsFollowers,
    ThreadsPublisher,
)

TEXT = "New post: A walk in the hills https://blog.example.org/hills"
LINK = "https://blog.example.org/hills"


class Apps:
    """Threads needs no per-server app registration: nothing may be asked of this."""

    def get(self, network: Network, base_url: str) -> dict[str, str] | None:
        raise AssertionError("Threads has one app, from settings")

    def keep(self, network: Network, base_url: str, app: dict[str, str]) -> dict[str, str]:
        raise AssertionError("Threads has one app, from settings")


class Crash(Exception):
    """The worker dies right after the container id is kept."""


class Progress:
    """What `Publication.keep` commits, kept across attempts of one delivery."""

    def __init__(self, *, crash: bool = False) -> None:
        self.kept: dict[str, Any] = {}
        self.crash = crash

    def keep(self, done: Mapping[str, Any]) -> None:
        self.kept.update(done)
        if self.crash:
            raise Crash


@pytest.fixture
def fake() -> Iterator[FakeThreads]:
    with FakeThreads() as running:
        yield running


@pytest.fixture
def app(fake: FakeThreads) -> ThreadsApp:
    return ThreadsApp(
        auth_url=fake.base_url,
        api_url=fake.base_url,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        redirect_url=fake.redirect_url,
        policy=TEST_POLICY,
    )


@pytest.fixture
def alice(fake: FakeThreads) -> FakeUser:
    return fake.add_user("alice")


@pytest.fixture
def publisher(app: ThreadsApp) -> ThreadsPublisher:
    return ThreadsPublisher(app)


def context(
    fake: FakeThreads,
    user: FakeUser,
    *,
    store: CredentialStore | None = None,
    timeout: float = 3.0,
    **creds: Any,
) -> AccountContext:
    store = store or CredentialStore(fake.credentials(user, **creds))
    return AccountContext(
        account_id=1,
        handle=user.username,
        remote_user_id=user.id,
        base_url=None,
        credentials=dict(store.credentials),
        timeout=timeout,
        refresh=store.refresh,
    )


def publication(
    text: str = TEXT,
    *,
    kind: ReshareKind = ReshareKind.POST,
    target: str | None = None,
    progress: Progress | None = None,
) -> Publication:
    progress = progress or Progress()
    return Publication(
        delivery_id=7,
        kind=kind,
        text=text,
        link=LINK,
        title="A walk in the hills",
        summary="",
        target_id=target,
        target_cid=None,
        key="k-7",
        created_at=datetime.now(UTC) - timedelta(seconds=5),
        progress=dict(progress.kept),
        keep=progress.keep,
    )


def publish_path(user: FakeUser) -> str:
    return f"POST /v1.0/{user.id}/threads_publish"


# Connecting -------------------------------------------------------------------------


def connect_begin(app: ThreadsApp) -> tuple[ThreadsConnector, Any]:
    connector = ThreadsConnector(app, timeout=3.0)
    return connector, connector.begin({}, Apps())


def test_connect_flow_end_to_end(fake: FakeThreads, app: ThreadsApp, alice: FakeUser) -> None:
    connector, step = connect_begin(app)

    assert step.url.startswith(f"{fake.base_url}/oauth/authorize?")
    query = dict(parse_qsl(urlsplit(step.url).query))
    assert query == {
        "client_id": fake.client_id,
        "redirect_uri": fake.redirect_url,
        "scope": "threads_basic,threads_content_publish,threads_manage_insights",
        "response_type": "code",
        "state": step.state["state"],
    }
    connected = connector.finish(step.state, fake.oauth2_redirect(step.url, alice), Apps())

    assert (connected.network, connected.handle, connected.remote_user_id) == (
        Network.THREADS,
        "alice",
        alice.id,
    )
    creds = connected.credentials
    assert creds["access_token"].startswith("THL")  # the long-lived token, not the hour's
    assert abs(creds["expires_at"] - (time.time() + LONG_LIVED)) < 60
    (exchange,) = fake.calls("POST", "/oauth/access_token")
    assert exchange.body["grant_type"] == "authorization_code"
    assert exchange.body["redirect_uri"] == fake.redirect_url
    (lasting,) = fake.calls("GET", "/access_token")
    assert lasting.query["grant_type"] == "th_exchange_token"
    # The stored credentials post.
    store = CredentialStore(creds)
    account = context(fake, alice, store=store)
    assert ThreadsPublisher(app).publish(account, publication()).remote_id


def test_finish_refuses_a_bare_code(fake: FakeThreads, app: ThreadsApp, alice: FakeUser) -> None:
    """No PKCE here: only the whole address, with this attempt's state, is taken."""
    connector, step = connect_begin(app)
    callback = fake.oauth2_redirect(step.url, alice)
    code = dict(parse_qsl(urlsplit(callback).query))["code"]

    with pytest.raises(InvalidInputError, match="whole address"):
        connector.finish(step.state, code, Apps())
    assert fake.calls("POST", "/oauth/access_token") == []


def test_finish_refuses_another_attempts_answer(
    fake: FakeThreads, app: ThreadsApp, alice: FakeUser
) -> None:
    connector, step = connect_begin(app)
    callback = fake.oauth2_redirect(step.url, alice)

    with pytest.raises(InvalidInputError, match="another attempt"):
        connector.finish({**step.state, "state": "someone-else"}, callback, Apps())
    assert fake.calls("POST", "/oauth/access_token") == []


def test_a_member_who_declines_is_told_to_start_again(fake: FakeThreads, app: ThreadsApp) -> None:
    connector, step = connect_begin(app)
    callback = (
        f"{fake.redirect_url}?error=access_denied&error_reason=user_denied"
        f"&error_description=Permissions+error&state={step.state['state']}#_"
    )

    with pytest.raises(InvalidInputError, match=r"did not let tribe in.*allow it"):
        connector.finish(step.state, callback, Apps())


def test_a_refused_code_is_invalid_input(fake: FakeThreads, app: ThreadsApp) -> None:
    connector, step = connect_begin(app)

    bogus = f"{fake.redirect_url}?code=not-a-code&state={step.state['state']}#_"
    with pytest.raises(InvalidInputError, match=r"refused.*start connecting again"):
        connector.finish(step.state, bogus, Apps())


@pytest.mark.parametrize("path", ["POST /oauth/access_token", "GET /access_token"])
def test_a_token_endpoint_failing_is_a_connect_error(
    fake: FakeThreads, app: ThreadsApp, alice: FakeUser, path: str
) -> None:
    connector, step = connect_begin(app)
    callback = fake.oauth2_redirect(step.url, alice)
    fake.fail(500, match=path, body={"error": {"message": "Please retry", "code": 2}})

    with pytest.raises(ThreadsConnectError, match="try again"):
        connector.finish(step.state, callback, Apps())


def test_a_refused_long_lived_exchange_is_invalid_input(
    fake: FakeThreads, app: ThreadsApp, alice: FakeUser
) -> None:
    connector, step = connect_begin(app)
    callback = fake.oauth2_redirect(step.url, alice)
    fake.fail(400, match="GET /access_token", body={"error": {"message": "Bad secret", "code": 1}})

    with pytest.raises(InvalidInputError, match="Bad secret"):
        connector.finish(step.state, callback, Apps())


def test_missing_app_settings_are_named() -> None:
    connector = ThreadsConnector(ThreadsApp(), timeout=1.0)

    with pytest.raises(InvalidInputError, match="TRIBE_THREADS_CLIENT_ID"):
        connector.begin({}, Apps())


# Renewing ---------------------------------------------------------------------------


def test_renew_stores_a_new_long_lived_token(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    store = CredentialStore(fake.credentials(alice, expires_in=5 * 24 * 3600))
    old = store.credentials["access_token"]

    renewed = publisher.renew(context(fake, alice, store=store))

    assert renewed["access_token"] != old
    assert store.saved == [renewed]
    assert renewed["expires_at"] > time.time() + LONG_LIVED - 60
    assert fake.calls("GET", "/refresh_access_token")[0].query["grant_type"] == "th_refresh_token"


def test_a_renewal_threads_refuses_needs_reconnect_before_the_date(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    store = CredentialStore(fake.credentials(alice, age=3600))  # under a day old

    with pytest.raises(NeedsReconnect, match=r"connect it again before \d{4}-\d\d-\d\d"):
        publisher.renew(context(fake, alice, store=store))
    assert store.saved == []


def test_a_token_about_to_run_out_is_renewed_before_posting(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    store = CredentialStore(fake.credentials(alice, expires_in=3600))

    publisher.publish(context(fake, alice, store=store), publication())

    assert len(store.saved) == 1
    (made,) = fake.calls("POST", f"/v1.0/{alice.id}/threads")
    assert made.body["access_token"] == store.credentials["access_token"]


# Posting ----------------------------------------------------------------------------


def test_post_makes_a_container_with_its_link_then_publishes_it(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    progress = Progress()

    sent = publisher.publish(context(fake, alice), publication(progress=progress))

    (post,) = fake.posts
    assert (post.text, post.link, post.author_id) == (TEXT, LINK, alice.id)
    assert sent == Sent(remote_id=post.id, remote_url=post.permalink)
    (container,) = fake.created_containers()
    assert progress.kept == {"container": container.id}
    (made,) = fake.calls("POST", f"/v1.0/{alice.id}/threads")
    assert made.body["media_type"] == "TEXT"
    assert fake.calls("POST", f"/v1.0/{alice.id}/threads_publish")[0].body["creation_id"] == (
        container.id
    )


def test_a_text_without_the_link_gets_no_link_attachment(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    publisher.publish(context(fake, alice), publication("Just words this time"))

    (made,) = fake.calls("POST", f"/v1.0/{alice.id}/threads")
    assert "link_attachment" not in made.body
    assert fake.posts[0].link is None


def test_a_crash_after_the_container_publishes_that_container_next_time(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    progress = Progress(crash=True)
    with pytest.raises(Crash):
        publisher.publish(context(fake, alice), publication(progress=progress))
    assert fake.posts == []
    progress.crash = False

    account = context(fake, alice)
    assert publisher.find(account, publication(progress=progress)) is None  # FINISHED
    sent = publisher.publish(account, publication(progress=progress))

    (container,) = fake.created_containers()
    assert container.id == progress.kept["container"]
    (post,) = fake.posts
    assert sent.remote_id == post.id == container.media_id


def test_a_published_container_is_found_not_published_twice(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    progress = Progress()
    fake.fail(500, match=publish_path(alice), commit=True)
    account = context(fake, alice)

    with pytest.raises(Unknown):
        publisher.publish(account, publication(progress=progress))
    found = publisher.find(account, publication(progress=progress))
    again = publisher.publish(account, publication(progress=progress))

    (post,) = fake.posts
    assert found == again == Sent(remote_id=post.id, remote_url=post.permalink)
    assert len(fake.calls("POST", f"/v1.0/{alice.id}/threads_publish")) == 1


@pytest.mark.parametrize("status", ["EXPIRED", "ERROR"])
def test_an_expired_container_is_replaced(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser, status: str
) -> None:
    progress = Progress(crash=True)
    with pytest.raises(Crash):
        publisher.publish(context(fake, alice), publication(progress=progress))
    progress.crash = False
    fake.set_container(progress.kept["container"], status)

    publisher.publish(context(fake, alice), publication(progress=progress))

    first, second = fake.created_containers()
    assert (first.status, second.status) == (status, "PUBLISHED")
    assert progress.kept["container"] == second.id
    assert len(fake.posts) == 1


def test_a_container_threads_no_longer_has_is_replaced(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    progress = Progress(crash=True)
    with pytest.raises(Crash):
        publisher.publish(context(fake, alice), publication(progress=progress))
    progress.crash = False
    with fake.lock:
        del fake.containers[progress.kept["container"]]

    assert publisher.find(context(fake, alice), publication(progress=progress)) is None
    publisher.publish(context(fake, alice), publication(progress=progress))

    (post,) = fake.posts
    assert fake.created_containers()[0].media_id == post.id


def test_a_published_container_threads_no_longer_shows_is_found_not_posted_again(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    progress = Progress()
    fake.fail(500, match=publish_path(alice), commit=True)  # published, answer lost
    account = context(fake, alice)
    with pytest.raises(Unknown):
        publisher.publish(account, publication(progress=progress))
    with fake.lock:
        del fake.containers[progress.kept["container"]]  # a 4xx on its status now

    found = publisher.find(account, publication(progress=progress))
    again = publisher.publish(account, publication(progress=progress))

    (post,) = fake.posts
    assert found == again == Sent(remote_id=post.id, remote_url=post.permalink)
    assert len(fake.created_containers()) == 0  # none made again (the first was deleted)


def test_a_container_in_progress_is_waited_for(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    progress = Progress(crash=True)
    with pytest.raises(Crash):
        publisher.publish(context(fake, alice), publication(progress=progress))
    progress.crash = False
    fake.set_container(progress.kept["container"], "IN_PROGRESS")

    with pytest.raises(Transient, match="still preparing"):
        publisher.publish(context(fake, alice), publication(progress=progress))
    assert len(fake.created_containers()) == 1


def test_repost(fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser) -> None:
    bob = fake.add_user("bob")
    original = fake.add_post(bob, TEXT)
    item = publication(kind=ReshareKind.REPOST, target=original.id)
    account = context(fake, alice)

    sent = publisher.publish(account, item)

    assert fake.reposts == [(alice.id, original.id)]
    assert sent.remote_url == "https://www.threads.net/@alice/reposts"
    assert publisher.find(account, item) == sent
    assert fake.created_containers() == []


def test_a_full_quota_waits_for_the_window_and_makes_no_container(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    fake.use_quota(alice, 250, hours_ago=3)

    with pytest.raises(RateLimited, match="250 posts") as limited:
        publisher.publish(context(fake, alice), publication())

    expected = datetime.now(UTC) + timedelta(hours=21)  # the oldest leaves the 24 h window
    assert abs(limited.value.until - expected) < timedelta(minutes=2)
    assert fake.created_containers() == []


@pytest.mark.parametrize("way", ["expired", "revoked"])
def test_a_refused_token_needs_reconnect(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser, way: str
) -> None:
    account = context(fake, alice)
    token = account.credentials["access_token"]
    fake.expire(token) if way == "expired" else fake.revoke(token)

    with pytest.raises(NeedsReconnect, match="connect it again"):
        publisher.publish(account, publication())
    assert fake.posts == []


def test_429_waits_as_long_as_the_usage_header_says(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    fake.rate_limit = 0

    with pytest.raises(RateLimited) as limited:
        publisher.publish(context(fake, alice), publication())

    expected = datetime.now(UTC) + timedelta(minutes=REGAIN_MINUTES)
    assert abs(limited.value.until - expected) < timedelta(minutes=1)


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001, 80014])
def test_graph_throttling_codes_are_rate_limits(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser, code: int
) -> None:
    usage = {"1": [{"type": "threads", "call_count": 100, "estimated_time_to_regain_access": 42}]}
    fake.fail(
        400,
        match=publish_path(alice),
        body={"error": {"message": "Calls exceeded", "code": code, "type": "OAuthException"}},
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )

    with pytest.raises(RateLimited) as limited:
        publisher.publish(context(fake, alice), publication())

    expected = datetime.now(UTC) + timedelta(minutes=42)
    assert abs(limited.value.until - expected) < timedelta(minutes=1)
    assert fake.posts == []


def test_a_throttle_without_an_estimate_waits_the_fallback(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    fake.fail(400, match=publish_path(alice), body={"error": {"message": "Slow down", "code": 4}})

    with pytest.raises(RateLimited) as limited:
        publisher.publish(context(fake, alice), publication())

    expected = datetime.now(UTC) + timedelta(minutes=15)
    assert abs(limited.value.until - expected) < timedelta(minutes=1)


@pytest.mark.parametrize("code", [10, 200, 299])
def test_a_missing_permission_needs_reconnect(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser, code: int
) -> None:
    fake.fail(403, match=publish_path(alice), body={"error": {"message": "No perm", "code": code}})

    with pytest.raises(NeedsReconnect, match="allow every permission"):
        publisher.publish(context(fake, alice), publication())


def test_a_server_error_before_acting_is_unknown_and_find_says_absent(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    progress = Progress()
    fake.fail(500, match=publish_path(alice))
    account = context(fake, alice)

    with pytest.raises(Unknown, match="may have gone out"):
        publisher.publish(account, publication(progress=progress))

    assert publisher.find(account, publication(progress=progress)) is None
    assert publisher.find(account, publication()) is None  # by the recent posts, too


def test_a_dropped_answer_after_acting_is_unknown_and_find_sees_the_post(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    fake.drop(match=publish_path(alice), commit=True)
    account = context(fake, alice)

    with pytest.raises(Unknown):
        publisher.publish(account, publication())

    (post,) = fake.posts
    found = publisher.find(account, publication())  # no container kept: the recent posts
    assert found == Sent(remote_id=post.id, remote_url=post.permalink)


def test_find_ignores_older_and_other_posts(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    fake.add_post(alice, TEXT, created_at=datetime.now(UTC) - timedelta(days=2), by_api=True)
    fake.add_post(alice, "Something else entirely")

    assert publisher.find(context(fake, alice), publication()) is None


def test_a_slow_answer_is_unknown(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    fake.slow(1.0, match=publish_path(alice))

    with pytest.raises(Unknown, match="did not answer in time"):
        publisher.publish(context(fake, alice, timeout=0.5), publication())


def test_a_lost_container_answer_is_transient(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    progress = Progress()
    fake.fail(500, match=f"POST /v1.0/{alice.id}/threads")

    with pytest.raises(Transient):
        publisher.publish(context(fake, alice), publication(progress=progress))
    assert progress.kept == {}


@pytest.mark.parametrize("fault", ["fail", "slow"])
def test_a_failed_read_is_transient(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser, fault: str
) -> None:
    match = f"GET /v1.0/{alice.id}/threads_publishing_limit"
    if fault == "fail":
        fake.fail(503, match=match)
    else:
        fake.slow(1.0, match=match)

    with pytest.raises(Transient):
        publisher.publish(context(fake, alice, timeout=0.5), publication())
    assert fake.created_containers() == []


def test_find_cannot_tell_when_the_read_fails(
    fake: FakeThreads, publisher: ThreadsPublisher, alice: FakeUser
) -> None:
    fake.fail(500, match=f"GET /v1.0/{alice.id}/threads")

    with pytest.raises(Unknown, match="could not read"):
        publisher.find(context(fake, alice), publication())


# Followers --------------------------------------------------------------------------


def test_followers(fake: FakeThreads, app: ThreadsApp, alice: FakeUser) -> None:
    fake.set_followers(alice, 321)

    assert ThreadsFollowers(app).followers(context(fake, alice)).count == 321


def test_followers_unknown_when_threads_fails(
    fake: FakeThreads, app: ThreadsApp, alice: FakeUser
) -> None:
    fake.fail(503, match="/threads_insights")

    counted = ThreadsFollowers(app).followers(context(fake, alice))

    assert counted.count is None
    assert counted.again


# The guard --------------------------------------------------------------------------


@pytest.fixture
def internal() -> Iterator[FakeServer]:
    with internal_server() as running:
        yield running


def test_a_redirect_from_the_api_is_refused_not_followed(
    fake: FakeThreads, alice: FakeUser, internal: FakeServer
) -> None:
    with redirector(internal.base_url) as hostile:
        app = ThreadsApp(api_url=hostile.base_url, policy=TEST_POLICY)
        with pytest.raises(Transient) as refused:
            ThreadsPublisher(app).publish(context(fake, alice), publication())

    assert internal.requests == []
    assert SECRET not in str(refused.value)


def test_an_api_at_a_refused_address_is_never_connected_to(
    fake: FakeThreads, alice: FakeUser, internal: FakeServer
) -> None:
    app = ThreadsApp(api_url=internal.base_url, policy=TEST_POLICY)

    with pytest.raises(Transient):
        ThreadsPublisher(app).publish(context(fake, alice), publication())

    assert internal.requests == []
    assert INTERNAL in internal.base_url
