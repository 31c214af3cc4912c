"""Email out: the password links members ask for, through the operator's SMTP server."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from config import Settings

log = logging.getLogger("tribe.mail")
TIMEOUT_SECONDS = 15


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
        """None when no SMTP server is configured: nothing is sent then."""
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


def send(config: MailConfig, *, to: str, subject: str, body: str) -> bool:
    """Send one plain-text email; False (and a log line without the body) if it failed."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = config.sender, to, subject
    message.set_content(body)
    try:
        if config.tls == "ssl":
            context = ssl.create_default_context()
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            server = smtplib.SMTP(config.host, config.port, timeout=TIMEOUT_SECONDS)
        with server:
            if config.tls == "starttls":
                server.starttls(context=ssl.create_default_context())
            if config.username:
                server.login(config.username, config.password)
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("could not send %r to the SMTP server %s: %s", subject, config.host, exc)
        return False
    return True
