"""What every network adapter speaks: a publication in, a result or a classified error out.

The adapters (`tribe/networks/<name>/`) wrap the real client libraries and turn every
way a call can end into one of the outcomes below; `core/deliveries.py` decides what
each means for the delivery (docs/architecture.md, "Rules that keep data right", 2, 4).
No adapter touches the database: credentials come in decrypted, and changed ones
(a refreshed token or session) go back through `AccountContext.refresh`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from tribe.core.errors import TribeError
from tribe.core.kinds import ReshareKind

__all__ = [
    "AccountContext",
    "Credentials",
    "NeedsReconnect",
    "Publication",
    "PublishError",
    "Publisher",
    "RateLimited",
    "Rejected",
    "ReshareKind",
    "Sent",
    "Transient",
    "Unknown",
    "runs_out",
]

Credentials = dict[str, Any]


@dataclass(frozen=True)
class Publication:
    """Everything one network call needs, read from the database before the call."""

    delivery_id: int
    kind: ReshareKind
    text: str  # the whole text for POST/ANNOUNCE (already fitted to the network)
    link: str  # the article's URL (Bluesky link facet and card)
    title: str
    summary: str
    # For REPOST: the author's post being reshared (X tweet id, Mastodon status id,
    # Bluesky at:// URI plus its CID, LinkedIn post URN, Threads media id).
    target_id: str | None
    target_cid: str | None
    # Stable for the delivery's whole life: Mastodon's Idempotency-Key, Bluesky's rkey.
    key: str
    created_at: datetime  # fixed at first claim, so a retried record is the same record
    # What an earlier call of this delivery did on the network before its answer (a
    # Threads container, a Bluesky card's image blob), as it was kept: go on from there.
    progress: Mapping[str, Any] = field(default_factory=dict)
    # Keep `progress` (merged into what is kept) before the next step of the call; it is
    # committed when `keep` returns. A network whose call is one step never calls it.
    keep: Callable[[Mapping[str, Any]], None] = field(default=lambda _done: None, compare=False)


@dataclass(frozen=True)
class Sent:
    # X tweet id, Mastodon status id, Bluesky at:// URI, LinkedIn post URN, Facebook
    # post id, Threads media id
    remote_id: str
    remote_url: str  # where a person can see it
    remote_cid: str | None = None  # Bluesky: needed by those who repost it


@dataclass
class AccountContext:
    """One account as an adapter sees it."""

    account_id: int
    handle: str
    # X user id, Mastodon account id, Bluesky DID, LinkedIn person id (the OpenID `sub`),
    # Facebook Page id, Threads user id
    remote_user_id: str | None
    base_url: str | None  # Mastodon instance / Bluesky PDS; None for X (a setting)
    credentials: Credentials
    timeout: float  # seconds, for every network call
    # Replace the credentials under a per-account lock: `update(current)` gets the
    # stored credentials as they are now (another worker may have refreshed them
    # already) and returns new ones to store, or None to keep them. What is stored is
    # committed before `refresh` returns, and `refresh` returns it.
    refresh: Callable[[Callable[[Credentials], Credentials | None]], Credentials]


def runs_out(credentials: Mapping[str, Any]) -> datetime | None:
    """When credentials run out unless renewed: their `expires_at` (epoch seconds, the
    convention of every network's stored credentials) as UTC; None when not said."""
    when = credentials.get("expires_at")
    if isinstance(when, bool) or not isinstance(when, int | float):
        return None
    return datetime.fromtimestamp(when, UTC)


class PublishError(TribeError):
    """A call did not end in a post. `str(error)` is written for the member to read."""


class Transient(PublishError):
    """Nothing was posted and trying again later may work (connect failure, 5xx before acting)."""


class Unknown(PublishError):
    """The request may have been acted on: read timeout, 5xx, connection dropped after sending.

    Safe to retry only where the network makes the write idempotent (`Publisher.idempotent`).
    """


class RateLimited(PublishError):
    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until  # UTC


class NeedsReconnect(PublishError):
    """Credentials were refused (401, revoked, lost app permission): ask the member."""


class Rejected(PublishError):
    """The network refused this post for good (duplicate, invalid): never retry it."""


class Publisher(Protocol):
    # True when retrying an Unknown outcome cannot create a second post.
    idempotent: bool

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        """Post or repost; raise one of the PublishError kinds above on anything else."""
        ...

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        """Look for this publication on the account (after an Unknown outcome).

        Returns what is there, None when it is provably absent; raises `Unknown` when it
        cannot tell.
        """
        ...
