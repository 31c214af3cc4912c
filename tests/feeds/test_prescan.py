"""Cutting known entries before feedparser must never change what new entries look like."""

from pathlib import Path

import pytest

from tests import builders as b
from tests.builders import Item, ago, poll_now, posts, rss
from tests.feedserver import Feed as Served
from tests.feedserver import FeedServer
from tribe.infra.db import session_scope
from tribe.ingest.parse import entry_key, parse_feed
from tribe.ingest.prescan import entry_spans, without_known_entries

DATA = Path(__file__).parent.parent / "data"
HEADERS = {"content-type": "application/rss+xml"}
URL = "https://alice.example/feed/"


def parse(body: bytes):  # type: ignore[no-untyped-def]
    return parse_feed(body, HEADERS, URL)


def known(*guids: str):  # type: ignore[no-untyped-def]
    keys = {entry_key(g, None, "", "") for g in guids}
    return lambda candidates: keys & set(candidates)


@pytest.mark.parametrize("name", ["wordpress.rss", "atom.xml"])
def test_spans_find_every_guid_the_parser_finds(name: str) -> None:
    body = (DATA / name).read_bytes()
    spans = entry_spans(body)
    assert spans is not None
    assert [s.key for s in spans] == [e.key for e in parse(body).entries]
    for span in spans:
        element = body[span.start : span.end]
        assert element.startswith((b"<item", b"<entry"))
        assert element.endswith((b"</item>", b"</entry>"))


@pytest.mark.parametrize("name", ["wordpress.rss", "atom.xml"])
def test_new_entries_parse_the_same_with_or_without_the_known_ones(name: str) -> None:
    body = (DATA / name).read_bytes()
    full = parse(body)
    first, *rest = full.entries
    lookup = lambda candidates: {e.key for e in rest} & set(candidates)  # noqa: E731
    cut = parse(without_known_entries(body, lookup))
    assert cut.entries == (first,)
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


@pytest.mark.parametrize(
    "name", ["hostile-bomb.xml", "hostile-external-entity.xml", "hostile-malformed.xml"]
)
def test_the_scan_steps_aside_for_anything_odd(name: str) -> None:
    assert entry_spans((DATA / name).read_bytes()) is None


def test_an_undeclared_encoding_mismatch_is_left_to_feedparser() -> None:
    body = (DATA / "hostile-bad-encoding.xml").read_bytes()
    assert entry_spans(body) is None


@pytest.mark.usefixtures("db")
def test_a_fresh_entry_among_old_ones_is_still_announced(server: FeedServer) -> None:
    """End to end through a poll: the cut happens, the new post arrives, nothing else."""
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        b.tribe(s, "T", alice, bob)
        feed_id = b.feed(s, alice, server.url("/f.xml")).id
    old = posts(19)
    server.routes["/f.xml"] = Served(rss(old))
    poll_now(feed_id)  # type: ignore[arg-type]
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
    summary = poll_now(feed_id)  # type: ignore[arg-type]
    assert (summary.new_posts, summary.announced, summary.stream_items) == (1, 1, 1)


def test_utf16_documents_are_left_whole() -> None:
    text = rss([Item("A", guid="a")]).decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    assert entry_spans(text.encode("utf-16")) is None
