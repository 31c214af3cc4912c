"""Mastodon's answers as outcomes: the shared ladder (networks/base.py) plus the instance's ways.

What is Mastodon's own:

- 429 comes as MastodonRatelimitError: the limit lifts at the `X-RateLimit-Reset` of that
  answer (ISO 8601; an epoch number as GoToSocial sends is accepted too), else
  `Retry-After`, else in 5 minutes; moved onto our clock when the server's `Date` is more
  than 30 s off, and never less than 10 s away. (Mastodon.py's own `ratelimit_reset` is
  not used: it is shifted by the whole-second `Date` header, so up to a second off.)
  Mastodon.py raises that error too when it cannot parse the header, even on a 200: then
  the call may well have worked (in doubt).
- 403 about the token or the login (missing scope, login disabled, unconfirmed, pending
  approval) and 422 "This method requires an authenticated user" -> `NeedsReconnect`.
- 404 on a boost -> the post is gone (`Rejected`); 408 -> `Transient`; 409 is a refusal.
- Every kind of call is classified: `action` names it ("post", "boost", "look", "sign
  in"...); only a post or a boost may have acted.

Connecting: a refused address or a redirect is the member's to fix (InvalidInputError);
an outcome that only says "later" is `Transient`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from mastodon import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonRatelimitError,
)

from tribe.core.errors import InvalidInputError
from tribe.core.outcomes import (
    NeedsReconnect,
    PublishError,
    RateLimited,
    Rejected,
    Transient,
    Unknown,
)
from tribe.infra.netguard import guard_refusal
from tribe.networks.base import ErrorAnswer, Failure, Ladder, NoAnswer, requests_no_answer

RATE_LIMIT_FALLBACK = timedelta(minutes=5)
# Never wait less than this after a 429 (a reset already past would retry at once).
MIN_RATE_LIMIT_WAIT = timedelta(seconds=10)
# Clock differences below this are the Date header's rounding, not a wrong clock.
CLOCK_NOISE = timedelta(seconds=30)
WRITES = frozenset({"post", "boost"})

# 403/422 answers that are about the token or the login, not about this post.
_ACCOUNT_PROBLEMS = (
    "authorized scopes",
    "access token",
    "your login",
    "your account",
    "requires an authenticated user",
    "two-factor",
)


class MastodonLadder(Ladder):
    rate_limit_fallback = RATE_LIMIT_FALLBACK
    in_doubt = frozenset[int]()

    def __init__(self, host: str, action: str) -> None:
        super().__init__(acts=action in WRITES)
        self.name = host
        self.action = action

    @property
    def maybe(self) -> str:
        return f"; the {self.action} may have gone out" if self.acts else ""

    def own(self, answer: ErrorAnswer) -> PublishError | None:
        lowered = answer.words.lower()
        if answer.status in {403, 422} and any(words in lowered for words in _ACCOUNT_PROBLEMS):
            return NeedsReconnect(f"{self.name} refused the account: {answer.words}")
        if answer.status == 404 and self.action == "boost":
            return Rejected(f"{self.name} cannot find the post to boost; it may have been deleted")
        return None

    def limited(self, until: datetime) -> str:
        return (
            f"{self.name} limits how often tribe may {self.action}; waiting until {until:%H:%M} UTC"
        )

    def signed_out(self, answer: ErrorAnswer) -> str:
        return f"{self.name} no longer accepts tribe's access: {answer.words}"

    def refused(self, answer: ErrorAnswer) -> str:
        return f"{self.name} refused the {self.action}: {answer.words}"

    def failed(self, answer: ErrorAnswer) -> str:
        return f"{self.name} had a problem (HTTP {answer.status}){self.maybe}"

    def lost(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.UNREADABLE:
            return f"{self.name} gave an answer tribe does not understand{lost.reason}{self.maybe}"
        return super().lost(lost)


def classify(
    error: MastodonError,
    *,
    host: str,
    response: requests.Response | None = None,
    action: str = "post",
) -> PublishError:
    """Turn what Mastodon.py raised into the dispatcher's outcome.

    `response` is the last HTTP answer seen (Mastodon.py's errors do not carry headers);
    `action` names what was tried, for the message ("post", "boost", ...).
    """
    ladder = MastodonLadder(host, action)
    status = status_of(error, response)
    if isinstance(error, MastodonRatelimitError):
        if status is not None and status != 429:
            return ladder.doubt(f"{host} answered, but the answer could not be read: {error}")
        return ladder.answer(ErrorAnswer(429, "rate limited", until=reset_time(response)))
    if isinstance(error, MastodonNetworkError):
        return ladder.no_answer(requests_no_answer(error))
    if isinstance(error, MastodonIllegalArgumentError):
        return Rejected(f"tribe could not {action} this on {host}: {error}")
    if not isinstance(error, MastodonAPIError) or status is None or status < 400:
        # Includes a 2xx whose body Mastodon.py could not parse: it may have worked.
        code = f" (HTTP {status})" if status is not None else ""
        return ladder.no_answer(NoAnswer(Failure.UNREADABLE, code))
    return ladder.answer(ErrorAnswer(status, server_words(error)))


def status_of(error: MastodonError, response: requests.Response | None) -> int | None:
    # MastodonAPIError args: ("Mastodon API returned error", status, reason, error message)
    if len(error.args) >= 2 and isinstance(error.args[1], int):
        return error.args[1]
    if response is not None:
        return int(response.status_code)
    return None


def server_words(error: MastodonError) -> str:
    words = error.args[3] if len(error.args) >= 4 else None
    if not words and len(error.args) >= 3:
        words = error.args[2]  # the HTTP reason phrase
    text = str(words or "no reason given")
    return text.removeprefix("Validation failed: ")


def reset_time(response: requests.Response | None) -> datetime:
    """When the limit lifts: the server's `X-RateLimit-Reset`, on our clock, not too soon."""
    now = datetime.now(UTC)
    until = now + RATE_LIMIT_FALLBACK
    if response is not None:
        reset = _parse_time(response.headers.get("X-RateLimit-Reset"))
        after = (response.headers.get("Retry-After") or "").strip()
        if reset is not None:
            until = reset + _clock_skew(response, now)
        elif after.isdigit():
            until = now + timedelta(seconds=int(after))
    return max(until, now + MIN_RATE_LIMIT_WAIT)


def _parse_time(value: str | None) -> datetime | None:
    """ISO 8601 as Mastodon sends it, or epoch seconds as GoToSocial does."""
    if not value or not value.strip():
        return None
    try:
        if value.strip().isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(value.strip())
    except (ValueError, OverflowError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _clock_skew(response: requests.Response, now: datetime) -> timedelta:
    """How far our clock is ahead of the server's, when that is more than noise.

    The `Date` header only has whole seconds, so small differences are left alone
    (the reset time is then used exactly as the server wrote it).
    """
    try:
        server_now = parsedate_to_datetime(response.headers.get("Date") or "")
    except (TypeError, ValueError):
        return timedelta(0)
    if server_now.tzinfo is None:
        server_now = server_now.replace(tzinfo=UTC)
    skew = now - server_now
    return skew if abs(skew) > CLOCK_NOISE else timedelta(0)


# While connecting -----------------------------------------------------------------------


def connect_error(
    error: Exception,
    host: str,
    response: requests.Response | None,
    doing: str,
    *,
    oauth: bool = False,
) -> Exception:
    """A connect-flow failure as InvalidInputError, NeedsReconnect or Transient.

    `oauth`: the call was the token request, where 400/401 mean a bad code or app.
    """
    refused = guard_refusal(error)
    if refused is not None:  # an address or a redirect the member must fix
        return InvalidInputError(str(refused))
    if isinstance(error, MastodonIllegalArgumentError) and isinstance(
        error.__context__, MastodonError
    ):
        # log_in wraps every failure of the token request in this one error.
        return connect_error(error.__context__, host, response, doing, oauth=oauth)
    odd = _odd_answer(error, host, response, doing)
    if odd is not None:
        return odd
    assert isinstance(error, MastodonError)
    status = status_of(error, response)
    if oauth and isinstance(error, MastodonAPIError) and status in {400, 401}:
        words = _error_text(response) if response is not None else None
        return InvalidInputError(
            f"{host} did not accept the sign-in ({words or server_words(error)}); "
            "start connecting again"
        )
    return _connect_outcome(classify(error, host=host, response=response, action=doing))


def _connect_outcome(outcome: PublishError) -> Exception:
    """What a publishing outcome means while connecting (nothing is queued to retry)."""
    if isinstance(outcome, NeedsReconnect):
        return outcome
    if isinstance(outcome, Transient):
        return Transient(f"{outcome}; check the address, or try again later")
    if isinstance(outcome, Unknown | RateLimited):
        return Transient(f"{outcome}; try again later")
    return InvalidInputError(str(outcome))


def _odd_answer(
    error: Exception, host: str, response: requests.Response | None, doing: str
) -> Exception | None:
    """Failures `classify` does not know: Mastodon.py's own complaints, non-Mastodon answers."""
    if isinstance(error, MastodonIllegalArgumentError):
        return InvalidInputError(f"could not {doing} on {host}: {error}")
    if isinstance(error, MastodonAPIError) and "Granted scopes" in str(error.args[0]):
        return InvalidInputError(
            f"{host} did not grant all the permissions tribe needs; connect again and "
            "approve them all"
        )
    not_mastodon = isinstance(error, KeyError | TypeError) or (
        isinstance(error, MastodonNetworkError)
        and isinstance(error.__context__, requests.exceptions.JSONDecodeError)
    )
    if not_mastodon and response is not None:
        # create_app reads whatever comes back as JSON holding a client_id.
        code = response.status_code
        if code == 429 or code >= 500:
            return Transient(f"{host} is not answering properly (HTTP {code}); try again later")
        detail = _error_text(response) or f"it answered HTTP {code}; is it a Mastodon server?"
        return InvalidInputError(f"could not {doing} on {host}: {detail}")
    if not isinstance(error, MastodonError):
        return InvalidInputError(f"could not {doing} on {host}: {error!r}")
    return None


def _error_text(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("error"):
        return str(body.get("error_description") or body["error"])
    return None
