"""The outbox: every email is a row, sent exactly once (architecture.md, rule 6).

A row has a unique key (a member and a period, an edition and a recipient, one reset
request), so a second beat, a retried task or a restarted worker that queues the same
email changes nothing. Sending is claimed like a delivery: one `UPDATE … RETURNING`
moves due rows to `sending` with a lease; the sender marks each row `handed` at the
transport's point of no return (`tribe.infra.mail`) and `sent` once the server said
yes. After a crash, a row still `sending` when its lease ends never reached the server
whole and is sent again; one `handed` was delivered and counts as sent. Temporary
refusals come back later with backoff; permanent ones end `failed` with the reason.
"""

from __future__ import annotations

import logging
import random
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from config import Settings
from tribe.core.kinds import MailState
from tribe.infra.db import dialect_insert, session_scope
from tribe.infra.mail import MailError, Transport
from tribe.infra.models import Mail

log = logging.getLogger("tribe.mail")


@dataclass(frozen=True)
class Letter:
    """What an email says, and to whom."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # List-Unsubscribe, ...


@dataclass(frozen=True)
class OutboxConfig:
    sender: str  # the From address
    lease: timedelta = timedelta(minutes=2)
    batch: int = 50  # rows one claim takes
    max_attempts: int = 6
    retry_base: timedelta = timedelta(minutes=1)
    rate: float = 10.0  # emails a second a sender hands over at most (0: no limit)


def outbox_config(settings: Settings) -> OutboxConfig:
    """The outbox's limits as the operator set them. A claimed batch must be sent well
    within its lease (TRIBE_PUBLISH_LEASE, as for deliveries) at TRIBE_MAIL_RATE."""
    lease = settings.TRIBE_PUBLISH_LEASE
    rate = settings.TRIBE_MAIL_RATE
    batch = 50 if rate <= 0 else max(1, min(50, int(rate * lease.total_seconds() / 2)))
    return OutboxConfig(sender=settings.TRIBE_SMTP_FROM, lease=lease, batch=batch, rate=rate)


def enqueue(
    session: Session,
    *,
    key: str,
    kind: str,
    letter: Letter,
    sender: str,
    member_id: int | None = None,
    due_at: datetime | None = None,
) -> bool:
    """Queue an email once: with a key already queued, nothing changes (False)."""
    row = _row(key, kind, letter, sender, member_id, due_at or datetime.now(UTC))
    stmt = (
        dialect_insert(session, Mail)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(Mail.id))
    )
    return session.exec(stmt).first() is not None


@dataclass(frozen=True)
class Queued:
    """One email of a batch for `enqueue_many`."""

    key: str
    letter: Letter
    member_id: int | None = None


def enqueue_many(
    session: Session,
    emails: Sequence[Queued],
    *,
    kind: str,
    sender: str,
    due_at: datetime,
    edition_id: int | None = None,
) -> None:
    """Queue a batch of emails in one statement (a letter's thousands of recipients,
    `edition_id` theirs); keys already queued are left as they are, as `enqueue` leaves
    them."""
    if not emails:
        return
    rows = [
        {**_row(e.key, kind, e.letter, sender, e.member_id, due_at), "edition_id": edition_id}
        for e in emails
    ]
    session.exec(
        dialect_insert(session, Mail).values(rows).on_conflict_do_nothing(index_elements=["key"])
    )


def _row(
    key: str,
    kind: str,
    letter: Letter,
    sender: str,
    member_id: int | None,
    due_at: datetime,
) -> dict[str, object]:
    domain = sender.rpartition("@")[2] or "tribe.invalid"
    return {
        "key": key,
        "kind": kind,
        "member_id": member_id,
        "to": letter.to,
        "subject": letter.subject,
        "text": letter.text,
        "html": letter.html,
        "headers": dict(letter.headers),
        "message_id": make_msgid(domain=domain),
        "state": MailState.QUEUED,
        "due_at": due_at,
        "attempts": 0,
        "reason": "",
        "created_at": datetime.now(UTC),
    }


@dataclass(frozen=True)
class MailClaim:
    id: int
    token: str


def claim_due(
    session: Session, *, now: datetime, config: OutboxConfig, keys: Sequence[str] | None = None
) -> list[MailClaim]:
    """Lease due rows (and rows whose lease ran out while still `sending`) in one
    statement; commit before sending. `keys` limits it to those emails."""
    token = str(uuid.uuid4())
    due = and_(col(Mail.state) == MailState.QUEUED, col(Mail.due_at) <= now)
    lost = and_(col(Mail.state) == MailState.SENDING, col(Mail.lease_until) < now)
    chosen = select(col(Mail.id)).where(or_(due, lost))
    if keys is not None:
        chosen = chosen.where(col(Mail.key).in_(list(keys)))
    chosen = chosen.order_by(col(Mail.due_at), col(Mail.id)).limit(config.batch)
    if session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    rows = session.exec(
        update(Mail)
        .where(col(Mail.id).in_(chosen.scalar_subquery()))
        .values(state=MailState.SENDING, lease_until=now + config.lease, lease_token=token)
        .returning(col(Mail.id))
    ).all()
    _settle_handed(session, now=now)
    return [MailClaim(int(row[0]), token) for row in rows]


def _settle_handed(session: Session, *, now: datetime) -> None:
    """A row left `handed` by a sender that died reached the server whole: it is sent."""
    session.exec(
        update(Mail)
        .where(col(Mail.state) == MailState.HANDED, col(Mail.lease_until) < now)
        .values(state=MailState.SENT, sent_at=now, reason="sent (the server had it whole)")
    )


def build_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    # A letter may name its sender ("Garden Writers" <the instance's address>).
    message["From"] = mail.headers.get("From", sender)
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = mail.message_id
    message["Date"] = (mail.created_at or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    for name, value in mail.headers.items():
        if name != "From":
            message[name] = value
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    return message


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0  # claimed by someone else meanwhile, or already done


def send_claimed(
    claims: Sequence[MailClaim],
    transport: Transport,
    *,
    config: OutboxConfig,
    rng: random.Random | None = None,
) -> SendReport:
    """Hand each claimed email over, at most `config.rate` a second. No session is open
    while the transport talks to the server.

    The batch is read in one query. Each email is committed `handed` on its own, just
    before the server takes it whole (the one commit exactly-once needs); the `sent`
    marks are written a few at a time, since a row a crash leaves `handed` counts as
    sent anyway (`_settle_handed`)."""
    rng = rng or random.Random()
    report = SendReport()
    if not claims:
        return report
    messages, unwritable = _messages(claims, config.sender)
    # Failed at once, never retried: claimed again, it would stop its batch again.
    report.failed += sum(
        _give_back(claim, unwritable[claim.id], config, rng, temporary=False)
        for claim in claims
        if claim.id in unwritable
    )
    report.skipped += len(claims) - len(messages) - len(unwritable)
    gap = 1.0 / config.rate if config.rate > 0 else 0.0
    delivered: list[MailClaim] = []
    try:
        with transport:
            next_at = time.monotonic()
            for claim in claims:
                if claim.id not in messages:
                    continue
                wait = next_at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                next_at = time.monotonic() + gap
                message, name = messages[claim.id]
                if _send_one(claim, message, name, transport, config, rng, report):
                    delivered.append(claim)
                if len(delivered) >= _SENT_EVERY:
                    _mark_sent(delivered)
                    delivered = []
    except MailError as error:  # the server cannot be reached at all: try them later
        for claim in claims:
            if _give_back(claim, str(error), config, rng, temporary=True):
                report.retried += 1
    except _LeaseLost:
        # The batch outlived its lease and another sender claimed the rest: stop here,
        # before the final dot of the email in hand (the connection closes mid-DATA, so
        # the server delivers nothing of it).
        log.warning("an email batch outlived its lease; its other sender goes on with it")
    finally:
        _mark_sent(delivered)
    return report


class _LeaseLost(Exception):
    """The row is no longer this claim's: not to be handed over."""


_SENT_EVERY = 20  # `sent` marks written together


def _messages(
    claims: Sequence[MailClaim], sender: str
) -> tuple[dict[int, tuple[EmailMessage, str]], dict[int, str]]:
    """The claimed rows still this claim's, as messages with their file names; and, with
    why, those no email can be made of (a header with a line break: `email.policy`
    refuses it), so one bad row fails alone instead of stopping everyone's email."""
    tokens = {c.id: c.token for c in claims}
    messages: dict[int, tuple[EmailMessage, str]] = {}
    unwritable: dict[int, str] = {}
    with session_scope() as session:
        rows = session.exec(select(Mail).where(col(Mail.id).in_(list(tokens)))).all()
        for mail in rows:
            if mail.id is None or mail.state != MailState.SENDING:
                continue
            if mail.lease_token != tokens[mail.id]:
                continue
            try:
                message = build_message(mail, sender)
            except ValueError as exc:
                unwritable[mail.id] = f"this email cannot be written: {exc}"
                continue
            name = f"{mail.created_at:%Y%m%d-%H%M%S}-{_file_name(mail.key)}"
            messages[mail.id] = (message, name)
    return messages, unwritable


def _mark_sent(claims: Sequence[MailClaim]) -> None:
    if not claims:
        return
    with session_scope() as session:
        session.exec(
            update(Mail)
            .where(
                col(Mail.id).in_([c.id for c in claims]),
                col(Mail.lease_token) == claims[0].token,
                col(Mail.state).in_([MailState.SENDING, MailState.HANDED]),
            )
            .values(state=MailState.SENT, sent_at=datetime.now(UTC), reason="sent")
        )


def _send_one(
    claim: MailClaim,
    message: EmailMessage,
    name: str,
    transport: Transport,
    config: OutboxConfig,
    rng: random.Random,
    report: SendReport,
) -> bool:
    """Hand one email over; True when it is to be marked sent."""
    was_handed = False

    def handed() -> None:
        nonlocal was_handed
        with session_scope() as session:
            marked = session.exec(
                update(Mail)
                .where(
                    col(Mail.id) == claim.id,
                    col(Mail.lease_token) == claim.token,
                    col(Mail.state) == MailState.SENDING,
                )
                .values(state=MailState.HANDED)
            ).rowcount
        if marked != 1:  # claimed again meanwhile: its new sender hands it over
            raise _LeaseLost()
        was_handed = True

    try:
        transport.hand_over(message, name=name, handed=handed)
    except MailError as error:
        if was_handed and not error.answered:
            # The server had the whole message and the dot; only its answer was lost.
            # Sending again could deliver it twice: it counts as sent.
            log.warning("email %s: %s after it was handed over; counted as sent", claim.id, error)
        else:
            if _give_back(claim, str(error), config, rng, temporary=error.temporary):
                if error.temporary:
                    report.retried += 1
                else:
                    report.failed += 1
            return False
    report.sent += 1
    return True


def _give_back(
    claim: MailClaim, reason: str, config: OutboxConfig, rng: random.Random, *, temporary: bool
) -> bool:
    """Back to the queue with backoff (temporary), or failed for good; False when the
    row is no longer this claim's."""
    now = datetime.now(UTC)
    with session_scope() as session:
        mail = session.get(Mail, claim.id, with_for_update=True)
        if mail is None or mail.lease_token != claim.token:
            return False
        if mail.state not in (MailState.SENDING, MailState.HANDED):
            return False
        mail.attempts += 1
        mail.lease_until, mail.lease_token = None, None
        mail.reason = reason[:300]
        if temporary and mail.attempts < config.max_attempts:
            delay = config.retry_base * (2 ** (mail.attempts - 1))
            mail.state = MailState.QUEUED
            mail.due_at = now + delay * (1 + rng.random() / 5)
        else:
            mail.state = MailState.FAILED
            log.warning("email %s to %s given up: %s", mail.key, mail.to, reason)
    return True


def _file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:150]


def send_now(keys: Sequence[str], transport: Transport, *, config: OutboxConfig) -> SendReport:
    """Send these emails at once (a password link the member waits for); what cannot go
    now stays queued for the workers."""
    with session_scope() as session:
        claims = claim_due(session, now=datetime.now(UTC), config=config, keys=keys)
    return send_claimed(claims, transport, config=config)


@dataclass(frozen=True)
class MailRow:
    """One email of the outbox table: where it stands, and why when it failed."""

    id: int
    kind: str
    to: str
    subject: str
    state: str
    attempts: int
    reason: str
    created_at: datetime
    sent_at: datetime | None


def recent_mail(session: Session, *, limit: int) -> list[MailRow]:
    rows = session.exec(select(Mail).order_by(col(Mail.id).desc()).limit(limit)).all()
    return [
        MailRow(
            id=m.id or 0,
            kind=m.kind,
            to=m.to,
            subject=m.subject,
            state=m.state.value,
            attempts=m.attempts,
            reason=m.reason,
            created_at=m.created_at,
            sent_at=m.sent_at,
        )
        for m in rows
    ]
