"""The outbox: each email once, through a real SMTP server (aiosmtpd) or into files."""

from __future__ import annotations

import random
import smtplib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest
from sqlmodel import select

from tests.fakenet.mailbox import Mailbox
from tribe.core.kinds import MailState
from tribe.infra.db import session_scope
from tribe.infra.mail import FileTransport, MailConfig, MailError, SmtpTransport, refused_for_good
from tribe.infra.models import Mail
from tribe.infra.outbox import Letter, OutboxConfig, claim_due, enqueue, send_claimed

pytestmark = pytest.mark.usefixtures("db")

CONFIG = OutboxConfig(sender="tribe@tribe.example.org", rate=0, retry_base=timedelta(minutes=1))


def soon() -> datetime:
    """Just after now: what was queued a moment ago is due."""
    return datetime.now(UTC) + timedelta(seconds=1)


@pytest.fixture
def box() -> Iterator[Mailbox]:
    with Mailbox() as running:
        yield running


def smtp(box: Mailbox) -> SmtpTransport:
    return SmtpTransport(MailConfig(box.host, box.port, "", "", CONFIG.sender, "none"))


def queue(*addresses: str, kind: str = "digest", html: str | None = None) -> list[str]:
    keys = []
    with session_scope() as s:
        for n, to in enumerate(addresses):
            key = f"{kind}:{n}:{to}"
            letter = Letter(to, f"Hello {n}", f"Text {n}", html,
                            {"List-Unsubscribe": f"<https://tribe.example.org/u/{n}>"})  # fmt: skip
            assert enqueue(s, key=key, kind=kind, letter=letter, sender=CONFIG.sender)
            keys.append(key)
    return keys


def send_due(transport: SmtpTransport | FileTransport, now: datetime | None = None) -> None:
    with session_scope() as s:
        claims = claim_due(s, now=now or soon(), config=CONFIG)
    send_claimed(claims, transport, config=CONFIG, rng=random.Random(1))


def states() -> dict[str, MailState]:
    with session_scope() as s:
        return {m.to: m.state for m in s.exec(select(Mail)).all()}


def test_an_email_is_queued_once_per_key() -> None:
    (key,) = queue("alice@example.com")
    with session_scope() as s:
        again = enqueue(s, key=key, kind="digest", letter=Letter("x@example.com", "s", "t"),
                        sender=CONFIG.sender)  # fmt: skip
        assert again is False
        assert len(s.exec(select(Mail)).all()) == 1


def test_it_arrives_whole_with_its_headers_and_both_parts(box: Mailbox) -> None:
    queue("alice@example.com", html="<p>Text <b>0</b></p>")
    send_due(smtp(box))
    (message,) = box.to("alice@example.com")
    assert message["Subject"] == "Hello 0"
    assert message["List-Unsubscribe"] == "<https://tribe.example.org/u/0>"
    with session_scope() as s:
        mail = s.exec(select(Mail)).one()
        assert message["Message-ID"] == mail.message_id
        assert mail.state == MailState.SENT
    assert message.is_multipart()
    assert [p.get_content_type() for p in message.walk()][1:] == ["text/plain", "text/html"]


def test_a_temporary_refusal_comes_back_later_and_a_permanent_one_fails(box: Mailbox) -> None:
    box.refuse("busy@example.com", "451 try again later", times=1)
    box.refuse("gone@example.com", "550 no such user")
    queue("busy@example.com", "gone@example.com", "fine@example.com")
    send_due(smtp(box))
    assert states() == {"busy@example.com": MailState.QUEUED, "gone@example.com": MailState.FAILED,
                        "fine@example.com": MailState.SENT}  # fmt: skip
    with session_scope() as s:
        busy = s.exec(select(Mail).where(Mail.to == "busy@example.com")).one()
        gone = s.exec(select(Mail).where(Mail.to == "gone@example.com")).one()
        assert busy.attempts == 1
        assert busy.due_at > soon()  # backed off
        assert "451" in busy.reason
        assert "550" in gone.reason
    send_due(smtp(box), now=soon() + timedelta(hours=1))
    assert states()["busy@example.com"] == MailState.SENT
    assert len(box.to("busy@example.com")) == 1
    assert box.to("gone@example.com") == []


def test_an_unreachable_server_leaves_everything_queued() -> None:
    queue("alice@example.com", "bob@example.com")
    closed = SmtpTransport(MailConfig("127.0.0.2", 1, "", "", CONFIG.sender, "none"))
    send_due(closed)
    assert set(states().values()) == {MailState.QUEUED}


def test_without_smtp_each_email_is_one_file_even_when_written_twice(tmp_path: Path) -> None:
    queue("alice@example.com", "bob@example.com")
    folder = tmp_path / "outbox"
    send_due(FileTransport(folder))
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 2
    assert "Subject: Hello 0" in files[0].read_text()
    with session_scope() as s:  # a sender that died after writing: the same file again
        for mail in s.exec(select(Mail)).all():
            mail.state, mail.lease_until = MailState.SENDING, datetime.now(UTC) - timedelta(1)
    send_due(FileTransport(folder))
    assert sorted(folder.glob("*.eml")) == files
    assert not list(folder.glob(".*"))  # no half-written draft left behind


class Dies:
    """A transport whose process 'dies' at a chosen point of one message."""

    def __init__(self, inner: SmtpTransport, *, after_handed: bool) -> None:
        self.inner, self.after_handed = inner, after_handed

    def __enter__(self) -> Self:
        self.inner.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.inner.__exit__(kind, error, tb)

    def hand_over(self, message: EmailMessage, *, name: str, handed: Callable[[], None]) -> None:
        def then_die() -> None:
            if self.after_handed:
                handed()
            raise SystemExit("killed")

        self.inner.hand_over(message, name=name, handed=then_die)


@pytest.mark.parametrize("after_handed", [False, True])
def test_a_sender_killed_mid_message_neither_loses_nor_doubles_it(
    box: Mailbox, after_handed: bool
) -> None:
    """Killed before the server had it whole: sent again when the lease ends, and the
    server kept nothing of the first try. Killed once it was handed over: the server
    has it (the dot goes out with the closing socket), so it counts as sent."""
    queue("alice@example.com")
    with pytest.raises(SystemExit):
        send_due(Dies(smtp(box), after_handed=after_handed))  # type: ignore[arg-type]
    if after_handed:  # the process is gone; the kernel sends what it wrote: emulate it
        server = smtplib.SMTP(box.host, box.port)
        server.sendmail(
            CONFIG.sender,
            ["alice@example.com"],
            b"To: alice@example.com\r\nSubject: Hello 0\r\n\r\nText 0",
        )
        server.quit()
    assert len(box.to("alice@example.com")) == int(after_handed)
    later = datetime.now(UTC) + CONFIG.lease + timedelta(seconds=1)
    send_due(smtp(box), now=later)
    assert states() == {"alice@example.com": MailState.SENT}
    assert len(box.to("alice@example.com")) == 1


def test_a_lost_answer_after_the_whole_message_counts_as_sent(box: Mailbox) -> None:
    queue("alice@example.com")

    class LosesTheAnswer(SmtpTransport):
        def hand_over(self, message: EmailMessage, *, name: str,
                      handed: Callable[[], None]) -> None:  # fmt: skip
            super().hand_over(message, name=name, handed=handed)
            raise MailError("the answer was lost", temporary=True, answered=False)

    send_due(LosesTheAnswer(smtp(box).config))
    assert states() == {"alice@example.com": MailState.SENT}
    assert len(box.to("alice@example.com")) == 1


def test_two_claims_at_once_take_each_email_once(box: Mailbox) -> None:
    queue(*(f"m{n}@example.com" for n in range(30)))
    with session_scope() as s:
        first = claim_due(s, now=soon(), config=OutboxConfig(sender=CONFIG.sender, batch=20))
    with session_scope() as s:
        second = claim_due(s, now=soon(), config=OutboxConfig(sender=CONFIG.sender, batch=20))
    assert len(first) == 20
    assert len(second) == 10
    assert not {c.id for c in first} & {c.id for c in second}


def test_a_batch_that_outlived_its_lease_stops_before_a_claimed_again_email(
    box: Mailbox,
) -> None:
    """A slow server: the first sender's lease ran out and a second sender claimed the
    rest of its batch and sent it. The first, going on, must not hand any of them over
    again (it read its batch at the start): it stops at the first one not its own,
    before that email's final dot."""
    queue("a@example.com", "b@example.com", "c@example.com")
    with session_scope() as s:
        slow = claim_due(s, now=soon(), config=CONFIG)
    assert len(slow) == 3

    class ClaimedAgainAfterTheFirst(SmtpTransport):
        sent = 0

        def hand_over(self, message: EmailMessage, *, name: str,
                      handed: Callable[[], None]) -> None:  # fmt: skip
            if self.sent == 1:  # the lease ends here: another sender takes b and c
                later = datetime.now(UTC) + CONFIG.lease + timedelta(seconds=1)
                with session_scope() as s:
                    taken = claim_due(s, now=later, config=CONFIG)
                send_claimed(taken, smtp(box), config=CONFIG, rng=random.Random(2))
            self.sent += 1
            super().hand_over(message, name=name, handed=handed)

    report = send_claimed(
        slow, ClaimedAgainAfterTheFirst(smtp(box).config), config=CONFIG, rng=random.Random(1)
    )
    assert report.sent == 1
    received = sorted(str(m["To"]) for m in box.messages)
    assert received == ["a@example.com", "b@example.com", "c@example.com"]
    assert set(states().values()) == {MailState.SENT}


@pytest.mark.parametrize(
    ("reason", "for_good"),
    [
        ("the SMTP server answered 550 for a@example.com: 5.1.1 no such user", True),
        ("the SMTP server answered 552 for a@example.com: mailbox full", True),
        ("the SMTP server answered 451 for a@example.com: try later", False),
        ("the SMTP server answered 550 for the sender: relay not permitted", False),
        ("could not reach the SMTP server smtp.example.org: timed out", False),
        ("this email cannot be written: a header holds a line break", False),
        ("", False),
    ],
)
def test_only_the_receiving_sides_5xx_counts_as_refused_for_good(
    reason: str, for_good: bool
) -> None:
    """A subscriber is set aside for their server's refusals, never for tribe's own
    trouble (its relay down until the retries ran out)."""
    assert refused_for_good(reason) is for_good
