"""What every network shares: the HTTP-status → outcome ladder, and the connect protocol.

Classifying a failed call (docs/architecture.md, "Rules that keep data right" 4). Each network's
`errors.py` reads its library's exceptions into an `ErrorAnswer` (the server answered
with an HTTP error) or a `NoAnswer` (no usable answer came back) and hands it to its
`Ladder`, which decides the outcome by one rule for every network:

    the network's own rungs first (X's 403 duplicate and error 453, Bluesky's XRPC
    error codes, Mastodon's 403/422 about the login), then
    429                 -> RateLimited, until the reset the network gave (else a fallback)
    401                 -> SignedOut (NeedsReconnect; worth one refresh where tokens renew)
    a `not_taken` 4xx   -> Transient: the server did not take the request (408)
    any other 4xx       -> Rejected, in the server's words
    5xx, `in_doubt` 4xx -> in doubt
    no connection made, an address the guard refused -> Transient
    a read timeout, a connection dropped after sending, a refused redirect, an answer
    that cannot be read -> in doubt

"In doubt" is `Unknown` when the call may have acted (a post, a boost, a repost:
`acts=True`) and `Transient` when it cannot have (a read, a sign-in step). The ladder
decides the kind; the subclass words the message, because each network speaks to the
member in its own sentences ("mastodon.social refused the post: ...").

Connecting an account. A `Connector` walks one network's sign-in in one or two steps:
`begin` either logs in at once (Bluesky's app password: `Connected`) or returns a `Step`
(the address where the member authorizes tribe, and the state to keep until they come
back); `finish` takes that state and what the member brought back (a code, a PIN, or
the whole callback address) and returns `Connected`. Connectors never touch the
database: tribe/networks/connect.py lends them the saved OAuth apps (`AppStore`) and
stores what they produce. The web app keeps a step's state in an encrypted cookie, the
CLI in memory.

Reading followers. A `FollowerCounter` (each network's `followers.py`) reads how many
follow an account, signed in as it exactly as a post is, and answers `Followers`: the
count, or None with the reason, never a guess and never an exception for what the
network said. tribe/alliance/snapshots.py keeps one reading per account and day.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

import httpx

from config import Settings
from tribe.core.errors import BlockedAddressError, InvalidInputError
from tribe.core.kinds import Network
from tribe.core.outcomes import (
    AccountContext,
    Credentials,
    NeedsReconnect,
    PublishError,
    RateLimited,
    Rejected,
    Transient,
    Unknown,
)
from tribe.infra.netguard import AddressPolicy, check_server, guard_refusal

__all__ = [
    "AppStore",
    "Connected",
    "Connector",
    "ErrorAnswer",
    "Failure",
    "Field",
    "FollowerCounter",
    "Followers",
    "Ladder",
    "NoAnswer",
    "Renewer",
    "Returns",
    "SignedOut",
    "Step",
    "address_policy",
    "callback_code",
    "check_public",
    "follower_count",
    "httpx_no_answer",
    "requests_no_answer",
]


def address_policy(settings: Settings) -> AddressPolicy:
    """Where connections to servers outside tribe may go (the same rule as for feeds)."""
    return AddressPolicy.from_settings(
        settings.TRIBE_ALLOW_PRIVATE_ADDRESSES, settings.TRIBE_ALLOWED_NETWORKS
    )


def check_public(url: str, policy: AddressPolicy, timeout: float) -> None:
    """A member-given server (a Mastodon instance, a Bluesky PDS) must be a public one.

    An early, friendly answer before any sign-in step, in the member's words
    (InvalidInputError); not the defence: every connection the libraries make goes
    through the guard, which checks again on every connection and redirect.
    """
    try:
        check_server(url, policy, timeout)
    except BlockedAddressError as refused:
        raise InvalidInputError(str(refused)) from None


# Classifying ----------------------------------------------------------------------------


class Failure(StrEnum):
    """How a call ended without an HTTP answer tribe can read."""

    NOT_SENT = "not sent"  # no connection was made: refused, no such host, TLS, timeout
    BLOCKED = "blocked"  # the guard refused the address: no connection was made
    REDIRECTED = "redirected"  # the answer was a redirect, refused (after sending)
    TIMED_OUT = "timed out"  # sent; no answer within the timeout
    DROPPED = "dropped"  # sent; the connection broke before the answer
    UNREADABLE = "unreadable"  # an answer that is not what the network sends


_NOTHING_SENT = frozenset({Failure.NOT_SENT, Failure.BLOCKED})


@dataclass(frozen=True)
class ErrorAnswer:
    """An HTTP error answer, as the ladder reads it."""

    status: int
    words: str  # the server's own words, for the member ("Text character limit ...")
    codes: tuple[str, ...] = ()  # machine-readable codes (X's 453, an XRPC error name)
    until: datetime | None = None  # a 429: when the network says the limit lifts


@dataclass(frozen=True)
class NoAnswer:
    failure: Failure
    reason: str  # a few plain words ("connection refused"), or the guard's sentence


class SignedOut(NeedsReconnect):
    """A 401: the credentials were refused. Where they can be renewed (an OAuth 2.0
    refresh token), one refresh is worth trying before asking the member."""


class Ladder:
    """HTTP status or transport failure -> outcome kind, the rule written once (above).

    A network subclasses it: `own` for the rungs only it has, the `not_taken` and
    `in_doubt` statuses where it reads them differently, and the words of each rung.
    """

    name = "the network"  # who answered, in messages
    rate_limit_fallback = timedelta(minutes=5)  # a 429 without a usable reset
    # 4xx answers that are not a refusal of this request:
    not_taken: frozenset[int] = frozenset({408})  # never taken: Transient
    in_doubt: frozenset[int] = frozenset({409})  # it may have acted: as a 5xx

    def __init__(self, *, acts: bool) -> None:
        # True when the call may change something on the network (a post, a boost).
        self.acts = acts

    def answer(self, answer: ErrorAnswer) -> PublishError:
        own = self.own(answer)
        if own is not None:
            return own
        status = answer.status
        if status == 429:
            now = datetime.now(UTC)
            until = answer.until
            if until is None or until <= now:
                until = now + self.rate_limit_fallback
            return RateLimited(self.limited(until), until)
        if status == 401:
            return SignedOut(self.signed_out(answer))
        if status in self.not_taken:
            return Transient(self.not_taken_words(answer))
        if 400 <= status < 500 and status not in self.in_doubt:
            return Rejected(self.refused(answer))
        return self.doubt(self.failed(answer))

    def no_answer(self, lost: NoAnswer) -> PublishError:
        if lost.failure in _NOTHING_SENT:
            return Transient(self.unreached(lost))
        return self.doubt(self.lost(lost))

    def doubt(self, words: str) -> PublishError:
        """Nobody can tell whether it acted: Unknown for a write, else simply Transient."""
        return Unknown(words) if self.acts else Transient(words)

    # The network's own rungs and words --------------------------------------------------

    def own(self, answer: ErrorAnswer) -> PublishError | None:
        """An outcome only this network gives (checked before the common rungs)."""
        return None

    def limited(self, until: datetime) -> str:
        return f"{self.name} limits how often tribe may post; trying again after {until:%H:%M} UTC"

    def signed_out(self, answer: ErrorAnswer) -> str:
        return f"{self.name} refused this account's sign-in ({answer.words}): connect it again"

    def not_taken_words(self, answer: ErrorAnswer) -> str:
        return f"{self.name} did not take the request in time (HTTP {answer.status})"

    def refused(self, answer: ErrorAnswer) -> str:
        return f"{self.name} refused it: {answer.words}"

    def failed(self, answer: ErrorAnswer) -> str:
        return f"{self.name} had a problem (HTTP {answer.status}: {answer.words}){self.maybe}"

    def unreached(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.BLOCKED:
            return lost.reason  # the guard's own sentence
        return f"could not reach {self.name}: {lost.reason}"

    def lost(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.REDIRECTED:
            return f"{lost.reason}{self.maybe}"
        return f"{self.name} did not answer ({lost.reason}){self.maybe}"

    @property
    def maybe(self) -> str:
        return "; the post may have gone out" if self.acts else ""


# Reading the HTTP libraries' failures (the guard speaks through their errors). ------------


def requests_no_answer(error: BaseException) -> NoAnswer:
    """How a call through requests (tweepy, Mastodon.py) got no answer; `error` is
    requests' exception or a library's error caused by it.

    requests is imported here, not by this module: the clients that use it have loaded
    it already, and a process that only polls feeds never does."""
    import requests

    refused = guard_refusal(error)
    if isinstance(refused, BlockedAddressError):
        return NoAnswer(Failure.BLOCKED, str(refused))
    if refused is not None:
        return NoAnswer(Failure.REDIRECTED, str(refused))
    cause: BaseException | None = error
    if not isinstance(error, requests.RequestException):
        cause = error.__cause__ or error.__context__
    reason = _requests_reason(cause or error)
    if _nothing_sent(cause):
        return NoAnswer(Failure.NOT_SENT, reason)
    if isinstance(cause, requests.Timeout):
        return NoAnswer(Failure.TIMED_OUT, reason)
    return NoAnswer(Failure.DROPPED, reason)


def _nothing_sent(cause: BaseException | None) -> bool:
    """True when the request cannot have reached the server (no connection was made)."""
    import requests
    import urllib3.exceptions

    not_sent = (
        requests.exceptions.ConnectTimeout,
        requests.exceptions.SSLError,  # the TLS handshake failed: the request never left
        requests.exceptions.ProxyError,
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
    )
    if isinstance(cause, not_sent):
        return True
    if isinstance(cause, requests.ConnectionError) and cause.args:
        inner = cause.args[0]
        if isinstance(inner, urllib3.exceptions.MaxRetryError):
            return isinstance(
                inner.reason,
                urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError,
            )
    return False


def _requests_reason(cause: BaseException) -> str:
    import requests
    import urllib3.exceptions

    if isinstance(cause, requests.Timeout):
        return "timed out"
    if isinstance(cause, requests.ConnectionError) and cause.args:
        inner = cause.args[0]
        if isinstance(inner, urllib3.exceptions.MaxRetryError):
            if isinstance(inner.reason, urllib3.exceptions.NameResolutionError):
                return "no such server"
            if isinstance(inner.reason, urllib3.exceptions.NewConnectionError):
                return "connection refused"
            return str(inner.reason)
        if isinstance(inner, urllib3.exceptions.ProtocolError):
            return "the connection was closed"
    return str(cause)


_HTTPX_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.LocalProtocolError,
)


def httpx_no_answer(error: httpx.HTTPError) -> NoAnswer:
    """How a call through httpx (atproto) got no answer; `reason` is the error's name."""
    refused = guard_refusal(error)
    if isinstance(refused, BlockedAddressError):
        return NoAnswer(Failure.BLOCKED, str(refused))
    if refused is not None:
        return NoAnswer(Failure.REDIRECTED, str(refused))
    reason = type(error).__name__
    if isinstance(error, _HTTPX_NOT_SENT):
        return NoAnswer(Failure.NOT_SENT, reason)
    if isinstance(error, httpx.TimeoutException):
        return NoAnswer(Failure.TIMED_OUT, reason)
    return NoAnswer(Failure.DROPPED, reason)


# Connecting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One thing the member gives before the first step: a form field on the Accounts
    page, a `--name` option of `tribe account connect` (or, `secret`, a hidden prompt)."""

    name: str
    label: str
    example: str = ""  # a placeholder; the CLI's "e.g."
    hint: str = ""  # where to find it
    default: str = ""
    required: bool = True
    secret: bool = False  # a password: never echoed, never kept
    max_length: int = 300


class Returns(StrEnum):
    """How the member's answer comes back from the network's authorize page."""

    CALLBACK = "callback"  # the network sends the browser back to tribe's callback
    PASTE = "paste"  # the network shows a code or PIN, which the member pastes


@dataclass(frozen=True)
class Step:
    """Send the member to `url` to authorize tribe; keep `state` until they are back.

    `state` holds secrets (a request token's secret, a PKCE verifier): the web app keeps
    it in an encrypted cookie, the CLI in memory; it never appears in a page or a log.
    """

    url: str
    state: dict[str, str]
    returns: Returns
    what: str  # what the member brings back when pasting: "code", "PIN"
    ask: str  # the sentence asking for it in a terminal


@dataclass(frozen=True)
class Connected:
    """What a finished flow learned about the account."""

    network: Network
    handle: str
    credentials: Credentials
    remote_user_id: str | None = None
    base_url: str | None = None
    limits: dict[str, int] = field(default_factory=dict)  # max_characters, url_characters


def callback_code(title: str, kept: Mapping[str, str], answer: str) -> str:
    """The authorization code in the address a network sent the member back to.

    Its `state` must be this attempt's (compared in constant time): in flows without
    PKCE (LinkedIn, Facebook, Threads) the state is what ties a code to the attempt, so
    a bare code is not taken. `error=` is the member declining (InvalidInputError, in
    the network's words); a fragment the network adds (`#_`, `#_=_`) is ignored.
    """
    given = answer.strip()
    if not given:
        raise InvalidInputError(f"the address {title} sent you back to is needed to finish")
    if "?" not in given:
        raise InvalidInputError(
            f"paste the whole address {title} sent you back to (it starts with https), "
            "not only its code"
        )
    query = dict(parse_qsl(urlsplit(given.split("#", 1)[0]).query))
    if "error" in query:
        why = query.get("error_description") or query.get("error_reason") or query["error"]
        raise InvalidInputError(f"{title} did not let tribe in ({why}): start again and allow it")
    expected, got = kept.get("state", ""), query.get("state", "")
    if not expected or not hmac.compare_digest(expected.encode(), got.encode()):
        raise InvalidInputError("that sign-in answer belongs to another attempt: start again")
    code = query.get("code", "").strip()
    if not code:
        raise InvalidInputError(f"the address {title} sent you back to holds no code")
    return code


class AppStore(Protocol):
    """The OAuth apps tribe registered on members' servers (one per Mastodon instance)."""

    def get(self, network: Network, base_url: str) -> dict[str, str] | None:
        """{"client_id", "client_secret"} registered there before, if any."""
        ...

    def keep(self, network: Network, base_url: str, app: dict[str, str]) -> dict[str, str]:
        """Save a new registration; returns the one kept (another's, if it came first)."""
        ...


class Connector(Protocol):
    """How a member connects an account of one network (driven by networks/connect.py).

    Every network call happens here, outside any database transaction; every error is a
    TribeError a member can act on (InvalidInputError for what they gave, a PublishError
    kind for what the network answered).
    """

    network: Network
    title: str  # "Mastodon": for pages and messages
    fields: tuple[Field, ...]  # what `begin` reads from `given`

    def begin(self, given: Mapping[str, str], apps: AppStore) -> Step | Connected:
        """Start connecting: a Step to the network's authorize page, or (a direct login)
        the connected account."""
        ...

    def finish(self, state: Mapping[str, str], answer: str, apps: AppStore) -> Connected:
        """Finish a Step with what the member brought back: the code or PIN the network
        showed, or the whole address of the callback."""
        ...


# Reading followers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Followers:
    """How many follow an account, as its network said. `count` None: unknown, `note`
    says why (never a guess). `again`: unknown for now only (the network was not reached,
    answered in doubt, or asked tribe to slow down), so worth reading again later today;
    else the network refused to say (an access level, a sign-in to renew) or tribe did not
    ask (dry run), and asking again today would get the same answer."""

    count: int | None
    note: str = ""
    again: bool = False

    @classmethod
    def unknown(cls, error: PublishError) -> Followers:
        """What a failed read leaves: the outcome's words, and whether to try again."""
        return cls(None, str(error), again=isinstance(error, Transient | Unknown | RateLimited))


# The most followers anyone has is in the hundreds of millions; the column is a 32-bit
# integer on PostgreSQL. A server that claims more is not answering honestly.
MOST_FOLLOWERS = 2**31 - 1


def follower_count(value: object) -> int | None:
    """A count as a network's answer gives it, or None when it is not one (not a whole
    number, negative, or beyond any real account and the column: a member's own server
    answers what it likes)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MOST_FOLLOWERS:
        return None
    return value


class FollowerCounter(Protocol):
    """Reads one network's accounts' followers (tribe/alliance/snapshots.py calls it)."""

    def followers(self, account: AccountContext) -> Followers:
        """The account's followers now. Whatever the network answers becomes `Followers`
        (unknown, with the reason): nothing it says makes this raise. Changed credentials
        (a refreshed token) are stored through `account.refresh`, as when posting."""
        ...


# Renewing long-lived tokens ---------------------------------------------------------------


class Renewer(Protocol):
    """Renews one network's long-lived tokens before they run out (LinkedIn's and
    Threads' last about 60 days). Credentials that run out say when in `expires_at`
    (epoch seconds); tribe/members/renewal.py asks `renew` once that is near."""

    def renew(self, account: AccountContext) -> Credentials:
        """Renew the account's token now and store it through `account.refresh` (under
        its lock: another worker may have renewed it already); returns what is stored.
        NeedsReconnect when the network will not renew it (the member must sign in
        again before `expires_at`); Transient or Unknown when it could not be asked now."""
        ...
