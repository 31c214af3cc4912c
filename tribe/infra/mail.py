"""Email out: the operator's SMTP server, or files when there is none.

A transport hands over one message and calls `handed()` at the one moment after which a
crash must not send it again: for SMTP, once the server has the whole message but the
final "." that makes it accept it (a connection that dies before that dot delivers
nothing; the kernel still sends a dot already written when the process dies after it);
for files, before the file gets its final name (a message's file name is fixed, so
writing it twice leaves one file). That is what lets the outbox send each message once
(architecture.md, "Rules that keep data right", rule 6).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from config import Settings
from tribe.core.errors import TribeError

log = logging.getLogger("tribe.mail")
TIMEOUT_SECONDS = 15


# Headers are folded at RFC 5322's hard limit, not at the 78-character default: folding
# a long `List-Unsubscribe` URL writes it as RFC 2047 encoded-words, which a structured
# header may not hold (RFC 2047, section 5), and one-click unsubscribe breaks.
SMTP_LINES = policy.SMTP.clone(max_line_length=998)
FILE_LINES = policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class MailConfig:
    host: str
    port: int
    username: str
    password: str
    sender: str
    tls: str  # "starttls", "ssl" or "none"

    @classmethod
    def from_settings(cls, settings: Settings) -> MailConfig | None:
        """None when no SMTP server is configured: mail is written to files then."""
        if not settings.TRIBE_SMTP_HOST:
            return None
        return cls(
            host=settings.TRIBE_SMTP_HOST,
            port=settings.TRIBE_SMTP_PORT,
            username=settings.TRIBE_SMTP_USERNAME,
            password=settings.TRIBE_SMTP_PASSWORD,
            sender=settings.TRIBE_SMTP_FROM,
            tls=settings.TRIBE_SMTP_TLS,
        )


class MailError(TribeError):
    """A message was not accepted. `temporary`: trying again later may work (a 4xx,
    the server unreachable); otherwise the server refused it for good (a 5xx).
    `answered`: the server said so; False when the connection failed instead (after the
    message was handed over whole, it is then most likely delivered)."""

    def __init__(self, message: str, *, temporary: bool, answered: bool = True) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.answered = answered


class Transport(Protocol):
    """Hands messages over, one at a time, on one open connection (a context manager)."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def hand_over(self, message: EmailMessage, *, name: str, handed: Callable[[], None]) -> None:
        """Send `message` (`name` is fixed per message: a file name); call `handed()` at
        the point of no return. Raises MailError when it was not accepted."""
        ...


class SmtpTransport:
    """One SMTP connection for a batch of messages."""

    def __init__(self, config: MailConfig) -> None:
        self.config = config
        self._server: smtplib.SMTP | None = None

    def __enter__(self) -> Self:
        config = self.config
        try:
            if config.tls == "ssl":
                self._server = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=TIMEOUT_SECONDS,
                    context=ssl.create_default_context(),
                )  # fmt: skip
            else:
                self._server = smtplib.SMTP(config.host, config.port, timeout=TIMEOUT_SECONDS)
            # The message and its final dot go as two writes (`_data`): without this,
            # Nagle's algorithm holds the dot until the server's delayed ACK of the
            # message, some 40 ms per email.
            if self._server.sock is not None:
                self._server.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if config.tls == "starttls":
                self._server.starttls(context=ssl.create_default_context())
            if config.username:
                self._server.login(config.username, config.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"the SMTP server refused tribe's login: {exc}", temporary=True
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"could not reach the SMTP server {config.host}: {exc}", temporary=True
            ) from exc
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is None:
            return
        if kind is not None:  # mid-conversation: a polite QUIT could wait for ever
            self._server.close()
            return
        try:
            self._server.quit()
        except (OSError, smtplib.SMTPException):
            self._server.close()

    def hand_over(self, message: EmailMessage, *, name: str, handed: Callable[[], None]) -> None:
        assert self._server is not None, "use the transport as a context manager"
        server = self._server
        to = str(message["To"])
        try:
            server.ehlo_or_helo_if_needed()
            code, reply = server.mail(self.config.sender)
            if code != 250:
                server.rset()
                raise _refused(code, reply, "the sender")
            code, reply = server.rcpt(to)
            if code not in (250, 251):
                server.rset()
                raise _refused(code, reply, to)
            code, reply = _data(server, message.as_bytes(policy=SMTP_LINES), handed)
            if code != 250:
                raise _refused(code, reply, to)
        except smtplib.SMTPResponseException as exc:
            raise _refused(exc.smtp_code, exc.smtp_error, to) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"the SMTP connection failed: {exc}", temporary=True, answered=False
            ) from exc


def _data(server: smtplib.SMTP, body: bytes, handed: Callable[[], None]) -> tuple[int, bytes]:
    """SMTP DATA as smtplib sends it, but calling `handed()` between the message and the
    final dot that makes the server accept it."""
    server.putcmd("data")
    code, reply = server.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    quoted = re.sub(rb"(?m)^\.", b"..", body)
    if not quoted.endswith(b"\r\n"):
        quoted += b"\r\n"
    server.send(quoted)
    handed()
    try:
        server.send(b".\r\n")
    except OSError as exc:  # the dot never left: the server delivers nothing
        raise MailError(
            f"the SMTP connection failed before the message was complete: {exc}",
            temporary=True,
        ) from exc
    try:
        return server.getreply()
    except OSError as exc:  # the server has it all; only its answer is lost
        raise MailError(
            f"the SMTP server's answer was lost: {exc}", temporary=True, answered=False
        ) from exc


# A refusal of the recipient; one "for the sender" (MAIL FROM) is the instance's own.
_ANSWERED = re.compile(r"the SMTP server answered (\d{3}) for (?!the sender:)")


def refused_for_good(reason: str) -> bool:
    """Whether an outbox row's reason is the receiving side's own permanent refusal (a
    5xx, as `_refused` words it), not tribe's trouble: retries run out while the server
    could not be reached, or a message that could not be written."""
    found = _ANSWERED.match(reason)
    return found is not None and int(found.group(1)) >= 500


def _refused(code: int, reply: bytes | str, who: str) -> MailError:
    words = (reply.decode(errors="replace") if isinstance(reply, bytes) else reply).strip()
    return MailError(f"the SMTP server answered {code} for {who}: {words}", temporary=code < 500)


class FileTransport:
    """Without SMTP: each message becomes `<folder>/<name>.eml`, for the operator to open."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def hand_over(self, message: EmailMessage, *, name: str, handed: Callable[[], None]) -> None:
        final = self.folder / f"{name}.eml"
        draft = final.with_name(f".{final.name}.part")
        try:
            draft.write_bytes(message.as_bytes(policy=FILE_LINES))
            handed()
            os.replace(draft, final)
        except OSError as exc:
            raise MailError(f"could not write {final}: {exc}", temporary=True) from exc
        finally:
            draft.unlink(missing_ok=True)  # gone once renamed; left by a handover refused


def transport_for(settings: Settings) -> Transport:
    """The operator's SMTP server, or the outbox folder when none is configured."""
    config = MailConfig.from_settings(settings)
    if config is None:
        return FileTransport(outbox_folder(settings))
    return SmtpTransport(config)


def outbox_folder(settings: Settings) -> Path:
    return settings.TRIBE_DATA_DIR / "outbox"


def sender(settings: Settings) -> str:
    return settings.TRIBE_SMTP_FROM


# The outbox folder, read back: the operator's page lists what FileTransport wrote.


@dataclass(frozen=True)
class OutboxFile:
    """One email written to the outbox folder, as its headers say."""

    name: str
    subject: str
    to: str
    written: datetime


def _emails(folder: Path) -> dict[str, os.DirEntry[str]]:
    """The finished .eml files of the folder by name (a ".name.eml.part" is being written)."""
    try:
        with os.scandir(folder) as entries:
            return {
                e.name: e
                for e in entries
                if e.name.endswith(".eml")
                and not e.name.startswith(".")
                and e.is_file(follow_symlinks=False)
            }
    except FileNotFoundError:  # nothing was ever written
        return {}


def _read_email(path: Path, *, headers_only: bool = False) -> EmailMessage:
    with path.open("rb") as fp:
        found = BytesParser(policy=policy.default).parse(fp, headersonly=headers_only)
    assert isinstance(found, EmailMessage)  # what policy.default makes
    return found


def outbox_files(folder: Path, *, limit: int) -> tuple[list[OutboxFile], int]:
    """The newest `limit` emails of the folder, newest first, and how many there are."""
    entries = _emails(folder)
    newest = sorted(entries.values(), key=lambda e: (e.stat().st_mtime, e.name), reverse=True)
    files = []
    for entry in newest[:limit]:
        try:
            message = _read_email(Path(entry.path), headers_only=True)
        except OSError:  # removed by the operator meanwhile
            continue
        written = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
        files.append(
            OutboxFile(entry.name, str(message["Subject"] or ""), str(message["To"] or ""), written)
        )
    return files, len(entries)


def readable(message: EmailMessage) -> str:
    """An email as an operator reads it: its headers, then each text part decoded."""
    lines = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text" and isinstance(part, EmailMessage):
            try:
                content = part.get_content()
            except (LookupError, ValueError):  # a charset Python does not know
                content = str(part.get_payload())
            lines += ["", f"----- {part.get_content_type()} -----", "", content]
    return "\n".join(lines).rstrip() + "\n"


def read_outbox_email(folder: Path, name: str) -> str | None:
    """Email `name` of the folder as an operator reads it, or None when the folder lists
    no such finished email: only a listed name is opened, so no name reaches another file."""
    entry = _emails(folder).get(name)
    return None if entry is None else readable(_read_email(Path(entry.path)))
