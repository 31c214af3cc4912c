"""Bluesky's answers as outcomes: the shared ladder (networks/base.py) plus XRPC's error names.

What is Bluesky's own: an XRPC answer names its error (`ExpiredToken`, `AccountTakedown`,
`AuthFactorTokenRequired`...), and which step was running matters ("login", "refresh",
"write", "read"): a 4xx refuses the post only on a write; on a login or a refresh it
means the member must sign in again, on a read it proves nothing. A server that does not
serve the XRPC method (404, 501) is not the account's PDS. 413 is a post too large.
atproto raises `RateLimitExceededError` for a 429 (its `reset_at` from `ratelimit-reset`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast
from urllib.parse import urlsplit

import httpx
import pydantic
from atproto_client.exceptions import (  # type: ignore[import-untyped]
    RateLimitExceededError,
    RequestErrorBase,
)
from atproto_core.exceptions import AtProtocolError  # type: ignore[import-untyped]

from tribe.core.outcomes import NeedsReconnect, PublishError, Rejected, Unknown
from tribe.networks.base import ErrorAnswer, Failure, Ladder, NoAnswer, httpx_no_answer

Step = Literal["login", "refresh", "write", "read"]

TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
_ACCOUNT_ERRORS = frozenset(
    {
        "AuthenticationRequired",
        "AuthMissing",
        "AuthFactorTokenRequired",
        "AccountTakedown",
        "AccountDeactivated",
        "RepoTakendown",
        "RepoDeactivated",
        "RepoSuspended",
    }
)
_NOT_SERVED = frozenset({"MethodNotImplemented", "XRPCNotSupported"})
# Everything a call through the SDK raises for a failed call (not for a bug of ours).
CALL_ERRORS = (AtProtocolError, httpx.HTTPError, httpx.InvalidURL, pydantic.ValidationError)


def xrpc_error(error: BaseException) -> tuple[str | None, str | None]:
    """(error, message) of an XRPC error answer; (None, None) when there is none."""
    if not isinstance(error, RequestErrorBase) or error.response is None:
        return None, None
    content = error.response.content
    code = getattr(content, "error", None)
    message = getattr(content, "message", None)
    if isinstance(content, dict):
        code, message = content.get("error"), content.get("message")
    return (str(code) if code else None), (str(message) if message else None)


class BlueskyLadder(Ladder):
    """One step of one account's calls, and how its failures read."""

    name = "Bluesky"
    not_taken = frozenset[int]()

    def __init__(self, step: Step, who: str, server: str, timeout: float) -> None:
        super().__init__(acts=step == "write")
        self.step = step
        self.who = who  # the handle, for messages
        self.server = server
        self.timeout = timeout

    @property
    def host(self) -> str:
        return urlsplit(self.server).netloc or self.server

    def classify(self, error: Exception) -> PublishError:
        """Turn an SDK/httpx failure into the outcome the dispatcher acts on."""
        if isinstance(error, RateLimitExceededError):
            until = cast("datetime | None", error.reset_at)
            return self.answer(ErrorAnswer(429, "rate limited", until=until))
        if isinstance(error, RequestErrorBase) and error.response is not None:
            code, message = xrpc_error(error)
            status = int(error.response.status_code)
            said = message or code or f"HTTP {status}"
            return self.answer(ErrorAnswer(status, said, codes=(code,) if code else ()))
        if isinstance(error, httpx.InvalidURL | httpx.UnsupportedProtocol):
            return NeedsReconnect(
                f"tribe cannot use {self.server!r} as the Bluesky server of @{self.who}; "
                "connect the account again"
            )
        cause = error if isinstance(error, httpx.HTTPError) else error.__cause__
        if isinstance(error, RequestErrorBase | httpx.HTTPError) and isinstance(
            cause, httpx.HTTPError
        ):
            return self.no_answer(httpx_no_answer(cause))
        # An answer the SDK could not read (a proxy's page, a broken PDS).
        return self.no_answer(NoAnswer(Failure.UNREADABLE, str(error)))

    def own(self, answer: ErrorAnswer) -> PublishError | None:
        return self._account_problem(answer) or self._no_refusal(answer)

    def _account_problem(self, answer: ErrorAnswer) -> PublishError | None:
        """The account's credentials or server are the problem: the member must act."""
        status, code, said = answer.status, (answer.codes or (None,))[0], answer.words
        who = f"@{self.who}"
        if self.step == "login" and (status == 401 or code == "AuthenticationRequired"):
            return NeedsReconnect(
                f"Bluesky refused the handle or app password for {who} ({said}); check both "
                "(an app password looks like xxxx-xxxx-xxxx-xxxx)"
            )
        if code == "AuthFactorTokenRequired":
            return NeedsReconnect(
                f"Bluesky wants an e-mail code for {who}, which happens with the main "
                "password: create an app password (Settings > Privacy and security > "
                "App passwords) and connect with that"
            )
        if status == 403 or code in _ACCOUNT_ERRORS or code in TOKEN_ERRORS:
            return NeedsReconnect(self.signed_out(answer))
        if status != 401 and (status in {404, 501} or code in _NOT_SERVED):
            return NeedsReconnect(
                f"{self.host} does not answer as a Bluesky server for {who} ({said}); "
                "check the account's server and connect again"
            )
        return None  # a plain 401 takes the common rung (the same words)

    def _no_refusal(self, answer: ErrorAnswer) -> PublishError | None:
        """A 4xx refuses the post only on a write: on a read it proves nothing, on a
        login or a refresh the member must sign in again."""
        status = answer.status
        if not (400 <= status < 500) or status in {401, 409, 429}:
            return None
        if self.step == "read":
            return Unknown(f"Bluesky answered {answer.words}")
        if self.step != "write":
            return NeedsReconnect(
                f"Bluesky refused to sign in @{self.who} ({answer.words}); "
                "connect the account again"
            )
        if status == 413:
            return Rejected("Bluesky refused the post as too large")
        return None

    def limited(self, until: datetime) -> str:
        return (
            f"Bluesky asks tribe to slow down for @{self.who}; "
            f"it will try again after {until:%Y-%m-%d %H:%M} UTC"
        )

    def signed_out(self, answer: ErrorAnswer) -> str:
        return (
            f"Bluesky no longer accepts tribe's session for @{self.who} ({answer.words}); "
            "connect the account again with an app password"
        )

    def refused(self, answer: ErrorAnswer) -> str:
        return f"Bluesky refused the post: {answer.words}"

    def failed(self, answer: ErrorAnswer) -> str:
        said = f"HTTP {answer.status}: {answer.words}"
        if self.acts:
            return (
                f"Bluesky answered with an error ({said}) after receiving the post; "
                "it may have gone out"
            )
        return f"Bluesky is having trouble ({said})"

    def unreached(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.BLOCKED:
            return lost.reason
        return f"could not reach Bluesky at {self.host} ({lost.reason})"

    def lost(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.TIMED_OUT:
            return f"Bluesky did not answer within {self.timeout:g} s{self.maybe}"
        if lost.failure == Failure.DROPPED:
            if self.acts:
                return (
                    f"the connection to Bluesky broke after the post was sent ({lost.reason}); "
                    "it may have gone out"
                )
            return f"the connection to Bluesky broke ({lost.reason})"
        if lost.failure == Failure.UNREADABLE:
            return f"Bluesky's answer for @{self.who} could not be read ({lost.reason}){self.maybe}"
        return super().lost(lost)  # a refused redirect: the guard's words
