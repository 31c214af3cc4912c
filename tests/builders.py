"""Builders for feed documents and database rows, so each test states only what matters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Protocol
from xml.sax.saxutils import escape

from sqlmodel import Session

from config import get_settings
from tribe.core.polling import PollConfig
from tribe.infra.db import session_scope
from tribe.infra.keys import Keyring, keyring_for
from tribe.infra.models import Feed, Member, Tribe
from tribe.ingest import fetch_config, poll_config
from tribe.ingest.claims import claim_due_feeds, make_due_now
from tribe.ingest.fetch import Fetcher
from tribe.ingest.poll import poll_claimed_feed
from tribe.ingest.stages import PollSummary
from tribe.members.people import add_member, add_to_tribe, create_tribe


@dataclass
class Item:
    title: str
    guid: str | None = None
    link: str | None = None
    published: datetime | str | None = None
    description: str = ""
    categories: list[str] = field(default_factory=list)

    def xml(self) -> str:
        parts = [f"<title>{escape(self.title)}</title>"]
        if self.link is not None:
            parts.append(f"<link>{escape(self.link)}</link>")
        if self.guid is not None:
            parts.append(f'<guid isPermaLink="false">{escape(self.guid)}</guid>')
        if isinstance(self.published, datetime):
            parts.append(f"<pubDate>{format_datetime(self.published)}</pubDate>")
        elif self.published:
            parts.append(f"<pubDate>{escape(self.published)}</pubDate>")
        if self.description:
            parts.append(f"<description>{escape(self.description)}</description>")
        parts += [f"<category>{escape(c)}</category>" for c in self.categories]
        return "<item>" + "".join(parts) + "</item>"


def ago(**kwargs: float) -> datetime:
    return datetime.now(UTC) - timedelta(**kwargs)


def rss(
    items: list[Item],
    *,
    title: str = "A blog",
    link: str = "https://blog.example/",
    ttl: int | None = None,
    encoding: str = "utf-8",
) -> bytes:
    ttl_xml = f"<ttl>{ttl}</ttl>" if ttl is not None else ""
    body = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>{ttl_xml}"
        + "".join(item.xml() for item in items)
        + "</channel></rss>"
    )
    return body.encode("utf-8")


def posts(n: int, *, prefix: str = "post", start_hours_ago: float = 100) -> list[Item]:
    """`n` items, newest first, an hour apart, the newest `start_hours_ago` old."""
    return [
        Item(
            title=f"{prefix} {n - i}",
            guid=f"{prefix}-{n - i}",
            link=f"https://blog.example/{prefix}/{n - i}",
            published=ago(hours=start_hours_ago + i),
        )
        for i in range(n)
    ]


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def pk(row: _Row) -> int:
    """A stored row's id. The models type it `int | None` (a new row has none until it
    is flushed); every builder here flushes, so tests may take it as an int."""
    assert row.id is not None, row
    return row.id


def member(session: Session, name: str, timezone: str = "UTC") -> Member:
    return add_member(
        session, email=f"{name.lower()}@example.com", display_name=name, timezone=timezone
    )


def tribe(session: Session, name: str, chief: Member, *others: Member) -> Tribe:
    created = create_tribe(session, name=name, chief=chief)
    for other in others:
        add_to_tribe(session, tribe=created, member=other)
    return created


def feed(session: Session, owner: Member, url: str, **fields: Any) -> Feed:
    from tribe.core.urls import host_of

    assert owner.id is not None
    row = Feed(owner_id=owner.id, url=url, host=host_of(url), **fields)
    session.add(row)
    session.flush()
    return row


def poll_now(feed_id: int, *, config: PollConfig | None = None) -> PollSummary:
    """Poll one feed in this process, right now, the way a worker would."""

    config = config or poll_config()
    now = datetime.now(UTC)
    with session_scope() as session:
        make_due_now(session, now=now, feed_ids=[feed_id])
        (claim,) = claim_due_feeds(
            session,
            now=now,
            limit=1,
            per_host=1,
            max_in_flight=1000,
            lease=config.lease,
            feed_ids=[feed_id],
        )
    fetcher = Fetcher(fetch_config(get_settings()))
    try:
        summary = poll_claimed_feed(claim, fetcher=fetcher, config=config)
    finally:
        fetcher.close()
    assert summary is not None
    return summary


def keys() -> Keyring:
    """The test instance's keys (TRIBE_SECRET_KEYS of the test environment)."""
    return keyring_for(get_settings())
