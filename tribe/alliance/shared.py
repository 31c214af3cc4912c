"""Who shared my posts: the author's own view of what the tribe did with their posts.

Each of the author's posts that reached tribemates in the window, with every reshare of
it (who, on which network and account, when, a link to it) and the reach it got. The
counting rules are reciprocity's (`tribe.alliance.reciprocity`): sent reshares only,
dry runs apart and without reach, reach as the sharer's followers on the day.

Unlike a tribe's numbers, this view is not bounded by tribe or membership: these are the
author's own posts, and every reshare of them shows whichever tribe it came through (once,
even when sharer and author share several tribes). Of the sharer it shows who they are
and the account the reshare went out on, nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from tribe.alliance.counting import DEFAULT_DAYS, Tally, aware, reshares_of, sent_reshares, window
from tribe.core import timefmt
from tribe.core.kinds import Network, ReshareKind
from tribe.infra.models import Feed, Member, Post, StreamItem


@dataclass(frozen=True)
class SharedBy:
    """One reshare of the author's post, as the author sees it."""

    delivery_id: int
    sharer_id: int
    sharer_name: str
    network: Network
    handle: str
    kind: ReshareKind  # post or repost
    sent_at: datetime
    sent_local: str  # in the author's time zone
    dry_run: bool
    remote_url: str | None  # the reshare on its network (never for a dry run)
    followers: int | None  # None: unknown, or a dry run (which reached nobody)


@dataclass(frozen=True)
class SharedPost:
    """One of the author's posts and the reshares it got."""

    post_id: int
    title: str
    url: str
    published_at: datetime | None
    discovered_at: datetime
    reshares: list[SharedBy]  # sent and dry-run, oldest first

    @property
    def sent(self) -> int:
        return sum(1 for r in self.reshares if not r.dry_run)

    @property
    def dry_run(self) -> int:
        return sum(1 for r in self.reshares if r.dry_run)

    @property
    def reach(self) -> int:
        return sum(r.followers or 0 for r in self.reshares if not r.dry_run)

    @property
    def reach_unknown(self) -> int:
        return sum(1 for r in self.reshares if not r.dry_run and r.followers is None)


def _offered() -> ColumnElement[bool]:
    """SQL: the post reached tribemates (announced, or in someone's stream). A new feed's
    first poll records what is already there without announcing it: those posts were
    never anyone's to share."""
    in_a_stream = exists().where(col(StreamItem.post_id) == col(Post.id))
    return or_(col(Post.announced), in_a_stream)


def _my_posts(author: Member, since: datetime, until: datetime) -> SelectOfScalar[Post]:
    return (
        select(Post)
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .where(
            col(Feed.owner_id) == author.id,
            col(Post.discovered_at) >= since,
            col(Post.discovered_at) < until,
            _offered(),
        )
    )


def shared_posts(
    session: Session,
    *,
    author: Member,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[SharedPost]:
    """The author's posts that reached tribemates in the window, newest first, each with
    who shared it, where and when (a page of them with `limit` and `offset`)."""
    since, until = window(days, now)
    posts = session.exec(
        _my_posts(author, since, until)
        .order_by(col(Post.discovered_at).desc(), col(Post.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    reshares = sent_reshares(
        session,
        since=since,
        until=until,
        author_ids=[author.id or 0],
        post_ids=[p.id or 0 for p in posts],
    )
    names = dict(
        session.exec(
            select(col(Member.id), col(Member.display_name)).where(
                col(Member.id).in_({r.sharer_id for r in reshares})
            )
        ).all()
    )
    by_post: dict[int, list[SharedBy]] = defaultdict(list)
    for r in reshares:
        by_post[r.post_id].append(
            SharedBy(
                delivery_id=r.delivery_id,
                sharer_id=r.sharer_id,
                sharer_name=names.get(r.sharer_id, ""),
                network=r.network,
                handle=r.handle,
                kind=r.kind,
                sent_at=r.sent_at,
                sent_local=timefmt.moment(r.sent_at, author.timezone, now=until),
                dry_run=r.dry_run,
                remote_url=None if r.dry_run else r.remote_url,
                followers=r.followers,
            )
        )
    return [
        SharedPost(
            post_id=p.id or 0,
            title=p.title,
            url=p.url,
            published_at=aware(p.published_at) if p.published_at else None,
            discovered_at=aware(p.discovered_at),
            reshares=by_post.get(p.id or 0, []),
        )
        for p in posts
    ]


def count_shared_posts(
    session: Session, *, author: Member, days: int = DEFAULT_DAYS, now: datetime | None = None
) -> int:
    """How many posts `shared_posts` lists in all."""
    since, until = window(days, now)
    found = _my_posts(author, since, until).subquery()
    return int(session.exec(select(func.count()).select_from(found)).one())


def shared_totals(
    session: Session, *, author: Member, days: int = DEFAULT_DAYS, now: datetime | None = None
) -> Tally:
    """Every reshare of the author's posts that went out in the window, and the reach
    it brought (sent, dry runs and reach only: the decisions are the tribe view's)."""
    since, until = window(days, now)
    return reshares_of(session, author_id=author.id or 0, since=since, until=until)
