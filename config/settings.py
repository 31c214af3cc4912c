"""All of tribe's settings, read from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tribe.core.errors import SettingsError

_DURATION_PART = re.compile(r"(\d+)\s*(ms|d|h|m|s)")
_DURATION_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_SIZE = re.compile(r"(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?")
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_duration(value: Any) -> timedelta:
    """Read "90", "15m", "1h30m", "3d" or "500ms" (a bare number is seconds)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    parts = _DURATION_PART.findall(text)
    if not parts or _DURATION_PART.sub("", text).strip():
        raise ValueError(f"{value!r} is not a duration; write e.g. 90, 15m, 1h30m or 3d")
    return timedelta(seconds=sum(int(n) * _DURATION_UNITS[unit] for n, unit in parts))


def parse_size(value: Any) -> int:
    """Read "10485760", "10MiB" or "512 KB" as a number of bytes."""
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(str(value).strip().lower())
    if not match:
        raise ValueError(f"{value!r} is not a size; write e.g. 10MiB or 10485760")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]


class Settings(BaseSettings):
    """One object for every setting; each field is the environment variable of the same name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # Where things live.
    TRIBE_DATABASE_URL: str = "sqlite:///./data/tribe.db"
    TRIBE_BROKER_URL: str | None = None
    TRIBE_DATA_DIR: Path = Path("./data")
    TRIBE_LOG_LEVEL: str = "INFO"

    # Who we are when we knock on a blogger's server.
    TRIBE_CONTACT_URL: str | None = None

    # Fetching.
    TRIBE_ALLOW_PRIVATE_ADDRESSES: bool = False
    TRIBE_ALLOWED_NETWORKS: str = ""
    TRIBE_FETCH_TIMEOUT: Duration = timedelta(seconds=10)
    TRIBE_FETCH_DEADLINE: Duration = timedelta(seconds=30)
    TRIBE_FETCH_MAX_BYTES: ByteSize = 10 * 1024 * 1024

    # Polling schedule.
    TRIBE_POLL_INTERVAL: Duration = timedelta(minutes=15)
    TRIBE_POLL_MIN_INTERVAL: Duration = timedelta(minutes=5)
    TRIBE_POLL_MAX_INTERVAL: Duration = timedelta(hours=24)
    TRIBE_POLL_PER_HOST: int = Field(default=2, ge=1)
    TRIBE_POLL_MAX_IN_FLIGHT: int = Field(default=200, ge=1)
    TRIBE_POLL_BATCH: int = Field(default=20, ge=1, le=500)
    TRIBE_POLL_LEASE: Duration = timedelta(minutes=10)
    TRIBE_POLL_SWEEP_EVERY: Duration = timedelta(seconds=5)
    TRIBE_MAX_ENTRY_AGE: Duration = timedelta(days=3)
    TRIBE_CHECK_EVERY: Duration = timedelta(minutes=1)

    # Approvals and queues.
    TRIBE_STREAM_EXPIRY: Duration = timedelta(days=5)
    TRIBE_STAGGER: Duration = timedelta(minutes=20)
    TRIBE_QUEUE_HORIZON: Duration = timedelta(days=7)

    # Publishing.
    TRIBE_DRY_RUN: bool | None = None  # unset: see `dry_run`
    TRIBE_SECRET_KEYS: str = ""
    TRIBE_PUBLISH_TIMEOUT: Duration = timedelta(seconds=15)
    TRIBE_PUBLISH_LEASE: Duration = timedelta(minutes=2)
    TRIBE_PUBLISH_MAX_ATTEMPTS: int = Field(default=6, ge=1)
    TRIBE_PUBLISH_RETRY_BASE: Duration = timedelta(minutes=1)
    TRIBE_DISPATCH_EVERY: Duration = timedelta(seconds=2)
    TRIBE_DISPATCH_BATCH: int = Field(default=200, ge=1)
    TRIBE_X_API_URL: str = "https://api.twitter.com"
    TRIBE_X_API_KEY: str = ""
    TRIBE_X_API_SECRET: str = ""
    TRIBE_X_CLIENT_ID: str = ""
    TRIBE_X_CLIENT_SECRET: str = ""
    TRIBE_X_REDIRECT_URL: str = ""
    TRIBE_X_DAILY_POSTS_PER_ACCOUNT: int = Field(default=100, ge=1)
    TRIBE_X_DAILY_POSTS_PER_APP: int = Field(default=1667, ge=1)
    TRIBE_MASTODON_REDIRECT_URL: str = "urn:ietf:wg:oauth:2.0:oob"
    # LinkedIn, Facebook Pages and Threads: one OAuth app per network, registered by the
    # operator; its redirect URL is https://<your tribe>/accounts/connect/<network>/callback.
    # *_AUTH_URL is where members' browsers sign in (and LinkedIn's token endpoint);
    # *_API_URL where tribe calls. Both only move for tests.
    TRIBE_LINKEDIN_CLIENT_ID: str = ""
    TRIBE_LINKEDIN_CLIENT_SECRET: str = ""
    TRIBE_LINKEDIN_REDIRECT_URL: str = ""
    TRIBE_LINKEDIN_AUTH_URL: str = "https://www.linkedin.com"
    TRIBE_LINKEDIN_API_URL: str = "https://api.linkedin.com"
    TRIBE_LINKEDIN_DAILY_POSTS_PER_ACCOUNT: int = Field(default=150, ge=1)
    TRIBE_FACEBOOK_CLIENT_ID: str = ""
    TRIBE_FACEBOOK_CLIENT_SECRET: str = ""
    TRIBE_FACEBOOK_REDIRECT_URL: str = ""
    TRIBE_FACEBOOK_AUTH_URL: str = "https://www.facebook.com"
    TRIBE_FACEBOOK_API_URL: str = "https://graph.facebook.com"
    TRIBE_THREADS_CLIENT_ID: str = ""
    TRIBE_THREADS_CLIENT_SECRET: str = ""
    TRIBE_THREADS_REDIRECT_URL: str = ""
    TRIBE_THREADS_AUTH_URL: str = "https://threads.net"
    TRIBE_THREADS_API_URL: str = "https://graph.threads.net"
    TRIBE_THREADS_DAILY_POSTS_PER_ACCOUNT: int = Field(default=250, ge=1)
    # Bluesky link cards with the page's picture (its og: tags, fetched once per post).
    TRIBE_LINK_CARDS: bool = True
    # Long-lived tokens (LinkedIn, Threads) are renewed this long before they run out.
    TRIBE_RENEW_AHEAD: Duration = timedelta(days=10)

    # The web app.
    TRIBE_WEB_HOST: str = "127.0.0.1"
    TRIBE_WEB_PORT: int = Field(default=8000, ge=1, le=65535)
    TRIBE_BASE_URL: str = "http://127.0.0.1:8000"
    TRIBE_TRUSTED_PROXIES: str = "127.0.0.1"
    TRIBE_SESSION_TTL: Duration = timedelta(days=30)
    TRIBE_INVITE_TTL: Duration = timedelta(days=14)
    TRIBE_RESET_TTL: Duration = timedelta(hours=2)
    TRIBE_LOGIN_ATTEMPTS: int = Field(default=5, ge=1)
    TRIBE_LOGIN_WINDOW: Duration = timedelta(minutes=15)
    TRIBE_DEVICE_TTL: Duration = timedelta(days=365)
    TRIBE_MAX_REQUEST_BYTES: ByteSize = 1024 * 1024
    TRIBE_WEB_CALLS: int = Field(default=8, ge=1)
    TRIBE_WEB_CALLS_PER_MEMBER: int = Field(default=2, ge=1)
    TRIBE_WEB_CALL_DEADLINE: Duration = timedelta(seconds=10)
    TRIBE_SMTP_HOST: str = ""
    TRIBE_SMTP_PORT: int = Field(default=587, ge=1, le=65535)
    TRIBE_SMTP_USERNAME: str = ""
    TRIBE_SMTP_PASSWORD: str = ""
    TRIBE_SMTP_FROM: str = "tribe@localhost"
    TRIBE_SMTP_TLS: Literal["starttls", "ssl", "none"] = "starttls"
    TRIBE_MAIL_RATE: float = Field(default=10.0, ge=0)
    TRIBE_DIGEST_EVERY: Duration = timedelta(minutes=1)
    TRIBE_LETTER_EVERY: Duration = timedelta(minutes=1)

    # Workers.
    TRIBE_WORKER_CONCURRENCY: int = Field(default=4, ge=1)
    TRIBE_FETCH_CONCURRENCY: int = Field(default=16, ge=1)
    TRIBE_WORKER_STALL_TIMEOUT: Duration = timedelta(minutes=15)

    @field_validator("TRIBE_DATABASE_URL")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            # SQLAlchemy would pick psycopg2, which we do not install.
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("use sqlite:///path/to/file.db or postgresql://user@host/dbname")
        return value

    @field_validator("TRIBE_BASE_URL")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+(/\S*)?$", value.strip()):
            raise ValueError("give the address members open, e.g. https://tribe.example.org")
        return value.strip().rstrip("/")

    @field_validator("TRIBE_CONTACT_URL")
    @classmethod
    def _real_contact(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not re.match(r"(https?://|mailto:)\S+$", value):
            raise ValueError("give a URL or mailto: address where bloggers can reach the operator")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_batch(self) -> Settings:
        # A batch's feeds wait for the process's fetch threads: in the worst case every
        # task's whole batch is queued behind fetches that each take the full deadline.
        waves = -(
            -self.TRIBE_POLL_BATCH * self.TRIBE_WORKER_CONCURRENCY // self.TRIBE_FETCH_CONCURRENCY
        )
        needed = self.TRIBE_FETCH_DEADLINE * waves
        if needed >= self.TRIBE_POLL_LEASE:
            raise ValueError(
                f"TRIBE_POLL_LEASE must be longer than {needed.total_seconds():g}s "
                "(TRIBE_FETCH_DEADLINE x TRIBE_POLL_BATCH x TRIBE_WORKER_CONCURRENCY / "
                "TRIBE_FETCH_CONCURRENCY), or a slow batch is handed to a second worker "
                "while the first is still fetching"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_call(self) -> Settings:
        # A publish call may refresh a token first: two calls must fit in the lease, or
        # the sweep hands a delivery that is still being sent to a second worker.
        if self.TRIBE_PUBLISH_TIMEOUT * 3 >= self.TRIBE_PUBLISH_LEASE:
            raise ValueError(
                "TRIBE_PUBLISH_LEASE must be longer than 3 x TRIBE_PUBLISH_TIMEOUT "
                f"({(self.TRIBE_PUBLISH_TIMEOUT * 3).total_seconds():g}s)"
            )
        return self

    @property
    def embedded_default(self) -> bool:
        """The one-machine shape `make run` starts: a SQLite database (and, unless a
        broker is configured, the embedded one)."""
        return self.TRIBE_DATABASE_URL.startswith("sqlite:")

    @property
    def dry_run(self) -> bool:
        """Deliveries are logged, not sent: when TRIBE_DRY_RUN says so and, when it is
        unset, on the embedded default while no TRIBE_SECRET_KEYS is configured (a fresh
        checkout, running on its local key file). Elsewhere a missing key is an error."""
        if self.TRIBE_DRY_RUN is not None:
            return self.TRIBE_DRY_RUN
        return self.embedded_default and not self.TRIBE_SECRET_KEYS.strip()

    @property
    def secure_cookies(self) -> bool:
        """Cookies are sent over HTTPS only when members reach the app over HTTPS."""
        return self.TRIBE_BASE_URL.startswith("https://")

    @property
    def broker_path(self) -> Path:
        """The embedded broker's file, used when `TRIBE_BROKER_URL` is unset."""
        return self.TRIBE_DATA_DIR / "broker.sqlite3"


def load_settings() -> Settings:
    """Build settings, turning pydantic's report into one readable line per bad setting."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}".removeprefix(": ").replace(
                "Value error, ", ""
            )
            for e in exc.errors()
        ]
        raise SettingsError("bad setting(s) - " + "; ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests clear this cache after changing the environment)."""
    return load_settings()
