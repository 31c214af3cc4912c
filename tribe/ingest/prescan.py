"""Only new entries need feedparser: a fast first pass finds the ones we already have.

When a blog publishes one post, its feed comes back with that post and the 19 before
it, all of which we stored long ago. feedparser costs about 8 ms for such a feed,
expat about 0.3 ms. So before parsing we scan the document with expat, find each
entry's guid (RSS `<guid>`, Atom `<id>`) and its byte span, ask the database which of
those we already know, and hand feedparser the document without them. Known entries
never change anything (an edit never re-announces), so nothing is lost.

Whenever the scan is not sure — a DOCTYPE, a parse error, an entry with no guid or
two of them — it does not cut that entry (or anything), and the full document is
parsed as before. Whatever expat cannot read is feedparser's to judge: expat's own
errors are not only `ExpatError` (an unknown declared encoding raises `LookupError`),
so any exception from the scan means "unsure", never a failed poll.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from xml.parsers import expat

from tribe.ingest.parse import entry_key

log = logging.getLogger(__name__)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_SEP = " "
_ATOM = "http://www.w3.org/2005/Atom"
_ENTRY_TAGS = {"item", f"{_ATOM}{_SEP}entry"}
_ID_TAGS = {"guid", f"{_ATOM}{_SEP}id"}


@dataclass(frozen=True)
class EntrySpan:
    """An entry's identity and where its element starts and ends in the document."""

    key: str
    start: int
    end: int


class _Scanner:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.parser = expat.ParserCreate(namespace_separator=_SEP)
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.text
        self.depth = 0
        self.entry_depth: int | None = None
        self.entry_start = 0
        self.ids: list[str] = []
        self.in_id = False
        self.id_text: list[str] = []
        self.spans: list[EntrySpan] = []

    def start(self, name: str, _attrs: object) -> None:
        self.depth += 1
        if self.entry_depth is None and name in _ENTRY_TAGS:
            self.entry_depth = self.depth
            self.entry_start = self.parser.CurrentByteIndex
            self.ids = []
        elif self.entry_depth is not None and self.depth == self.entry_depth + 1:
            self.in_id = name in _ID_TAGS
            self.id_text = []

    def text(self, data: str) -> None:
        if self.in_id:
            self.id_text.append(data)

    def end(self, name: str) -> None:
        if self.entry_depth is not None and self.depth == self.entry_depth + 1 and self.in_id:
            self.ids.append("".join(self.id_text).strip())
            self.in_id = False
        elif self.entry_depth == self.depth:
            # CurrentByteIndex is where the end tag starts; the span ends after its '>'.
            end = self.body.index(b">", self.parser.CurrentByteIndex) + 1
            if len(self.ids) == 1 and self.ids[0]:
                self.spans.append(
                    EntrySpan(entry_key(self.ids[0], None, "", ""), self.entry_start, end)
                )
            self.entry_depth = None
        self.depth -= 1


def entry_spans(body: bytes) -> list[EntrySpan] | None:
    """Every entry with exactly one guid, with its span; None when the scan is unsure."""
    if _DOCTYPE.search(body):
        return None  # entity tricks are feedparser's (defused) business, not ours
    if b"\x00" in body[:4] or body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16/32: byte offsets of ">" would cut characters in half
    try:
        scanner = _Scanner(body)
        scanner.parser.Parse(body, True)
    except Exception as exc:  # any of them: see the module's docstring
        log.debug("pre-scan left to feedparser: %s: %s", type(exc).__name__, exc)
        return None
    return scanner.spans


def without_known_entries(body: bytes, known: Callable[[Sequence[str]], Collection[str]]) -> bytes:
    """`body` minus the entries `known` recognises (by key); `body` itself when unsure."""
    spans = entry_spans(body)
    if not spans:
        return body
    have = set(known([s.key for s in spans]))
    if not have:
        return body
    parts, position = [], 0
    for span in spans:
        if span.key in have:
            parts.append(body[position : span.start])
            position = span.end
    parts.append(body[position:])
    return b"".join(parts)
