"""The digest email's links: `/digest/{token}`, each for one member and one action.

The token (`tribe.alliance.links`) is the authority: it names the member, the action and
the stream items, is signed with the instance's key and ends with its items. A GET only
shows what the link would do, with one button — mail scanners and link previews open
every link (architecture.md, rule 7) — and the POST does it through the stream's own
approval path, so a delivery is queued exactly as from the stream page, and only once.

These routes need no session and no CSRF token (`tribe.web.pages` includes this router
outside the check): a mail client's one-click unsubscribe (RFC 8058) posts with no
cookies, and a cross-site form could only do what the token in its address already lets
whoever holds it do. Nothing is counted against a limit either: a forged token fails its
signature before any database work, and a real one does its one action once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlmodel import Session

from tribe.alliance.digest import schedule_of, set_digest
from tribe.alliance.links import Action, DigestLink, read_digest_token
from tribe.core.errors import ConflictError, LinkError, NotFoundError, TribeError
from tribe.core.kinds import DigestMode, StreamState
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Member
from tribe.members.people import member_by_id
from tribe.stream.approvals import Decision, Queued, QueueFullError, approve_all, skip, try_approve
from tribe.stream.items import StreamEntry, entries_of, own_item
from tribe.stream.texts import Preview, previews
from tribe.web.config import WebConfig, WebConfigDep
from tribe.web.deps import keyring, render
from tribe.web.errors import status_of

router = APIRouter()
# An "approve all" token lists the digest's items: room for some hundreds of them.
Token = Annotated[str, Path(max_length=8000)]
NOT_IN_STREAM = "This post is not in your stream."


@dataclass(frozen=True)
class Shown:
    """What a link's page shows: whose link it is, the posts it acts on that still wait
    (with the text each account would post), and why there is nothing to do if so."""

    action: Action
    name: str
    email: str
    zone: str
    entries: list[StreamEntry] = field(default_factory=list)
    texts: dict[int, list[Preview]] = field(default_factory=dict)
    note: str = ""  # why (some of) the link's posts cannot be acted on
    digest: str = ""  # the member's digest as it is now (the unsubscribe link): "off", ...

    @property
    def button(self) -> str | None:
        """The one button, or None when it would do nothing."""
        if self.action == "unsubscribe":
            return None if self.digest == "off" else "Stop the digest"
        if not self.entries:
            return None
        return {"approve": "Approve", "skip": "Skip"}.get(self.action, f"Approve all {self.count}")

    @property
    def count(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class Line:
    """What happened to one post."""

    title: str
    said: str
    queued: tuple[Queued, ...] = ()
    full: tuple[str, ...] = ()  # accounts that had no free time, and why


@dataclass(frozen=True)
class Done:
    """The answer to a link's POST."""

    heading: str
    zone: str
    lines: tuple[Line, ...] = ()
    problems: tuple[str, ...] = ()
    status: int = 200


@router.get("/digest/{token}")
def digest_page(request: Request, token: Token) -> Response:
    """What the link would do, and one button that does it; nothing changes here."""
    link = _link(token)
    with read_scope() as session:
        shown = _shown(session, _member(session, link), link)
    return render(request, "digest_action.html", token=token, shown=shown)


@router.post("/digest/{token}")
def digest_action(request: Request, token: Token, config: WebConfigDep) -> Response:
    """Do the link's action, once. The body is not read: the button's form and a mail
    client's `List-Unsubscribe=One-Click` (RFC 8058) get the same answer, a 200 page."""
    link = _link(token)
    now = datetime.now(UTC)
    with session_scope() as session:
        member = _member(session, link)
        if link.action == "unsubscribe":
            done = _unsubscribe(session, member)
        elif link.action == "all":
            done = _approve_waiting(session, member, link, now=now, config=config)
        else:
            done = _decide(session, member, link, now=now, config=config)
    return render(request, "digest_done.html", status_code=done.status, done=done)


def _link(token: str) -> DigestLink:
    link = read_digest_token(keyring(), token, now=datetime.now(UTC))
    if link.action in ("approve", "skip") and len(link.item_ids) != 1:
        raise LinkError("this link is not valid; check that it was copied whole")
    return link


def _member(session: Session, link: DigestLink) -> Member:
    try:
        return member_by_id(session, link.member_id)
    except NotFoundError as exc:
        raise LinkError("this link was for an account that no longer exists") from exc


def _shown(session: Session, member: Member, link: DigestLink) -> Shown:
    whose = (link.action, member.display_name, member.email, member.timezone)
    if link.action == "unsubscribe":
        return Shown(*whose, digest=schedule_of(member).describe())
    entries = entries_of(session, member=member, item_ids=list(link.item_ids))
    texts = previews(session, member=member, item_ids=[e.item_id for e in entries])
    note = ""
    if link.action != "all" and not entries:
        note = _why_not(session, member, link.item_ids[0], link.action)
    elif link.action == "all" and len(entries) < len(link.item_ids):
        gone, total = len(link.item_ids) - len(entries), len(link.item_ids)
        note = (
            f"{gone} of this digest's {total} posts no longer wait for you (approved, "
            "skipped, expired or withdrawn): they are left as they are."
        )
    return Shown(*whose, entries=entries, texts=texts, note=note)


def _why_not(session: Session, member: Member, item_id: int, action: Action) -> str:
    """Why an item's link can do nothing now, from the item's state."""
    try:
        item = own_item(session, member=member, item_id=item_id)
    except NotFoundError:
        return NOT_IN_STREAM
    return _state_note(item.state, action)


def _state_note(state: StreamState, action: Action) -> str:
    if state == StreamState.APPROVED:
        where = ", where you can still cancel it." if action == "skip" else "."
        return f"You already approved this post: it is in your queue{where}"
    if state == StreamState.SKIPPED:
        back = "; to share it after all, put it back from your stream." if action != "skip" else "."
        return f"You already skipped this post{back}"
    if state == StreamState.EXPIRED:
        return (
            "This post waited in your stream until it expired: it can no longer be "
            "approved or skipped."
        )
    # Withdrawn, or still pending while its author no longer shares a tribe with the
    # member (a removal racing this page): either way it is out of their stream.
    return "This post left your stream: you and its author no longer share a tribe."


def _decide(
    session: Session, member: Member, link: DigestLink, *, now: datetime, config: WebConfig
) -> Done:
    """Approve or skip the link's one item, by the stream page's own rules."""
    item_id = link.item_ids[0]
    waiting = entries_of(session, member=member, item_ids=[item_id])
    title = waiting[0].title if waiting else ""
    outcome: Decision | TribeError
    if link.action == "approve":
        outcome = try_approve(
            session, member=member, item_id=item_id, now=now, config=config.approvals
        )
    else:
        try:
            outcome = skip(session, member=member, item_id=item_id, now=now)
        except TribeError as exc:
            outcome = exc
    zone = member.timezone
    if isinstance(outcome, TribeError):
        status, _ = status_of(outcome)
        said = _refusal(session, member, item_id, link.action, outcome)
        return Done("Nothing was done", zone, (Line(title, said),), status=status)
    if outcome.state == StreamState.SKIPPED:
        if outcome.repeated:
            return Done("Already skipped", zone, (Line(title, "Nothing changed."),))
        return Done("Skipped", zone, (Line(title, "It is out of your stream."),))
    line = Line(
        title,
        "Nothing changed: it is in your queue." if outcome.repeated else "Queued:",
        outcome.queued,
        outcome.full,
    )
    return Done("Already approved" if outcome.repeated else "Approved", zone, (line,))


def _refusal(
    session: Session, member: Member, item_id: int, action: Action, error: TribeError
) -> str:
    """A refusal in plain words: the item's state when that is the reason, else the
    approval's own message (no account, no free time, a text that does not fit)."""
    if isinstance(error, NotFoundError):
        return NOT_IN_STREAM
    if isinstance(error, ConflictError) and not isinstance(error, QueueFullError):
        return _why_not(session, member, item_id, action)
    return str(error)


def _approve_waiting(
    session: Session, member: Member, link: DigestLink, *, now: datetime, config: WebConfig
) -> Done:
    """Approve those of the link's items that still wait in the member's stream; the
    others (decided, expired, withdrawn) are left as they are."""
    waiting = entries_of(session, member=member, item_ids=list(link.item_ids))
    zone, total = member.timezone, len(link.item_ids)
    if not waiting:
        line = Line("", f"None of this digest's {total} posts waits for you any more.")
        return Done("Nothing left to approve", zone, (line,))
    titles = {e.item_id: e.title for e in waiting}
    outcome = approve_all(
        session, member=member, item_ids=list(titles), now=now, config=config.approvals
    )
    lines = tuple(
        Line(titles.get(d.item_id, ""), "Queued:", d.queued, d.full) for d in outcome.decisions
    )
    approved = len(outcome.decisions)
    heading = f"Approved {approved} post{'s' * (approved != 1)}"
    status = 409 if outcome.errors and not approved else 200
    return Done(heading, zone, lines, problems=outcome.errors, status=status)


def _unsubscribe(session: Session, member: Member) -> Done:
    """The digest off (its hour and weekday kept for the day the member turns it on)."""
    zone = member.timezone
    if member.digest_mode == DigestMode.OFF:
        return Done("The digest is off", zone, (Line("", "It was off already: nothing changed."),))
    set_digest(session, member, mode=DigestMode.OFF)
    said = f"No more digest emails to {member.email}."
    return Done("The digest is off", zone, (Line("", said),))
