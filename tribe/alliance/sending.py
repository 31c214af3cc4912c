"""The letter going out: each edition frozen once, then one email per recipient through
the outbox, exactly once (architecture.md, rule 6).

`tick` is what the beat runs every minute. It opens the next edition of each tribe
whose letter is on (and tells its editor), reminds the editor 3 days and 1 day before
the deadline, and at the deadline sends the automatic selection or skips, as the tribe
chose. An edition going out is *frozen* first: its posts, notes and both email parts
are stored on it, so the archive shows what readers got, and a restarted worker sends
the same letter. Then every recipient's email is queued under the key
`letter:{edition}:m{member}` or `letter:{edition}:s{subscriber}`, in batches, each in
its own short transaction: a crash mid-way leaves the keys already queued, and the next
tick queues the rest, none twice. The outbox sends them at TRIBE_MAIL_RATE, claimed in
batches, resumable (`tribe.infra.outbox`).

Every recipient's copy is the same text but for their own unsubscribe link: the parts
are rendered once, with a placeholder swapped per recipient.

After an edition, once the outbox has settled each of its emails, the subscribers'
permanent refusals are counted (`tribe.alliance.subscribers.record_outcomes`): three in a
row set a subscriber aside, with the reason.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr

from sqlmodel import Session, col, select

from config import Settings
from tribe.alliance import letter_links, subscribers
from tribe.alliance.counting import aware
from tribe.alliance.drafts import Draft, draft_of
from tribe.alliance.editions import current_edition, editor_after, editors, open_edition, plan_of
from tribe.alliance.letters import letter, render_html, render_text
from tribe.core import timefmt
from tribe.core.errors import NotFoundError
from tribe.core.kinds import EditionState, IfUnsent, MailState, MembershipStatus
from tribe.core.letter import REMINDERS
from tribe.infra.db import read_scope, session_scope
from tribe.infra.keys import Keyring
from tribe.infra.mail import refused_for_good
from tribe.infra.models import Edition, LetterPlan, Mail, Member, Membership, Tribe
from tribe.infra.outbox import Letter, Queued, enqueue, enqueue_many
from tribe.members.people import get_tribe

log = logging.getLogger("tribe.letter")

KIND = "letter"
# Swapped for each recipient's own unsubscribe link; nothing else in a letter has it.
_UNSUBSCRIBE = "https://unsubscribe.invalid/letter"
_DEFUSED = "https://unsubscribe.invalid/-"  # the placeholder where anything else put it
BATCH = 500  # recipients queued per transaction
STALE = timedelta(days=1)  # an edition this far past its deadline is skipped, not sent


@dataclass(frozen=True)
class LetterConfig:
    base_url: str  # where the links point (TRIBE_BASE_URL)
    sender: str  # the From address (TRIBE_SMTP_FROM)
    batch: int = BATCH

    @classmethod
    def from_settings(cls, settings: Settings) -> LetterConfig:
        return cls(base_url=settings.TRIBE_BASE_URL, sender=settings.TRIBE_SMTP_FROM)


def draft_url(base_url: str, slug: str) -> str:
    return f"{base_url.rstrip('/')}/tribes/{slug}/letter"


def archive_url(base_url: str, slug: str, number: int) -> str:
    return f"{base_url.rstrip('/')}/t/{slug}/letters/{number}"


# Rendering


def default_subject(tribe: Tribe, number: int) -> str:
    return f"{tribe.name}: letter #{number}"


def frozen_picks(draft: Draft) -> list[dict[str, object]]:
    """The draft's posts as they go out: what the archive shows for good."""
    return [
        {
            "post_id": c.post_id,
            "title": c.title,
            "url": c.url,
            "author": c.author,
            "summary": c.summary,
            "shared_by": c.shared_by,
            "note": note,
        }
        for c, note in draft.picks
    ]


def _context(draft: Draft, picks: list[dict[str, object]], *, base_url: str) -> dict[str, object]:
    tribe, edition = draft.tribe, draft.edition
    authors: dict[str, list[dict[str, object]]] = {}
    for pick in picks:
        authors.setdefault(str(pick["author"]), []).append(pick)
    return {
        "tribe_name": tribe.name,
        "number": edition.number,
        "subject": edition.subject or default_subject(tribe, edition.number),
        "intro": [p.splitlines() for p in edition.intro.split("\n\n") if p.strip()],
        "authors": authors,
        "links": edition.links,
        "automatic": edition.automatic,
        "public": tribe.is_public,
        "editor_name": draft.editor_name if draft.editor_shown and not edition.automatic else "",
        # Readers include strangers: counts only where the chief shows them publicly.
        "counts": tribe.public_counts,
        "archive_url": archive_url(base_url, tribe.slug, edition.number),
        "public_url": f"{base_url.rstrip('/')}/t/{tribe.slug}",
        "unsubscribe_url": _UNSUBSCRIBE,
    }


def render(draft: Draft, picks: list[dict[str, object]], *, base_url: str) -> tuple[str, str]:
    """The email's text and HTML parts, with the unsubscribe placeholder where the
    template puts the reader's link, and nowhere else: the same address typed by an
    editor or carried by a post is defused first, so it never becomes a reader's link."""
    marker = f"https://unsubscribe.invalid/{secrets.token_hex(16)}"
    context = {**_context(draft, picks, base_url=base_url), "unsubscribe_url": marker}

    def placed(part: str) -> str:
        return part.replace(_UNSUBSCRIBE, _DEFUSED).replace(marker, _UNSUBSCRIBE)

    return placed(render_text("edition", context)), placed(render_html("edition", context))


@dataclass(frozen=True)
class Preview:
    subject: str
    text: str
    html: str
    picks: list[dict[str, object]]


def preview(draft: Draft, *, base_url: str) -> Preview:
    """The edition as it would go now (the unsubscribe link is a placeholder)."""
    picks = frozen_picks(draft)
    text, html = render(draft, picks, base_url=base_url)
    subject = draft.edition.subject or default_subject(draft.tribe, draft.edition.number)
    return Preview(subject, text, html, picks)


def freeze(
    session: Session, tribe: Tribe, edition: Edition, *, now: datetime, base_url: str
) -> bool:
    """Fix what the edition says and move it to `sending`; False (and `skipped`) when it
    would say nothing: no post, no introduction, no link."""
    draft = draft_of(session, tribe, edition)
    picks = frozen_picks(draft)
    if not picks and not edition.intro and not edition.links:
        edition.state = EditionState.SKIPPED
        session.add(edition)
        return False
    edition.picks = picks
    edition.subject = edition.subject or default_subject(tribe, edition.number)
    edition.text, edition.html = render(draft, picks, base_url=base_url)
    edition.state = EditionState.SENDING
    edition.send_at = edition.send_at or now
    edition.updated_at = now
    session.add(edition)
    return True


# Recipients


@dataclass(frozen=True)
class Recipient:
    key: str
    to: str
    unsubscribe: str
    member_id: int | None


def recipients(
    session: Session, tribe: Tribe, edition: Edition, *, keys: Keyring, base_url: str
) -> Iterator[Recipient]:
    """The members who read the letter, then the confirmed subscribers."""
    members = session.exec(
        select(col(Member.id), col(Member.email))
        .join(Membership, col(Membership.member_id) == col(Member.id))
        .where(
            col(Membership.tribe_id) == tribe.id,
            col(Membership.status) == MembershipStatus.ACTIVE,
            col(Membership.letter_reader),
        )
        .order_by(col(Member.id))
    ).all()
    for member_id, email in members:
        assert member_id is not None
        url = letter_links.member_unsubscribe_url(
            keys, base_url, slug=tribe.slug, tribe_id=tribe.id or 0, member_id=member_id
        )
        yield Recipient(f"{KIND}:{edition.id}:m{member_id}", email, url, member_id)
    for batch in subscribers.confirmed_in_batches(session, tribe_id=tribe.id or 0):
        for subscriber_id, email in batch:
            url = letter_links.subscriber_unsubscribe_url(
                keys, base_url, slug=tribe.slug, subscriber_id=subscriber_id
            )
            yield Recipient(f"{KIND}:{edition.id}:s{subscriber_id}", email, url, None)


def _email(edition: Edition, recipient: Recipient, *, sender: str) -> Letter:
    """A reader's copy: from the tribe, by name, with their own unsubscribe link."""
    return Letter(
        to=recipient.to,
        subject=edition.subject,
        text=edition.text.replace(_UNSUBSCRIBE, recipient.unsubscribe),
        html=edition.html.replace(_UNSUBSCRIBE, recipient.unsubscribe),
        headers={"From": sender, **letter_links.unsubscribe_headers(recipient.unsubscribe)},
    )


def from_tribe(tribe: Tribe, sender: str) -> str:
    """The From of a tribe's letter: its name, at the instance's address."""
    return formataddr((tribe.name, parseaddr(sender)[1] or sender))


def queue_recipients(edition_id: int, *, now: datetime, keys: Keyring, config: LetterConfig) -> int:
    """Queue every recipient's email of a frozen edition, `config.batch` per short
    transaction (keys already queued stay as they are), then mark it sent; how many
    emails the edition has in the outbox."""
    with read_scope() as session:
        edition = session.get(Edition, edition_id)
        tribe = session.get(Tribe, edition.tribe_id) if edition else None
        if edition is None or tribe is None or edition.state != EditionState.SENDING:
            return 0
        everyone = list(recipients(session, tribe, edition, keys=keys, base_url=config.base_url))
        frozen = Edition.model_validate(edition.model_dump())
        sender = from_tribe(tribe, config.sender)
    for start in range(0, len(everyone), config.batch):
        chunk = everyone[start : start + config.batch]
        emails = [Queued(r.key, _email(frozen, r, sender=sender), r.member_id) for r in chunk]
        with session_scope() as session:
            enqueue_many(
                session, emails, kind=KIND, sender=config.sender, due_at=now, edition_id=edition_id
            )
    with session_scope() as session:
        edition = session.get(Edition, edition_id, with_for_update=True)
        assert edition is not None
        count = len(_outcomes(session, edition))
        if edition.state == EditionState.SENDING:
            edition.state, edition.queued_all = EditionState.SENT, True
            edition.recipients, edition.sent_at = count, now
            session.add(edition)
    return count


def _outcomes(session: Session, edition: Edition) -> list[tuple[str, MailState, str]]:
    """(key, state, reason) of each of the edition's emails, by the edition's index."""
    return [
        (key, state, reason)
        for key, state, reason in session.exec(
            select(col(Mail.key), col(Mail.state), col(Mail.reason)).where(
                col(Mail.edition_id) == edition.id
            )
        )
    ]


@dataclass(frozen=True)
class Progress:
    recipients: int
    sent: int
    failed: int
    waiting: int


def progress(session: Session, edition: Edition) -> Progress:
    outcomes = _outcomes(session, edition)
    sent = sum(1 for _, state, _ in outcomes if state in (MailState.SENT, MailState.HANDED))
    failed = sum(1 for _, state, _ in outcomes if state == MailState.FAILED)
    return Progress(len(outcomes), sent, failed, len(outcomes) - sent - failed)


def settle(session: Session, edition: Edition, *, now: datetime) -> bool:
    """Count the subscribers' refusals once every email of the edition is settled;
    False while some are still on their way."""
    outcomes = _outcomes(session, edition)
    if any(state in (MailState.QUEUED, MailState.SENDING) for _, state, _ in outcomes):
        return False
    found: dict[int, str | None] = {}
    for key, state, reason in outcomes:
        recipient = key.rpartition(":")[2]
        if not recipient.startswith("s"):
            continue
        if state != MailState.FAILED:
            found[int(recipient[1:])] = None  # delivered: the count starts again
        elif refused_for_good(reason):
            found[int(recipient[1:])] = reason
        # Failed on tribe's side (its server unreachable until retries ran out): no
        # outcome for the subscriber either way.
    subscribers.record_outcomes(session, tribe_id=edition.tribe_id, outcomes=found, now=now)
    edition.settled = True
    session.add(edition)
    return True


# The beat


@dataclass
class TickReport:
    opened: list[int] = field(default_factory=list)  # edition ids
    reminded: int = 0
    frozen: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    queued: int = 0
    settled: int = 0


def _turn_email(
    session: Session,
    tribe: Tribe,
    edition: Edition,
    *,
    template: str,
    key: str,
    now: datetime,
    config: LetterConfig,
) -> bool:
    """Queue an email to the edition's editor under `key`, once: a key already in the
    outbox is not composed again (the beat asks every minute)."""
    editor = session.get(Member, edition.editor_id) if edition.editor_id else None
    if editor is None or session.exec(select(col(Mail.id)).where(col(Mail.key) == key)).first():
        return False
    deadline = aware(edition.deadline_at)
    context = {
        "editor_name": editor.display_name,
        "tribe_name": tribe.name,
        "number": edition.number,
        "deadline": timefmt.moment(deadline, editor.timezone, now=now),
        "left": timefmt.relative(deadline, now=now),
        "draft_url": draft_url(config.base_url, tribe.slug),
        "if_unsent": (plan_of(session, tribe) or LetterPlan(tribe_id=0)).if_unsent.value,
    }
    subject = (
        f"Your turn to write letter #{edition.number} of {tribe.name}"
        if template == "letter_turn"
        else f"Reminder: letter #{edition.number} of {tribe.name} goes out {context['left']}"
    )
    return enqueue(
        session,
        key=key,
        kind=template,
        letter=letter(template, to=editor.email, subject=subject, context=context),
        sender=config.sender,
        member_id=editor.id,
        due_at=now,
    )


def queue_swap_request(
    session: Session,
    *,
    slug: str,
    asker: Member,
    partner_id: int,
    now: datetime,
    config: LetterConfig,
) -> bool:
    """Tell the editor asked to swap turns, by email (once per request): the swap waits
    for their answer on the letter page."""
    partner = session.get(Member, partner_id)
    if partner is None:
        return False
    tribe = get_tribe(session, slug)
    context = {
        "partner_name": partner.display_name,
        "asker_name": asker.display_name,
        "tribe_name": tribe.name,
        "draft_url": draft_url(config.base_url, tribe.slug),
    }
    return enqueue(
        session,
        key=f"letter_swap:{tribe.id}:{asker.id}:{partner.id}:{now:%Y%m%dT%H%M%S}",
        kind="letter_swap",
        letter=letter(
            "letter_swap",
            to=partner.email,
            subject=f"{asker.display_name} asks to swap turns writing the letter of {tribe.name}",
            context=context,
        ),
        sender=config.sender,
        member_id=partner.id,
        due_at=now,
    )


def _plans(session: Session) -> list[tuple[Tribe, LetterPlan]]:
    return [
        (tribe, plan)
        for plan, tribe in session.exec(
            select(LetterPlan, Tribe)
            .join(Tribe, col(Tribe.id) == col(LetterPlan.tribe_id))
            .where(col(LetterPlan.enabled))
        )
    ]


def _advance(
    session: Session, tribe: Tribe, plan: LetterPlan, *, now: datetime, config: LetterConfig
) -> TickReport:
    """One tribe's step: open, remind, or freeze at the deadline."""
    report = TickReport()
    edition = current_edition(session, tribe, lock=True)
    if edition is None:
        edition = open_edition(session, tribe, plan, now=now)
        report.opened.append(edition.id or 0)
    deadline = aware(edition.deadline_at)
    if edition.state == EditionState.DRAFT and edition.editor_id is None and not edition.automatic:
        # Opened while nobody took turns: the first member to opt in takes it (not one
        # the chief passed over: that one is the tribe's own selection, or skipped).
        edition.editor_id = editor_after(editors(session, tribe, plan), None)
        session.add(edition)
    if edition.state == EditionState.DRAFT and now < deadline:
        # Whoever holds the turn is told, once: at the opening, or after a swap or a
        # chief's pass-over gave it to them.
        key = f"letter_turn:{edition.id}:{edition.editor_id}"
        _turn_email(
            session, tribe, edition, template="letter_turn", key=key, now=now, config=config
        )
        # When the turn email was queued: its due time, the beat's `now` then.
        told = session.exec(select(col(Mail.due_at)).where(col(Mail.key) == key)).first()
        for before in REMINDERS:
            # Only reminders the editor's turn lived to see: an editor told 2 days ahead
            # (the edition opened then, or a swap gave it to them) gets the 1-day one.
            if told is not None and aware(told) < deadline - before <= now:
                days = before // timedelta(days=1)
                key = f"letter_remind:{edition.id}:{edition.editor_id}:{days}d"
                report.reminded += _turn_email(
                    session,
                    tribe,
                    edition,
                    template="letter_remind",
                    key=key,
                    now=now,
                    config=config,
                )
    if edition.state in (EditionState.DRAFT, EditionState.SCHEDULED) and now > deadline + STALE:
        # Far past its deadline (the letter was off, or the instance down): its news is
        # old, so it is skipped rather than sent late; the next edition opens.
        edition.state = EditionState.SKIPPED
        session.add(edition)
        report.skipped.append(edition.id or 0)
        return report
    due = (edition.state == EditionState.DRAFT and now >= deadline) or (
        edition.state == EditionState.SCHEDULED and now >= aware(edition.send_at or deadline)
    )
    if due:
        if edition.state == EditionState.DRAFT:
            if plan.if_unsent == IfUnsent.SKIP:
                edition.state = EditionState.SKIPPED
                session.add(edition)
                report.skipped.append(edition.id or 0)
                return report
            edition.automatic, edition.edited_at = True, None
            edition.intro, edition.picks, edition.links = "", [], []
        if freeze(session, tribe, edition, now=now, base_url=config.base_url):
            report.frozen.append(edition.id or 0)
        else:
            report.skipped.append(edition.id or 0)
    return report


def tick(*, now: datetime, keys: Keyring, config: LetterConfig) -> TickReport:
    """What the beat runs: every tribe's letter one step on, each tribe in its own
    transaction (one tribe's trouble never stops the others), then the queueing of
    frozen editions and the counting of settled ones."""
    report = TickReport()
    with read_scope() as session:
        tribe_ids = [tribe.id for tribe, _ in _plans(session)]
    for tribe_id in tribe_ids:
        try:
            with session_scope() as session:
                tribe = session.get(Tribe, tribe_id)
                plan = plan_of(session, tribe) if tribe else None
                if tribe is None or plan is None or not plan.enabled:
                    continue
                step = _advance(session, tribe, plan, now=now, config=config)
        except Exception:
            log.exception(
                "letter of tribe %s: this step failed; the next tick tries again", tribe_id
            )
            continue
        report.opened += step.opened
        report.reminded += step.reminded
        report.frozen += step.frozen
        report.skipped += step.skipped
    with read_scope() as session:
        sending = session.exec(
            select(col(Edition.id)).where(col(Edition.state) == EditionState.SENDING)
        ).all()
    for edition_id in sending:
        try:
            report.queued += queue_recipients(edition_id or 0, now=now, keys=keys, config=config)
        except Exception:
            log.exception("letter edition %s: queueing failed; the next tick goes on", edition_id)
    with read_scope() as session:
        unsettled = session.exec(
            select(col(Edition.id)).where(
                col(Edition.state) == EditionState.SENT, ~col(Edition.settled)
            )
        ).all()
    for edition_id in unsettled:
        try:
            with session_scope() as session:
                edition = session.get(Edition, edition_id)
                report.settled += bool(edition and settle(session, edition, now=now))
        except Exception:
            log.exception("letter edition %s: counting refusals failed; tried again", edition_id)
    return report


def send_current(session: Session, tribe: Tribe, *, now: datetime, config: LetterConfig) -> Edition:
    """The operator's `tribe letter send SLUG`: the current edition goes now, as its
    editor left it (the automatic selection when they have not saved one); an edition is
    opened first when none is. The caller queues its recipients after committing."""
    plan = plan_of(session, tribe)
    if plan is None:
        raise NotFoundError(f"{tribe.slug} has no letter; turn it on with `tribe letter enable`")
    edition = current_edition(session, tribe) or open_edition(session, tribe, plan, now=now)
    opened = edition.state in (EditionState.DRAFT, EditionState.SCHEDULED)
    if opened and not freeze(session, tribe, edition, now=now, base_url=config.base_url):
        raise NotFoundError(
            f"{tribe.slug}'s letter #{edition.number} has nothing to say yet: no post "
            "came in since the last one, and no introduction or link was written"
        )
    session.flush()
    return edition
