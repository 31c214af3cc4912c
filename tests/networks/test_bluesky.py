"""The Bluesky adapter with the real atproto SDK against the fake PDS (tests/fakenet/bluesky.py)."""

from __future__ import annotations

import io
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.fakenet.bluesky import POST, REPOST, FakeAccount, FakeBluesky, graphemes, jwt_payload
from tests.fakenet.common import (
    HOST,
    INTERNAL,
    SECRET,
    TEST_POLICY,
    CredentialStore,
    FakeServer,
    closed_port,
    internal_server,
    redirector,
)
from tests.fakenet.feeds import FeedServer, status
from tests.networks.test_cards import blog_page, jpeg, noisy_png
from tribe.core.errors import InvalidInputError
from tribe.core.outcomes import (
    AccountContext,
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
from tribe.networks.bluesky import BlueskyPublisher
from tribe.networks.bluesky.connect import login
from tribe.networks.bluesky.publish import (
    CARD_DESCRIPTION_GRAPHEMES,
    THUMB_MAX_BYTES,
    record_key,
)
from tribe.networks.cards import LinkCards

PASSWORD = "abcd-efgh-ijkl-mnop"
CREATED = datetime(2025, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
LINK = "https://blog.example.org/2025/03/a-post"
TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")


@dataclass
class Member:
    account: FakeAccount
    store: CredentialStore
    context: AccountContext


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky() as running:
        yield running


def connect(
    fake: FakeBluesky, handle: str = "alice.example.org", *, timeout: float = 2.0
) -> Member:
    account = fake.add_account(handle, PASSWORD)
    credentials = login(fake.base_url, handle, PASSWORD, policy=TEST_POLICY, timeout=timeout)
    store = CredentialStore(credentials)
    context = AccountContext(
        account_id=1,
        handle=handle,
        remote_user_id=credentials["did"],
        base_url=credentials["pds_url"],
        credentials=dict(credentials),
        timeout=timeout,
        refresh=store.refresh,
    )
    return Member(account, store, context)


def item(
    text: str = f"A new post: {LINK}",
    *,
    key: str | None = None,
    kind: ReshareKind = ReshareKind.POST,
    link: str = LINK,
    title: str = "A post",
    summary: str = "What the post says.",
    target_id: str | None = None,
    target_cid: str | None = None,
    created_at: datetime = CREATED,
) -> Publication:
    return Publication(
        delivery_id=1,
        kind=kind,
        text=text,
        link=link,
        title=title,
        summary=summary,
        target_id=target_id,
        target_cid=target_cid,
        key=key or uuid.uuid4().hex,
        created_at=created_at,
    )


# Connecting --------------------------------------------------------------------------------


def test_login_once_then_posts_never_log_in(fake: FakeBluesky) -> None:
    alice = connect(fake)
    assert fake.login_count == 1
    credentials = alice.store.credentials
    assert set(credentials) == {"did", "handle", "pds_url", "access_jwt", "refresh_jwt"}
    assert credentials["did"] == alice.account.did
    assert credentials["handle"] == "alice.example.org"
    assert credentials["pds_url"] == fake.base_url
    assert jwt_payload(credentials["access_jwt"])["sub"] == alice.account.did

    publisher = BlueskyPublisher(policy=TEST_POLICY)
    sent = [publisher.publish(alice.context, item(f"post {n} {LINK}")) for n in range(5)]

    assert fake.login_count == 1
    assert fake.refresh_count == 0
    assert len(fake.records(alice.account.did, POST)) == 5
    assert len({s.remote_id for s in sent}) == 5
    assert publisher.idempotent is True


def test_login_refuses_a_wrong_password(fake: FakeBluesky) -> None:
    fake.add_account("alice.example.org", PASSWORD)
    with pytest.raises(NeedsReconnect, match="app password"):
        login(
            fake.base_url,
            "@alice.example.org",
            "wrong-pass-word-1234",
            policy=TEST_POLICY,
            timeout=2,
        )
    assert fake.login_count == 1


def test_login_follows_the_did_document_to_the_pds() -> None:
    with FakeBluesky(did_doc=True) as fake:
        account = fake.add_account("bob.example.org", PASSWORD)
        credentials = login(
            fake.base_url + "/xrpc/", account.did, PASSWORD, policy=TEST_POLICY, timeout=2
        )
    assert credentials["pds_url"] == fake.base_url
    assert credentials["handle"] == "bob.example.org"


def test_login_is_rate_limited_like_bluesky() -> None:
    with FakeBluesky(login_limit=2) as fake:
        fake.add_account("alice.example.org", PASSWORD)
        for _ in range(2):
            login(fake.base_url, "alice.example.org", PASSWORD, policy=TEST_POLICY, timeout=2)
        with pytest.raises(RateLimited) as raised:
            login(fake.base_url, "alice.example.org", PASSWORD, policy=TEST_POLICY, timeout=2)
    assert raised.value.until > datetime.now(UTC) + timedelta(minutes=4)


# What is posted ----------------------------------------------------------------------------


def test_facets_use_utf8_byte_offsets(fake: FakeBluesky) -> None:
    alice = connect(fake)
    other = "https://other.example.net/page"
    text = f"🎉👩‍👩‍👧 日本語のブログ「新しい記事」: {LINK} and {other} #tribe"

    sent = BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item(text))

    [stored] = fake.records(alice.account.did, POST)
    assert sent.remote_id == stored.uri
    value = stored.value
    assert value["text"] == text
    data = value["text"].encode()
    links = {}
    tags = []
    for facet in value["facets"]:
        piece = data[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode()
        [feature] = facet["features"]
        if feature["$type"] == "app.bsky.richtext.facet#link":
            links[piece] = feature["uri"]
        else:
            assert feature["$type"] == "app.bsky.richtext.facet#tag"
            tags.append((piece, feature["tag"]))
    assert links == {LINK: LINK, other: other}
    assert tags == [("#tribe", "tribe")]
    # Character offsets would be far off here: the byte offset of the link is larger.
    first = value["facets"][0]["index"]["byteStart"]
    assert first == len(text[: text.index(LINK)].encode()) != text.index(LINK)


def test_a_link_glued_to_text_still_gets_its_facet(fake: FakeBluesky) -> None:
    alice = connect(fake)
    text = f"読んで→{LINK}。"
    BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item(text))
    [stored] = fake.records(alice.account.did, POST)
    [facet] = stored.value["facets"]
    index = facet["index"]
    assert text.encode()[index["byteStart"] : index["byteEnd"]].decode() == LINK
    assert facet["features"][0]["uri"] == LINK


def test_the_post_carries_a_link_card(fake: FakeBluesky) -> None:
    alice = connect(fake)
    summary = "A long summary, " * 60
    BlueskyPublisher(policy=TEST_POLICY).publish(
        alice.context, item(title="The title", summary=summary)
    )
    [stored] = fake.records(alice.account.did, POST)
    embed = stored.value["embed"]
    assert embed["$type"] == "app.bsky.embed.external"
    card = embed["external"]
    assert card["uri"] == LINK
    assert card["title"] == "The title"
    assert "thumb" not in card
    assert card["description"].endswith("…")
    assert graphemes(card["description"]) <= CARD_DESCRIPTION_GRAPHEMES
    assert summary.startswith(card["description"][:-1])
    assert "langs" not in stored.value


def test_the_record_key_is_a_tid_fixed_by_the_delivery(fake: FakeBluesky) -> None:
    alice = connect(fake)
    first = item(key="a" * 32)
    sent = BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, first)

    rkey = record_key(first)
    assert TID.fullmatch(rkey)
    assert sent.remote_id == f"at://{alice.account.did}/{POST}/{rkey}"
    assert sent.remote_url == f"https://bsky.app/profile/alice.example.org/post/{rkey}"
    record = fake.record(alice.account.did, POST, rkey)
    assert record is not None
    assert sent.remote_cid == record.cid
    assert record.value["createdAt"] == ("2025-03-04T05:06:07.891Z")
    # The same delivery gives the same key; another delivery another one, even at once.
    assert record_key(item(key="a" * 32, text="other")) == rkey
    assert record_key(item(key="b" * 32)) != rkey
    # A TID's time is the creation time (to the millisecond): it sorts like the posts.
    later = record_key(item(key="a" * 32, created_at=CREATED + timedelta(seconds=1)))
    assert later > rkey
    # Naive datetimes (as SQLite returns them) are UTC.
    assert record_key(item(key="a" * 32, created_at=CREATED.replace(tzinfo=None))) == rkey


def test_a_post_the_pds_refuses_is_rejected(fake: FakeBluesky) -> None:
    alice = connect(fake)
    with pytest.raises(Rejected, match="300 graphemes"):
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item("é" * 301))
    assert fake.records() == []


# Retries and failures ----------------------------------------------------------------------


def test_a_dropped_answer_is_unknown_and_the_retry_is_the_same_record(fake: FakeBluesky) -> None:
    alice = connect(fake)
    publisher = BlueskyPublisher(policy=TEST_POLICY)
    post = item()
    fake.drop(commit=True, match="putRecord")

    with pytest.raises(Unknown):
        publisher.publish(alice.context, post)
    assert len(fake.records(alice.account.did, POST)) == 1  # it did go out

    sent = publisher.publish(alice.context, post)
    [stored] = fake.records(alice.account.did, POST)
    assert sent.remote_id == stored.uri
    assert stored.rkey == record_key(post)
    assert stored.writes == 1  # the retry wrote the identical record
    assert [r.body["rkey"] for r in fake.calls("POST", r".*putRecord")] == [stored.rkey] * 2


def test_a_server_error_after_acting_is_unknown(fake: FakeBluesky) -> None:
    alice = connect(fake)
    publisher = BlueskyPublisher(policy=TEST_POLICY)
    post = item()
    fake.fail(500, commit=True, body={"error": "InternalServerError", "message": "boom"})

    with pytest.raises(Unknown, match="500"):
        publisher.publish(alice.context, post)
    publisher.publish(alice.context, post)
    assert len(fake.records(alice.account.did, POST)) == 1


def test_a_slow_server_is_unknown_within_the_timeout(fake: FakeBluesky) -> None:
    alice = connect(fake, timeout=0.3)
    fake.slow(3.0, match="putRecord")
    started = time.monotonic()
    with pytest.raises(Unknown, match=r"did not answer within 0\.3 s"):
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())
    assert time.monotonic() - started < 1.5


def test_a_closed_port_is_transient(fake: FakeBluesky) -> None:
    alice = connect(fake)
    url = f"http://{HOST}:{closed_port()}"
    alice.context.credentials = {**alice.context.credentials, "pds_url": url}
    with pytest.raises(Transient, match="could not reach Bluesky"):
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())


def test_429_is_rate_limited_until_the_reset_header(fake: FakeBluesky) -> None:
    alice = connect(fake)
    reset = int(time.time()) + 1234
    fake.fail(
        429,
        headers={
            "ratelimit-limit": "5000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(reset),
        },
        body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
    )
    with pytest.raises(RateLimited) as raised:
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())
    assert raised.value.until == datetime.fromtimestamp(reset, UTC)
    assert fake.records() == []


def test_429_without_a_reset_waits_five_minutes(fake: FakeBluesky) -> None:
    alice = connect(fake)
    fake.fail(429, body={"error": "RateLimitExceeded"})
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as raised:
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())
    assert (
        before + timedelta(minutes=5)
        <= raised.value.until
        <= datetime.now(UTC) + timedelta(minutes=5)
    )


def test_401_needs_reconnect(fake: FakeBluesky) -> None:
    alice = connect(fake)
    fake.fail(401, body={"error": "AuthenticationRequired", "message": "Authentication Required"})
    with pytest.raises(NeedsReconnect, match="connect the account again"):
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())


def test_no_stored_session_needs_reconnect(fake: FakeBluesky) -> None:
    alice = connect(fake)
    alice.context.credentials = {}
    with pytest.raises(NeedsReconnect):
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())
    assert fake.calls("POST", r".*putRecord") == []


# Sessions ----------------------------------------------------------------------------------


def test_an_expired_access_token_is_refreshed_and_saved_first(fake: FakeBluesky) -> None:
    fake.access_ttl = -60  # born expired
    alice = connect(fake)
    fake.access_ttl = 3600
    old = dict(alice.store.credentials)

    BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())

    assert fake.login_count == 1
    assert fake.refresh_count == 1
    saved = alice.store.credentials
    assert len(alice.store.saved) == 1
    assert saved["refresh_jwt"] != old["refresh_jwt"]
    assert saved["access_jwt"] != old["access_jwt"]
    assert jwt_payload(saved["access_jwt"])["exp"] > time.time() + 3000
    # The put carried the new access token, not the expired one.
    [put] = fake.calls("POST", r".*putRecord")
    assert put.header("Authorization") == f"Bearer {saved['access_jwt']}"
    # What was saved is the live refresh token: the next refresh works with it.
    fake.expire_access(alice.account.did)
    fresh = AccountContext(**{**alice.context.__dict__, "credentials": dict(saved)})
    BlueskyPublisher(policy=TEST_POLICY).publish(fresh, item())
    assert fake.refresh_count == 2
    assert fake.login_count == 1
    assert len(fake.records()) == 2


def test_expired_token_answered_by_the_pds_refreshes_once_and_retries(fake: FakeBluesky) -> None:
    alice = connect(fake)
    fake.expire_access(alice.account.did)  # the token's exp says fine, the PDS says no

    sent = BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())

    assert fake.refresh_count == 1
    assert len(fake.calls("POST", r".*putRecord")) == 2
    assert [r.uri for r in fake.records()] == [sent.remote_id]
    assert alice.store.credentials["access_jwt"] == alice.context.credentials["access_jwt"]


def test_concurrent_posts_refresh_the_session_once(fake: FakeBluesky) -> None:
    fake.access_ttl = -60
    alice = connect(fake)
    fake.access_ttl = 3600
    publisher = BlueskyPublisher(policy=TEST_POLICY)
    start = threading.Barrier(8)
    results: list[Sent | BaseException] = []

    def post(n: int) -> None:
        start.wait()
        try:
            results.append(publisher.publish(alice.context, item(f"post {n} {LINK}")))
        except BaseException as error:  # collected, then asserted on
            results.append(error)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert [r for r in results if not isinstance(r, Sent)] == []
    assert len(results) == 8
    assert fake.refresh_count == 1
    assert fake.login_count == 1
    assert len(alice.store.saved) == 1
    assert len(fake.records(alice.account.did, POST)) == 8


def test_a_revoked_session_needs_reconnect(fake: FakeBluesky) -> None:
    fake.access_ttl = -60
    alice = connect(fake)
    fake.revoke_sessions(alice.account.did)

    with pytest.raises(NeedsReconnect, match="connect the account again"):
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())

    assert fake.refresh_count == 1
    assert fake.login_count == 1  # never logs in by itself
    assert alice.store.saved == []
    assert fake.records() == []


def test_a_refresh_the_pds_fails_is_transient_and_keeps_the_session(fake: FakeBluesky) -> None:
    fake.access_ttl = -60
    alice = connect(fake)
    before = dict(alice.store.credentials)
    fake.fail(502, match="refreshSession", body={"error": "UpstreamFailure"})

    with pytest.raises(Transient):
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())

    assert alice.store.credentials == before
    assert fake.calls("POST", r".*putRecord") == []


# Reposts -----------------------------------------------------------------------------------


def test_repost_points_at_the_authors_post_and_is_idempotent(fake: FakeBluesky) -> None:
    bob = connect(fake, "bob.example.org")
    original = BlueskyPublisher(policy=TEST_POLICY).publish(
        bob.context, item(kind=ReshareKind.ANNOUNCE, text=f"New on my blog: {LINK}")
    )
    alice = connect(fake)
    repost = item(
        kind=ReshareKind.REPOST, target_id=original.remote_id, target_cid=original.remote_cid
    )
    publisher = BlueskyPublisher(policy=TEST_POLICY)

    first = publisher.publish(alice.context, repost)
    again = publisher.publish(alice.context, repost)

    assert first == again
    [stored] = fake.records(alice.account.did, REPOST)
    assert (
        first.remote_id == stored.uri == f"at://{alice.account.did}/{REPOST}/{record_key(repost)}"
    )
    assert stored.value["subject"] == {
        "uri": original.remote_id,
        "cid": original.remote_cid,
        "$type": "com.atproto.repo.strongRef",
    }
    assert first.remote_url == original.remote_url.replace("bob.example.org", bob.account.did)
    assert fake.records(alice.account.did, POST) == []


def test_repost_without_a_target_is_rejected(fake: FakeBluesky) -> None:
    alice = connect(fake)
    with pytest.raises(Rejected):
        BlueskyPublisher(policy=TEST_POLICY).publish(
            alice.context, item(kind=ReshareKind.REPOST, target_id=None)
        )
    with pytest.raises(Rejected):
        BlueskyPublisher(policy=TEST_POLICY).publish(
            alice.context,
            item(kind=ReshareKind.REPOST, target_id="at://did:plc:x/app.bsky.feed.post/3k"),
        )
    assert fake.calls("POST", r".*putRecord") == []


# find --------------------------------------------------------------------------------------


def test_find_returns_the_record_or_none(fake: FakeBluesky) -> None:
    alice = connect(fake)
    publisher = BlueskyPublisher(policy=TEST_POLICY)
    post = item()

    assert publisher.find(alice.context, post) is None
    sent = publisher.publish(alice.context, post)
    assert publisher.find(alice.context, post) == sent

    # A dead session does not matter: reading needs none.
    alice.context.credentials = {**alice.context.credentials, "access_jwt": "not-a-token"}
    assert publisher.find(alice.context, post) == sent
    assert fake.refresh_count == 0


def test_find_is_unknown_when_it_cannot_tell(fake: FakeBluesky) -> None:
    alice = connect(fake)
    fake.fail(500, match="getRecord")
    with pytest.raises(Unknown):
        BlueskyPublisher(policy=TEST_POLICY).find(alice.context, item())
    alice.context.credentials = {
        **alice.context.credentials,
        "pds_url": f"http://{HOST}:{closed_port()}",
    }
    with pytest.raises(Unknown):
        BlueskyPublisher(policy=TEST_POLICY).find(alice.context, item())


# The fake itself ---------------------------------------------------------------------------


def test_the_fake_answers_like_bluesky(fake: FakeBluesky) -> None:
    account = fake.add_account("carol.example.org", PASSWORD)
    xrpc = fake.base_url + "/xrpc/"
    session = httpx.post(
        xrpc + "com.atproto.server.createSession",
        json={"identifier": "carol.example.org", "password": PASSWORD},
    )
    assert session.status_code == 200
    body: dict[str, Any] = session.json()
    assert "didDoc" not in body
    for name in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
        assert session.headers[name].isdigit()
    assert int(session.headers["ratelimit-reset"]) > time.time()
    auth = {"Authorization": f"Bearer {body['accessJwt']}"}
    record = {"$type": POST, "text": "hi", "createdAt": "2025-01-01T00:00:00.000Z"}
    write = {"repo": account.did, "collection": POST, "rkey": "3kaaaaaaaaaaa", "record": record}

    created = httpx.post(xrpc + "com.atproto.repo.createRecord", json=write, headers=auth)
    assert created.status_code == 200
    assert created.json()["uri"] == f"at://{account.did}/{POST}/3kaaaaaaaaaaa"
    again = httpx.post(xrpc + "com.atproto.repo.createRecord", json=write, headers=auth)
    assert again.status_code == 500
    put = httpx.post(xrpc + "com.atproto.repo.putRecord", json=write, headers=auth)
    assert put.status_code == 200
    assert put.json()["cid"] == created.json()["cid"]
    assert len(fake.records()) == 1

    refresh = {"Authorization": f"Bearer {body['refreshJwt']}"}
    rotated = httpx.post(xrpc + "com.atproto.server.refreshSession", headers=refresh)
    assert rotated.status_code == 200
    reused = httpx.post(xrpc + "com.atproto.server.refreshSession", headers=refresh)
    assert (reused.status_code, reused.json()["error"]) == (400, "ExpiredToken")

    missing = httpx.get(
        xrpc + "com.atproto.repo.getRecord",
        params={"repo": account.did, "collection": POST, "rkey": "3kbbbbbbbbbbb"},
    )
    assert (missing.status_code, missing.json()["error"]) == (400, "RecordNotFound")


# One guarded way out: atproto's httpx client connects only where the guard allows. -------


@pytest.fixture
def internal() -> Iterator[FakeServer]:
    with internal_server() as server:
        yield server


def test_a_login_redirected_inside_never_carries_the_app_password_there(
    internal: FakeServer,
) -> None:
    with redirector(internal.base_url) as hostile, pytest.raises(Transient) as caught:
        login(hostile.base_url, "alice.example.org", PASSWORD, policy=TEST_POLICY, timeout=2)
    assert internal.requests == []  # the app password stayed here
    assert "answered with a redirect (HTTP 307)" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_write_redirected_inside_is_refused_not_followed(
    fake: FakeBluesky, internal: FakeServer
) -> None:
    alice = connect(fake)
    target = f"{internal.base_url}/xrpc/com.atproto.repo.putRecord"
    fake.fail(307, match="putRecord", headers={"Location": target})
    with pytest.raises(Unknown, match="answered with a redirect") as caught:
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())
    assert internal.requests == []
    assert SECRET not in str(caught.value)


def test_a_pds_at_a_refused_address_is_never_connected_to(
    fake: FakeBluesky, internal: FakeServer
) -> None:
    alice = connect(fake)
    alice.context.credentials = {**alice.context.credentials, "pds_url": internal.base_url}
    with pytest.raises(Transient) as caught:
        BlueskyPublisher(policy=TEST_POLICY).publish(alice.context, item())
    assert str(caught.value) == unreachable(INTERNAL)
    with pytest.raises(Transient) as refused:
        login(internal.base_url, "alice.example.org", PASSWORD, policy=TEST_POLICY, timeout=2)
    assert str(refused.value) == unreachable(INTERNAL)
    assert internal.requests == []


@pytest.mark.parametrize("typed", ["http://host:99999", "https://h:1:2", "http://[::1"])
def test_a_pds_address_that_is_not_one_is_a_sentence(typed: str) -> None:
    with pytest.raises(InvalidInputError, match=r"port|not a valid web address"):
        login(typed, "alice.example.org", PASSWORD, policy=TEST_POLICY, timeout=2)


# Link cards with pictures (tribe/networks/cards.py) ----------------------------------------

HTML = {"Content-Type": "text/html; charset=utf-8"}


@dataclass
class Progress:
    """A delivery's progress as `Publication.keep` commits it."""

    kept: dict[str, Any] = field(default_factory=dict)

    def keep(self, done: Mapping[str, Any]) -> None:
        self.kept = {**self.kept, **done}


@pytest.fixture
def blog() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.routes["/post"] = status(200, HTML, blog_page(image="/cover.jpg"))
        running.routes["/cover.jpg"] = status(200, {"Content-Type": "image/jpeg"}, jpeg())
        yield running


def carded(
    blog: FeedServer, progress: Progress, *, path: str = "/post", key: str | None = None
) -> Publication:
    link = blog.url(path)
    return replace(
        item(f"Read this: {link}", link=link, key=key, title="Feed title", summary="Feed words"),
        progress=dict(progress.kept),
        keep=progress.keep,
    )


def with_cards() -> BlueskyPublisher:
    cards = LinkCards(policy=TEST_POLICY, timeout=0.5, deadline=1.0)
    return BlueskyPublisher(policy=TEST_POLICY, cards=cards)


def card_of(fake: FakeBluesky, did: str) -> dict[str, Any]:
    [stored] = fake.records(did, POST)
    embed: dict[str, Any] = stored.value["embed"]
    assert embed["$type"] == "app.bsky.embed.external"
    return dict(embed["external"])


def test_a_card_carries_the_pages_picture_uploaded_once(
    fake: FakeBluesky, blog: FeedServer
) -> None:
    alice = connect(fake)
    progress = Progress()
    with_cards().publish(alice.context, carded(blog, progress))

    card = card_of(fake, alice.account.did)
    assert (card["title"], card["description"]) == ("The page's title", "What the page says.")
    assert card["uri"] == blog.url("/post")
    [blob] = fake.blobs(alice.account.did)
    # The lexicon's blob ref, exactly as uploadBlob answered it.
    assert card["thumb"] == {
        "$type": "blob",
        "ref": {"$link": blob.cid},
        "mimeType": "image/jpeg",
        "size": len(jpeg()),
    }
    assert blob.data == jpeg()
    assert fake.upload_count == 1
    [upload] = fake.calls("POST", r"/xrpc/com\.atproto\.repo\.uploadBlob")
    assert upload.header("Content-Type") == "image/jpeg"
    assert progress.kept["card"] == {
        "title": "The page's title",
        "description": "What the page says.",
        "thumb": card["thumb"],
    }


def test_an_announcement_carries_a_card_too(fake: FakeBluesky, blog: FeedServer) -> None:
    bob = connect(fake, "bob.example.org")
    announcement = replace(carded(blog, Progress()), kind=ReshareKind.ANNOUNCE)
    with_cards().publish(bob.context, announcement)
    assert "thumb" in card_of(fake, bob.account.did)


def test_a_png_over_the_limit_goes_up_as_a_jpeg_under_it(
    fake: FakeBluesky, blog: FeedServer
) -> None:
    alice = connect(fake)
    blog.routes["/cover.jpg"] = status(200, {"Content-Type": "image/png"}, noisy_png())
    with_cards().publish(alice.context, carded(blog, Progress()))

    thumb = card_of(fake, alice.account.did)["thumb"]
    assert thumb["mimeType"] == "image/jpeg"
    assert thumb["size"] <= THUMB_MAX_BYTES
    blob = fake.blob(alice.account.did, thumb)
    assert blob is not None
    with Image.open(io.BytesIO(blob.data)) as image:
        assert (image.format, image.size) == ("JPEG", (800, 600))


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "failure", ["not-an-image", "decompression-bomb", "404", "slow-page", "internal-address"]
)
def test_a_card_whose_picture_fails_goes_without_it_and_the_post_goes_out(
    fake: FakeBluesky, blog: FeedServer, failure: str
) -> None:
    alice = connect(fake)
    with internal_server() as internal:
        if failure == "not-an-image":
            blog.routes["/cover.jpg"] = status(200, {"Content-Type": "image/jpeg"}, b"<html>")
        elif failure == "decompression-bomb":
            blog.routes["/cover.jpg"] = status(200, {"Content-Type": "image/png"}, _bomb())
        elif failure == "404":
            del blog.routes["/cover.jpg"]
        elif failure == "slow-page":
            blog.slow(3.0, match="/post")
        else:
            inside = blog_page(image=internal.url("/admin.jpg"))
            blog.routes["/post"] = status(200, HTML, inside)
        progress, post = Progress(), carded(blog, Progress(), key="c" * 32)
        sent = with_cards().publish(alice.context, replace(post, keep=progress.keep))
        assert internal.requests == []

    card = card_of(fake, alice.account.did)
    assert sent.remote_id.endswith(record_key(post))
    assert "thumb" not in card
    assert fake.upload_count == 0
    expected = "Feed title" if failure == "slow-page" else "The page's title"
    assert card["title"] == expected
    assert progress.kept["card"]["thumb"] is None


def test_an_upload_that_fails_leaves_the_card_without_its_picture(
    fake: FakeBluesky, blog: FeedServer
) -> None:
    alice = connect(fake)
    fake.fail(500, match="uploadBlob", body={"error": "InternalServerError", "message": "x"})
    progress = Progress()
    with_cards().publish(alice.context, carded(blog, progress))

    assert "thumb" not in card_of(fake, alice.account.did)
    assert fake.upload_count == 1
    assert progress.kept["card"]["thumb"] is None


def test_a_retry_uses_the_kept_card_without_fetching_or_uploading_again(
    fake: FakeBluesky, blog: FeedServer
) -> None:
    alice = connect(fake)
    publisher, progress, key = with_cards(), Progress(), uuid.uuid4().hex
    fake.drop(commit=True, match="putRecord")
    with pytest.raises(Unknown):
        publisher.publish(alice.context, carded(blog, progress, key=key))
    assert "thumb" in progress.kept["card"]
    fetched = len(blog.requests)

    # A new worker: nothing cached, only the delivery's progress.
    with_cards().publish(alice.context, carded(blog, progress, key=key))

    assert len(blog.requests) == fetched == 2
    assert fake.upload_count == 1
    [stored] = fake.records(alice.account.did, POST)
    assert stored.writes == 1  # the identical record
    assert stored.value["embed"]["external"]["thumb"] == progress.kept["card"]["thumb"]


def test_tribemates_sharing_one_post_fetch_the_page_once(
    fake: FakeBluesky, blog: FeedServer
) -> None:
    alice, bob = connect(fake), connect(fake, "bob.example.org")
    publisher = with_cards()
    for member in (alice, bob):
        publisher.publish(member.context, carded(blog, Progress()))

    assert (blog.hits("/post"), blog.hits("/cover.jpg")) == (1, 1)
    assert fake.upload_count == 2  # a blob belongs to one account
    for member in (alice, bob):
        did = member.account.did
        blob = fake.blob(did, card_of(fake, did)["thumb"])
        assert blob is not None
        assert blob.data == jpeg()


def test_a_kept_picture_the_pds_no_longer_has_is_left_out(
    fake: FakeBluesky, blog: FeedServer
) -> None:
    alice = connect(fake)
    gone = {"$type": "blob", "ref": {"$link": "bafkreigone"}, "mimeType": "image/jpeg", "size": 9}
    progress = Progress({"card": {"title": "Kept", "description": "Kept words", "thumb": gone}})
    with_cards().publish(alice.context, carded(blog, progress))

    card = card_of(fake, alice.account.did)
    assert (card["title"], "thumb" in card) == ("Kept", False)
    assert progress.kept["card"]["thumb"] is None  # and so will every retry
    assert len(fake.calls("POST", r".*putRecord")) == 2
    assert blog.requests == []


def test_a_repost_fetches_no_card(fake: FakeBluesky, blog: FeedServer) -> None:
    bob, alice = connect(fake, "bob.example.org"), connect(fake)
    original = BlueskyPublisher(policy=TEST_POLICY).publish(bob.context, item())
    repost = replace(
        carded(blog, Progress()),
        kind=ReshareKind.REPOST,
        target_id=original.remote_id,
        target_cid=original.remote_cid,
    )
    with_cards().publish(alice.context, repost)
    assert len(fake.records(alice.account.did, REPOST)) == 1
    assert blog.requests == []
    assert fake.upload_count == 0
