"""LinkedIn's answers as outcomes: the shared ladder (networks/base.py) plus LinkedIn's own.

LinkedIn's error answers are JSON: {"status", "serviceErrorCode", "code", "message"}
(REVOKED_ACCESS_TOKEN, EXPIRED_ACCESS_TOKEN, ACCESS_DENIED, DUPLICATE_POST, ...); the
`message` is what the member reads. LinkedIn's own rungs:

- a 403 on a write: the sign-in lacks `w_member_social` (the member did not grant
  posting, or the app lost the product): connecting again is the fix;
- 426: LinkedIn no longer serves the API version tribe speaks: nothing was posted, and
  only an update of tribe helps, so the delivery waits (Transient) instead of failing;
- 429: LinkedIn's limits are daily and reset at midnight UTC ("Rate limits"); it seldom
  sends a Retry-After, so without a usable one the limit lasts until the next 00:00 UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tribe.core.errors import TribeError
from tribe.core.outcomes import NeedsReconnect, PublishError, Transient
from tribe.networks.base import ErrorAnswer, Failure, Ladder, NoAnswer, httpx_no_answer

WORDS_SHOWN = 300  # LinkedIn's validation messages can list every field: the start says enough


class LinkedInConnectError(TribeError):
    """LinkedIn could not be reached, or answered the connect flow with an error: try again."""


def next_midnight(now: datetime) -> datetime:
    """00:00 UTC after `now`: when LinkedIn's daily limits start again."""
    return datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), UTC)


def rate_limited_until(headers: Mapping[str, str], now: datetime) -> datetime:
    """A later Retry-After (seconds or an HTTP date) where LinkedIn gives one, else the
    next midnight UTC."""
    value = (headers.get("retry-after") or "").strip()
    until: datetime | None = None
    if value.isdigit():
        until = now + timedelta(seconds=int(value))
    elif value:
        try:
            until = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            until = None
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
    if until is None or until <= now:
        return next_midnight(now)
    return until


class LinkedInLadder(Ladder):
    name = "LinkedIn"
    rate_limit_fallback = timedelta(hours=1)  # only when midnight has somehow passed

    def own(self, answer: ErrorAnswer) -> PublishError | None:
        if answer.status == 403 and self.acts:
            return NeedsReconnect(
                f"LinkedIn says tribe may not post for this account ({answer.words}): "
                "connect it again and allow tribe to share on your behalf"
            )
        if answer.status == 426:
            return Transient(
                f"LinkedIn no longer serves the API version this tribe speaks ({answer.words}): "
                "the operator needs to update tribe"
            )
        return None

    def limited(self, until: datetime) -> str:
        return f"LinkedIn's daily limit is reached; trying again after {until:%Y-%m-%d %H:%M} UTC"

    def signed_out(self, answer: ErrorAnswer) -> str:
        return (
            f"LinkedIn refused this account's sign-in ({answer.words}): connect the account again"
        )

    def failed(self, answer: ErrorAnswer) -> str:
        return f"LinkedIn had a problem (HTTP {answer.status}: {answer.words}){self.maybe}"

    def lost(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.TIMED_OUT:
            return f"LinkedIn did not answer in time{self.maybe}"
        if lost.failure == Failure.UNREADABLE:
            return f"LinkedIn's answer could not be read ({lost.reason}){self.maybe}"
        return super().lost(lost)

    @property
    def maybe(self) -> str:
        return "; the post may or may not have been made" if self.acts else ""


def error_answer(response: httpx.Response) -> ErrorAnswer:
    """An error answer as the ladder reads it: LinkedIn's message and codes."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    words = str(body.get("message") or body.get("error_description") or "").strip()
    if len(words) > WORDS_SHOWN:
        words = words[: WORDS_SHOWN - 1].rstrip() + "…"
    codes = tuple(str(body[key]) for key in ("code", "serviceErrorCode", "error") if body.get(key))
    until = None
    if response.status_code == 429:
        until = rate_limited_until(response.headers, datetime.now(UTC))
    return ErrorAnswer(
        status=response.status_code,
        words=words or f"{response.status_code} {response.reason_phrase}".strip(),
        codes=codes,
        until=until,
    )


def send(
    client: httpx.Client, ladder: LinkedInLadder, method: str, url: str, **options: Any
) -> httpx.Response:
    """One request; any failure becomes the ladder's outcome (raised), a 2xx is returned."""
    try:
        response = client.request(method, url, **options)
    except httpx.HTTPError as error:
        raise ladder.no_answer(httpx_no_answer(error)) from error
    if not response.is_success:
        raise ladder.answer(error_answer(response))
    return response


def json_of(response: httpx.Response, ladder: LinkedInLadder) -> dict[str, Any]:
    """A success answer's JSON object; anything else is an answer tribe cannot read."""
    try:
        body = response.json()
    except ValueError as error:
        raise ladder.no_answer(NoAnswer(Failure.UNREADABLE, "not JSON")) from error
    if not isinstance(body, dict):
        raise ladder.no_answer(NoAnswer(Failure.UNREADABLE, "not a JSON object"))
    return body
