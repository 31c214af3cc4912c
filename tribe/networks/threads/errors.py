"""Threads' answers as outcomes: the Graph ladder (tribe/networks/graph.py) in Threads' words.

Threads' own rungs, from its publishing errors: a container that is not ready yet
(error 9007, subcode 2207027) was not taken, so trying again later is right (Transient);
the publishing limit (subcode 2207042: 250 posts in a moving day) is a rate limit, whose
end `publish.py` learns by reading the quota itself, so here it waits the fallback.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tribe.core.errors import TribeError
from tribe.core.outcomes import PublishError, RateLimited, Transient
from tribe.networks.base import ErrorAnswer, Failure, NoAnswer
from tribe.networks.graph import GraphLadder, graph_subcode

NOT_READY = 2207027  # "the media is not ready to be published"
PUBLISHING_LIMIT = 2207042  # "the user has reached the publishing limit"
QUOTA_FALLBACK = timedelta(hours=1)


class ThreadsConnectError(TribeError):
    """Threads could not be reached, or failed a sign-in step on its side: try again."""


class ThreadsLadder(GraphLadder):
    name = "Threads"

    def own(self, answer: ErrorAnswer) -> PublishError | None:
        subcode = graph_subcode(answer)
        if subcode == NOT_READY:
            return Transient(f"Threads is still preparing the post ({answer.words})")
        if subcode == PUBLISHING_LIMIT:
            until = datetime.now(UTC) + QUOTA_FALLBACK
            return RateLimited(self.quota_full(until), until)
        return super().own(answer)

    def quota_full(self, until: datetime) -> str:
        return (
            "this Threads account has published as many posts as Threads allows in a day; "
            f"trying again after {until:%Y-%m-%d %H:%M} UTC"
        )

    def failed(self, answer: ErrorAnswer) -> str:
        return f"Threads had a problem (HTTP {answer.status}: {answer.words}){self.maybe}"

    def lost(self, lost: NoAnswer) -> str:
        if lost.failure == Failure.TIMED_OUT:
            return f"Threads did not answer in time{self.maybe}"
        return super().lost(lost)


class RenewalLadder(ThreadsLadder):
    """Renewing a token (a read): a refusal is worded as Threads' own words only, for
    the sentence that asks the member to reconnect before the token runs out."""

    def __init__(self) -> None:
        super().__init__(acts=False)

    def token_refused(self, answer: ErrorAnswer, subcode: int | None) -> str:
        return answer.words

    def signed_out(self, answer: ErrorAnswer) -> str:
        return answer.words

    def permission(self, answer: ErrorAnswer) -> str:
        return answer.words

    def refused(self, answer: ErrorAnswer) -> str:
        return answer.words
