"""The parser cases in tests/data/feeds/: each document beside the JSON of what it must
parse to (`wordpress.rss` and `wordpress.rss.json`); the format is described in
tests/feeds/test_parse.py.

Writing an expectation, never done by the suite:

    .venv/bin/python -m tests.feeds.cases NAME... [--url URL] [--content-type TYPE]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from tribe.core.errors import NotAFeedError
from tribe.ingest import parse
from tribe.ingest.parse import ParsedEntry, ParsedFeed, entry_key, parse_feed

FEEDS = Path(__file__).parent.parent / "data" / "feeds"
DEFAULT_URL = "https://blog.example/feed/"
RSS_HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


@dataclass(frozen=True)
class Case:
    document: Path
    expected: dict[str, Any]

    @property
    def body(self) -> bytes:
        return self.document.read_bytes()

    @property
    def feed(self) -> dict[str, Any] | None:
        """The expected feed; None when the document is refused."""
        feed: dict[str, Any] | None = self.expected.get("feed")
        return feed

    def parse(self, body: bytes | None = None) -> ParsedFeed:
        """The document (or `body` in its place) parsed as the case says it was fetched."""
        document = self.body if body is None else body
        return parse_feed(document, self.expected["headers"], self.expected["url"])


def cases() -> list[Case]:
    return [Case(document, read_json(expectation_of(document))) for document in documents()]


def documents() -> list[Path]:
    return sorted(p for p in FEEDS.iterdir() if p.suffix != ".json")


def expectation_of(document: Path) -> Path:
    return document.with_name(document.name + ".json")


def read_json(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


# --- a parse as data ------------------------------------------------------------------------


def parse_case(document: Path, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """What the parser makes of `document`, in the shape of the JSON beside it."""
    case: dict[str, Any] = {"url": url, "headers": headers}
    with recorded_identities() as identities:
        try:
            feed = parse_feed(document.read_bytes(), headers, url)
        except NotAFeedError as refused:
            return {**case, "error": str(refused)}
    return {**case, "feed": feed_data(feed, identities)}


def feed_data(feed: ParsedFeed, identities: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "title": feed.title,
        "site_url": feed.site_url,
        "ttl": None if feed.ttl is None else str(feed.ttl),
        "warning": feed.warning,
        "entries": [entry_data(entry, identities[entry.key]) for entry in feed.entries],
    }


def entry_data(entry: ParsedEntry, identity: dict[str, str]) -> dict[str, Any]:
    return {
        "key": identity,
        "url": entry.url,
        "title": entry.title,
        "summary": entry.summary,
        "categories": list(entry.categories),
        "published_at": None if entry.published_at is None else entry.published_at.isoformat(),
    }


@contextmanager
def recorded_identities() -> Iterator[dict[str, dict[str, str]]]:
    """Each key the parser makes, mapped to the part of its inputs that decided it: a key
    is a hash, so the expectation says what it is a hash of (and hashing just that part
    must give the same key)."""
    found: dict[str, dict[str, str]] = {}

    def recording(guid: str | None, link: str | None, title: str, content: str) -> str:
        key = entry_key(guid, link, title, content)
        if guid and guid.strip():
            identity = {"guid": guid.strip()}
        elif link and link.strip():
            identity = {"link": link.strip()}
        else:
            identity = {"title": title, "content": content}
        assert key_of(identity) == key, identity
        found[key] = identity
        return key

    with mock.patch.object(parse, "entry_key", recording):
        yield found


def key_of(identity: dict[str, str]) -> str:
    """The entry key an expectation's `key` stands for."""
    guid, link = identity.get("guid"), identity.get("link")
    return entry_key(guid, link, identity.get("title", ""), identity.get("content", ""))


# --- writing an expectation -------------------------------------------------------------------


def write_expectation(name: str, url: str | None, content_type: str | None) -> Path:
    """Parse tests/data/feeds/NAME and write NAME.json, keeping the address and headers
    an earlier expectation had unless they are given."""
    document = FEEDS / name
    target = expectation_of(document)
    old = read_json(target) if target.exists() else {}
    headers = dict(old.get("headers", RSS_HEADERS))
    if content_type is not None:
        headers["content-type"] = content_type
    case = parse_case(document, url or old.get("url", DEFAULT_URL), headers)
    target.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def main() -> None:
    cli = argparse.ArgumentParser(description="Write what documents in tests/data/feeds parse to.")
    cli.add_argument("names", nargs="+", metavar="NAME", help="a file in tests/data/feeds/")
    cli.add_argument("--url", help=f"the address it was fetched from (default: {DEFAULT_URL})")
    cli.add_argument("--content-type", help="the Content-Type header it came with")
    args = cli.parse_args()
    for name in args.names:
        print("wrote", write_expectation(name, args.url, args.content_type))


if __name__ == "__main__":
    main()
