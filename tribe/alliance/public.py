"""A public tribe's face: its page at /t/{slug}, its planet (the members' latest posts),
its Atom feed and the OPML of its members' feeds; and the switches behind them.

A tribe is private until its chief makes it public. A private tribe is not found, in
the same words as a slug nobody has: a stranger learns nothing from its address.

What shows is chosen here, once, for every public answer: members of the tribe who are
active and have not hidden themselves (`Membership.public_hidden`), each with their
name and their blogs (the feeds they did not remove), and those blogs' posts that have
a link. Never an email, a queue, or a count the chief did not choose to show: how many
tribemates shared a post is shown only when the chief turned `Tribe.public_counts` on.

The planet is a planet: a member's posts show whether or not they were written while
they were in the tribe (a new member's blog is part of the page at once), and stop
showing as soon as they leave or hide. Summaries were sanitized when stored; they are
sanitized again where shown, and shortened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, not_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from tribe.alliance.counting import aware, sharers_per_post
from tribe.core.atom import AtomEntry, atom_feed, tag_uri
from tribe.core.errors import InvalidInputError, NotFoundError
from tribe.core.kinds import EditionState, MembershipStatus
from tribe.core.letter import LetterSchedule
from tribe.core.opml import Outline, opml_document
from tribe.core.urls import publishable
from tribe.infra.models import (
    Edition,
    Feed,
    FeedIcon,
    LetterPlan,
    Member,
    Membership,
    Post,
    Tribe,
)
from tribe.ingest.parse import plain_text, sanitize_summary
from tribe.members.people import get_tribe
from tribe.members.tribes import chief_tribe, visible_tribe

PER_PAGE = 20  # posts on a page of the planet
MAX_PAGE = 1000  # deeper pages are not offered (a reader has the feed)
FEED_ENTRIES = 30  # entries in the Atom feed
PAST_LETTERS = 5  # editions listed on the page
EXCERPT = 280  # characters of a post's summary on the page
SUMMARY_HTML = 2000  # characters of a post's summary in the feed (markup included)


@dataclass(frozen=True)
class PublicBlog:
    """One of a member's feeds, as the public sees it."""

    feed_id: int
    title: str
    site_url: str  # "" when the feed never said where its blog is
    feed_url: str
    has_icon: bool  # an icon is stored: /t/{slug}/icons/{feed_id} serves it


@dataclass(frozen=True)
class PublicMember:
    name: str
    blogs: tuple[PublicBlog, ...]

    @property
    def initial(self) -> str:
        """What stands in for an icon: the name's first letter."""
        return (self.name.strip()[:1] or "?").upper()

    @property
    def icon(self) -> PublicBlog | None:
        """The blog whose icon shows beside the name, if any has one."""
        return next((b for b in self.blogs if b.has_icon), None)


@dataclass(frozen=True)
class PastLetter:
    number: int
    subject: str
    sent_at: datetime


@dataclass(frozen=True)
class PublicTribe:
    """What anyone may read of a public tribe."""

    id: int
    slug: str
    name: str
    description: str
    created_at: datetime
    timezone: str  # the tribe's clock: its page writes dates in it
    is_open: bool  # takes join requests
    counts_shown: bool  # the chief shows how many tribemates shared each post
    letter_open: bool  # a letter readers can subscribe to
    letter_schedule: str  # "weekly on Friday at 09:00 (Europe/Paris)"
    letters: tuple[PastLetter, ...]  # the latest editions sent, newest first
    members: tuple[PublicMember, ...]


@dataclass(frozen=True)
class PublicPost:
    post_id: int
    title: str
    url: str  # the original
    author_name: str
    published: datetime  # when it was published, else when tribe found it
    discovered_at: datetime
    excerpt: str  # plain text, shortened
    summary_html: str  # sanitized, shortened
    shared_by: int | None  # tribemates who shared it; None: the chief does not show it


@dataclass(frozen=True)
class PlanetPage:
    posts: tuple[PublicPost, ...]  # newest first
    page: int
    more: bool  # an older page exists


@dataclass(frozen=True)
class PublicSwitches:
    """The "Public page" section of a tribe's page, for the member looking."""

    slug: str
    is_public: bool
    counts_shown: bool
    is_chief: bool
    hidden: bool | None  # the member's own choice; None: not a member (the operator)


# --- who and what shows -----------------------------------------------------------------


def shown_member_ids(tribe_id: int) -> SelectOfScalar[int]:
    """SQL: the ids of the members the public page shows."""
    return select(col(Membership.member_id)).where(
        col(Membership.tribe_id) == tribe_id,
        col(Membership.status) == MembershipStatus.ACTIVE,
        not_(col(Membership.public_hidden)),
    )


def public_row(session: Session, slug: str) -> Tribe:
    """The tribe if it is public; a private one is not found, in the words a slug nobody
    has gets. So is a slug with a NUL, before any query: no tribe has one, and
    PostgreSQL refuses it in a query (a stranger's `/t/%00` must not be a 500)."""
    if "\x00" in slug:
        raise NotFoundError(f"no tribe with the slug {slug!r}")
    tribe = get_tribe(session, slug)
    if not tribe.is_public:
        raise NotFoundError(f"no tribe with the slug {slug!r}")
    return tribe


def public_tribe(session: Session, slug: str) -> PublicTribe:
    """The public tribe `slug`, with the members it shows; NotFoundError unless public."""
    tribe = public_row(session, slug)
    assert tribe.id is not None
    plan = session.exec(select(LetterPlan).where(col(LetterPlan.tribe_id) == tribe.id)).first()
    letter_open = plan is not None and plan.enabled
    return PublicTribe(
        id=tribe.id,
        slug=tribe.slug,
        name=tribe.name,
        description=tribe.description,
        created_at=aware(tribe.created_at),
        timezone=tribe.timezone,
        is_open=tribe.is_open,
        counts_shown=tribe.public_counts,
        letter_open=letter_open,
        letter_schedule=(
            LetterSchedule(plan.cadence, plan.day, plan.hour, tribe.timezone).describe()
            if plan is not None and letter_open
            else ""
        ),
        letters=_past_letters(session, tribe.id),
        members=_members(session, tribe.id),
    )


def _members(session: Session, tribe_id: int) -> tuple[PublicMember, ...]:
    """The shown members by name, each with their blogs (two reads for all of them)."""
    people = session.exec(
        select(col(Member.id), col(Member.display_name))
        .where(col(Member.id).in_(shown_member_ids(tribe_id)))
        .order_by(func.lower(col(Member.display_name)), col(Member.id))
    ).all()
    rows = session.execute(
        sa_select(
            col(Feed.id),
            col(Feed.owner_id),
            col(Feed.title),
            col(Feed.site_url),
            col(Feed.url),
            col(FeedIcon.content_type),
        )
        .outerjoin(FeedIcon, col(FeedIcon.feed_id) == col(Feed.id))
        .where(col(Feed.owner_id).in_(shown_member_ids(tribe_id)), col(Feed.removed_at).is_(None))
        .order_by(col(Feed.id))
    ).all()
    blogs: dict[int, list[PublicBlog]] = defaultdict(list)
    for feed_id, owner_id, title, site_url, url, icon_type in rows:
        blogs[owner_id].append(PublicBlog(feed_id, title, site_url, url, bool(icon_type)))
    return tuple(PublicMember(name, tuple(blogs[member_id or 0])) for member_id, name in people)


def _past_letters(session: Session, tribe_id: int) -> tuple[PastLetter, ...]:
    rows = session.exec(
        select(col(Edition.number), col(Edition.subject), col(Edition.sent_at))
        .where(col(Edition.tribe_id) == tribe_id, col(Edition.state) == EditionState.SENT)
        .order_by(col(Edition.number).desc())
        .limit(PAST_LETTERS)
    ).all()
    return tuple(
        PastLetter(number, subject, aware(sent_at))
        for number, subject, sent_at in rows
        if sent_at is not None
    )


# --- the planet --------------------------------------------------------------------------


def planet(
    session: Session,
    tribe: PublicTribe,
    page: int = 1,
    per_page: int = PER_PAGE,
    *,
    now: datetime | None = None,
) -> PlanetPage:
    """A page of the shown members' posts, newest first (by publication, else by when
    tribe found them): one read for the page, one more for the share counts."""
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInputError(f"the page must be a number from 1 to {MAX_PAGE}")
    rows = _planet_rows(session, tribe.id, limit=per_page + 1, offset=(page - 1) * per_page)
    shown = rows[:per_page]
    counts = (
        sharers_per_post(session, tribe_id=tribe.id, post_ids=[r[0] for r in shown], now=now)
        if tribe.counts_shown
        else None
    )
    posts = tuple(_post(row, counts) for row in shown)
    return PlanetPage(posts=posts, page=page, more=len(rows) > per_page)


def _planet_rows(session: Session, tribe_id: int, *, limit: int, offset: int) -> Sequence[Any]:
    """The posts' columns `_post` reads, newest first, for a page."""
    when = func.coalesce(col(Post.published_at), col(Post.discovered_at))
    return session.execute(
        sa_select(
            col(Post.id),
            col(Post.title),
            col(Post.url),
            col(Post.summary),
            col(Post.published_at),
            col(Post.discovered_at),
            col(Member.display_name),
        )
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .join(Member, col(Member.id) == col(Feed.owner_id))
        .where(
            col(Feed.owner_id).in_(shown_member_ids(tribe_id)),
            col(Feed.removed_at).is_(None),
            col(Post.url) != "",
        )
        .order_by(when.desc(), col(Post.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()


def _post(row: Any, counts: dict[int, int] | None) -> PublicPost:
    post_id, title, url, summary, published_at, discovered_at, author = row
    return PublicPost(
        post_id=post_id,
        title=title,
        url=url,
        author_name=author,
        published=aware(published_at or discovered_at),
        discovered_at=aware(discovered_at),
        excerpt=excerpt(summary),
        summary_html=shortened_html(summary),
        shared_by=None if counts is None else counts.get(post_id, 0),
    )


def excerpt(summary: str, most: int = EXCERPT) -> str:
    """The summary as plain text, cut at a word near `most` characters."""
    text = plain_text(summary, limit=len(summary) + 1)
    if len(text) <= most:
        return text
    return text[:most].rsplit(" ", 1)[0] + " …"


def shortened_html(summary: str, most: int = SUMMARY_HTML) -> str:
    """The summary sanitized again (what is shown is sanitized where it is shown), cut
    at a word near `most` characters; cleaning after the cut closes what it left open."""
    clean = sanitize_summary(summary)
    if len(clean) <= most:
        return clean
    return sanitize_summary(clean[:most].rsplit(" ", 1)[0] + " …")


# --- the feed and the OPML ---------------------------------------------------------------


def page_url(base_url: str, tribe: PublicTribe) -> str:
    return f"{base_url}/t/{tribe.slug}"


def feed_url(base_url: str, tribe: PublicTribe) -> str:
    return f"{base_url}/t/{tribe.slug}/feed.xml"


def post_id_uri(base_url: str, post: PublicPost) -> str:
    """A post's Atom id: the instance's, not the tribe's, so a reader following two
    tribes sees a post once; dated the day tribe found it."""
    return tag_uri(base_url, post.discovered_at.date(), f"post/{post.post_id}")


@dataclass(frozen=True)
class FeedDocument:
    body: bytes
    updated: datetime  # the newest entry's time: the answer's Last-Modified


def planet_feed(session: Session, tribe: PublicTribe, *, base_url: str) -> FeedDocument:
    """The Atom feed of the planet's newest posts. The same posts give the same bytes."""
    posts = [
        _post(row, None) for row in _planet_rows(session, tribe.id, limit=FEED_ENTRIES, offset=0)
    ]
    # When tribe last found a post the feed shows: a post found late or back-dated
    # still moves it (Last-Modified; the ETag also catches a member who hides or leaves).
    updated = max((max(p.published, p.discovered_at) for p in posts), default=tribe.created_at)
    entries = [
        AtomEntry(
            id=post_id_uri(base_url, p),
            title=p.title,
            link=p.url,
            updated=p.published,
            published=p.published,
            author_name=p.author_name,
            summary_html=p.summary_html,
        )
        for p in posts
    ]
    body = atom_feed(
        id=tag_uri(base_url, tribe.created_at.date(), f"tribe/{tribe.slug}"),
        title=tribe.name,
        subtitle=tribe.description,
        self_url=feed_url(base_url, tribe),
        alternate_url=page_url(base_url, tribe),
        updated=updated,
        entries=entries,
    )
    return FeedDocument(body=body, updated=updated)


def members_opml(tribe: PublicTribe) -> bytes:
    """The shown members' feeds, for a reader to follow them all at once; a private
    feed, whose address carries its credential (`publishable`), stays its owner's."""
    outlines = [
        Outline(
            text=f"{member.name}: {blog.title}" if blog.title else member.name,
            xml_url=blog.feed_url,
            html_url=blog.site_url,
        )
        for member in tribe.members
        for blog in member.blogs
        if publishable(blog.feed_url)
    ]
    return opml_document(title=f"{tribe.name}: the members' blogs", outlines=outlines)


# --- the switches -------------------------------------------------------------------------


def public_switches(session: Session, *, member: Member, slug: str) -> PublicSwitches:
    """What the member sees of the tribe's public page switches (and may change)."""
    tribe, membership = visible_tribe(session, member, slug)
    return PublicSwitches(
        slug=tribe.slug,
        is_public=tribe.is_public,
        counts_shown=tribe.public_counts,
        is_chief=tribe.chief_id == member.id,
        hidden=membership.public_hidden if membership else None,
    )


def make_public(tribe: Tribe, *, public: bool) -> None:
    """Open or close the tribe's public page, feed and member list (the chief's switch;
    the operator's from the command line)."""
    tribe.is_public = public


def set_public(session: Session, *, member: Member, slug: str, public: bool) -> PublicSwitches:
    make_public(chief_tribe(session, member, slug), public=public)
    session.flush()
    return public_switches(session, member=member, slug=slug)


def set_public_counts(
    session: Session, *, member: Member, slug: str, shown: bool
) -> PublicSwitches:
    """The chief shows (or not) how many tribemates shared each post on the page."""
    chief_tribe(session, member, slug).public_counts = shown
    session.flush()
    return public_switches(session, member=member, slug=slug)


def set_hidden(session: Session, *, member: Member, slug: str, hidden: bool) -> PublicSwitches:
    """A member leaves themselves (their name, blogs and posts) off the public page; they
    stay in the tribe."""
    tribe, membership = visible_tribe(session, member, slug)
    if membership is None:
        raise NotFoundError(f"you are not a member of {tribe.slug}")
    membership.public_hidden = hidden
    session.flush()
    return public_switches(session, member=member, slug=slug)


def is_member(session: Session, tribe: PublicTribe, member_id: int) -> bool:
    """Whether the member is in the tribe (their page offers no "Request to join")."""
    found = session.exec(
        select(col(Membership.id)).where(
            col(Membership.tribe_id) == tribe.id,
            col(Membership.member_id) == member_id,
            col(Membership.status) == MembershipStatus.ACTIVE,
        )
    ).first()
    return found is not None
