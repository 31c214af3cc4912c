from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.builders import Item, rss
from tribe.core.errors import NotAFeedError
from tribe.ingest.parse import (
    canonical_url,
    discover_feed_links,
    entry_key,
    parse_feed,
    plain_text,
    sanitize_summary,
)

DATA = Path(__file__).parent.parent / "data"
RSS_HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def parse_file(name: str, url: str = "https://alice.example/feed/", headers=RSS_HEADERS):  # type: ignore[no-untyped-def]
    return parse_feed((DATA / name).read_bytes(), headers, url)


def test_a_wordpress_feed() -> None:
    feed = parse_file("wordpress.rss")
    assert feed.title == "Alice's Garden Notes"
    assert feed.site_url == "https://alice.example/"
    assert feed.ttl is not None
    assert feed.ttl.total_seconds() == 3600
    assert feed.warning is None
    first, second = feed.entries
    assert first.title == "Why tomatoes split \u2013 and what I\u2019m doing about it"
    assert first.url == "https://alice.example/2026/03/03/tomatoes-split/?page=2"
    assert first.categories == ("Vegetables", "Tomatoes")
    assert first.published_at == datetime(2026, 3, 3, 9, 12, 44, tzinfo=UTC)
    assert first.key == entry_key("https://alice.example/?p=1234", None, "", "")
    assert second.published_at == datetime(2026, 2, 20, 17, 0, tzinfo=UTC)


def test_summaries_are_sanitized_and_links_made_absolute() -> None:
    summary = parse_file("wordpress.rss").entries[0].summary
    assert "<script" not in summary
    assert "steal()" not in summary
    assert "onerror" not in summary
    assert '<a href="https://alice.example/tips/watering/" rel="nofollow noopener noreferrer">' in (
        summary
    )
    assert 'src="https://alice.example/wp-content/uploads/tomato.jpg"' in summary
    assert "<em>water</em>" in summary


def test_an_atom_feed_with_xml_base() -> None:
    feed = parse_file("atom.xml", "https://bob.example/blog/atom.xml")
    assert feed.title == "Bob & the Machines"
    rate_limits, musings = feed.entries
    assert rate_limits.title == "Notes on rate limits"
    assert rate_limits.url == "https://bob.example/blog/posts/rate-limits.html"
    assert 'href="https://bob.example/about/"' in rate_limits.summary
    assert rate_limits.published_at == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert rate_limits.categories == ("apis", "ops")
    assert musings.published_at is None


def test_an_entity_expansion_bomb_is_not_expanded() -> None:
    feed = parse_file("hostile-bomb.xml")
    (entry,) = feed.entries
    assert len(entry.title) < 50
    assert len(entry.summary) < 50
    assert feed.warning is not None


def test_an_external_entity_is_never_read() -> None:
    feed = parse_file("hostile-external-entity.xml")
    (entry,) = feed.entries
    assert "root:" not in entry.title + entry.summary


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("hostile-bad-encoding.xml", "Crème brûlée"),
        ("hostile-unknown-encoding.xml", "Still readable"),
    ],
)
def test_a_wrongly_declared_encoding_is_read_with_a_warning(name: str, title: str) -> None:
    feed = parse_file(name, headers={"content-type": "application/rss+xml"})
    assert feed.entries[0].title == title
    assert feed.warning is not None
    assert "declared" in feed.warning


def test_malformed_xml_with_salvageable_entries_is_used_with_a_warning() -> None:
    feed = parse_file("hostile-malformed.xml")
    assert [e.title for e in feed.entries] == ["Cut off mid"]
    assert feed.warning is not None
    assert "broken at line" in feed.warning


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty document"),
        (b"<<<>>> this is not xml", "not an RSS or Atom feed"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x', "not an RSS or Atom feed"),
        (b"<!doctype html><html><body>Welcome!</body></html>", "web page"),
        (b'{"version": "nonsense"}', "not an RSS or Atom feed"),
    ],
)
def test_not_a_feed(body: bytes, words: str) -> None:
    with pytest.raises(NotAFeedError, match=words):
        parse_feed(body, {"content-type": "application/xml"}, "https://x.example/feed")


def test_a_blog_home_page_points_to_its_feed() -> None:
    page = (
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed/">'
        b"</head><body>My blog</body></html>"
    )
    with pytest.raises(NotAFeedError, match=r"its feed is at https://x\.example/feed/"):
        parse_feed(page, {"content-type": "text/html"}, "https://x.example/")
    assert discover_feed_links(page, "https://x.example/blog/") == ["https://x.example/feed/"]


def test_entry_identity_is_guid_then_link_then_text() -> None:
    feed = parse_feed(
        rss(
            [
                Item("With guid", guid="g-1", link="https://b.example/1"),
                Item("Link only", link="https://b.example/2"),
                Item("Neither", description="body one"),
                Item("Neither either", description="body two"),
            ]
        ),
        RSS_HEADERS,
        "https://b.example/feed",
    )
    keys = [e.key for e in feed.entries]
    assert len(set(keys)) == 4
    assert keys[0] == entry_key("g-1", "https://b.example/1", "", "")
    assert keys[1] == entry_key(None, "https://b.example/2", "", "")
    assert feed.entries[2].url == ""


def test_an_edited_entry_keeps_its_identity() -> None:
    before = parse_feed(rss([Item("Typo", guid="g")]), RSS_HEADERS, "https://b.example/f")
    after = parse_feed(rss([Item("Fixed", guid="g")]), RSS_HEADERS, "https://b.example/f")
    assert before.entries[0].key == after.entries[0].key


def test_duplicate_guids_keep_the_first_entry() -> None:
    feed = parse_feed(
        rss([Item("First", guid="same"), Item("Second", guid="same"), Item("Other", guid="o")]),
        RSS_HEADERS,
        "https://b.example/f",
    )
    assert [e.title for e in feed.entries] == ["First", "Other"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mon, 02 Mar 2026 10:00:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),  # no zone
        ("2026-03-02T10:00:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),  # ISO, no zone
        ("Mon, 02 Mar 2026 10:00:00 +0200", datetime(2026, 3, 2, 8, tzinfo=UTC)),
        ("Tue, 01 Jan 2041 00:00:00 GMT", datetime(2041, 1, 1, tzinfo=UTC)),  # future: kept here
        ("the day after tomorrow", None),
    ],
)
def test_dates(raw: str, expected: datetime | None) -> None:
    feed = parse_feed(rss([Item("x", guid="x", published=raw)]), RSS_HEADERS, "https://b.example/")
    assert feed.entries[0].published_at == expected


def test_plain_text_titles() -> None:
    assert plain_text("  Fish &amp; <b>chips</b>\n\n tonight ") == "Fish & chips tonight"
    assert plain_text("&lt;script&gt;alert(1)&lt;/script&gt;") == "<script>alert(1)</script>"
    assert len(plain_text("x" * 5000)) == 500


def test_summary_sanitizing_keeps_text_and_drops_danger() -> None:
    dirty = (
        '<p style="color:red" onclick="x()">Hi <a href="javascript:alert(1)">there</a></p>'
        "<iframe src='https://evil.example'></iframe><style>p{}</style>"
    )
    clean = sanitize_summary(dirty)
    assert clean == '<p>Hi <a rel="nofollow noopener noreferrer">there</a></p>'


def test_a_huge_summary_is_cut_and_still_well_formed() -> None:
    clean = sanitize_summary("<p><b>" + "word " * 10_000 + "</b></p>")
    assert len(clean) <= 20_100
    assert clean.endswith("</b></p>")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/a?utm_source=x&id=3#frag", "https://b.example/a?id=3"),
        ("https://b.example/p?fbclid=1", "https://b.example/p"),
        ("https://b.example", "https://b.example/"),
        ("javascript:alert(1)", ""),
        ("", ""),
    ],
)
def test_canonical_urls(url: str, expected: str) -> None:
    assert canonical_url(url, "https://b.example/feed") == expected
