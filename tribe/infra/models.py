"""The tables. Uniqueness rules live here as database constraints, not in code paths."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from tribe.core.kinds import (
    Connection,
    DeliveryState,
    DigestMode,
    EditionState,
    FeedStatus,
    IfUnsent,
    LetterCadence,
    MailState,
    MembershipStatus,
    Network,
    PollOutcome,
    ReshareKind,
    Role,
    ScheduleMode,
    StreamState,
    SubscriberState,
)

# Stable constraint names, so Alembic can alter them later (and batch-alter on SQLite).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(enum: type[StrEnum], name: str) -> sa.Enum:
    """A VARCHAR with a CHECK constraint: portable, and easy to extend in a migration."""
    return sa.Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class Member(SQLModel, table=True):
    """A blogger with an account on this tribe instance."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    display_name: str = Field(max_length=120)
    timezone: str = Field(default="UTC", max_length=64)
    # The member's share templates by network ("x", "mastodon", "bluesky").
    templates: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    queue_paused: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    # Web sign-in: an argon2 hash, or None for a member who never set a password.
    password_hash: str | None = Field(default=None, max_length=255)
    # The first account on an empty instance; sees every tribe and feed.
    is_operator: bool = False
    # The digest of the stream: daily at `digest_hour` (HH:MM, the member's zone), weekly
    # on `digest_weekday` (0 = Monday) at that hour, or off.
    digest_mode: DigestMode = Field(
        default=DigestMode.DAILY, sa_type=_enum(DigestMode, "digest_mode")
    )
    digest_hour: str = Field(default="08:00", max_length=5)
    digest_weekday: int = 0
    digest_sent_once: bool = False  # the first digest says how to change all this
    # A chief's nudge reaches the member at most once a week, and only if they want it.
    nudges: bool = True
    nudged_at: datetime | None = None
    # The reminder after 7 days with pending items and no decision: once, until they
    # come back (a decision after `reminded_at` makes them due again).
    reminders: bool = True
    reminded_at: datetime | None = None


class Tribe(SQLModel, table=True):
    """A group of bloggers who reshare each other's posts."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    slug: str = Field(max_length=80, unique=True)
    description: str = Field(default="", max_length=2000)
    chief_id: int = Field(foreign_key="member.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    # Open tribes take join requests from anyone signed in; the chief decides.
    is_open: bool = False
    # Invite links carry this number: raising it revokes every link handed out before.
    invite_epoch: int = 0
    # When the current invite link was made: it is signed with this time, so the chief
    # sees the same link until they renew it (or it expires after TRIBE_INVITE_TTL).
    invite_issued_at: datetime = Field(default_factory=utcnow)
    # A public tribe has a page at /t/{slug} that anyone can read (`tribe.alliance.public`).
    is_public: bool = False
    # The public page may show how many tribemates shared each post: the chief's choice.
    public_counts: bool = False
    # The tribe's clock, for its letter's send hour.
    timezone: str = Field(default="UTC", max_length=64)


class Membership(SQLModel, table=True):
    """A member's place in a tribe."""

    __table_args__ = (sa.UniqueConstraint("tribe_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tribe_id: int = Field(foreign_key="tribe.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    role: Role = Field(default=Role.MEMBER, sa_type=_enum(Role, "role"))
    status: MembershipStatus = Field(
        default=MembershipStatus.ACTIVE, sa_type=_enum(MembershipStatus, "membership_status")
    )
    joined_at: datetime = Field(default_factory=utcnow)  # the latest (re)joining
    # When they left or were removed; None while active. A membership that ended before
    # revision 0011 has none: when it ended is unknown, so reciprocity counts nothing in it.
    left_at: datetime | None = None
    # Left off the tribe's public page (still in the tribe).
    public_hidden: bool = False
    # Takes turns writing the tribe's letter; receives the letter (each can opt out).
    letter_editor: bool = False
    letter_reader: bool = True


class Feed(SQLModel, table=True):
    """A member's blog feed and everything the poller remembers about it."""

    __table_args__ = (
        sa.UniqueConstraint("owner_id", "url"),
        sa.Index("ix_feed_due", "status", "next_poll_at"),
        # Claims count leased feeds (few) per host on every claim.
        sa.Index("ix_feed_lease", "lease_until", "host"),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="member.id", index=True)
    url: str = Field(max_length=2048)
    host: str = Field(max_length=255, index=True)
    title: str = Field(default="", max_length=500)
    site_url: str = Field(default="", max_length=2048)
    status: FeedStatus = Field(default=FeedStatus.ACTIVE, sa_type=_enum(FeedStatus, "feed_status"))
    # Validators, stored exactly as the server sent them.
    etag: str | None = Field(default=None, max_length=1024)
    last_modified: str | None = Field(default=None, max_length=128)
    content_hash: str | None = Field(default=None, max_length=64)
    # Scheduling and the lease that makes one poller own a poll.
    next_poll_at: datetime | None = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    lease_token: str | None = Field(default=None, max_length=36)
    # What happened last, in words the blogger can act on.
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_outcome: PollOutcome | None = Field(
        default=None, sa_type=_enum(PollOutcome, "poll_outcome")
    )
    last_http_status: int | None = None
    error_message: str | None = Field(default=None, max_length=1000)
    warning: str | None = Field(default=None, max_length=1000)
    error_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    # The owner removed it: never polled or listed again; its posts stay.
    removed_at: datetime | None = None
    # The feed's own image or icon (Atom <icon>/<logo>, RSS <image>), when it has one.
    image_url: str | None = Field(default=None, max_length=2048)


class Post(SQLModel, table=True):
    """One entry of a feed, recorded once; `announced` says whether it reached streams."""

    __table_args__ = (sa.UniqueConstraint("feed_id", "entry_key"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    entry_key: str = Field(max_length=64)
    url: str = Field(default="", max_length=2048)
    title: str = Field(default="", max_length=500)
    summary: str = Field(default="", sa_type=sa.Text)
    categories: list[str] = Field(default_factory=list, sa_type=JSON)
    published_at: datetime | None = None
    discovered_at: datetime = Field(default_factory=utcnow)
    announced: bool = False


class StreamItem(SQLModel, table=True):
    """A post waiting for one tribemate's decision."""

    __table_args__ = (
        sa.UniqueConstraint("post_id", "member_id"),
        sa.Index("ix_streamitem_inbox", "member_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    state: StreamState = Field(
        default=StreamState.PENDING, sa_type=_enum(StreamState, "stream_state")
    )
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    auto: bool = False  # approved by the member's auto-approve rule


class Preference(SQLModel, table=True):
    """What a member wants from one tribemate's posts."""

    __table_args__ = (sa.UniqueConstraint("member_id", "author_id"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    author_id: int = Field(foreign_key="member.id", index=True)
    muted: bool = False  # their posts stop reaching my stream
    auto_approve: bool = False
    auto_daily_cap: int = 3


class Account(SQLModel, table=True):
    """A member's social account and the schedule its reshares keep."""

    __table_args__ = (sa.UniqueConstraint("member_id", "network", "handle"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    network: Network = Field(sa_type=_enum(Network, "network"))
    handle: str = Field(max_length=255)
    active: bool = True
    # The instance's own limits (Mastodon), when it has told us.
    max_characters: int | None = None
    url_characters: int | None = None
    schedule_mode: ScheduleMode = Field(
        default=ScheduleMode.INTERVAL, sa_type=_enum(ScheduleMode, "schedule_mode")
    )
    slots: list[str] = Field(default_factory=list, sa_type=JSON)  # "mon 09:00", ...
    min_gap_minutes: int = 90
    window_start: str = Field(default="08:00", max_length=5)
    window_end: str = Field(default="21:00", max_length=5)
    daily_cap: int = 6
    paused: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    # Publishing.
    connection: Connection = Field(
        default=Connection.UNCONNECTED, sa_type=_enum(Connection, "connection")
    )
    connection_note: str = Field(default="", max_length=500)  # why it needs reconnecting
    connected_at: datetime | None = None
    base_url: str | None = Field(default=None, max_length=255)  # Mastodon instance, PDS
    remote_user_id: str | None = Field(default=None, max_length=255)
    credentials: str | None = Field(default=None, sa_type=sa.Text)  # encrypted (Fernet)
    # When the stored sign-in runs out unless renewed (LinkedIn's and Threads' ~60-day
    # tokens; X's 2-hour ones renew as they are used); None: it does not, or not known.
    token_expires_at: datetime | None = None
    reshare: ReshareKind = Field(
        default=ReshareKind.POST, sa_type=_enum(ReshareKind, "reshare_kind")
    )
    announce_own: bool = False  # post my own new articles through this account
    rate_limited_until: datetime | None = None


class Delivery(SQLModel, table=True):
    """One reshare of one post to one account, due at a time its schedule allows."""

    __table_args__ = (
        sa.UniqueConstraint("account_id", "post_id"),
        sa.Index("ix_delivery_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    stream_item_id: int | None = Field(default=None, foreign_key="streamitem.id")
    text: str = Field(sa_type=sa.Text)
    state: DeliveryState = Field(
        default=DeliveryState.QUEUED, sa_type=_enum(DeliveryState, "delivery_state")
    )
    due_at: datetime
    reason: str = Field(default="", max_length=300)  # why this time, or what went wrong
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Publishing.
    kind: ReshareKind = Field(default=ReshareKind.POST, sa_type=_enum(ReshareKind, "delivery_kind"))
    # Stable for the delivery's life: Mastodon's Idempotency-Key; Bluesky's record key is
    # derived from it.
    key: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=32)
    lease_until: datetime | None = None
    lease_token: str | None = Field(default=None, max_length=36)
    started_at: datetime | None = None  # this claim's network call began (committed first)
    first_started_at: datetime | None = None  # the record's creation time on the network
    attempts: int = 0
    sent_at: datetime | None = None
    dry_run: bool = False  # `sent` by a dry run: logged, never posted
    remote_id: str | None = Field(default=None, max_length=255)
    remote_url: str | None = Field(default=None, max_length=500)
    remote_cid: str | None = Field(default=None, max_length=255)
    # What a call did on the network before its answer (a Threads container, a Bluesky
    # card's image blob), kept across crashes so a retry goes on from there; JSON.
    progress: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class NetworkApp(SQLModel, table=True):
    """An OAuth app registered by tribe on one server (a Mastodon instance), kept for reuse."""

    __table_args__ = (sa.UniqueConstraint("network", "base_url"),)

    id: int | None = Field(default=None, primary_key=True)
    network: Network = Field(sa_type=_enum(Network, "network"))
    base_url: str = Field(max_length=255)
    client_id: str = Field(max_length=255)
    client_secret: str = Field(sa_type=sa.Text)  # encrypted (Fernet)
    created_at: datetime = Field(default_factory=utcnow)


class Heartbeat(SQLModel, table=True):
    """When a periodic job last ran; health checks read it."""

    name: str = Field(primary_key=True, max_length=64)
    beat_at: datetime = Field(default_factory=utcnow)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds the token; only its hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class ApiToken(SQLModel, table=True):
    """A personal API token. Shown once when made; only its hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    name: str = Field(max_length=80)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)  # the token's first characters, to tell tokens apart
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class LoginFailure(SQLModel, table=True):
    """A failed sign-in, counted per email and per address to slow down guessing."""

    __table_args__ = (sa.Index("ix_loginfailure_key_at", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300)
    at: datetime = Field(default_factory=utcnow)


class JoinRequest(SQLModel, table=True):
    """A member asking to join an open tribe; its chief accepts or refuses."""

    __table_args__ = (sa.UniqueConstraint("tribe_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tribe_id: int = Field(foreign_key="tribe.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    message: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class ReachSnapshot(SQLModel, table=True):
    """An account's followers on one day (UTC), read from its network; None when the
    network would not say (X's lower API tiers): unknown, never guessed."""

    __table_args__ = (sa.UniqueConstraint("account_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    day: date
    followers: int | None = None
    note: str = Field(default="", max_length=300)  # why it is unknown
    taken_at: datetime = Field(default_factory=utcnow)


class Mail(SQLModel, table=True):
    """One email to one address, sent exactly once: an outbox row with a unique key
    (member and period, edition and recipient, ...), claimed like a delivery."""

    __table_args__ = (sa.Index("ix_mail_due", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)  # e.g. "digest:12:2026-11-30"
    kind: str = Field(max_length=32)  # digest, nudge, reminder, letter, confirm, ...
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    # A letter's email: its edition, so an edition's emails are found by index.
    edition_id: int | None = Field(default=None, foreign_key="edition.id", index=True)
    to: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    text: str = Field(sa_type=sa.Text)
    html: str | None = Field(default=None, sa_type=sa.Text)
    headers: dict[str, str] = Field(default_factory=dict, sa_type=JSON)  # List-Unsubscribe, ...
    message_id: str = Field(max_length=200)  # fixed at creation: a resend is the same message
    state: MailState = Field(default=MailState.QUEUED, sa_type=_enum(MailState, "mail_state"))
    due_at: datetime = Field(default_factory=utcnow)
    attempts: int = 0
    lease_until: datetime | None = None
    lease_token: str | None = Field(default=None, max_length=36)
    sent_at: datetime | None = None
    reason: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class FeedIcon(SQLModel, table=True):
    """A blog's icon for the public page: fetched through the guarded transport, small,
    a raster image checked by its bytes, cached here and served by tribe itself."""

    feed_id: int = Field(foreign_key="feed.id", primary_key=True)
    source_url: str = Field(default="", max_length=2048)
    content_type: str = Field(default="", max_length=32)  # "" when there is none
    data: bytes = Field(default=b"", sa_type=sa.LargeBinary)
    etag: str = Field(default="", max_length=64)  # of `data`, for conditional GETs
    note: str = Field(default="", max_length=300)  # why there is none
    fetched_at: datetime = Field(default_factory=utcnow)


class LetterPlan(SQLModel, table=True):
    """A tribe's letter: when it goes out and who writes it (`tribe.alliance.editions`)."""

    id: int | None = Field(default=None, primary_key=True)
    tribe_id: int = Field(foreign_key="tribe.id", unique=True)
    enabled: bool = True
    cadence: LetterCadence = Field(
        default=LetterCadence.WEEKLY, sa_type=_enum(LetterCadence, "letter_cadence")
    )
    day: int = 0  # weekday (0 = Monday) or day of the month (1-28)
    hour: str = Field(default="09:00", max_length=5)  # HH:MM in the tribe's zone
    if_unsent: IfUnsent = Field(default=IfUnsent.SEND, sa_type=_enum(IfUnsent, "if_unsent"))
    # The editors' order, by member id; editors not in it follow in join order.
    editor_order: list[int] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow)


class Edition(SQLModel, table=True):
    """One issue of a tribe's letter, written by the editor of the turn."""

    __table_args__ = (
        sa.UniqueConstraint("tribe_id", "number"),
        sa.Index("ix_edition_due", "state", "deadline_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tribe_id: int = Field(foreign_key="tribe.id", index=True)
    number: int
    editor_id: int | None = Field(default=None, foreign_key="member.id")  # None: automatic
    state: EditionState = Field(
        default=EditionState.DRAFT, sa_type=_enum(EditionState, "edition_state")
    )
    since: datetime  # the tribe's posts from this time on are proposed
    deadline_at: datetime  # the plan's send time for this edition
    send_at: datetime | None = None  # when the editor scheduled it
    subject: str = Field(default="", max_length=200)
    intro: str = Field(default="", sa_type=sa.Text)
    # [{"post_id": 12, "note": "..."}], in the editor's order
    picks: list[dict[str, object]] = Field(default_factory=list, sa_type=JSON)
    # [{"url": "...", "title": "...", "note": "..."}]: outside links
    links: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)
    edited_at: datetime | None = None  # None: the draft is still the automatic selection
    automatic: bool = False  # the automatic selection went out (the editor did not send)
    # Frozen when it goes out: what the archive shows, and what every recipient gets.
    text: str = Field(default="", sa_type=sa.Text)
    html: str = Field(default="", sa_type=sa.Text)
    recipients: int = 0
    queued_all: bool = False  # every recipient's email is in the outbox
    settled: bool = False  # refusals counted against subscribers
    sent_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Subscriber(SQLModel, table=True):
    """A reader of a tribe's letter from its public page. Double opt-in; the address is
    shown to nobody but the operator (a chief sees a count)."""

    __table_args__ = (sa.UniqueConstraint("tribe_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    tribe_id: int = Field(foreign_key="tribe.id", index=True)
    email: str = Field(max_length=254)
    state: SubscriberState = Field(
        default=SubscriberState.PENDING, sa_type=_enum(SubscriberState, "subscriber_state")
    )
    created_at: datetime = Field(default_factory=utcnow)
    asked_at: datetime = Field(default_factory=utcnow)  # the latest confirmation email
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    refusals: int = 0  # permanent refusals in a row; 3 set the subscriber aside
    reason: str = Field(default="", max_length=300)


class TurnSwap(SQLModel, table=True):
    """A member asking another editor to swap turns writing the letter."""

    __table_args__ = (sa.UniqueConstraint("tribe_id", "asker_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tribe_id: int = Field(foreign_key="tribe.id", index=True)
    asker_id: int = Field(foreign_key="member.id")
    partner_id: int = Field(foreign_key="member.id")
    created_at: datetime = Field(default_factory=utcnow)
