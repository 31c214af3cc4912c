"""Claiming due feeds: atomic, lane-limited per host, capped in flight, recovered by leases."""

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from tests import builders as b
from tribe.core.kinds import FeedStatus
from tribe.infra.db import session_scope
from tribe.infra.models import Feed
from tribe.ingest.claims import FeedClaim, claim_due_feeds, make_due_now

pytestmark = pytest.mark.usefixtures("db")
LEASE = timedelta(minutes=10)


def add_feeds(hosts: dict[str, int]) -> list[int]:
    """Feeds spread over hosts (`{"a.example": 3}`), all due now."""
    with session_scope() as s:
        owner = b.member(s, "Owner")
        return [
            b.pk(b.feed(s, owner, f"https://{host}/feed{i}.xml", next_poll_at=datetime.now(UTC)))
            for host, count in hosts.items()
            for i in range(count)
        ]


def claim(
    limit: int = 1000, per_host: int = 1000, max_in_flight: int = 1000, now: datetime | None = None
) -> list[FeedClaim]:
    with session_scope() as s:
        return claim_due_feeds(
            s,
            now=now or datetime.now(UTC),
            limit=limit,
            per_host=per_host,
            max_in_flight=max_in_flight,
            lease=LEASE,
        )


def host_counts(claims: list[FeedClaim]) -> Counter[str]:
    with session_scope() as s:
        ids = [c.feed_id for c in claims]
        return Counter(s.exec(select(Feed.host).where(col(Feed.id).in_(ids))).all())


def test_concurrent_claimers_never_claim_a_feed_twice() -> None:
    ids = add_feeds({f"host{i}.example": 5 for i in range(40)})
    results: list[list[FeedClaim]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            got = claim(limit=7)
            with lock:
                results.append(got)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [c.feed_id for batch in results for c in batch]
    assert len(claimed) == len(set(claimed))  # no feed twice
    assert sorted(claimed) == sorted(ids)  # and none forgotten


def test_at_most_per_host_feeds_of_one_host_are_in_flight() -> None:
    add_feeds({"big.example": 10, "small.example": 1, "mid.example": 3})
    first = claim(per_host=2)
    assert host_counts(first) == {"big.example": 2, "mid.example": 2, "small.example": 1}
    assert claim(per_host=2) == []  # every lane is full until a poll finishes


def test_a_finished_poll_frees_its_lane() -> None:
    add_feeds({"big.example": 5})
    first = claim(per_host=2)
    with session_scope() as s:
        feed = s.get(Feed, first[0].feed_id)
        assert feed is not None
        feed.lease_until = None
        feed.next_poll_at = datetime.now(UTC) + timedelta(minutes=15)
    (next_one,) = claim(per_host=2)
    assert next_one.feed_id not in {c.feed_id for c in first}


def test_the_in_flight_cap_holds_across_claims() -> None:
    add_feeds({f"h{i}.example": 1 for i in range(10)})
    assert len(claim(max_in_flight=4)) == 4
    assert claim(max_in_flight=4) == []
    assert len(claim(max_in_flight=6)) == 2


def test_an_expired_lease_makes_the_feed_due_again() -> None:
    (feed_id,) = add_feeds({"a.example": 1})
    (first,) = claim()
    assert claim() == []
    later = datetime.now(UTC) + LEASE + timedelta(seconds=1)
    (again,) = claim(now=later)
    assert again.feed_id == feed_id
    assert again.token != first.token


def test_feeds_not_yet_due_or_gone_are_not_claimed() -> None:
    ids = add_feeds({"a.example": 3})
    with session_scope() as s:
        future, gone = s.get(Feed, ids[0]), s.get(Feed, ids[1])
        assert future is not None
        assert gone is not None
        future.next_poll_at = datetime.now(UTC) + timedelta(minutes=5)
        gone.status = FeedStatus.GONE
    assert [c.feed_id for c in claim()] == [ids[2]]


def test_the_most_overdue_feeds_go_first() -> None:
    ids = add_feeds({f"h{i}.example": 1 for i in range(5)})
    with session_scope() as s:
        for age, feed_id in enumerate(ids):
            feed = s.get(Feed, feed_id)
            assert feed is not None
            feed.next_poll_at = datetime.now(UTC) - timedelta(minutes=age)
    assert [c.feed_id for c in claim(limit=2)] == sorted(ids[-2:])


def test_naming_a_gone_feed_revives_it() -> None:
    (feed_id,) = add_feeds({"a.example": 1})
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        feed.status, feed.next_poll_at = FeedStatus.GONE, None
    with session_scope() as s:
        assert make_due_now(s, now=datetime.now(UTC), feed_ids=None) == 0
        assert make_due_now(s, now=datetime.now(UTC), feed_ids=[feed_id]) == 1
    assert [c.feed_id for c in claim()] == [feed_id]
