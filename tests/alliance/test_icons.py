"""Blog icons for public pages: found by the parser, fetched through the guarded
transport from a local server (a PNG, an SVG in disguise, one too big, one behind a
redirect to a private address), kept once, and not asked for again within a week."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from config import get_settings
from tests import builders as b
from tests.fakenet.common import FakeServer, Response
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer, huge, redirect, status
from tests.feeds.cases import RSS_HEADERS
from tribe.alliance.icons import (
    MAX_BYTES,
    IconConfig,
    icon_urls,
    icons_due,
    public_icon,
    refresh_icon,
    sniff_image,
)
from tribe.core.errors import NotFoundError
from tribe.core.kinds import MembershipStatus
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Feed, FeedIcon, Membership, Tribe
from tribe.ingest.parse import parse_feed
from tribe.members.people import get_tribe

pytestmark = pytest.mark.usefixtures("db")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
ICO = b"\x00\x00\x01\x00\x01\x00\x10\x10" + bytes(40)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
NOW = datetime.now(UTC)


@dataclass
class Blogs:
    """A public tribe (alice, chief; bob) whose members' feeds point at `server`."""

    server: FeedServer
    slug: str
    alice: int  # member ids
    bob: int

    def feed(self, owner: int, *, image: str | None = None, site: str = "") -> int:
        with session_scope() as s:
            count = len(s.exec(select(Feed)).all())
            row = Feed(
                owner_id=owner,
                url=self.server.url(f"/feed{count}.xml"),
                host=self.server.host,
                image_url=self.server.url(image) if image else None,
                site_url=self.server.url(site) if site else "",
            )
            s.add(row)
            s.flush()
            return b.pk(row)


@pytest.fixture
def blogs(server: FeedServer) -> Blogs:
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        tribe = b.tribe(s, "Writers", alice, bob)
        tribe.is_public = True
        return Blogs(server, tribe.slug, b.pk(alice), b.pk(bob))


def config() -> IconConfig:
    return IconConfig.from_settings(get_settings())


def stored(feed_id: int) -> FeedIcon | None:
    with read_scope() as s:
        icon = s.get(FeedIcon, feed_id)
        if icon is not None:
            s.expunge(icon)  # read, to be looked at after the session
        return icon


def png(body: bytes = PNG, kind: str = "image/png") -> Served:
    return Served(body, content_type=kind)


def test_a_feeds_image_is_fetched_once_and_kept(blogs: Blogs) -> None:
    blogs.server.routes["/logo.png"] = png()
    feed = blogs.feed(blogs.alice, image="/logo.png", site="/")
    with read_scope() as s:
        assert icons_due(s, now=NOW) == [feed]
    fetched = refresh_icon(feed, now=NOW, config=config())
    assert fetched is not None
    assert fetched.content_type == "image/png"
    icon = stored(feed)
    assert icon is not None
    assert (icon.content_type, icon.data, icon.note) == ("image/png", PNG, "")
    assert icon.source_url == blogs.server.url("/logo.png")
    assert icon.etag.startswith('"')
    assert icon.etag.endswith('"')
    # Within the week: not due, not asked again, whatever calls.
    with read_scope() as s:
        assert icons_due(s, now=NOW + timedelta(days=6)) == []
    assert refresh_icon(feed, now=NOW + timedelta(days=6), config=config()) is None
    assert blogs.server.hits("/logo.png") == 1
    # A week on, it is fetched again.
    with read_scope() as s:
        assert icons_due(s, now=NOW + timedelta(days=8)) == [feed]
    assert refresh_icon(feed, now=NOW + timedelta(days=8), config=config()) is not None
    assert blogs.server.hits("/logo.png") == 2


def test_an_svg_is_refused_whatever_the_server_calls_it(blogs: Blogs) -> None:
    blogs.server.routes["/logo.png"] = png(SVG, "image/png")
    blogs.server.routes["/favicon.ico"] = png(SVG, "image/svg+xml")
    feed = blogs.feed(blogs.alice, image="/logo.png", site="/blog/")
    fetched = refresh_icon(feed, now=NOW, config=config())
    assert fetched is not None
    assert fetched.content_type == ""
    icon = stored(feed)
    assert icon is not None
    assert (icon.content_type, icon.data) == ("", b"")
    assert icon.note.count("not a PNG, JPEG, GIF, WebP or ICO image") == 2
    assert blogs.server.hits("/favicon.ico") == 1  # the site's icon was the second try
    with read_scope() as s, pytest.raises(NotFoundError):
        public_icon(s, slug=blogs.slug, feed_id=feed)


@pytest.mark.parametrize("declared", [True, False])
def test_an_image_over_64_kb_is_refused(blogs: Blogs, declared: bool) -> None:
    blogs.server.routes["/big.png"] = huge(MAX_BYTES + 1024, declare_length=declared)
    feed = blogs.feed(blogs.alice, image="/big.png")
    fetched = refresh_icon(feed, now=NOW, config=config())
    assert fetched is not None
    assert fetched.content_type == ""
    icon = stored(feed)
    assert icon is not None
    assert icon.data == b""
    assert "larger than 64 KB" in icon.note


def test_an_image_just_under_the_cap_is_kept(blogs: Blogs) -> None:
    body = PNG + bytes(MAX_BYTES - len(PNG))
    blogs.server.routes["/full.png"] = png(body)
    feed = blogs.feed(blogs.alice, image="/full.png")
    assert refresh_icon(feed, now=NOW, config=config()) is not None
    icon = stored(feed)
    assert icon is not None
    assert icon.data == body


@pytest.fixture
def private_server() -> Iterator[FakeServer]:
    """A server on 127.0.0.1, the host's own loopback: it would answer with a fine PNG."""
    with FakeServer(host="127.0.0.1") as inside:
        inside.route(
            "GET", r"/.*", lambda request: Response(200, PNG, {"Content-Type": "image/png"})
        )
        yield inside


def test_a_redirect_to_a_private_address_is_refused(
    blogs: Blogs, private_server: FakeServer
) -> None:
    blogs.server.routes["/logo.png"] = redirect(302, private_server.url("/logo.png"))
    feed = blogs.feed(blogs.alice, image="/logo.png")
    fetched = refresh_icon(feed, now=NOW, config=config())
    assert fetched is not None
    assert fetched.content_type == ""
    assert private_server.requests == []  # never reached
    icon = stored(feed)
    assert icon is not None
    assert icon.data == b""
    assert "tribe could not reach a public server at 127.0.0.1" in icon.note


def test_without_a_feed_image_the_sites_favicon(blogs: Blogs) -> None:
    blogs.server.routes["/favicon.ico"] = png(ICO, "image/vnd.microsoft.icon")
    feed = blogs.feed(blogs.alice, site="/blog/")
    assert refresh_icon(feed, now=NOW, config=config()) is not None
    icon = stored(feed)
    assert icon is not None
    assert (icon.content_type, icon.data) == ("image/x-icon", ICO)
    assert icon.source_url == blogs.server.url("/favicon.ico")


def test_a_failed_refresh_keeps_the_icon_it_had(blogs: Blogs) -> None:
    blogs.server.routes["/logo.png"] = png()
    feed = blogs.feed(blogs.alice, image="/logo.png")
    refresh_icon(feed, now=NOW, config=config())
    blogs.server.routes["/logo.png"] = status(500)
    later = NOW + timedelta(days=8)
    assert refresh_icon(feed, now=later, config=config()) is not None
    icon = stored(feed)
    assert icon is not None
    assert (icon.content_type, icon.data) == ("image/png", PNG)
    assert "HTTP 500" in icon.note
    with read_scope() as s:
        assert icons_due(s, now=later + timedelta(days=1)) == []  # asked: a week's rest


def test_only_feeds_shown_on_a_public_page_are_due(blogs: Blogs) -> None:
    shown = blogs.feed(blogs.alice, image="/a.png")
    nowhere = blogs.feed(blogs.alice)  # no image, no site: nothing to ask for
    hidden = blogs.feed(blogs.bob, image="/b.png")
    removed = blogs.feed(blogs.alice, image="/c.png")
    with session_scope() as s:
        tribe = get_tribe(s, blogs.slug)
        bob = s.exec(select(Membership).where(Membership.member_id == blogs.bob)).one()
        bob.public_hidden = True
        row = s.get(Feed, removed)
        assert row is not None
        row.removed_at = NOW
        outsider = b.member(s, "Carol")
        other = b.tribe(s, "Cooks", outsider)  # private
        elsewhere = b.feed(s, outsider, blogs.server.url("/carol.xml"), image_url="https://x/i.png")
        quitter = b.member(s, "Dave")
        b.tribe(s, "Bakers", quitter).is_public = True
        s.exec(
            select(Membership).where(Membership.member_id == quitter.id)
        ).one().status = MembershipStatus.LEFT
        gone = b.feed(s, quitter, blogs.server.url("/dave.xml"), image_url="https://x/i.png")
        assert tribe.is_public
        assert not other.is_public
    with read_scope() as s:
        assert icons_due(s, now=NOW) == [shown]
    for feed_id in (nowhere, hidden, removed, b.pk(elsewhere), b.pk(gone)):
        assert refresh_icon(feed_id, now=NOW, config=config()) is None
    assert blogs.server.requests == []
    with session_scope() as s:
        s.exec(select(Tribe).where(Tribe.slug == blogs.slug)).one().is_public = False
    with read_scope() as s:
        assert icons_due(s, now=NOW) == []


def test_the_worker_task_fetches_one_feeds_icon(blogs: Blogs) -> None:
    from workers import tasks
    from workers.app import app
    from workers.queues import ROUTES

    blogs.server.routes["/logo.png"] = png()
    feed = blogs.feed(blogs.alice, image="/logo.png")
    assert tasks.fetch_icon(feed) is True
    assert tasks.fetch_icon(feed) is False  # done this week
    assert blogs.server.hits("/logo.png") == 1
    entry = app.conf.beat_schedule["blog-icons"]
    assert entry["task"] == tasks.scan_icons.name == "tribe.icons.scan"
    assert ROUTES["tribe.icons.scan"] == {"queue": "scheduler"}
    assert ROUTES["tribe.icons.fetch"] == {"queue": "feeds"}


# What is an image, and where to look for one: pure. -------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (ICO, "image/x-icon"),
        (SVG, None),
        (b"<?xml version='1.0'?><svg/>", None),
        (b"<html>", None),
        (b"", None),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
    ],
)
def test_images_are_known_by_their_first_bytes(data: bytes, kind: str | None) -> None:
    assert sniff_image(data) == kind


def test_where_an_icon_is_looked_for() -> None:
    assert icon_urls("https://cdn.example/i.png", "https://blog.example/sub/") == (
        "https://cdn.example/i.png",
        "https://blog.example/favicon.ico",
    )
    assert icon_urls(None, "https://blog.example/sub/") == ("https://blog.example/favicon.ico",)
    assert icon_urls(None, "") == ()


# The parser finds the feed's image; a poll records it. -------------------------------------

RSS_WITH_IMAGE = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>B</title>
<link>https://blog.example/</link><image><url>/img/logo.png?utm_source=x</url><title>B</title>
<link>https://blog.example/</link></image><item><title>a</title><guid>a</guid></item>
</channel></rss>"""


def _atom(head: str) -> bytes:
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
        f"<id>urn:x</id><updated>2024-01-01T00:00:00Z</updated>{head}</feed>"
    ).encode()


@pytest.mark.parametrize(
    ("body", "image"),
    [
        (RSS_WITH_IMAGE, "https://blog.example/img/logo.png"),
        (
            _atom("<icon>/favicon.png</icon><logo>https://cdn.example/logo.png</logo>"),
            "https://blog.example/favicon.png",
        ),
        (_atom("<logo>https://cdn.example/logo.png</logo>"), "https://cdn.example/logo.png"),
        (_atom("<icon>javascript:alert(1)</icon>"), None),
        (_atom(""), None),
    ],
)
def test_the_parser_finds_the_feeds_image(body: bytes, image: str | None) -> None:
    assert parse_feed(body, RSS_HEADERS, "https://blog.example/feed").image_url == image


def test_a_poll_records_the_feeds_image(server: FeedServer) -> None:
    server.routes["/feed.xml"] = Served(
        RSS_WITH_IMAGE.replace(b"/img/", server.url("/img/").encode())
    )
    with session_scope() as s:
        feed_id = b.pk(b.feed(s, b.member(s, "Alice"), server.url("/feed.xml")))
    b.poll_now(feed_id)
    with read_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        assert feed.image_url == server.url("/img/logo.png")
        assert feed.site_url == "https://blog.example/"
