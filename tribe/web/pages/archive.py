"""A public tribe's letter archive: every edition that went out, as readers got it
(`/t/{slug}/letters`, one edition at `/t/{slug}/letters/{number}`) and as an Atom feed
(`/t/{slug}/letters.xml`, with conditional GETs). Built from each edition's frozen
picks, never from live posts; a private tribe's archive answers 404, as a slug nobody has.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response

from tribe.alliance import editions as ed
from tribe.alliance.counting import aware
from tribe.core.atom import ATOM_TYPE, AtomEntry, atom_feed, tag_uri
from tribe.infra.db import read_scope
from tribe.infra.models import Tribe
from tribe.web.conditional import conditional_response
from tribe.web.config import WebConfigDep
from tribe.web.deps import render
from tribe.web.letter_views import WebLetter, archived_letter, letter_html
from tribe.web.params import PathId

router = APIRouter()
ARCHIVE_FEED_ENTRIES = 20
ARCHIVE_MAX_AGE = 600  # seconds a reader or proxy may keep letters.xml


@router.get("/t/{slug}/letters")
def archive(request: Request, slug: str) -> Response:
    with read_scope() as session:
        tribe = ed.archive_tribe(session, slug)
        sent = ed.sent_editions(session, tribe)
        name = tribe.name
    return render(request, "letter_archive.html", slug=slug, name=name, editions=sent)


@router.api_route("/t/{slug}/letters.xml", methods=["GET", "HEAD"])  # feed readers ask HEAD too
def archive_feed(request: Request, config: WebConfigDep, slug: str) -> Response:
    with read_scope() as session:
        tribe = ed.archive_tribe(session, slug)
        sent = ed.sent_editions(session, tribe, limit=ARCHIVE_FEED_ENTRIES)
        letters = [archived_letter(tribe, e) for e in sent]
        body, updated = _feed(tribe, letters, base_url=config.base_url)
    return conditional_response(
        request, body, media_type=ATOM_TYPE, max_age=ARCHIVE_MAX_AGE, last_modified=updated
    )


def _feed(tribe: Tribe, letters: list[WebLetter], *, base_url: str) -> tuple[bytes, datetime]:
    base = base_url.rstrip("/")
    born = aware(tribe.created_at).date()
    updated = max((letter.sent_at for letter in letters if letter.sent_at), default=None)
    updated = updated or aware(tribe.created_at)
    entries = [
        AtomEntry(
            id=tag_uri(base_url, born, f"tribe/{tribe.id}/letters/{letter.number}"),
            title=letter.subject,
            link=f"{base}/t/{tribe.slug}/letters/{letter.number}",
            updated=letter.sent_at or updated,
            published=letter.sent_at,
            author_name=letter.editor_name or tribe.name,
            summary_html=letter_html(letter),
        )
        for letter in letters
    ]
    body = atom_feed(
        id=tag_uri(base_url, born, f"tribe/{tribe.id}/letters"),
        title=f"{tribe.name}: the letter",
        subtitle=f"The letter of {tribe.name}, written by its members in turn",
        self_url=f"{base}/t/{tribe.slug}/letters.xml",
        alternate_url=f"{base}/t/{tribe.slug}/letters",
        updated=updated,
        entries=entries,
        author_name=tribe.name,
    )
    return body, updated


@router.get("/t/{slug}/letters/{number}")
def archived(request: Request, slug: str, number: PathId) -> Response:
    with read_scope() as session:
        tribe = ed.archive_tribe(session, slug)
        letter = archived_letter(tribe, ed.sent_edition(session, tribe, number))
    return render(request, "letter_edition.html", letter=letter, preview=False)
