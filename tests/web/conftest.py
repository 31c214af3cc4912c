"""Web app fixtures: a test client per test, members with passwords, signed-in browsers."""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any, cast

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlmodel import col, select

from config import get_settings
from tests import builders as b
from tests.fakenet.mailbox import Mailbox
from tribe.infra.db import session_scope
from tribe.infra.models import Member, Post, StreamItem
from tribe.members import auth
from tribe.members.accounts import ScheduleChange, add_account, set_schedule
from tribe.members.people import get_member
from tribe.stream.items import fan_out
from tribe.web.app import create_app

PASSWORD = "a long enough password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with its smallest cost: these tests are about who may do what, not about
    how hard a hash is to crack, and hundreds of members sign up in them."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def app(db: None) -> Iterator[TestClient]:
    with TestClient(create_app(), base_url="http://testserver") as client:
        yield client


def client_for(app: TestClient) -> TestClient:
    """A second, independent browser on the same app."""
    return TestClient(app.app, base_url="http://testserver")


def csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token of a page, as a browser would find it in the form."""
    page = client.get(path)
    match = CSRF.search(page.text)
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def post_form(
    client: TestClient,
    path: str,
    data: Mapping[str, object] | None = None,
    *,
    page: str = "/login",
    **kwargs: Any,
) -> httpx.Response:
    """Submit a form the way the page would: with its CSRF token."""
    fields = {"csrf_token": csrf(client, page), **(data or {})}
    return as_response(client.post(path, data=fields, follow_redirects=False, **kwargs))


def as_response(answer: Any) -> httpx.Response:
    """What a TestClient call returns. Starlette builds its TestClient on httpx2 when
    that is installed, else on httpx, so mypy cannot resolve its base class: every
    answer is Any to it."""
    return cast(httpx.Response, answer)


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A real SMTP server, and the settings that send tribe's email to it."""
    with Mailbox() as box:
        for name, value in box.settings().items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield box


def mail_text(message: Message) -> str:
    """The plain-text part of an email, decoded."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes), part
            return payload.decode()
    raise AssertionError(f"no plain text in {message['Subject']!r}")


def go_link(html: str) -> str:
    """The authorize address a "continue" page sends the browser to, by link and refresh."""
    link = re.search(r'<a class="button primary" href="([^"]+)" data-go>', html)
    refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', html)
    assert link, html
    assert refresh, html
    assert link.group(1) == refresh.group(1)
    return link.group(1).replace("&amp;", "&")


def with_password(name: str, timezone: str = "UTC", *, operator: bool = False) -> Member:
    with session_scope() as s:
        member = b.member(s, name, timezone)
        auth.set_password(s, member, PASSWORD)
        member.is_operator = operator
        return member


def sign_in(client: TestClient, email: str) -> TestClient:
    response = post_form(client, "/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    return client


def api_token(email: str) -> dict[str, str]:
    with session_scope() as s:
        _, secret = auth.create_token(s, member=get_member(s, email), name="tests")
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class World:
    """alice writes; bob (Chicago, X + Mastodon) and carol (Paris, X) are her tribemates;
    dave is in another tribe altogether."""

    alice: Member
    bob: Member
    carol: Member
    dave: Member
    slug: str
    other_slug: str
    feed_id: int

    def new_post(self, title: str = "Why tomatoes split", n: int = 1) -> int:
        now = datetime.now(UTC)
        with session_scope() as s:
            post = Post(
                feed_id=self.feed_id,
                entry_key=f"k{n}",
                url=f"https://alice.blog/{n}",
                title=title,
                categories=["Gardening"],
                discovered_at=now - timedelta(minutes=5),
                summary="<p>Tomatoes split when <b>watered</b> unevenly.</p>",
            )
            s.add(post)
            s.flush()
            assert post.id is not None
            fan_out(s, [post.id], now=now)
            return post.id

    def item(self, member: Member, post_id: int) -> int:
        with session_scope() as s:
            item_id = s.exec(
                select(col(StreamItem.id)).where(
                    StreamItem.member_id == member.id, StreamItem.post_id == post_id
                )
            ).one()
            assert item_id is not None
            return item_id


@pytest.fixture
def world(db: None) -> World:
    alice = with_password("Alice", "Europe/Paris")
    bob = with_password("Bob", "America/Chicago")
    carol = with_password("Carol", "Europe/Paris")
    dave = with_password("Dave")
    with session_scope() as s:
        writers = b.tribe(s, "Writers", alice, bob, carol)
        other = b.tribe(s, "Cooks", dave)
        feed = b.feed(s, alice, "https://alice.blog/feed")
        b.feed(s, dave, "https://dave.blog/feed")
        add_account(s, member=get_member(s, bob.email), network="x", handle="@bob")
        add_account(
            s, member=get_member(s, bob.email), network="mastodon", handle="@bob@mastodon.social"
        )
        add_account(s, member=get_member(s, carol.email), network="x", handle="@carol")
        add_account(s, member=get_member(s, dave.email), network="x", handle="@dave")
        for who in ("bob", "carol", "dave"):
            set_schedule(
                s,
                member=get_member(s, f"{who}@example.com"),
                change=ScheduleChange(slots="mon-sun 09:00,17:00"),
            )
        assert feed.id is not None
        return World(alice, bob, carol, dave, writers.slug, other.slug, feed.id)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Lets fixtures see whether the test failed (the browser test saves screenshots)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
