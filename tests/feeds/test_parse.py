"""The parser, case by case: each document in tests/data/feeds/ sits beside the JSON of
what it must parse to (`wordpress.rss` and `wordpress.rss.json`).

An expectation is plain data: the parser's other inputs (`url`, the address the document
came from, and the response `headers`), then either the `error` it is refused with or
the `feed`, a `ParsedFeed` with its `ttl` as `str(timedelta)`, dates in ISO 8601, and
each entry's `key` as what the key is made from: `{"guid": …}`, else `{"link": …}`,
else `{"title": …, "content": …}`.

A new case: put the document in tests/data/feeds/ and write its expectation with

    .venv/bin/python -m tests.feeds.cases NAME [--url URL] [--content-type TYPE]

then read what it wrote (`git diff` for a changed one) before keeping it: it is what
the parser does today, right or wrong. An existing case keeps its address and headers.
The suite itself never writes an expectation.
"""

from __future__ import annotations

import pytest

from tests.builders import Item, rss
from tests.feeds.cases import FEEDS, RSS_HEADERS, Case, cases, expectation_of, parse_case
from tribe.ingest.parse import (
    canonical_url,
    discover_feed_links,
    parse_feed,
    plain_text,
    sanitize_summary,
)


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.document.name)
def test_a_document_parses_to_what_is_written_beside_it(case: Case) -> None:
    expected = case.expected
    assert parse_case(case.document, expected["url"], expected["headers"]) == expected


def test_every_expectation_has_its_document() -> None:
    documents = {case.document for case in cases()}
    assert {expectation_of(document) for document in documents} == set(FEEDS.glob("*.json"))


def test_an_edited_entry_keeps_its_identity() -> None:
    before = parse_feed(rss([Item("Typo", guid="g")]), RSS_HEADERS, "https://b.example/f")
    after = parse_feed(rss([Item("Fixed", guid="g")]), RSS_HEADERS, "https://b.example/f")
    assert before.entries[0].key == after.entries[0].key


def test_a_blog_home_page_advertises_its_feed() -> None:
    page = (FEEDS / "home-page.html").read_bytes()
    assert discover_feed_links(page, "https://x.example/blog/") == ["https://x.example/feed/"]


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
