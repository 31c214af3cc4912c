"""What configures the services the web app calls, read from the settings once.

Routes take `WebConfigDep` and pass its parts down (`config.approvals`,
`config.polling`, `config.invite_ttl`...); no route or service reads `settings.TRIBE_*`
for itself. It is built again only when the settings object changes (tests do that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Annotated

from fastapi import Depends

from config import Settings, get_settings
from tribe.core.polling import PollConfig
from tribe.infra.mail import MailConfig, Transport, transport_for
from tribe.infra.outbox import OutboxConfig, outbox_config
from tribe.ingest import poll_config_of
from tribe.members.auth import LoginLimits
from tribe.stream.approvals import ApprovalConfig


@dataclass(frozen=True)
class WebConfig:
    approvals: ApprovalConfig  # stagger, horizon, how long an item waits in a stream
    polling: PollConfig  # adding and checking feeds from a page
    login: LoginLimits  # failed sign-ins and emailed links allowed
    mail: MailConfig | None  # None: this instance sends no email (it writes files)
    outbox: OutboxConfig  # how emails leave: the sender, the pace
    transport: Transport  # the SMTP server, or the outbox folder
    base_url: str  # where links in emails and invites point
    invite_ttl: timedelta
    reset_ttl: timedelta  # password links, and invite sign-ups confirmed by email
    session_ttl: timedelta
    device_ttl: timedelta
    dry_run: bool
    secure_cookies: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> WebConfig:
        attempts = settings.TRIBE_LOGIN_ATTEMPTS
        return cls(
            approvals=ApprovalConfig.from_settings(settings),
            polling=poll_config_of(settings),
            login=LoginLimits(
                per_pair=attempts,
                per_email=attempts * 4,
                per_address=attempts * 4,
                window=settings.TRIBE_LOGIN_WINDOW,
            ),
            mail=MailConfig.from_settings(settings),
            outbox=outbox_config(settings),
            transport=transport_for(settings),
            base_url=settings.TRIBE_BASE_URL,
            invite_ttl=settings.TRIBE_INVITE_TTL,
            reset_ttl=settings.TRIBE_RESET_TTL,
            session_ttl=settings.TRIBE_SESSION_TTL,
            device_ttl=settings.TRIBE_DEVICE_TTL,
            dry_run=settings.dry_run,
            secure_cookies=settings.secure_cookies,
        )


@lru_cache(maxsize=1)
def _config_of(settings: Settings) -> WebConfig:
    return WebConfig.from_settings(settings)


def web_config() -> WebConfig:
    return _config_of(get_settings())


WebConfigDep = Annotated[WebConfig, Depends(web_config)]
