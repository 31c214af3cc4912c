"""A public tribe's Atom feed and OPML: valid documents (feedparser reads them without
complaint, and the Atom rules that can be checked offline hold), stable ids, and the
manners of a polite host (validators, 304s, cache headers)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import feedparser
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import client_for
from tests.web.planet import Planet, public_planet  # noqa: F401 - the fixture
from tribe.core.atom import AtomEntry, atom_feed, xml_text
from tribe.core.opml import Outline, opml_document
from tribe.core.urls import publishable
from tribe.infra.db import session_scope
from tribe.infra.models import Feed, Post

A = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


def _posts(planet: Planet) -> None:
    planet.post(
        planet.alice_feed,
        "Tomatoes & <peppers>",
        hours_ago=2,
        summary='<p>Water <b>evenly</b> <script>alert(1)</script><a href="https://x.example/">more</a></p>',
    )
    planet.post(planet.bob_feed, "Digging \x0b deep", hours_ago=1, url="https://bob.blog/digging")
    planet.post(planet.carol_feed, "Carol's hidden post", hours_ago=3)


def _feed(app: TestClient, planet: Planet) -> bytes:
    answer = app.get(f"/t/{planet.slug}/feed.xml")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    body: bytes = answer.content
    return body


def test_feedparser_reads_the_feed_without_complaint(app: TestClient, planet: Planet) -> None:
    _posts(planet)
    parsed = feedparser.parse(_feed(app, planet))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Writers"
    assert parsed.feed.subtitle == "Bloggers who grow their own food"
    first, second = parsed.entries
    assert first.title == "Digging  deep"  # the control character dropped, nothing else
    assert first.link == "https://bob.blog/digging"
    assert first.author == "Bob"
    assert second.title == "Tomatoes & <peppers>"
    assert second.author == "Alice"
    assert "<b>evenly</b>" in second.summary
    assert "script" not in second.summary
    assert "alert" not in second.summary
    assert "Carol" not in str(parsed)


def test_the_feed_keeps_the_atom_rules(app: TestClient, planet: Planet) -> None:
    _posts(planet)
    root = ET.fromstring(_feed(app, planet))
    assert root.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{A}{name}")) == 1, name
    assert root.findtext(f"{A}id", "").startswith("tag:127.0.0.1,")
    assert RFC3339.match(root.findtext(f"{A}updated", ""))
    links = {link.get("rel"): link for link in root.findall(f"{A}link")}
    assert links["self"].get("href") == "http://127.0.0.1:8000/t/writers/feed.xml"
    assert links["self"].get("type") == "application/atom+xml"
    assert links["alternate"].get("href") == "http://127.0.0.1:8000/t/writers"
    assert root.find(f"{A}author/{A}name") is not None
    entries = root.findall(f"{A}entry")
    assert len(entries) == 2
    ids = []
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{A}{name}")) == 1, name
        assert RFC3339.match(entry.findtext(f"{A}updated", ""))
        assert RFC3339.match(entry.findtext(f"{A}published", ""))
        (link,) = entry.findall(f"{A}link")
        assert link.get("rel") == "alternate"
        assert link.get("href", "").startswith("https://")
        assert entry.findtext(f"{A}author/{A}name")
        ids.append(entry.findtext(f"{A}id", ""))
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"tag:127\.0\.0\.1,\d{4}-\d\d-\d\d:post/\d+", i) for i in ids)
    # The feed's updated is its newest entry's.
    assert root.findtext(f"{A}updated") == entries[0].findtext(f"{A}updated")


def test_ids_and_bytes_are_stable_across_fetches(app: TestClient, planet: Planet) -> None:
    _posts(planet)
    first = _feed(app, planet)
    planet.post(planet.alice_feed, "A newer one", hours_ago=0.5)
    second = _feed(app, planet)
    ids = [e.findtext(f"{A}id") for e in ET.fromstring(first).findall(f"{A}entry")]
    later = [e.findtext(f"{A}id") for e in ET.fromstring(second).findall(f"{A}entry")]
    assert later[1:] == ids
    assert _feed(app, planet) == second


def test_a_repeated_conditional_get_is_answered_304(app: TestClient, planet: Planet) -> None:
    _posts(planet)
    first = app.get(f"/t/{planet.slug}/feed.xml")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert first.headers["cache-control"] == "public, max-age=600"
    again = app.get(f"/t/{planet.slug}/feed.xml", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=600"
    weak = app.get(f"/t/{planet.slug}/feed.xml", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    since = app.get(f"/t/{planet.slug}/feed.xml", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    assert since.content == b""
    # An older copy, another tag, or a date nobody can read: the whole feed.
    older = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    for headers in (
        {"If-Modified-Since": older},
        {"If-None-Match": '"another"'},
        {"If-None-Match": '"another"', "If-Modified-Since": modified},  # the tag decides
        {"If-Modified-Since": "yesterday-ish"},
    ):
        answer = app.get(f"/t/{planet.slug}/feed.xml", headers=headers)
        assert answer.status_code == 200, headers
        assert answer.content == first.content


def test_cacheable_answers_carry_no_cookie_and_answer_head(app: TestClient, planet: Planet) -> None:
    """A shared cache may keep what says `public`: no browser's CSRF cookie on it."""
    _posts(planet)
    fresh = client_for(app)  # no cookie yet: the app would give it one on any page
    for path in (f"/t/{planet.slug}/feed.xml", f"/t/{planet.slug}/members.opml"):
        answer = fresh.get(path)
        assert answer.headers["cache-control"].startswith("public"), path
        assert "set-cookie" not in answer.headers, path
        head = fresh.head(path)
        assert head.status_code == 200, path
        assert head.headers["etag"] == answer.headers["etag"]
    assert "set-cookie" in fresh.get(f"/t/{planet.slug}").headers  # its form needs one


def test_a_new_post_changes_the_validators(app: TestClient, planet: Planet) -> None:
    _posts(planet)
    first = app.get(f"/t/{planet.slug}/feed.xml")
    planet.post(planet.alice_feed, "Brand new", hours_ago=0.1)
    answer = app.get(
        f"/t/{planet.slug}/feed.xml",
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert answer.status_code == 200
    assert answer.headers["etag"] != first.headers["etag"]
    assert b"Brand new" in answer.content
    since = app.get(
        f"/t/{planet.slug}/feed.xml",
        headers={"If-Modified-Since": first.headers["last-modified"]},
    )
    assert since.status_code == 200


def test_a_back_dated_post_found_now_moves_last_modified(app: TestClient, planet: Planet) -> None:
    """A reader that sends only If-Modified-Since must see a post found today that its
    blog dated last month."""
    _posts(planet)
    first = app.get(f"/t/{planet.slug}/feed.xml")
    with session_scope() as s:
        s.add(Post(feed_id=planet.alice_feed, entry_key="late", url="https://alice.blog/late",
                   title="Found late", published_at=datetime.now(UTC) - timedelta(days=30),
                   discovered_at=datetime.now(UTC) + timedelta(seconds=2)))  # fmt: skip
    since = app.get(
        f"/t/{planet.slug}/feed.xml",
        headers={"If-Modified-Since": first.headers["last-modified"]},
    )
    assert since.status_code == 200
    assert b"Found late" in since.content


def test_an_empty_tribe_still_has_a_valid_feed(app: TestClient, planet: Planet) -> None:
    parsed = feedparser.parse(_feed(app, planet))
    assert parsed.bozo == 0
    assert parsed.entries == []
    assert parsed.feed.updated


def test_the_opml_lists_the_shown_members_feeds(app: TestClient, planet: Planet) -> None:
    answer = app.get(f"/t/{planet.slug}/members.opml")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/x-opml; charset=utf-8"
    assert answer.headers["cache-control"].startswith("public, max-age=")
    root = ET.fromstring(answer.content)
    assert root.tag == "opml"
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "Writers: the members' blogs"
    outlines = {o.get("xmlUrl"): o for o in root.iter("outline")}
    assert set(outlines) == {"https://alice.blog/feed", "https://bob.blog/feed"}
    assert outlines["https://bob.blog/feed"].get("htmlUrl") == "https://bob.blog/"
    assert outlines["https://bob.blog/feed"].get("text") == "Bob: Bob digs"
    assert outlines["https://bob.blog/feed"].get("type") == "rss"
    again = app.get(
        f"/t/{planet.slug}/members.opml", headers={"If-None-Match": answer.headers["etag"]}
    )
    assert again.status_code == 304


def test_a_private_feeds_address_is_never_published(app: TestClient, planet: Planet) -> None:
    """A paid or private feed carries its credential in its address: the OPML leaves it
    out (the member's other feeds stay)."""
    with session_scope() as s:
        alice = s.get_one(Feed, planet.alice_feed)
        for n, query in enumerate(("?token=s3cr3t", "?feed=rss2&Auth_Key=abc")):
            s.add(Feed(owner_id=alice.owner_id, url=f"https://alice.blog/paid{n}{query}",
                       host="alice.blog", site_url="https://alice.blog/"))  # fmt: skip
    body = app.get(f"/t/{planet.slug}/members.opml").text
    assert "s3cr3t" not in body
    assert "abc" not in body
    assert "https://alice.blog/feed" in body


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://blog.example/feed", True),
        ("https://blog.example/?feed=rss2", True),
        ("https://blog.example/feed?token=x", False),
        ("https://blog.example/feed?apikey=x", False),
        ("https://blog.example/feed?s=1&SIG=x", False),
        ("https://me:pw@blog.example/feed", False),
    ],
)
def test_which_addresses_can_be_published(url: str, shown: bool) -> None:
    assert publishable(url) is shown


# The writers on their own: pure, without a database. ----------------------------------------


def test_the_atom_writer_escapes_and_keeps_only_xml_characters() -> None:
    moment = datetime(2026, 11, 30, 18, 24, 41, 500, tzinfo=UTC)
    body = atom_feed(
        id="tag:example.org,2026-11-30:tribe/x",
        title='Fish & "chips" <tonight> \x00\x1f',
        self_url="https://example.org/t/x/feed.xml?a=1&b=2",
        alternate_url="https://example.org/t/x",
        updated=moment,
        entries=[
            AtomEntry(
                id="tag:example.org,2026-11-30:post/1",
                title="",
                link="https://blog.example/1",
                updated=moment,
                published=None,
                author_name="",
                summary_html="",
            )
        ],
    )
    root = ET.fromstring(body)
    assert root.findtext(f"{A}title") == 'Fish & "chips" <tonight> '
    assert root.findtext(f"{A}updated") == "2026-11-30T18:24:41Z"
    assert root.find(f"{A}link[@rel='self']").get("href").endswith("?a=1&b=2")  # type: ignore[union-attr]
    (entry,) = root.findall(f"{A}entry")
    assert entry.findtext(f"{A}title") == "https://blog.example/1"  # never an empty title
    assert entry.find(f"{A}published") is None
    assert entry.find(f"{A}summary") is None
    assert feedparser.parse(body).bozo == 0


def test_xml_text_drops_what_xml_forbids() -> None:
    assert xml_text("a\x00b\x08c\td\ne\rf\ufffeg\U0001f600") == "abc\td\ne\rfg\U0001f600"


@pytest.mark.parametrize("html_url", ["", "https://blog.example/"])
def test_the_opml_writer(html_url: str) -> None:
    body = opml_document(
        title="T & co",
        outlines=[Outline(text="A <b>", xml_url="https://a.example/f?x=1&y=2", html_url=html_url)],
    )
    (outline,) = ET.fromstring(body).iter("outline")
    assert outline.get("text") == "A <b>"
    assert outline.get("xmlUrl") == "https://a.example/f?x=1&y=2"
    assert outline.get("htmlUrl") == (html_url or None)
