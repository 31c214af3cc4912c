"""What Meta's Graph APIs share (Threads at graph.threads.net, Facebook Pages at
graph.facebook.com): their error body, their rate-limit signals, and guarded httpx calls.

Errors (https://developers.facebook.com/docs/graph-api/guides/error-handling). Every
refusal is a JSON body ``{"error": {"message", "type", "code", "error_subcode",
"error_user_msg", "fbtrace_id"}}``, and the HTTP status says less than the code: an
expired token and a throttled app both come back as 400 or 403. So `GraphLadder` puts
Meta's codes on rungs above the shared ones (tribe/networks/base.py):

    190 (and 102)            the token is invalid, expired or revoked -> SignedOut
    10, 200-299              the app lacks a permission                -> NeedsReconnect
    4, 17, 32, 613,
    80001-80014              throttled (app, user, Page, business use) -> RateLimited
    1, 2                     "temporary, try again"                    -> in doubt

Rate limits (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
Most answers carry `X-App-Usage` / `X-Page-Usage` (percentages of the app's or Page's
limit in its rolling hour) and `X-Business-Use-Case-Usage` (per business, per use, with
`estimated_time_to_regain_access` in minutes). `read_usage` reads them; a throttled
answer's `ErrorAnswer.until` is the latest time any of them says access comes back,
else the ladder's fallback.

Calls. `graph_client` is httpx on tribe's guard (every connection checked, redirects
refused, the account's timeout); `graph_call` makes one call and turns every failure
into an outcome through a ladder; `connect_call` does the same for a sign-in step, whose
failures are a member's to retry (InvalidInputError) or the network's (a ConnectError).
The access token travels as the `access_token` parameter, as Meta documents it; httpx's
request log, which would print it, is kept at WARNING by the CLI and the workers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tribe.core.errors import InvalidInputError, TribeError
from tribe.core.outcomes import NeedsReconnect, PublishError, RateLimited
from tribe.infra.netguard import AddressPolicy
from tribe.infra.transports import guarded_client
from tribe.networks.base import ErrorAnswer, Failure, Ladder, NoAnswer, SignedOut, httpx_no_answer

__all__ = [
    "GRAPH_THROTTLING",
    "GraphError",
    "GraphLadder",
    "Usage",
    "connect_call",
    "error_answer",
    "expires_at",
    "graph_call",
    "graph_client",
    "graph_code",
    "graph_subcode",
    "read_json",
    "read_usage",
]

SIGNED_OUT_CODES = frozenset({102, 190})
TEMPORARY_CODES = frozenset({1, 2})
GRAPH_THROTTLING = frozenset({4, 17, 32, 613, *range(80001, 80015)})
USAGE_HEADERS = ("x-app-usage", "x-page-usage")
BUSINESS_USAGE_HEADER = "x-business-use-case-usage"
WORDS_KEPT = 300  # Meta's messages are short; a proxy's HTML error page is not


def is_permission_code(code: int | None) -> bool:
    """10 and 200-299: the app was not granted (or lost) a permission the call needs."""
    return code is not None and (code == 10 or 200 <= code <= 299)


# Reading an answer -------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphError:
    """The `error` object of a Graph refusal."""

    message: str
    type: str = ""  # "OAuthException", "GraphMethodException"
    code: int | None = None
    subcode: int | None = None
    user_message: str = ""  # `error_user_msg`: written for the person, when Meta gives one
    fbtrace_id: str = ""  # Meta's support id for this answer (for an operator's bug report)

    @classmethod
    def from_body(cls, body: object) -> GraphError | None:
        """The error a parsed body carries, or None when it is not a Graph error body."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        return cls(
            message=_text(error.get("message")),
            type=_text(error.get("type")),
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            user_message=_text(error.get("error_user_msg")),
            fbtrace_id=_text(error.get("fbtrace_id")),
        )

    @property
    def words(self) -> str:
        """What the member reads: Meta's sentence for people, else its message."""
        return (self.user_message or self.message or "no reason given")[:WORDS_KEPT]

    def codes(self) -> tuple[str, ...]:
        """As `ErrorAnswer.codes`: "code:190", "subcode:463", "type:OAuthException"."""
        named = (("code", self.code), ("subcode", self.subcode), ("type", self.type or None))
        return tuple(f"{kind}:{value}" for kind, value in named if value is not None)


def graph_code(answer: ErrorAnswer) -> int | None:
    """The Graph error code an `ErrorAnswer` from `error_answer` carries."""
    return _coded(answer.codes, "code:")


def graph_subcode(answer: ErrorAnswer) -> int | None:
    return _coded(answer.codes, "subcode:")


def _coded(codes: Iterable[str], prefix: str) -> int | None:
    for code in codes:
        if code.startswith(prefix):
            return _int(code.removeprefix(prefix))
    return None


def error_answer(response: httpx.Response, now: datetime | None = None) -> ErrorAnswer:
    """An HTTP error answer of a Graph API, with its codes and when a limit lifts."""
    now = now or datetime.now(UTC)
    try:
        body: object = response.json()
    except ValueError:
        body = None
    until = read_usage(response.headers, now).regain
    error = GraphError.from_body(body)
    if error is None:
        said = " ".join(response.text.split())[:WORDS_KEPT] or response.reason_phrase
        return ErrorAnswer(response.status_code, said, until=until)
    return ErrorAnswer(response.status_code, error.words, error.codes(), until)


def read_json(response: httpx.Response) -> dict[str, Any]:
    """A successful answer's JSON object; ValueError when it is not one."""
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


@dataclass(frozen=True)
class Usage:
    """How much of its rate limits the app has spent, as the usage headers say."""

    percent: int  # the highest share of any limit spent (0 when no header says)
    regain: datetime | None  # the latest time a throttled limit is said to lift


def read_usage(headers: Mapping[str, str], now: datetime) -> Usage:
    """`X-App-Usage`, `X-Page-Usage` ({"call_count": 28, "total_time": 25, ...}, in
    percent) and `X-Business-Use-Case-Usage` ({"<business id>": [{"type": "pages",
    "call_count": 100, ..., "estimated_time_to_regain_access": 19}]}, minutes). Headers
    that cannot be read say nothing: they are a hint, never a reason to fail a call."""
    spent: list[dict[str, Any]] = []
    for name in USAGE_HEADERS:
        value = _header_json(headers, name)
        if isinstance(value, dict):
            spent.append(value)
    business = _header_json(headers, BUSINESS_USAGE_HEADER)
    if isinstance(business, dict):
        for uses in business.values():
            spent += (
                [use for use in uses if isinstance(use, dict)] if isinstance(uses, list) else []
            )
    percent = 0
    regain: datetime | None = None
    for use in spent:
        for key in ("call_count", "total_time", "total_cputime"):
            percent = max(percent, _int(use.get(key)) or 0)
        minutes = _int(use.get("estimated_time_to_regain_access")) or 0
        if minutes > 0:
            lifts = now + timedelta(minutes=minutes)
            regain = lifts if regain is None else max(regain, lifts)
    return Usage(percent, regain)


def _header_json(headers: Mapping[str, str], name: str) -> object:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _text(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def expires_at(expires_in: object, now: float | None = None) -> int | None:
    """A token answer's `expires_in` (seconds) as epoch seconds; None when not given."""
    seconds = _int(expires_in)
    if seconds is None or seconds <= 0:
        return None
    return int(now if now is not None else time.time()) + seconds


# Classifying --------------------------------------------------------------------------------


class GraphLadder(Ladder):
    """The shared ladder with Meta's codes above it (see the module docstring). A
    network subclasses it for its `name` and, where it likes, its own words."""

    name = "Meta"
    # Platform limits are counted over a rolling hour; a throttled answer without an
    # estimate is tried again after a quarter of it rather than left for the whole hour.
    rate_limit_fallback = timedelta(minutes=15)

    def own(self, answer: ErrorAnswer) -> PublishError | None:
        code = graph_code(answer)
        if code in SIGNED_OUT_CODES:
            return SignedOut(self.token_refused(answer, graph_subcode(answer)))
        if is_permission_code(code):
            return NeedsReconnect(self.permission(answer))
        if code in GRAPH_THROTTLING:
            now = datetime.now(UTC)
            until = answer.until if answer.until and answer.until > now else None
            until = until or now + self.rate_limit_fallback
            return RateLimited(self.limited(until), until)
        if code in TEMPORARY_CODES:
            return self.doubt(self.failed(answer))
        return None

    def token_refused(self, answer: ErrorAnswer, subcode: int | None) -> str:
        """Error 190: why the sign-in no longer works, by its subcode."""
        if subcode == 463:
            return f"{self.name}'s sign-in for this account ran out: connect it again"
        if subcode == 460:
            return f"the password of this {self.name} account changed: connect it again"
        if subcode == 458:
            return f"tribe's app was removed from this {self.name} account: connect it again"
        return self.signed_out(answer)

    def permission(self, answer: ErrorAnswer) -> str:
        return (
            f"{self.name} says tribe may not do this for the account ({answer.words}): "
            "connect it again and allow every permission tribe asks for"
        )

    def limited(self, until: datetime) -> str:
        return (
            f"{self.name} limits how often tribe may call it; trying again after "
            f"{until:%Y-%m-%d %H:%M} UTC"
        )


# Calling --------------------------------------------------------------------------------------


def graph_client(policy: AddressPolicy, timeout: float) -> httpx.Client:
    """The guarded client (redirects refused, `timeout` for each phase), asking JSON."""
    return guarded_client(policy, timeout, headers={"Accept": "application/json"})


def graph_call(
    client: httpx.Client,
    ladder: Ladder,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One Graph call: its JSON object, or the outcome `ladder` reads from the failure
    (raised). An answer that is not JSON counts as lost: in doubt, like a dropped one."""
    try:
        response = client.request(method, url, params=params, data=data)
    except httpx.HTTPError as error:
        raise ladder.no_answer(httpx_no_answer(error)) from error
    if response.status_code >= 400:
        raise ladder.answer(error_answer(response))
    try:
        return read_json(response)
    except ValueError as error:
        raise ladder.no_answer(NoAnswer(Failure.UNREADABLE, str(error)[:200])) from error


def connect_call(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    network: str,
    step: str,
    unreachable: type[TribeError],
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One call of a sign-in (`step`: "exchange the code", ...) on behalf of a person
    waiting: the JSON object; InvalidInputError when `network` refused what was sent
    (a 4xx other than 429: start again), else `unreachable` (try again later)."""
    try:
        response = client.request(method, url, params=params, data=data)
    except httpx.HTTPError as error:
        why = httpx_no_answer(error).reason
        raise unreachable(f"could not reach {network} to {step} ({why}); try again") from error
    if response.status_code >= 400:
        answer = error_answer(response)
        if response.status_code < 500 and response.status_code != 429:
            raise InvalidInputError(
                f"{network} refused to {step} ({answer.words}); start connecting again"
            )
        raise unreachable(
            f"{network} could not {step} now (HTTP {answer.status}: {answer.words}); try again"
        )
    try:
        return read_json(response)
    except ValueError as error:
        raise unreachable(
            f"{network} answered {step} with something unreadable; try again"
        ) from error
