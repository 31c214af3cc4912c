"""The named states and kinds the whole app speaks of (stored as strings in the tables)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CHIEF = "chief"
    MEMBER = "member"


class MembershipStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    LEFT = "left"


class FeedStatus(StrEnum):
    ACTIVE = "active"  # polled on schedule
    GONE = "gone"  # the server answered 410: polling stopped, the owner is told


class PollOutcome(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"
    GONE = "gone"


class Network(StrEnum):
    X = "x"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    LINKEDIN = "linkedin"
    FACEBOOK = "facebook"  # a Facebook Page: profiles cannot be posted to through the API
    THREADS = "threads"


class ScheduleMode(StrEnum):
    SLOTS = "slots"
    INTERVAL = "interval"


class DeliveryState(StrEnum):
    QUEUED = "queued"  # waiting for its due time
    SENDING = "sending"  # claimed by a publisher
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"  # sent, but the network's answer was lost
    FAILED = "failed"
    HELD = "held"  # the account needs reconnecting
    CANCELLED = "cancelled"


class ReshareKind(StrEnum):
    POST = "post"  # the member's own text (template or edit) with the link
    REPOST = "repost"  # the network's native reshare of the author's own post
    ANNOUNCE = "announce"  # the author's own post of their new article


class Connection(StrEnum):
    UNCONNECTED = "unconnected"  # a record only: nothing is sent for it (dry run excepted)
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"  # the network refused its credentials


class StreamState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SKIPPED = "skipped"
    EXPIRED = "expired"
    # The member and the author no longer share an active tribe (one left or was
    # removed): the item is kept, but it can never be approved, even after a re-join.
    WITHDRAWN = "withdrawn"


class DigestMode(StrEnum):
    DAILY = "daily"  # at the member's chosen local hour
    WEEKLY = "weekly"  # on a weekday, at an hour
    OFF = "off"


class MailState(StrEnum):
    QUEUED = "queued"  # waiting for its due time
    SENDING = "sending"  # claimed: the message is being handed over
    HANDED = "handed"  # the server has the whole message; its answer not read yet
    SENT = "sent"
    FAILED = "failed"  # refused for good (or out of tries): the reason is kept


class LetterCadence(StrEnum):
    WEEKLY = "weekly"  # on a weekday (0 = Monday)
    MONTHLY = "monthly"  # on a day of the month (1-28, so every month has it)


class IfUnsent(StrEnum):
    """What happens at the deadline when the editor of the turn has not sent."""

    SEND = "send"  # the automatic selection goes out
    SKIP = "skip"  # no edition this time


class EditionState(StrEnum):
    DRAFT = "draft"  # the editor of the turn is writing it
    SCHEDULED = "scheduled"  # the editor chose when it goes out
    SENDING = "sending"  # its emails are being queued and sent
    SENT = "sent"  # every recipient's email is in the outbox
    SKIPPED = "skipped"  # the deadline passed with no edition, by the tribe's choice


class SubscriberState(StrEnum):
    PENDING = "pending"  # waiting for the click in the confirmation email
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    SET_ASIDE = "set_aside"  # their server refused the letter 3 times in a row
