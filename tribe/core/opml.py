"""Writing OPML 2.0 (a list of feeds a reader can subscribe to at once): a public
tribe's `/t/{slug}/members.opml`. Pure and deterministic, like `tribe.core.atom`.

tribe reads no OPML (`tribe import` takes CSV): this is the writing half only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from tribe.core.atom import xml_text

OPML_TYPE = "text/x-opml"


@dataclass(frozen=True)
class Outline:
    """One feed: `text` is what a reader shows for it."""

    text: str
    xml_url: str  # the feed
    html_url: str = ""  # the blog; "" when unknown


def opml_document(*, title: str, outlines: Sequence[Outline], owner_url: str = "") -> bytes:
    """An OPML 2.0 document listing `outlines` (type "rss", as readers expect for Atom
    feeds too), UTF-8 with its XML declaration."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = xml_text(title)
    if owner_url:
        ET.SubElement(head, "ownerId").text = xml_text(owner_url)
    body = ET.SubElement(root, "body")
    for outline in outlines:
        attributes = {
            "type": "rss",
            "text": xml_text(outline.text),
            "title": xml_text(outline.text),
            "xmlUrl": xml_text(outline.xml_url),
        }
        if outline.html_url:
            attributes["htmlUrl"] = xml_text(outline.html_url)
        ET.SubElement(body, "outline", attributes)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document
