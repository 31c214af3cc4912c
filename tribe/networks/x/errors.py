"""X's answers as outcomes: the shared ladder (networks/base.py) plus what only X says.

X's own rungs: a 403 about the app's permissions (the "oauth1-permissions" problem type,
error 453, "oauth1 app permissions") needs the member to reconnect once the app may
write; a 403 "duplicate content" is final (X's automation rules, docs/pipeline.md,
"Reshare kinds"). X reads 408 and 409 as "it may have acted": every X call is treated
as one that may have posted (`find` turns any doubt into Unknown itself). tweepy does not
wrap requests' exceptions in `Client`: they are read here like every requests failure
(base.requests_no_answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import requests
import tweepy  # type: ignore[import-untyped]

from tribe.core.errors import InvalidInputError, TribeError
from tribe.core.outcomes import NeedsReconnect, PublishError, Rejected
from tribe.networks.base import (
    ErrorAnswer,
    Failure,
    Ladder,
    NoAnswer,
    requests_no_answer,
)

RATE_LIMIT_FALLBACK = timedelta(minutes=15)


class XConnectError(TribeError):
    """X could not be reached, or answered the connect flow with an error: try again."""


def rate_limited_until(headers: Mapping[str, str], now: datetime) -> datetime:
    """The latest reset among the limits a 429 says are spent (remaining 0 or not given):
    the 15-minute window, the user's and the app's 24-hour caps. Else now + 15 minutes."""
    resets = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        reset = _header_int(headers, f"{prefix}-reset")
        remaining = _header_int(headers, f"{prefix}-remaining")
        if reset is not None and (remaining is None or remaining <= 0):
            resets.append(datetime.fromtimestamp(reset, UTC))
    until = max(resets, default=now + RATE_LIMIT_FALLBACK)
    return until if until > now else now + RATE_LIMIT_FALLBACK


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, TypeError, ValueError):
        return None


class XLadder(Ladder):
    name = "X"
    rate_limit_fallback = RATE_LIMIT_FALLBACK
    not_taken = frozenset[int]()
    in_doubt = frozenset({408, 409})

    def own(self, answer: ErrorAnswer) -> PublishError | None:
        if answer.status != 403:
            return None
        lowered = answer.words.lower()
        if (
            "oauth1 app permissions" in lowered
            or "453" in answer.codes
            or any("oauth1-permissions" in code for code in answer.codes)
        ):
            return NeedsReconnect(
                f"X says the app may not post for this account ({answer.words}): check the "
                "app's permissions (Read and write), then connect the account again"
            )
        if "duplicate" in lowered:
            return Rejected("X refused it as a duplicate of an earlier post on this account")
        return None

    def limited(self, until: datetime) -> str:
        return f"X's rate limit is reached; trying again after {until:%Y-%m-%d %H:%M} UTC"

    def signed_out(self, answer: ErrorAnswer) -> str:
        return f"X refused this account's sign-in ({answer.words}): connect the account again"

    def failed(self, answer: ErrorAnswer) -> str:
        return f"X answered {answer.words}; the post may or may not have been made"

    def unreached(self, lost: NoAnswer) -> str:
        return f"could not connect to X: {lost.reason}"

    def lost(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.TIMED_OUT:
            return "X did not answer in time; the post may or may not have been made"
        if lost.failure == Failure.UNREADABLE:
            return f"X's answer could not be read: {lost.reason}"
        return f"the request to X failed ({lost.reason}); the post may exist"


class XReadLadder(XLadder):
    """The ladder for a read (the followers of an account): nothing can have been posted,
    so any doubt is Transient, and the words say so."""

    def __init__(self) -> None:
        super().__init__(acts=False)

    def failed(self, answer: ErrorAnswer) -> str:
        return f"X had a problem (HTTP {answer.status}: {answer.words})"

    def lost(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.TIMED_OUT:
            return "X did not answer in time"
        if lost.failure == Failure.UNREADABLE:
            return f"X's answer could not be read: {lost.reason}"
        return f"the request to X failed ({lost.reason})"


def classify(error: Exception, ladder: XLadder | None = None) -> PublishError:
    """One tweepy/requests failure as the dispatcher's outcome kind (else re-raised);
    `ladder` words it (a post's by default: `XReadLadder` for a read)."""
    if isinstance(error, PublishError):
        return error
    ladder = ladder or XLadder(acts=True)
    if isinstance(error, tweepy.HTTPException):
        return ladder.answer(error_answer(error))
    if isinstance(error, requests.RequestException):  # incl. a refused address or redirect
        return ladder.no_answer(requests_no_answer(error))
    if isinstance(error, ValueError):  # an answer that is not the JSON X sends
        return ladder.no_answer(NoAnswer(Failure.UNREADABLE, str(error)))
    raise error


def error_answer(error: tweepy.HTTPException) -> ErrorAnswer:
    response = error.response
    until = None
    if response.status_code == 429:
        until = rate_limited_until(response.headers, datetime.now(UTC))
    codes = tuple(str(code) for code in error.api_codes)
    problem = _problem_type(error)
    return ErrorAnswer(
        status=response.status_code,
        words=x_words(error),
        codes=(*codes, problem) if problem else codes,
        until=until,
    )


def x_words(error: tweepy.HTTPException) -> str:
    messages = [str(m) for m in error.api_messages if m]
    if messages:
        return "; ".join(messages)
    response = error.response
    return f"{response.status_code} {response.reason}"


def _problem_type(error: tweepy.HTTPException) -> str:
    try:
        body = error.response.json()
    except ValueError:
        return ""
    return str(body.get("type", "")) if isinstance(body, dict) else ""


def connect_error(error: BaseException, step: str) -> TribeError:
    """A failed connect step: InvalidInputError when X refused, else XConnectError."""
    while isinstance(error, tweepy.TweepyException) and error.args:
        cause = error.args[0]
        if not isinstance(cause, BaseException):
            break
        error = cause
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status != 429:
        text = (getattr(response, "text", "") or "").strip()[:200]
        return InvalidInputError(f"X refused to {step} ({status}: {text or 'no reason given'})")
    if isinstance(error, tweepy.HTTPException):
        return XConnectError(f"X could not {step} now ({x_words(error)}); try again")
    return XConnectError(f"could not reach X to {step} ({why(error)}); try again")


def why(error: BaseException) -> str:
    """The guard's plain words when it refused (an address, a redirect), else the error's."""
    if isinstance(error, requests.RequestException):
        return requests_no_answer(error).reason
    return str(error)
