"""Cutting known entries before feedparser must never change what new entries look like.

The documents are the parser's cases (tests/data/feeds/, see tests/feeds/test_parse.py)."""

from collections.abc import Callable, Collection

import pytest

from tests import builders as b
from tests.builders import Item, ago, poll_now, posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.feeds.cases import Case, cases, key_of
from tribe.infra.db import session_scope
from tribe.ingest.parse import ParsedFeed, entry_key, parse_feed
from tribe.ingest.prescan import entry_spans, without_known_entries

HEADERS = {"content-type": "application/rss+xml"}
URL = "https://alice.example/feed/"
# What the parser reads as it is, and what it reads only with a warning.
CLEAN = [case for case in cases() if case.feed and case.feed["warning"] is None]
ODD = [case for case in cases() if case.feed and case.feed["warning"] is not None]


def named(case: Case) -> str:
    return case.document.name


def parse(body: bytes) -> ParsedFeed:
    return parse_feed(body, HEADERS, URL)


def known(*guids: str) -> Callable[[Collection[str]], set[str]]:
    keys = {entry_key(g, None, "", "") for g in guids}
    return lambda candidates: keys & set(candidates)


def test_the_cases_include_documents_the_scan_cuts() -> None:
    assert {"wordpress.rss", "atom.xml"} <= {
        named(case) for case in CLEAN if entry_spans(case.body) is not None
    }


@pytest.mark.parametrize("case", CLEAN, ids=named)
def test_spans_find_every_guid_the_parser_finds(case: Case) -> None:
    spans = entry_spans(case.body)
    if spans is None:
        return  # stepping aside is always allowed
    assert case.feed is not None
    with_guids = [key_of(e["key"]) for e in case.feed["entries"] if "guid" in e["key"]]
    assert list(dict.fromkeys(s.key for s in spans)) == with_guids
    for span in spans:
        element = case.body[span.start : span.end]
        assert element.startswith((b"<item", b"<entry"))
        assert element.endswith((b"</item>", b"</entry>"))


@pytest.mark.parametrize("case", CLEAN, ids=named)
def test_new_entries_parse_the_same_with_or_without_the_known_ones(case: Case) -> None:
    full = case.parse()
    first, *rest = full.entries
    old = {e.key for e in rest}
    cut = case.parse(without_known_entries(case.body, lambda found: old & set(found)))
    assert [e for e in cut.entries if e.key not in old] == [first]
    assert set(cut.entries) <= set(full.entries)  # what is left parses the same
    assert (cut.title, cut.site_url, cut.ttl) == (full.title, full.site_url, full.ttl)


def test_a_cdata_with_an_end_tag_inside_does_not_confuse_the_spans() -> None:
    body = rss(
        [
            Item("New", guid="new", description="<![CDATA[</item> tricky]]>"),
            Item("Old", guid="old", description="plain"),
        ]
    ).replace(b"&lt;![CDATA[&lt;/item&gt; tricky]]&gt;", b"<![CDATA[</item> tricky]]>")
    cut = parse(without_known_entries(body, known("old")))
    assert [e.title for e in cut.entries] == ["New"]
    assert "tricky" in cut.entries[0].summary


def test_nothing_known_means_the_document_is_untouched() -> None:
    body = rss([Item("A", guid="a"), Item("B", guid="b")])
    assert without_known_entries(body, known()) is body


def test_everything_known_leaves_a_valid_empty_feed() -> None:
    body = rss([Item("A", guid="a"), Item("B", guid="b")], title="Still here")
    feed = parse(without_known_entries(body, known("a", "b")))
    assert feed.entries == ()
    assert feed.title == "Still here"


@pytest.mark.parametrize(
    "items",
    [
        [Item("No guid", link="https://alice.example/1")],  # identity would be the link
        [Item("No guid, no link", description="text")],
    ],
)
def test_entries_without_a_guid_are_never_cut(items: list[Item]) -> None:
    body = rss(items)
    keys = [e.key for e in parse(body).entries]
    assert without_known_entries(body, lambda candidates: set(keys)) == body


def test_an_entry_with_two_guids_is_never_cut() -> None:
    body = rss([Item("Twice", guid="one")]).replace(b"</guid>", b"</guid><guid>two</guid>")
    assert entry_spans(body) == []


@pytest.mark.parametrize("case", ODD, ids=named)
def test_the_scan_steps_aside_for_anything_odd(case: Case) -> None:
    """Entity bombs, external entities, broken XML, encodings declared wrong."""
    assert entry_spans(case.body) is None


@pytest.mark.usefixtures("db")
def test_a_fresh_entry_among_old_ones_is_still_announced(server: FeedServer) -> None:
    """End to end through a poll: the cut happens, the new post arrives, nothing else."""
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        b.tribe(s, "T", alice, bob)
        feed_id = b.pk(b.feed(s, alice, server.url("/f.xml")))
    old = posts(19)
    server.routes["/f.xml"] = Served(rss(old))
    poll_now(feed_id)
    server.routes["/f.xml"] = Served(
        rss(
            [
                Item(
                    "Hot off the press",
                    guid="hot",
                    link="https://blog.example/hot",
                    published=ago(minutes=1),
                ),
                *old,
            ]
        )
    )
    summary = poll_now(feed_id)
    assert (summary.new_posts, summary.announced, summary.stream_items) == (1, 1, 1)


def test_utf16_documents_are_left_whole() -> None:
    text = rss([Item("A", guid="a")]).decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    assert entry_spans(text.encode("utf-16")) is None
