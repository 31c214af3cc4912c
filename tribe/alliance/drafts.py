"""An edition's draft, as its editor writes it: the posts it can carry, the automatic
selection, the editor's own picks, notes and outside links, and when it goes.

The draft proposes the tribe's posts since the previous edition, grouped by author, with
how many tribemates shared each. Until the editor saves their own selection
(`edited_at`), the draft *is* the automatic selection, so posts that come in meanwhile
join it. Only posts of the tribe's members that reached the tribe can be picked: an
edition never shows another tribe's posts. Nor a hidden member's: the letter goes to
the public page's subscribers and into its public archive, and a member who left
themselves off that page (`Membership.public_hidden`) is left out of it too.

What the editor types goes into email headers and bodies, web pages and an Atom feed:
it is kept without the characters none of them can carry (`xml_text`: a NUL, which
PostgreSQL refuses too, or an escape), and the subject on one line (an email header
with a line break cannot be written at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.alliance.counting import aware, sharers_per_post
from tribe.alliance.editions import open_draft, touch
from tribe.alliance.public import shown_member_ids
from tribe.core.atom import xml_text
from tribe.core.errors import ForbiddenError, InvalidInputError, NotFoundError
from tribe.core.kinds import EditionState, MembershipStatus
from tribe.infra.models import Edition, Feed, Member, Membership, Post, StreamItem, Tribe
from tribe.ingest.parse import plain_text
from tribe.members.people import get_tribe
from tribe.members.tribes import active_membership

AUTOMATIC_CAP = 20  # posts in the automatic selection, the most shared first
CANDIDATE_CAP = 200  # posts a draft proposes at most
MAX_LINKS = 20
MAX_INTRO = 10_000
MAX_NOTE = 1_000


@dataclass(frozen=True)
class Candidate:
    """A post the edition can carry."""

    post_id: int
    title: str
    url: str
    author_id: int
    author: str
    summary: str
    published_at: datetime
    shared_by: int  # tribemates who reshared it


def candidates(session: Session, tribe: Tribe, edition: Edition) -> list[Candidate]:
    """The tribe's posts since the edition's start, newest first: posts of its members
    that reached the tribe (someone in it got them in their stream), at most
    CANDIDATE_CAP. Only of the members its public page shows: never a hidden one's."""
    members = select(col(Membership.member_id)).where(
        col(Membership.tribe_id) == tribe.id, col(Membership.status) == MembershipStatus.ACTIVE
    )
    reached = (
        select(col(StreamItem.post_id))
        .where(col(StreamItem.member_id).in_(members))
        .scalar_subquery()
    )
    moment = func.coalesce(col(Post.published_at), col(Post.discovered_at))
    rows = session.exec(
        select(Post, Feed.owner_id, Member.display_name)
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .join(Member, col(Member.id) == col(Feed.owner_id))
        .where(
            col(Feed.owner_id).in_(shown_member_ids(tribe.id or 0)),
            col(Post.discovered_at) >= edition.since,
            col(Post.id).in_(reached),
        )
        .order_by(moment.desc(), col(Post.id).desc())
        .limit(CANDIDATE_CAP)
    ).all()
    shares = sharers_per_post(
        session, tribe_id=tribe.id or 0, post_ids=[p.id or 0 for p, _, _ in rows]
    )
    return [
        Candidate(
            post_id=post.id or 0,
            title=post.title or post.url,
            url=post.url,
            author_id=owner,
            author=name,
            # Stored summaries are sanitized HTML: the letter shows them as text (cut
            # as HTML, a tag would be left open and shown escaped in the email).
            summary=_shorten(plain_text(post.summary, limit=MAX_NOTE)),
            published_at=aware(post.published_at or post.discovered_at),
            shared_by=shares.get(post.id or 0, 0),
        )
        for post, owner, name in rows
    ]


def _shorten(text: str, limit: int = 280) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def automatic_selection(found: list[Candidate]) -> list[Candidate]:
    """The most shared posts (newest first among equals), at most AUTOMATIC_CAP, then
    grouped by author in the order their first post came."""
    best = sorted(found, key=lambda c: (-c.shared_by, -c.published_at.timestamp()))
    chosen = best[:AUTOMATIC_CAP]
    authors = list(dict.fromkeys(c.author_id for c in chosen))
    return sorted(chosen, key=lambda c: authors.index(c.author_id))


@dataclass(frozen=True)
class Pick:
    post_id: int
    note: str = ""


@dataclass(frozen=True)
class Link:
    url: str
    title: str
    note: str = ""


@dataclass(frozen=True)
class Draft:
    """What the editor sees: the edition, the posts it can carry, and the selection."""

    tribe: Tribe
    edition: Edition
    editor_name: str
    candidates: list[Candidate]
    picks: list[tuple[Candidate, str]]  # in the letter's order, with the editor's note
    links: list[Link]
    # The editor shows on the tribe's public page: the letter, read by strangers too,
    # names them; a hidden editor is not named.
    editor_shown: bool = False


def draft_of(session: Session, tribe: Tribe, edition: Edition) -> Draft:
    found = candidates(session, tribe, edition)
    if edition.edited_at is None:
        picks = [(c, "") for c in automatic_selection(found)]
    else:
        by_id = {c.post_id: c for c in found}
        picks = [
            (by_id[int(str(p["post_id"]))], str(p.get("note", "")))
            for p in edition.picks
            if int(str(p["post_id"])) in by_id
        ]
    editor = session.get(Member, edition.editor_id) if edition.editor_id else None
    links = [Link(x["url"], x.get("title", ""), x.get("note", "")) for x in edition.links]
    shown = editor is not None and editor.id in set(session.exec(shown_member_ids(tribe.id or 0)))
    name = editor.display_name if editor else ""
    return Draft(tribe, edition, name, found, picks, links, editor_shown=shown)


def editable(session: Session, *, member: Member, slug: str, lock: bool = False) -> Draft:
    """The open draft, for its editor or the tribe's chief (ForbiddenError otherwise);
    `lock` to change it (see `current_edition`)."""
    tribe = get_tribe(session, slug)
    if active_membership(session, tribe, member) is None and not member.is_operator:
        raise NotFoundError(f"no tribe with the slug {slug!r}")
    edition = open_draft(session, tribe, lock=lock)
    if member.id not in (edition.editor_id, tribe.chief_id):
        raise ForbiddenError("this edition is another member's turn to write")
    return draft_of(session, tribe, edition)


def save_draft(
    session: Session,
    *,
    member: Member,
    slug: str,
    subject: str,
    intro: str,
    picks: list[Pick],
    links: list[Link],
) -> Edition:
    """The editor's selection, as given (order kept). Only the draft's candidates can be
    picked; outside links must be http(s)."""
    draft = editable(session, member=member, slug=slug, lock=True)
    allowed = {c.post_id for c in draft.candidates}
    if strangers := [p.post_id for p in picks if p.post_id not in allowed]:
        raise InvalidInputError(
            f"these posts are not the tribe's since the last letter: {strangers}"
        )
    if len(links) > MAX_LINKS:
        raise InvalidInputError(f"a letter carries at most {MAX_LINKS} outside links")
    if len(intro) > MAX_INTRO:
        raise InvalidInputError(f"keep the introduction under {MAX_INTRO} characters")
    edition = draft.edition
    edition.subject = _one_line(subject)[:200]
    edition.intro = _text(intro)
    unique = {p.post_id: p for p in picks}  # a post once, where it was first placed
    edition.picks = [{"post_id": p.post_id, "note": _note(p.note)} for p in unique.values()]
    edition.links = [
        {"url": check_link(x.url), "title": _text(x.title)[:300], "note": _note(x.note)}
        for x in links
    ]
    edition.edited_at = datetime.now(UTC)
    touch(session, edition)
    return edition


def _text(value: str) -> str:
    """What the editor typed, without what no email, page or feed can carry."""
    return xml_text(value).strip()


def _one_line(value: str) -> str:
    """A subject: its words on one line (every line break and space between them one
    space), each without what no email, page or feed can carry."""
    return " ".join(word for word in map(xml_text, value.split()) if word)


def _note(text: str) -> str:
    text = _text(text)
    if len(text) > MAX_NOTE:
        raise InvalidInputError(f"keep each note under {MAX_NOTE} characters")
    return text


def check_link(url: str) -> str:
    """An outside link as written, if it is a whole http(s) address: no space, line
    break or other control character is part of one."""
    url = url.strip()
    parts = urlsplit(url)
    odd = not url.isprintable() or " " in url
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048 or odd:
        raise InvalidInputError(f"{url[:80]!r} is not a web link; write it as https://...")
    return url


def schedule_send(
    session: Session, *, member: Member, slug: str, send_at: datetime | None, now: datetime
) -> Edition:
    """Send the draft at `send_at` (None: now), no later than its deadline."""
    edition = editable(session, member=member, slug=slug, lock=True).edition
    when = now if send_at is None else send_at
    if when > aware(edition.deadline_at):
        raise InvalidInputError("send it by the deadline; after that, the tribe's rule applies")
    if when < now - timedelta(minutes=1):
        # A typo in the year must not mail every reader at once: sending now is its own
        # button, with its own question.
        raise InvalidInputError(
            "that time has passed: choose a later one, or use Save and send now"
        )
    if edition.edited_at is None:
        # Sending the selection as shown: freeze it, so it goes out as the editor saw it.
        draft = draft_of(session, get_tribe(session, slug), edition)
        edition.picks = [{"post_id": c.post_id, "note": note} for c, note in draft.picks]
        edition.edited_at = now
    edition.send_at = max(when, now)
    edition.state = EditionState.SCHEDULED
    edition.automatic = False  # someone chose what goes: not the tribe's own selection
    touch(session, edition)
    return edition
