"""Check now: poll one feed at once because its owner (or the operator) asked.

A check is an ordinary poll, claimed the way a worker claims one: the feed's lease (a
feed a worker is polling right now is not fetched twice), the per-host lanes and the
in-flight cap, then the same fetch, parse, record and fan-out. On top of the poller's
rules a check keeps one of its own: a feed is fetched at most once a minute, judged
from the feed row's last poll, so the limit holds across web processes and counts the
workers' polls as well as other checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.core.errors import NotFoundError, TooManyAttemptsError
from tribe.core.kinds import PollOutcome
from tribe.core.polling import PollConfig
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Feed
from tribe.ingest.claims import FeedClaim, claim_due_feeds, make_due_now
from tribe.ingest.fetch import Fetcher
from tribe.ingest.poll import poll_claimed_feed
from tribe.ingest.stages import PollSummary

CHECK_EVERY = timedelta(minutes=1)  # the default of TRIBE_CHECK_EVERY (PollConfig)
BUSY_RETRY = timedelta(seconds=10)  # about one fetch: a lane of the host frees by then


class Refusal(StrEnum):
    TOO_SOON = "too_soon"  # fetched less than CHECK_EVERY ago
    POLLING = "polling"  # a poller holds the feed's lease right now
    BUSY = "busy"  # the host's lanes (or every lane) are taken


class CheckRefusedError(TooManyAttemptsError):
    """The feed cannot be checked right now; nothing was fetched. `retry_after` (seconds)
    says when to try again."""

    def __init__(self, message: str, *, reason: Refusal, retry_after: timedelta) -> None:
        super().__init__(message, retry_after=max(1, math.ceil(retry_after.total_seconds())))
        self.reason = reason


@dataclass(frozen=True)
class CheckResult:
    """What one check found, with `message` saying it in a line."""

    feed_id: int
    title: str
    outcome: PollOutcome
    new_posts: int
    announced: int
    tribemates: int  # how many tribemates each announced post reached
    baseline: bool  # the feed's first successful poll (see `decide.entries_to_announce`)
    error: str | None
    message: str
    checked_at: datetime | None
    next_poll_at: datetime | None


def refusal(
    *,
    last_polled_at: datetime | None,
    lease_until: datetime | None,
    now: datetime,
    every: timedelta = CHECK_EVERY,
) -> CheckRefusedError | None:
    """Why a feed may not be fetched now, judged from its row; None when it may."""
    if lease_until is not None and lease_until > now:
        return CheckRefusedError(
            "tribe is polling this feed right now; its result shows here in a moment",
            reason=Refusal.POLLING,
            retry_after=every,
        )
    if last_polled_at is not None and now < last_polled_at + every:
        ago = int((now - last_polled_at).total_seconds())
        when = f"{plural(ago, 'second')} ago" if ago >= 2 else "just now"
        wait = last_polled_at + every - now
        often = how_often(every)
        return CheckRefusedError(
            f"this feed was checked {when}; to spare its server, tribe checks a feed at most "
            f"{often}: try again in {plural(math.ceil(wait.total_seconds()), 'second')}",
            reason=Refusal.TOO_SOON,
            retry_after=wait,
        )
    return None


def check_now(
    *, feed_id: int, member_id: int, any_owner: bool, fetcher: Fetcher, config: PollConfig
) -> CheckResult:
    """Poll the feed now through the workers' claims and poll path; `any_owner` (the
    operator) may check anyone's feed, others only their own (NotFoundError otherwise).

    Raises CheckRefusedError, having fetched nothing, when the feed was fetched less than
    a minute ago, is being polled, or its host has no free lane.
    """
    claim, baseline = _claim(feed_id, member_id, any_owner, config)
    summary = poll_claimed_feed(claim, fetcher=fetcher, config=config)
    if summary is None:  # the lease ran out before the poll began: someone else has it
        raise CheckRefusedError(
            "tribe is polling this feed right now; its result shows here in a moment",
            reason=Refusal.POLLING,
            retry_after=config.check_every,
        )
    with read_scope() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        title, checked_at, next_poll_at = (
            feed.title or feed.url,
            feed.last_polled_at,
            feed.next_poll_at,
        )
    return CheckResult(
        feed_id=feed_id,
        title=title,
        outcome=summary.outcome,
        new_posts=summary.new_posts,
        announced=summary.announced,
        tribemates=_reach(summary),
        baseline=baseline,
        error=summary.error,
        message=describe(summary, baseline=baseline, max_age=config.max_entry_age),
        checked_at=checked_at,
        next_poll_at=next_poll_at,
    )


def _claim(
    feed_id: int, member_id: int, any_owner: bool, config: PollConfig
) -> tuple[FeedClaim, bool]:
    """Lease the feed as a worker's claim would, in one transaction: brought forward to
    due, then claimed within the host's lanes. A refused claim rolls back, so the feed's
    schedule is left as it was."""
    now = datetime.now(UTC)
    with session_scope() as session:
        feed = session.get(Feed, feed_id)
        if (
            feed is None
            or feed.removed_at is not None
            or not (any_owner or feed.owner_id == member_id)
        ):
            raise NotFoundError(f"no feed #{feed_id}" + ("" if any_owner else " of yours"))
        refused = refusal(
            last_polled_at=feed.last_polled_at,
            lease_until=feed.lease_until,
            now=now,
            every=config.check_every,
        )
        if refused is not None:
            raise refused
        baseline, host = feed.last_success_at is None, feed.host
        make_due_now(session, now=now, feed_ids=[feed_id])  # a gone feed is revived: asked for
        claims = claim_due_feeds(
            session,
            now=now,
            limit=1,
            per_host=config.per_host,
            max_in_flight=config.max_in_flight,
            lease=config.lease,
            feed_ids=[feed_id],
        )
        if not claims:
            raise _why_not_claimed(session, feed_id, host, now, config)
        return claims[0], baseline


def _why_not_claimed(
    session: Session, feed_id: int, host: str, now: datetime, config: PollConfig
) -> CheckRefusedError:
    # The claim waited for every earlier claimer: what it saw is committed by now.
    lease_until = session.exec(select(col(Feed.lease_until)).where(col(Feed.id) == feed_id)).one()
    if lease_until is not None and lease_until > now:
        refused = refusal(
            last_polled_at=None, lease_until=lease_until, now=now, every=config.check_every
        )
        assert refused is not None
        return refused
    on_host = session.exec(
        select(func.count()).where(col(Feed.host) == host, col(Feed.lease_until) > now)
    ).one()
    if on_host >= config.per_host:
        message = (
            f"tribe is already reading {plural(on_host, 'feed')} from {host}, as many at "
            "once as it politely may; try again in a few seconds"
        )
    else:
        message = "tribe is polling as many feeds as it may at once; try again in a few seconds"
    return CheckRefusedError(message, reason=Refusal.BUSY, retry_after=BUSY_RETRY)


def _reach(summary: PollSummary) -> int:
    """Tribemates each announced post reached: every post of one poll is fanned out to
    the same tribemates (one author, one transaction), so the items divide evenly."""
    return summary.stream_items // summary.announced if summary.announced else 0


def describe(summary: PollSummary, *, baseline: bool, max_age: timedelta) -> str:
    """A poll's outcome in a line, for the owner (or the operator) who asked for it."""
    if summary.outcome == PollOutcome.OK:
        return _found(summary, max_age) if not baseline else _baseline(summary, max_age)
    if summary.outcome == PollOutcome.NOT_MODIFIED:
        return "not modified since the last check"
    if summary.outcome == PollOutcome.GONE:
        return summary.error or "the server says this feed is gone; tribe stopped polling it"
    return f"could not read the feed: {summary.error}"


def _baseline(summary: PollSummary, max_age: timedelta) -> str:
    found = summary.new_posts
    if not found:
        return "the feed has no posts yet"
    if summary.announced:
        reach = _tribemates(_reach(summary))
        return f"{plural(found, 'post')} found; the newest was announced to {reach}"
    return (
        f"{plural(found, 'post')} found, none announced: the first check announces only "
        f"the newest post, and only if it was published in the last {duration_words(max_age)}"
    )


def _found(summary: PollSummary, max_age: timedelta) -> str:
    found, announced = summary.new_posts, summary.announced
    if not found:
        return "no new posts"
    text, reach = plural(found, "new post"), _tribemates(_reach(summary))
    if announced == found:
        return f"{text}, announced to {reach}"
    linkless = len(summary.without_link)
    why = (
        f"{linkless} without a web link"
        if linkless
        else f"dated more than {duration_words(max_age)} back, or republished"
    )
    if announced:
        return f"{text}: {announced} announced to {reach}, {found - announced} not ({why})"
    return f"{text}, not announced ({why})"


def _tribemates(count: int) -> str:
    if count == 0:
        return "no tribemate (none yet, or they muted this blog)"
    return plural(count, "tribemate")


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def how_often(every: timedelta) -> str:
    """The check limit as a member reads it: "once a minute", "once every 5 seconds"."""
    if every == timedelta(minutes=1):
        return "once a minute"
    return f"once every {duration_words(every)}"


def duration_words(span: timedelta) -> str:
    """A setting's duration as a member reads it: "3 days", "15 minutes", "36 hours"."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return plural(seconds // size, unit)
    return plural(seconds, "second")
