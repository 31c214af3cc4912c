"""The LinkedIn adapter, with its real httpx calls, against the fake LinkedIn (tests/fakenet/linkedin.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
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
from tests.fakenet.linkedin import FakeLinkedIn, FakeMember
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
from tribe.networks.base import Step
from tribe.networks.linkedin import (
    LinkedInApp,
    LinkedInConnectError,
    LinkedInConnector,
    LinkedInFollowers,
    LinkedInPublisher,
    LinkedInRenewer,
)
from tribe.networks.linkedin.errors import next_midnight
from tribe.networks.linkedin.publish import little

LINK = "https://blog.example.org/hills"
TEXT = f"New post: A walk in the hills (part 1) {LINK}"


class NoApps:
    """LinkedIn needs no per-server app registration: the connector never asks."""

    def get(self, network: Any, base_url: str) -> dict[str, str] | None:
        raise AssertionError("LinkedIn has one app, from settings")

    def keep(self, network: Any, base_url: str, app: dict[str, str]) -> dict[str, str]:
        raise AssertionError("LinkedIn has one app, from settings")


@pytest.fixture
def fake() -> Iterator[FakeLinkedIn]:
    with FakeLinkedIn() as running:
        yield running


def app_for(fake: FakeLinkedIn, **changes: str) -> LinkedInApp:
    settings = {
        "auth_url": fake.base_url,
        "api_url": fake.base_url,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "redirect_url": fake.redirect_url,
        **changes,
    }
    return LinkedInApp(policy=TEST_POLICY, **settings)


@pytest.fixture
def app(fake: FakeLinkedIn) -> LinkedInApp:
    return app_for(fake)


@pytest.fixture
def alice(fake: FakeLinkedIn) -> FakeMember:
    return fake.add_user("Alice Writes")


def context(
    user: FakeMember,
    creds: Credentials,
    *,
    store: CredentialStore | None = None,
    timeout: float = 3.0,
) -> AccountContext:
    store = store or CredentialStore(creds)
    return AccountContext(
        account_id=1,
        handle=user.name,
        remote_user_id=user.id,
        base_url=None,
        credentials=dict(creds),
        timeout=timeout,
        refresh=store.refresh,
    )


def publication(
    text: str = TEXT,
    *,
    kind: ReshareKind = ReshareKind.POST,
    target: str | None = None,
    created_at: datetime | None = None,
) -> Publication:
    return Publication(
        delivery_id=7,
        kind=kind,
        text=text,
        link=LINK,
        title="A walk in the hills",
        summary="Up the ridge and back before the rain.",
        target_id=target,
        target_cid=None,
        key="k-7",
        created_at=created_at or datetime.now(UTC) - timedelta(seconds=5),
    )


# Connecting ------------------------------------------------------------------------------


def begin(app: LinkedInApp) -> Step:
    step = LinkedInConnector(app, timeout=2.0).begin({}, NoApps())
    assert isinstance(step, Step)
    return step


def test_begin_sends_the_member_to_the_authorize_page(fake: FakeLinkedIn, app: LinkedInApp) -> None:
    step = begin(app)

    parts = urlsplit(step.url)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.base_url}/oauth/v2/authorization"
    )
    assert dict(parse_qsl(parts.query)) == {
        "response_type": "code",
        "client_id": fake.client_id,
        "redirect_uri": fake.redirect_url,
        "state": step.state["state"],
        "scope": "openid profile w_member_social",
    }
    assert len(step.state["state"]) >= 20
    assert step.state["redirect_uri"] == fake.redirect_url
    assert step.ask == "Paste the whole address LinkedIn sent you back to"
    assert fake.requests == []  # nothing is asked before the member comes back


def test_finish_with_the_whole_callback_address(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    step = begin(app)
    callback = fake.oauth2_redirect(step.url, alice)

    connected = LinkedInConnector(app, timeout=2.0).finish(step.state, callback, NoApps())

    assert connected.handle == "Alice Writes"
    assert connected.remote_user_id == alice.id
    creds = connected.credentials
    assert abs(creds["expires_at"] - (time.time() + 60 * 86400)) < 60
    assert creds["refresh_token"]
    assert creds["refresh_token_expires_at"] > creds["expires_at"]
    [exchange] = fake.calls("POST", "/oauth/v2/accessToken")
    assert exchange.body["grant_type"] == "authorization_code"
    assert exchange.body["redirect_uri"] == fake.redirect_url
    assert fake.calls("GET", "/v2/userinfo")[0].header("Authorization") == (
        f"Bearer {creds['access_token']}"
    )


def test_finish_without_a_refresh_token_stores_none() -> None:
    with FakeLinkedIn(refresh=False) as fake:
        app = app_for(fake)
        step = begin(app)
        member = fake.add_user("Bob Builds")
        callback = fake.oauth2_redirect(step.url, member)

        connected = LinkedInConnector(app, timeout=2.0).finish(step.state, callback, NoApps())

    assert "refresh_token" not in connected.credentials
    assert connected.remote_user_id == member.id


def test_finish_refuses_another_attempts_answer(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    step, other = begin(app), begin(app)

    with pytest.raises(InvalidInputError, match="another attempt"):
        LinkedInConnector(app, timeout=2.0).finish(
            step.state, fake.oauth2_redirect(other.url, alice), NoApps()
        )
    assert fake.code_exchanges == 0


def test_a_declined_sign_in_is_invalid_input(fake: FakeLinkedIn, app: LinkedInApp) -> None:
    step = begin(app)

    with pytest.raises(InvalidInputError, match="cancelled LinkedIn login"):
        LinkedInConnector(app, timeout=2.0).finish(
            step.state, fake.declined_redirect(step.url), NoApps()
        )
    assert fake.requests == []


def test_a_refused_code_says_start_again(fake: FakeLinkedIn, app: LinkedInApp) -> None:
    step = begin(app)

    bogus = f"{step.state['redirect_uri']}?code=not-a-code&state={step.state['state']}"
    with pytest.raises(InvalidInputError, match="start again"):
        LinkedInConnector(app, timeout=2.0).finish(step.state, bogus, NoApps())
    assert fake.calls("GET", "/v2/userinfo") == []


def test_a_token_endpoint_failure_is_a_connect_error(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    step = begin(app)
    fake.fail(500, match="POST /oauth/v2/accessToken")

    with pytest.raises(LinkedInConnectError, match="try again"):
        LinkedInConnector(app, timeout=2.0).finish(
            step.state, fake.oauth2_redirect(step.url, alice), NoApps()
        )


def test_missing_app_settings_are_named(fake: FakeLinkedIn) -> None:
    with pytest.raises(InvalidInputError, match="TRIBE_LINKEDIN_CLIENT_ID"):
        begin(app_for(fake, client_secret=""))


# Posting ---------------------------------------------------------------------------------


def test_post_sends_the_body_linkedin_documents(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    item = publication()

    sent = LinkedInPublisher(app).publish(context(alice, fake.credentials(alice)), item)

    [post] = fake.posts
    assert post.text == item.text
    assert sent == Sent(
        remote_id=post.id, remote_url=f"https://www.linkedin.com/feed/update/{post.id}/"
    )
    assert post.body == {
        "author": f"urn:li:person:{alice.id}",
        "commentary": f"New post: A walk in the hills \\(part 1\\) {LINK}",
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "content": {
            "article": {
                "source": LINK,
                "title": "A walk in the hills",
                "description": "Up the ridge and back before the rain.",
            }
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    headers = {name.lower(): value for name, value in post.headers.items()}
    assert re.fullmatch(r"\d{6}", headers["linkedin-version"])
    assert headers["x-restli-protocol-version"] == "2.0.0"


def test_little_escapes_reserved_characters_but_not_links_or_hashtags() -> None:
    text = "a_b *c* [d] {e} <f> @g ~h | \\ #tag # x https://e.example/a_(b)"
    assert little(text) == (
        "a\\_b \\*c\\* \\[d\\] \\{e\\} \\<f\\> \\@g \\~h \\| \\\\ #tag \\# x https://e.example/a_(b)"
    )


def test_reshare_points_at_the_authors_post(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    bob = fake.add_user("Bob Builds")
    original = fake.add_post(bob, f"My new article {LINK}")
    item = publication(kind=ReshareKind.REPOST, target=original.id)
    account = context(alice, fake.credentials(alice))

    sent = LinkedInPublisher(app).publish(account, item)

    [reshare] = fake.posts_by(alice)
    assert reshare.reshare_of == original.id
    assert reshare.body["reshareContext"] == {"parent": original.id}
    assert reshare.body["commentary"] == ""
    assert "content" not in reshare.body
    assert sent.remote_id == reshare.id
    assert LinkedInPublisher(app).find(account, item) == sent


def test_reshare_without_a_target_posts_the_text(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    item = publication(kind=ReshareKind.REPOST, target=None)
    LinkedInPublisher(app).publish(context(alice, fake.credentials(alice)), item)
    [post] = fake.posts
    assert post.text == TEXT
    assert post.reshare_of is None


def test_a_duplicate_is_rejected(fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember) -> None:
    account = context(alice, fake.credentials(alice))
    LinkedInPublisher(app).publish(account, publication())
    with pytest.raises(Rejected, match="duplicate"):
        LinkedInPublisher(app).publish(account, publication())
    assert len(fake.posts) == 1


def test_revoked_sign_in_without_refresh_needs_reconnect(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    creds = fake.credentials(alice, refresh=False)
    fake.revoke(creds["access_token"])
    with pytest.raises(NeedsReconnect, match="connect the account again"):
        LinkedInPublisher(app).publish(context(alice, creds), publication())
    assert fake.posts == []
    assert fake.calls("POST", "/oauth/v2/accessToken") == []


def test_a_missing_posting_permission_needs_reconnect(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    fake.fail(
        403, body={"status": 403, "code": "ACCESS_DENIED", "message": "Not enough permissions"}
    )
    with pytest.raises(NeedsReconnect, match="allow tribe to share"):
        LinkedInPublisher(app).publish(context(alice, fake.credentials(alice)), publication())


def test_429_waits_until_midnight_utc(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    fake.rate_limit = 1
    account = context(alice, fake.credentials(alice))
    LinkedInPublisher(app).publish(account, publication())

    with pytest.raises(RateLimited) as caught:
        LinkedInPublisher(app).publish(account, publication("another one " + LINK))

    assert caught.value.until == next_midnight(datetime.now(UTC))
    assert caught.value.until.time() == datetime.min.time()
    assert len(fake.posts) == 1


def test_429_with_retry_after_waits_that_long(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    fake.fail(429, headers={"Retry-After": "120"})
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        LinkedInPublisher(app).publish(context(alice, fake.credentials(alice)), publication())
    assert timedelta(seconds=110) < caught.value.until - before < timedelta(seconds=130)


def test_server_error_before_acting_is_unknown_and_find_says_absent(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    account = context(alice, fake.credentials(alice))
    fake.add_post(alice, "New post: A walk in the hills (part 1)")  # no link: not the one
    fake.fail(503)

    with pytest.raises(Unknown, match="may or may not"):
        LinkedInPublisher(app).publish(account, publication())

    assert LinkedInPublisher(app).find(account, publication()) is None


@pytest.mark.parametrize("fault", ["fail", "drop"])
def test_acted_then_failed_is_unknown_and_find_finds_it(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember, fault: str
) -> None:
    account = context(alice, fake.credentials(alice))
    item = publication(f"Tom & Jerry [again] #cats_and_mice  {LINK}")
    if fault == "fail":
        fake.fail(500, commit=True)
    else:
        fake.drop(commit=True)

    with pytest.raises(Unknown):
        LinkedInPublisher(app).publish(account, item)
    [post] = fake.posts

    assert LinkedInPublisher(app).find(account, item) == Sent(
        remote_id=post.id, remote_url=f"https://www.linkedin.com/feed/update/{post.id}/"
    )


def test_slow_answer_is_unknown(fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember) -> None:
    fake.slow(2.0)
    with pytest.raises(Unknown, match="in time"):
        LinkedInPublisher(app).publish(
            context(alice, fake.credentials(alice), timeout=0.5), publication()
        )


def test_find_pages_back_until_before_the_publication(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    account = context(alice, fake.credentials(alice))
    created = datetime.now(UTC) - timedelta(hours=1)
    for n in range(60):
        fake.add_post(alice, f"old {n}", created_at=created - timedelta(days=1, minutes=n))
    for n in range(70):
        fake.add_post(alice, f"new {n}", created_at=created + timedelta(seconds=n))
    item = publication("the one", created_at=created)

    assert LinkedInPublisher(app).find(account, item) is None
    [first, second] = fake.calls("GET", "/rest/posts")
    assert first.query["author"] == f"urn:li:person:{alice.id}"
    assert (first.query["sortBy"], second.query["start"]) == ("LAST_MODIFIED", "50")


def test_find_cannot_tell_when_the_posts_do_not_reach_back(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    created = datetime.now(UTC) - timedelta(hours=2)
    for n in range(210):
        fake.add_post(alice, f"busy {n}", created_at=created + timedelta(seconds=n))
    with pytest.raises(Unknown, match="too much"):
        LinkedInPublisher(app).find(
            context(alice, fake.credentials(alice)), publication(created_at=created)
        )


def test_find_without_read_permission_asks_the_member() -> None:
    with FakeLinkedIn(member_reads=False) as fake:
        member = fake.add_user("Alice Writes")
        with pytest.raises(Unknown, match="look on LinkedIn") as caught:
            LinkedInPublisher(app_for(fake)).find(
                context(member, fake.credentials(member)), publication()
            )
    assert "confirm or resend" in str(caught.value)


# Renewing the sign-in ----------------------------------------------------------------------


def test_an_expired_token_is_renewed_before_the_call(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    creds = fake.credentials(alice)
    fake.expire(creds["access_token"])
    creds["expires_at"] = int(time.time()) - 10
    store = CredentialStore(creds)

    LinkedInPublisher(app).publish(context(alice, creds, store=store), publication())

    assert fake.token_refreshes == 1
    assert len(fake.calls("POST", "/rest/posts")) == 1  # no 401 first
    [saved] = store.saved
    assert saved["access_token"] != creds["access_token"]
    assert saved["expires_at"] > time.time() + 50 * 86400
    assert fake.calls("POST", "/rest/posts")[0].header("Authorization") == (
        f"Bearer {saved['access_token']}"
    )


def test_a_401_renews_once_and_posts(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    creds = fake.credentials(alice)  # expires_at says it is fine, LinkedIn says otherwise
    fake.expire(creds["access_token"])
    store = CredentialStore(creds)

    sent = LinkedInPublisher(app).publish(context(alice, creds, store=store), publication())

    assert fake.token_refreshes == 1
    assert len(fake.calls("POST", "/rest/posts")) == 2
    assert sent.remote_id == fake.posts[0].id


def test_a_refused_refresh_needs_reconnect(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    creds = fake.credentials(alice)
    fake.revoke(creds["access_token"])
    fake.revoke(creds["refresh_token"])
    store = CredentialStore(creds)

    with pytest.raises(NeedsReconnect, match="no longer renews"):
        LinkedInPublisher(app).publish(context(alice, creds, store=store), publication())
    assert len(fake.calls("POST", "/rest/posts")) == 1
    assert store.saved == []


def test_renew_with_a_refresh_token(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    creds = fake.credentials(alice, expires_in=3 * 86400)
    store = CredentialStore(creds)

    renewed = LinkedInRenewer(app).renew(context(alice, creds, store=store))

    assert store.saved == [renewed]
    assert renewed["expires_at"] > time.time() + 50 * 86400
    assert renewed["refresh_token"] == creds["refresh_token"]
    LinkedInPublisher(app).publish(context(alice, renewed), publication())
    assert len(fake.posts) == 1


def test_renew_without_a_refresh_token_says_until_when(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember
) -> None:
    creds = fake.credentials(alice, expires_in=3 * 86400, refresh=False)
    day = datetime.fromtimestamp(creds["expires_at"], UTC).strftime("%Y-%m-%d")

    with pytest.raises(NeedsReconnect, match=f"connect the account again before {day}"):
        LinkedInRenewer(app).renew(context(alice, creds))
    assert fake.requests == []


def test_followers_are_never_asked(fake: FakeLinkedIn, alice: FakeMember) -> None:
    answer = LinkedInFollowers().followers(context(alice, fake.credentials(alice)))
    assert answer.count is None
    assert not answer.again
    assert "LinkedIn" in answer.note
    assert fake.requests == []


# One guarded way out ---------------------------------------------------------------------------


@pytest.fixture
def internal() -> Iterator[FakeServer]:
    with internal_server() as server:
        yield server


def test_an_api_at_a_refused_address_is_never_connected_to(
    fake: FakeLinkedIn, alice: FakeMember, internal: FakeServer
) -> None:
    app = app_for(fake, api_url=internal.base_url)
    with pytest.raises(Transient, match=re.escape(unreachable(INTERNAL))) as caught:
        LinkedInPublisher(app).publish(context(alice, fake.credentials(alice)), publication())
    assert internal.requests == []
    assert SECRET not in str(caught.value)


def test_a_redirect_from_the_api_is_refused_not_followed(
    fake: FakeLinkedIn, app: LinkedInApp, alice: FakeMember, internal: FakeServer
) -> None:
    fake.fail(307, headers={"Location": f"{internal.base_url}/rest/posts"})
    with pytest.raises(Unknown, match="redirect"):
        LinkedInPublisher(app).publish(context(alice, fake.credentials(alice)), publication())
    assert internal.requests == []


def test_a_closed_port_is_transient(fake: FakeLinkedIn, alice: FakeMember) -> None:
    app = app_for(fake, api_url=f"http://{HOST}:{closed_port()}")
    with pytest.raises(Transient):
        LinkedInPublisher(app).publish(context(alice, fake.credentials(alice)), publication())


def test_a_commentary_read_back_with_hashtag_templates_matches_what_tribe_wrote() -> None:
    """LinkedIn reads hashtags back as `{hashtag|\\#|tag}` (the little text format)."""
    from tribe.networks.linkedin.publish import unlittle

    read_back = r"Grow {hashtag|\#|tomatoes} now \(really\) https://a.blog/1"
    assert unlittle(read_back) == "Grow #tomatoes now (really) https://a.blog/1"
