"""Facebook's answers as outcomes: Meta's Graph ladder (tribe/networks/graph.py) plus
what only the Pages API says.

From the Graph ladder: error 190 (the member changed their password, removed the app,
lost their role on the Page) -> SignedOut, a NeedsReconnect: a Page token cannot be
refreshed, only made again by connecting; 10 and 200-299 (a permission the app lacks)
-> NeedsReconnect; 4, 17, 32, 613, 80001 and HTTP 429 -> RateLimited until the usage
headers' `estimated_time_to_regain_access`. Facebook's own rungs: 368 (the Page is
blocked from posting for a while for going against the Community Standards) refuses
this post for good, in Facebook's words; 506 (a duplicate of the Page's last post) is a
4xx and so Rejected by the shared ladder.
"""

from __future__ import annotations

from datetime import datetime

from tribe.core.errors import TribeError
from tribe.core.outcomes import PublishError, Rejected
from tribe.networks.base import ErrorAnswer, Failure, NoAnswer
from tribe.networks.graph import GraphLadder, graph_code

BLOCKED_CODE = 368


class FacebookConnectError(TribeError):
    """Facebook could not be reached, or could not finish a sign-in step now: try again."""


class FacebookLadder(GraphLadder):
    """A call that may post (`acts=True`) or a read, as Facebook's words put it."""

    name = "Facebook"

    def own(self, answer: ErrorAnswer) -> PublishError | None:
        if graph_code(answer) == BLOCKED_CODE:
            return Rejected(f"Facebook blocked this post from the Page: {answer.words}")
        return super().own(answer)

    def signed_out(self, answer: ErrorAnswer) -> str:
        return (
            f"Facebook no longer accepts tribe's sign-in for this Page ({answer.words}): "
            "connect it again"
        )

    def permission(self, answer: ErrorAnswer) -> str:
        return (
            f"Facebook says tribe may not do this for the Page ({answer.words}): check that "
            "your role on it can still create content, then connect it again and allow every "
            "permission tribe asks for"
        )

    def limited(self, until: datetime) -> str:
        return (
            "Facebook limits how often tribe may call for this Page; trying again after "
            f"{until:%Y-%m-%d %H:%M} UTC"
        )

    def failed(self, answer: ErrorAnswer) -> str:
        return f"Facebook had a problem (HTTP {answer.status}: {answer.words}){self.maybe}"

    def lost(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.TIMED_OUT:
            return f"Facebook did not answer in time{self.maybe}"
        return super().lost(lost)
