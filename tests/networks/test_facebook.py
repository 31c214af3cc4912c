"""The Facebook Pages adapter with its real code against the fake Graph API
(tests/fakenet/facebook.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from config import Settings, get_settings
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
from tests.fakenet.facebook import (
    BLOCKED,
    UNKNOWN_ERROR,
    VERSION,
    FakeFacebook,
    FakePage,
    buc_usage,
    graph_error,
)
from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network
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
from tribe.networks import facebook
from tribe.networks.base import Followers, Returns, Step
from tribe.networks.facebook import (
    FacebookApp,
    FacebookConnectError,
    FacebookConnector,
    FacebookFollowers,
    FacebookPublisher,
    Holds,
)
from tribe.networks.facebook.client import page_client
from tribe.networks.facebook.errors import FacebookLadder

REDIRECT = "http://testserver/accounts/connect/facebook/callback"


class NoApps:
    """Facebook has one app, from settings: its connector never asks for saved ones."""

    def get(self, network: Network, base_url: str) -> dict[str, str] | None:
        raise AssertionError("Facebook's connector asked for a saved app")

    def keep(self, network: Network, base_url: str, app: dict[str, str]) -> dict[str, str]:
        raise AssertionError("Facebook's connector saved an app")


NO_APPS = NoApps()


@pytest.fixture
def fake() -> Iterator[FakeFacebook]:
    with FakeFacebook() as running:
        yield running


@pytest.fixture
def app(fake: FakeFacebook) -> FacebookApp:
    return FacebookApp(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        auth_url=fake.base_url,
        api_url=fake.base_url,
        policy=TEST_POLICY,
    )


@pytest.fixture
def page(fake: FakeFacebook) -> FakePage:
    return fake.add_user("Alice Writes")


def connector(app: FacebookApp, timeout: float = 3.0) -> FacebookConnector:
    return FacebookConnector(app, redirect_url=REDIRECT, timeout=timeout)


def context(
    page: FakePage, creds: Credentials, *, timeout: float = 3.0, page_id: str | None = None
) -> AccountContext:
    return AccountContext(
        account_id=1,
        handle=page.name,
        remote_user_id=page_id or page.id,
        base_url=None,
        credentials=dict(creds),
        timeout=timeout,
        refresh=CredentialStore(creds).refresh,
    )


def publication(
    text: str = "A walk in the hills\n\nhttps://blog.example.org/hills\n\nvia Bob",
    *,
    kind: ReshareKind = ReshareKind.POST,
    created_at: datetime | None = None,
) -> Publication:
    return Publication(
        delivery_id=7,
        kind=kind,
        text=text,
        link="https://blog.example.org/hills",
        title="A walk in the hills",
        summary="",
        target_id="222_333" if kind == ReshareKind.REPOST else None,
        target_cid=None,
        key="k-7",
        created_at=created_at or datetime.now(UTC) - timedelta(seconds=5),
    )


def begin(app: FacebookApp, page: str = "") -> Step:
    step = connector(app).begin({"page": page}, NO_APPS)
    assert isinstance(step, Step)
    return step


def writes(fake: FakeFacebook) -> int:
    return len(fake.calls("POST", r"/.*"))


# Connecting -------------------------------------------------------------------------------


def test_begin_sends_the_member_to_the_login_dialog(app: FacebookApp, fake: FakeFacebook) -> None:
    step = begin(app, page="Alice Writes")

    parts = urlsplit(step.url)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.base_url}/{VERSION}/dialog/oauth"
    )
    assert dict(parse_qsl(parts.query)) == {
        "client_id": fake.client_id,
        "redirect_uri": REDIRECT,
        "state": step.state["state"],
        "response_type": "code",
        "scope": "pages_show_list,pages_manage_posts,pages_read_engagement",
    }
    assert len(step.state["state"]) >= 24
    assert step.state["redirect_uri"] == REDIRECT
    assert step.state["page"] == "Alice Writes"
    assert step.returns == Returns.CALLBACK
    assert fake.requests == []  # the browser opens the dialog, not tribe


def test_one_page_is_connected_with_a_page_token_that_does_not_expire(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    step = begin(app)

    connected = connector(app).finish(
        step.state,
        fake.redirect(step.url, page.manager),
        NO_APPS,
    )

    assert connected.network == Network.FACEBOOK
    assert connected.handle == "Alice Writes"
    assert connected.remote_user_id == page.id
    assert set(connected.credentials) == {"access_token"}  # no expires_at: it does not run out
    assert fake.token_lasts(connected.credentials["access_token"])
    assert (fake.code_exchanges, fake.long_lived_exchanges) == (1, 1)
    code, exchange = fake.calls("GET", rf"/{VERSION}/oauth/access_token")
    assert code.query["redirect_uri"] == REDIRECT
    assert exchange.query["grant_type"] == "fb_exchange_token"
    # The token it stored posts to the Page.
    sent = FacebookPublisher(app).publish(context(page, connected.credentials), publication())
    assert sent.remote_id == fake.posts[-1].id


def test_finish_refuses_a_bare_code(app: FacebookApp, fake: FakeFacebook, page: FakePage) -> None:
    """No PKCE here: only the whole address, with this attempt's state, is taken."""
    step = begin(app)
    code = fake.authorize(step.url, page.manager)

    with pytest.raises(InvalidInputError, match="whole address"):
        connector(app).finish(step.state, f"  {code} ", NO_APPS)
    assert fake.requests == []


@pytest.fixture
def three_pages(fake: FakeFacebook) -> list[FakePage]:
    carol = fake.add_person("Carol")
    return [fake.add_page(carol, name) for name in ("Garden Notes", "Recipes", "Travel")]


def test_several_pages_without_a_choice_are_listed(
    app: FacebookApp, fake: FakeFacebook, three_pages: list[FakePage]
) -> None:
    step = begin(app)
    back = fake.redirect(step.url, three_pages[0].manager)

    with pytest.raises(InvalidInputError) as caught:
        connector(app).finish(step.state, back, NO_APPS)

    assert str(caught.value) == (
        "You manage 3 Pages: Garden Notes, Recipes, Travel. Give the one to post to."
    )


@pytest.mark.parametrize("given", ["recipes", " Recipes ", "id"])
def test_several_pages_with_a_choice_by_name_or_id(
    app: FacebookApp, fake: FakeFacebook, three_pages: list[FakePage], given: str
) -> None:
    wanted = three_pages[1]
    step = begin(app, page=wanted.id if given == "id" else given)

    connected = connector(app).finish(
        step.state,
        fake.redirect(step.url, wanted.manager),
        NO_APPS,
    )

    assert (connected.handle, connected.remote_user_id) == ("Recipes", wanted.id)


def test_a_page_not_among_them_is_refused_with_the_names(
    app: FacebookApp, fake: FakeFacebook, three_pages: list[FakePage]
) -> None:
    step = begin(app, page="Cooking")
    back = fake.redirect(step.url, three_pages[0].manager)

    with pytest.raises(InvalidInputError, match=r"none of your Pages is called 'Cooking'.*Travel"):
        connector(app).finish(step.state, back, NO_APPS)


def test_no_page_says_a_page_is_needed(app: FacebookApp, fake: FakeFacebook) -> None:
    step = begin(app)
    back = fake.redirect(step.url, fake.add_person("Dave"))

    with pytest.raises(InvalidInputError, match="personal profiles cannot be posted to"):
        connector(app).finish(step.state, back, NO_APPS)


def test_a_role_that_cannot_create_content_is_refused(app: FacebookApp, fake: FakeFacebook) -> None:
    erin = fake.add_person("Erin")
    fake.add_page(erin, "Erin's Shop", tasks=("ANALYZE", "MODERATE"))
    step = begin(app)

    with pytest.raises(InvalidInputError, match="does not allow creating content"):
        connector(app).finish(
            step.state,
            fake.redirect(step.url, erin),
            NO_APPS,
        )


def test_another_attempts_answer_is_refused(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    step, other = begin(app), begin(app)

    with pytest.raises(InvalidInputError, match="another attempt"):
        connector(app).finish(
            step.state,
            fake.redirect(other.url, page.manager),
            NO_APPS,
        )
    assert fake.code_exchanges == 0


def test_declining_in_the_dialog_is_invalid_input(app: FacebookApp, fake: FakeFacebook) -> None:
    step = begin(app)

    with pytest.raises(InvalidInputError, match="did not let tribe in"):
        connector(app).finish(step.state, fake.declined(step.url), NO_APPS)
    assert fake.requests == []


def test_a_used_code_is_refused_start_again(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    step = begin(app)
    back = fake.redirect(step.url, page.manager)
    connector(app).finish(step.state, back, NO_APPS)

    with pytest.raises(InvalidInputError, match=r"authorization code has been used.*start"):
        connector(app).finish(step.state, back, NO_APPS)


def test_token_endpoint_failing_is_try_again(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    step = begin(app)
    fake.fail(500, match="GET /v21.0/oauth/access_token", body=UNKNOWN_ERROR)

    with pytest.raises(FacebookConnectError, match="try again"):
        connector(app).finish(
            step.state,
            fake.redirect(step.url, page.manager),
            NO_APPS,
        )


def test_missing_app_settings_are_named(fake: FakeFacebook) -> None:
    bare = FacebookConnector(FacebookApp(), redirect_url=REDIRECT, timeout=1)
    with pytest.raises(InvalidInputError, match="TRIBE_FACEBOOK_CLIENT_ID and TRIBE_FACEBOOK_"):
        bare.begin({}, NO_APPS)
    keys = FacebookApp(client_id="a", client_secret="b")
    with pytest.raises(InvalidInputError, match="TRIBE_FACEBOOK_REDIRECT_URL"):
        FacebookConnector(keys, redirect_url="", timeout=1).begin({}, NO_APPS)


def test_the_registry_builds_facebook_from_settings(fake: FakeFacebook) -> None:
    settings = Settings(**{**get_settings().model_dump(), **fake.env()})
    made = facebook.connector(settings)
    assert [f.name for f in made.fields] == ["page"]
    assert not made.fields[0].required
    assert made.app.api_url == fake.base_url
    assert facebook.publisher(settings).holds is facebook.followers(settings).calls.holds


# Publishing ------------------------------------------------------------------------------


def test_post(app: FacebookApp, fake: FakeFacebook, page: FakePage) -> None:
    item = publication()

    sent = FacebookPublisher(app).publish(context(page, fake.credentials(page)), item)

    [post] = fake.posts
    assert (post.text, post.link, post.author_id) == (item.text, item.link, page.id)
    assert sent == Sent(remote_id=post.id, remote_url=f"https://www.facebook.com/{post.id}")
    [call] = fake.calls("POST", rf"/{VERSION}/{page.id}/feed")
    assert call.body["message"] == item.text
    assert call.body["link"] == item.link
    assert "access_token" not in call.query  # the token is in the body, not the address


def test_repost_posts_the_text_like_a_post(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    item = publication(
        "Bob's walk, worth reading https://blog.example.org/hills", kind=ReshareKind.REPOST
    )

    sent = FacebookPublisher(app).publish(context(page, fake.credentials(page)), item)

    [post] = fake.posts
    assert (post.id, post.text, post.author_id) == (sent.remote_id, item.text, page.id)


def test_duplicate_of_the_last_post_is_rejected(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    account = context(page, fake.credentials(page))
    FacebookPublisher(app).publish(account, publication())

    with pytest.raises(Rejected, match="Duplicate status message"):
        FacebookPublisher(app).publish(account, publication())


def test_a_revoked_token_needs_reconnect(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    creds = fake.credentials(page)
    fake.revoke(creds["access_token"])

    with pytest.raises(NeedsReconnect, match="password of this Facebook account changed"):
        FacebookPublisher(app).publish(context(page, creds), publication())
    assert fake.posts == []


def test_missing_credentials_need_reconnect(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    with pytest.raises(NeedsReconnect, match="connect it again"):
        FacebookPublisher(app).publish(context(page, {}), publication())
    assert fake.requests == []


def test_lost_permission_needs_reconnect_with_a_sentence(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    other = fake.add_user("Someone Else")
    account = context(page, fake.credentials(other), page_id=page.id)  # not this Page's token

    with pytest.raises(NeedsReconnect, match=r"may not do this for the Page.*connect it again"):
        FacebookPublisher(app).publish(account, publication())


def test_a_blocked_page_is_rejected(app: FacebookApp, fake: FakeFacebook, page: FakePage) -> None:
    fake.fail(400, body=BLOCKED)
    with pytest.raises(Rejected, match=r"blocked this post.*going too fast"):
        FacebookPublisher(app).publish(context(page, fake.credentials(page)), publication())


# Rate limits and the hold -------------------------------------------------------------------


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
def test_throttling_codes_wait_for_the_usage_estimate_and_hold_the_page(
    app: FacebookApp, fake: FakeFacebook, page: FakePage, code: int
) -> None:
    publisher = FacebookPublisher(app)
    account = context(page, fake.credentials(page))
    fake.fail(
        400 if code != 4 else 403,
        body=graph_error(code, "(#4) Application request limit reached", transient=True),
        headers=buc_usage(page.id, 100, minutes=42),
    )
    before = datetime.now(UTC)

    with pytest.raises(RateLimited) as caught:
        publisher.publish(account, publication())

    assert timedelta(minutes=41) < caught.value.until - before < timedelta(minutes=43)
    with pytest.raises(RateLimited) as held:
        publisher.publish(account, publication())
    assert held.value.until == caught.value.until
    assert writes(fake) == 1  # the second was held without a call
    assert fake.posts == []


def test_throttled_without_an_estimate_waits_15_minutes(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    fake.fail(400, body=graph_error(32, "(#32) Page request limit reached"))
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        FacebookPublisher(app).publish(context(page, fake.credentials(page)), publication())
    assert timedelta(minutes=14) < caught.value.until - before < timedelta(minutes=16)


def test_http_429_is_rate_limited(app: FacebookApp, fake: FakeFacebook, page: FakePage) -> None:
    fake.fail(429, body=b"Too Many Requests")
    with pytest.raises(RateLimited):
        FacebookPublisher(app).publish(context(page, fake.credentials(page)), publication())


def test_spent_calls_hold_the_page_and_another_process_gets_80001() -> None:
    with FakeFacebook(rate_limit=2) as limited:
        strict = FacebookApp(
            client_id=limited.client_id, client_secret=limited.client_secret,
            auth_url=limited.base_url, api_url=limited.base_url, policy=TEST_POLICY,
        )  # fmt: skip
        alice = limited.add_user("Alice Writes")
        account = context(alice, limited.credentials(alice))
        publisher = FacebookPublisher(strict)
        publisher.publish(account, publication("one https://a.example/1"))
        before = datetime.now(UTC)

        # The second answer says 100% of the hour is used: the third is held, no call.
        publisher.publish(account, publication("two https://a.example/2"))
        with pytest.raises(RateLimited) as held:
            publisher.publish(account, publication("three https://a.example/3"))
        assert len(limited.calls("POST", r"/.*")) == 2

        # A worker in another process knows nothing of it: Facebook answers 80001.
        with pytest.raises(RateLimited) as refused:
            FacebookPublisher(strict).publish(account, publication("four https://a.example/4"))

        assert len(limited.calls("POST", r"/.*")) == 3
        assert len(limited.posts) == 2
        for caught in (held, refused):
            assert timedelta(minutes=55) < caught.value.until - before <= timedelta(minutes=61)


def test_usage_at_100_percent_holds_the_next_call_until_the_time_given(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    holds = Holds()
    account = context(page, fake.credentials(page))
    fake.set_usage(page, 100, minutes=30)
    before = datetime.now(UTC)

    FacebookPublisher(app, holds).publish(account, publication())  # answered, at 100%
    with pytest.raises(RateLimited) as caught:
        FacebookPublisher(app, holds).publish(account, publication("next https://a.example/n"))
    followers = FacebookFollowers(app, holds).followers(account)

    assert timedelta(minutes=29) < caught.value.until - before < timedelta(minutes=31)
    assert len(fake.posts) == 1
    assert (followers.count, followers.again) == (None, True)
    assert len(fake.requests) == 1
    # Another Page of the same process is not held.
    other = fake.add_user("Other Page")
    FacebookPublisher(app, holds).publish(context(other, fake.credentials(other)), publication())
    assert len(fake.posts) == 2


def test_a_hold_lifts_at_its_time(page: FakePage) -> None:
    holds = Holds()
    holds.hold(page.id, datetime.now(UTC) + timedelta(minutes=5))
    with pytest.raises(RateLimited):
        holds.check(page.id)
    holds.check(page.id, now=datetime.now(UTC) + timedelta(minutes=6))  # lifted: no raise
    holds.check(page.id)  # and forgotten


# Unknown outcomes and finding the post ---------------------------------------------------------


def test_server_error_after_acting_is_unknown_and_find_sees_the_post(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    account = context(page, fake.credentials(page))
    item = publication()
    fake.fail(500, commit=True, body=UNKNOWN_ERROR)

    with pytest.raises(Unknown, match="may have gone out"):
        FacebookPublisher(app).publish(account, item)
    [post] = fake.posts

    found = FacebookPublisher(app).find(account, item)

    page_id, post_id = post.id.split("_")
    assert found == Sent(post.id, f"https://www.facebook.com/{page_id}/posts/{post_id}")
    [read] = fake.calls("GET", rf"/{VERSION}/{page.id}/posts")
    assert int(read.query["since"]) <= (item.created_at - timedelta(minutes=5)).timestamp()
    assert set(read.query["fields"].split(",")) == {
        "id", "message", "created_time", "permalink_url"
    }  # fmt: skip


def test_server_error_before_acting_is_unknown_and_find_proves_absence(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    account = context(page, fake.credentials(page))
    item = publication()
    fake.add_post(page, "A walk in the hills", created_at=datetime.now(UTC))  # no link
    fake.add_post(page, item.text, created_at=item.created_at - timedelta(days=2))  # long ago
    fake.fail(503, body=UNKNOWN_ERROR)

    with pytest.raises(Unknown):
        FacebookPublisher(app).publish(account, item)

    assert FacebookPublisher(app).find(account, item) is None


def test_dropped_after_acting_is_unknown_and_find_sees_it(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    account = context(page, fake.credentials(page))
    item = publication("Two  spaces\r\nand a line https://blog.example.org/hills")
    fake.drop(commit=True)

    with pytest.raises(Unknown):
        FacebookPublisher(app).publish(account, item)

    found = FacebookPublisher(app).find(account, item)
    assert found is not None
    assert found.remote_id == fake.posts[0].id


def test_slow_answer_times_out_as_unknown(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    fake.slow(3.0)
    started = time.monotonic()
    with pytest.raises(Unknown, match="did not answer in time"):
        FacebookPublisher(app).publish(
            context(page, fake.credentials(page), timeout=0.5), publication()
        )
    assert time.monotonic() - started < 1.5


def test_find_reads_every_post_since_the_publication(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    account = context(page, fake.credentials(page))
    created = datetime.now(UTC) - timedelta(hours=1)
    for n in range(250):
        fake.add_post(page, f"busy {n}", created_at=created + timedelta(seconds=n))
    item = publication("the one https://a.example/1", created_at=created)

    assert FacebookPublisher(app).find(account, item) is None
    assert len(fake.calls("GET", rf"/{VERSION}/{page.id}/posts")) == 3

    fake.add_post(page, item.text, created_at=created - timedelta(minutes=1))  # within slack
    assert FacebookPublisher(app).find(account, item) is not None


def test_find_cannot_tell_when_the_page_posted_too_much(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    account = context(page, fake.credentials(page))
    created = datetime.now(UTC) - timedelta(hours=2)
    for n in range(510):
        fake.add_post(page, f"busy {n}", created_at=created + timedelta(seconds=n))

    with pytest.raises(Unknown, match="too much"):
        FacebookPublisher(app).find(account, publication(created_at=created))


def test_find_is_unknown_when_the_read_fails(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    fake.fail(500, match="GET /", body=UNKNOWN_ERROR)
    with pytest.raises(Unknown, match="could not read the Page's recent posts"):
        FacebookPublisher(app).find(context(page, fake.credentials(page)), publication())


@pytest.mark.parametrize("fault", ["fail", "drop", "slow"])
def test_a_failed_read_is_transient_never_unknown(
    app: FacebookApp, fake: FakeFacebook, page: FakePage, fault: str
) -> None:
    if fault == "fail":
        fake.fail(500, match="GET /", body=UNKNOWN_ERROR)
    elif fault == "drop":
        fake.drop(match="GET /")
    else:
        fake.slow(2.0, match="GET /")
    publisher = FacebookPublisher(app)
    account = context(page, fake.credentials(page), timeout=0.5)
    with (
        page_client(app, publisher.holds, page.id, account.timeout) as client,
        pytest.raises(Transient) as caught,
    ):
        publisher.call(
            client, page.id, FacebookLadder(acts=False), "GET", f"{page.id}/posts",
            params=app.signed(account.credentials["access_token"]),
        )  # fmt: skip
    assert not isinstance(caught.value, Unknown)
    assert "may have gone out" not in str(caught.value)


def test_closed_port_is_transient(fake: FakeFacebook, page: FakePage) -> None:
    app = FacebookApp(
        client_id="a", client_secret="s", api_url=f"http://{HOST}:{closed_port()}",
        policy=TEST_POLICY,
    )  # fmt: skip
    with pytest.raises(Transient):
        FacebookPublisher(app).publish(context(page, fake.credentials(page)), publication())


# Followers ----------------------------------------------------------------------------------


def test_followers(app: FacebookApp, fake: FakeFacebook, page: FakePage) -> None:
    fake.set_followers(page, 1234)
    counted = FacebookFollowers(app).followers(context(page, fake.credentials(page)))
    assert counted == Followers(1234)
    [call] = fake.calls("GET", rf"/{VERSION}/{page.id}")
    assert call.query["fields"] == "followers_count"


def test_followers_of_a_revoked_page_are_unknown_until_reconnected(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    creds = fake.credentials(page)
    fake.revoke(creds["access_token"])
    counted = FacebookFollowers(app).followers(context(page, creds))
    assert (counted.count, counted.again) == (None, False)
    assert "connect it again" in counted.note


def test_followers_when_facebook_fails_are_read_again(
    app: FacebookApp, fake: FakeFacebook, page: FakePage
) -> None:
    fake.fail(500, match="GET /", body=UNKNOWN_ERROR)
    counted = FacebookFollowers(app).followers(context(page, fake.credentials(page)))
    assert (counted.count, counted.again) == (None, True)


# One guarded way out -------------------------------------------------------------------------


@pytest.fixture
def internal() -> Iterator[FakeServer]:
    with internal_server() as server:
        yield server


def test_a_redirect_from_the_api_is_refused_not_followed(
    app: FacebookApp, fake: FakeFacebook, page: FakePage, internal: FakeServer
) -> None:
    fake.fail(307, headers={"Location": f"{internal.base_url}/{VERSION}/{page.id}/feed"})
    with pytest.raises(Unknown, match="redirect") as caught:
        FacebookPublisher(app).publish(context(page, fake.credentials(page)), publication())
    assert internal.requests == []
    assert SECRET not in str(caught.value)


def test_an_api_at_a_refused_address_is_never_connected_to(
    fake: FakeFacebook, page: FakePage, internal: FakeServer
) -> None:
    app = FacebookApp(
        client_id=fake.client_id, client_secret=fake.client_secret,
        auth_url=fake.base_url, api_url=internal.base_url, policy=TEST_POLICY,
    )  # fmt: skip
    with pytest.raises(Transient, match=re.escape(unreachable(INTERNAL))):
        FacebookPublisher(app).publish(context(page, fake.credentials(page)), publication())
    step = begin(app)
    with pytest.raises(FacebookConnectError) as caught:
        connector(app).finish(
            step.state,
            fake.redirect(step.url, page.manager),
            NO_APPS,
        )
    assert internal.requests == []
    assert SECRET not in str(caught.value)


def test_time_based_paging_goes_on_where_next_points_without_its_credentials() -> None:
    """With `since`, Graph may page by time: a `next` address and no cursors."""
    from tribe.networks.facebook.publish import _next_page

    following = (
        "https://graph.facebook.com/v21.0/1/posts?access_token=SECRET&appsecret_proof=P"
        "&fields=id&limit=100&since=1&until=1700000000&__paging_token=tok"
    )
    assert _next_page(following) == {"until": "1700000000", "__paging_token": "tok"}
    with pytest.raises(Unknown):
        _next_page("https://graph.facebook.com/v21.0/1/posts?access_token=SECRET")
