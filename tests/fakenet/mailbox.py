"""A real SMTP server in-process (aiosmtpd) that keeps what it is sent.

with Mailbox() as box:            # listening on 127.0.0.2, a free port
    box.refuse("bad@example.com", "550 no such user")   # RCPT answered 550
    box.refuse("busy@example.com", "451 try later", times=2)
    ...
    box.messages                   # email.message.Message, in arrival order
    box.to("alice@example.com")    # what one address received
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller

from tests.fakenet.common import HOST


@dataclass
class _Refusal:
    answer: str
    times: int | None  # None: every time


@dataclass
class _Handler:
    messages: list[Message] = field(default_factory=list)
    refusals: dict[str, _Refusal] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self.lock:
            refusal = self.refusals.get(address.lower())
            if refusal is not None:
                if refusal.times is not None:
                    refusal.times -= 1
                    if refusal.times <= 0:
                        del self.refusals[address.lower()]
                return refusal.answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    # aiosmtpd checks it is up by connecting to the port it was given: not 0, then.
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = _free_port()
        self.controller = Controller(self.handler, hostname=HOST, port=self.port)

    @property
    def host(self) -> str:
        return HOST

    @property
    def messages(self) -> list[Message]:
        with self.handler.lock:
            return list(self.handler.messages)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if str(m["To"]).lower() == address.lower()]

    def refuse(self, address: str, answer: str, *, times: int | None = None) -> None:
        """Answer RCPT for `address` with `answer` ("451 …" temporary, "550 …" for good)."""
        with self.handler.lock:
            self.handler.refusals[address.lower()] = _Refusal(answer, times)

    def settings(self) -> dict[str, str]:
        """The TRIBE_SMTP_* settings that send tribe's mail here."""
        return {
            "TRIBE_SMTP_HOST": HOST,
            "TRIBE_SMTP_PORT": str(self.port),
            "TRIBE_SMTP_TLS": "none",
            "TRIBE_SMTP_FROM": "tribe@tribe.example.org",
        }

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.controller.stop()


def email(raw: Message) -> EmailMessage:
    """A received message parsed with today's policy (headers decoded, parts typed).
    Written back out unfolded: compat32 would fold the long headers anew."""
    as_received = raw.as_bytes(policy=policy.compat32.clone(max_line_length=0))
    parsed = BytesParser(policy=policy.default).parsebytes(as_received)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of a multipart email."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())
