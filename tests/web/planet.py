"""A public tribe for the tests of its page and feed (tests/web/test_public*.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from tests import builders as b
from tests.web.conftest import World
from tribe.core.kinds import DeliveryState, ReshareKind
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Delivery, Feed, Membership, Post
from tribe.members.people import get_tribe


@dataclass
class Planet:
    """`world`'s Writers, public: alice, bob and carol each blog; carol hides herself."""

    world: World
    slug: str
    alice_feed: int
    bob_feed: int
    carol_feed: int

    def post(
        self,
        feed_id: int,
        title: str,
        *,
        hours_ago: float,
        summary: str = "",
        url: str | None = None,
    ) -> int:
        moment = datetime.now(UTC) - timedelta(hours=hours_ago)
        with session_scope() as s:
            post = Post(
                feed_id=feed_id,
                entry_key=f"{feed_id}-{title}",
                url=f"https://blog.example/{feed_id}/{abs(hash(title))}" if url is None else url,
                title=title,
                summary=summary,
                published_at=moment,
                discovered_at=moment,
            )
            s.add(post)
            s.flush()
            return b.pk(post)

    def tribe(self, **fields: object) -> None:
        with session_scope() as s:
            tribe = get_tribe(s, self.slug)
            for name, value in fields.items():
                setattr(tribe, name, value)


@pytest.fixture(name="planet")
def public_planet(world: World) -> Planet:
    """Import `public_planet` to have the `planet` fixture."""
    with session_scope() as s:
        tribe = get_tribe(s, world.slug)
        tribe.is_public = True
        tribe.description = "Bloggers who grow their own food"
        alice_feed = s.get(Feed, world.feed_id)
        assert alice_feed is not None
        alice_feed.title, alice_feed.site_url = "Alice grows", "https://alice.blog/"
        bob_feed = b.feed(
            s, world.bob, "https://bob.blog/feed", title="Bob digs", site_url="https://bob.blog/"
        )
        carol_feed = b.feed(
            s,
            world.carol,
            "https://carol.blog/feed",
            title="Carol hides",
            site_url="https://carol.blog/",
        )
        carol = s.exec(
            select(Membership).where(
                Membership.tribe_id == tribe.id, Membership.member_id == world.carol.id
            )
        ).one()
        carol.public_hidden = True
        return Planet(world, world.slug, world.feed_id, b.pk(bob_feed), b.pk(carol_feed))


def share(post_id: int, who: int, *, dry_run: bool = False) -> None:
    """A reshare of the post by member #`who` that went out (on their first account)."""
    now = datetime.now(UTC)
    with session_scope() as s:
        account = s.exec(select(Account).where(Account.member_id == who)).first()
        assert account is not None
        s.add(
            Delivery(
                account_id=b.pk(account),
                post_id=post_id,
                text="read this",
                state=DeliveryState.SENT,
                due_at=now,
                sent_at=now,
                kind=ReshareKind.POST,
                dry_run=dry_run,
            )
        )
