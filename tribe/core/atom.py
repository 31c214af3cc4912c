"""A small Atom 1.0 (RFC 4287) writer: a tribe's planet (`/t/{slug}/feed.xml`) and its
letter archive (`/t/{slug}/letters.xml`) are written with it.

Pure: the entries and every date come in; the same input gives the same bytes, so a
body's hash is a stable ETag and a repeated fetch answers 304. ElementTree escapes text
and attributes; what it does not do is drop the characters XML 1.0 forbids (a control
character in a blog post's title would make the whole feed unreadable to a strict
parser), so every text passes through `xml_text` first.

Identifiers are `tag:` URIs (RFC 4151) or URLs, made by the caller: they must never
change once published, or every reader shows the entries again as new.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
# Characters XML 1.0 does not allow in a document, whatever the escaping.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class AtomEntry:
    """One entry: `link` is where it lives (for a planet, the original post)."""

    id: str
    title: str
    link: str
    updated: datetime
    published: datetime | None
    author_name: str
    summary_html: str  # already sanitized; "" for none


def rfc3339(moment: datetime) -> str:
    """`2026-11-30T18:24:41Z`: UTC, whole seconds (a naive moment is taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tag_uri(base_url: str, day: date, specific: str) -> str:
    """A `tag:` URI (RFC 4151) minted by the instance at `base_url`: its host name (no
    port: the tag grammar has none) and a day it held that name. Stable as long as the
    three inputs are."""
    host = (urlsplit(base_url).hostname or "localhost").lower()
    return f"tag:{host},{day.isoformat()}:{specific}"


def xml_text(value: str) -> str:
    """`value` without the characters no XML 1.0 document may hold."""
    return _NOT_XML.sub("", value)


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _entry(feed: ET.Element, entry: AtomEntry) -> None:
    element = _add(feed, "entry")
    _add(element, "id", entry.id)
    _add(element, "title", entry.title or entry.link, type="text")
    _add(element, "link", rel="alternate", type="text/html", href=entry.link)
    _add(element, "updated", rfc3339(entry.updated))
    if entry.published is not None:
        _add(element, "published", rfc3339(entry.published))
    if entry.author_name:
        author = _add(element, "author")
        _add(author, "name", entry.author_name)
    if entry.summary_html:
        _add(element, "summary", entry.summary_html, type="html")


def atom_feed(
    *,
    id: str,
    title: str,
    self_url: str,
    alternate_url: str,
    updated: datetime,
    entries: Sequence[AtomEntry],
    subtitle: str = "",
    author_name: str = "",
) -> bytes:
    """The feed document, UTF-8 with its XML declaration. The feed itself has an author
    (`author_name`, else its title): RFC 4287 wants one wherever an entry has none."""
    # The namespace is declared as a plain attribute: ElementTree's `default_namespace`
    # refuses the unqualified attributes (rel, href, type) every Atom element has.
    feed = ET.Element("feed", xmlns=ATOM_NS)
    _add(feed, "id", id)
    _add(feed, "title", title, type="text")
    if subtitle:
        _add(feed, "subtitle", subtitle, type="text")
    _add(feed, "link", rel="self", type=ATOM_TYPE, href=self_url)
    _add(feed, "link", rel="alternate", type="text/html", href=alternate_url)
    _add(feed, "updated", rfc3339(updated))
    author = _add(feed, "author")
    _add(author, "name", author_name or title)
    for entry in entries:
        _entry(feed, entry)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
