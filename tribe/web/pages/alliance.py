"""Who shares whom: a tribe's numbers for its members (the heat map of sharers and
authors, each member's given and received, the trend), and "Who shared my posts" for
an author. Server-rendered SVG with every number printed, no script; counts only,
never anyone's queue texts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from tribe.alliance.counting import DEFAULT_DAYS, WINDOWS, Tally
from tribe.alliance.reciprocity import (
    Person,
    TrendPoint,
    TribeReciprocity,
    bucket_days,
    reciprocity_for,
)
from tribe.alliance.shared import count_shared_posts, shared_posts, shared_totals
from tribe.infra.db import read_scope
from tribe.web import charts
from tribe.web.deps import PageViewer, me, render

router = APIRouter()

PAGE = 20  # posts per page of "Who shared my posts"
Days = Annotated[int, Query(description="the window: the days before now (1 to 365)")]


@router.get("/tribes/{slug}/reciprocity")
def tribe_reciprocity_page(
    request: Request, viewer: PageViewer, slug: str, days: Days = DEFAULT_DAYS
) -> Response:
    with read_scope() as session:
        numbers = reciprocity_for(session, member=me(session, viewer), slug=slug, days=days)
    step = bucket_days(days)
    return render(
        request,
        "reciprocity.html",
        numbers=numbers,
        windows=WINDOWS,
        heat=heat_map(numbers),
        bars=balance(numbers),
        sent_chart=charts.columns(
            [(_day(p.start), p.sent, _span(p, f"{p.sent} sent")) for p in numbers.trend]
        ),
        reach_chart=charts.columns(
            [(_day(p.start), p.reach, _span(p, f"{p.reach:,} reached")) for p in numbers.trend]
        ),
        per={1: "day", 7: "week"}.get(step, f"{step} days"),
    )


@router.get("/shared")
def shared_page(
    request: Request,
    viewer: PageViewer,
    days: Days = DEFAULT_DAYS,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    now = datetime.now(UTC)  # one window for the page, its count and its totals
    with read_scope() as session:
        member = me(session, viewer)
        posts = shared_posts(
            session, author=member, days=days, now=now, limit=PAGE, offset=(page - 1) * PAGE
        )
        count = count_shared_posts(session, author=member, days=days, now=now)
        totals = shared_totals(session, author=member, days=days, now=now)
    return render(
        request,
        "shared.html",
        posts=posts,
        count=count,
        totals=totals,
        days=days,
        windows=WINDOWS,
        page=page,
        more=page * PAGE < count,
    )


def _day(day: date) -> str:
    return f"{day.day} {day:%b}"


def _span(point: TrendPoint, what: str) -> str:
    """A trend point's hover title: "3 Mar to 9 Mar: 5 sent"."""
    if point.days == 1:
        return f"{_day(point.start)}: {what}"
    last = point.start + timedelta(days=point.days - 1)
    return f"{_day(point.start)} to {_day(last)}: {what}"


def _name(person: Person) -> str:
    return f"{person.name} (left)" if person.left else person.name


def describe(sharer: Person, author: Person, tally: Tally) -> str:
    """A cell's hover title: every number of the pair, in words."""
    words = [f"{tally.sent} sent"]
    if tally.sent:
        reach = f"reaching {tally.reach:,} followers"
        if tally.reach_unknown:
            reach += f" ({tally.reach_unknown} of unknown reach)"
        words.append(reach)
    words += [f"{tally.pending} pending", f"{tally.skipped} skipped", f"{tally.expired} expired"]
    if tally.dry_run:
        words.append(f"{tally.dry_run} dry run{'s' * (tally.dry_run != 1)} (not posted)")
    return f"{sharer.name} shared {author.name}'s posts: " + ", ".join(words)


def heat_map(numbers: TribeReciprocity) -> charts.HeatMap:
    """Rows: who shared; columns: whose posts; each cell the reshares sent."""
    entries = [
        [
            charts.Entry(None, f"{sharer.name} (their own posts are not counted)")
            if sharer.member_id == author.member_id
            else _entry(sharer, author, numbers.pair(sharer.member_id, author.member_id))
            for author in numbers.people
        ]
        for sharer in numbers.people
    ]
    return charts.heatmap([_name(p) for p in numbers.people], entries)


def _entry(sharer: Person, author: Person, tally: Tally) -> charts.Entry:
    note = f"+{tally.dry_run} dry" if tally.dry_run else ""
    return charts.Entry(tally.sent, describe(sharer, author, tally), note)


def balance(numbers: TribeReciprocity) -> list[tuple[float, float]]:
    """Each member's given and received bar (in `people` order), on one scale."""
    members = numbers.members
    lengths = charts.bar_lengths(
        [m.given.sent for m in members] + [m.received.sent for m in members]
    )
    return list(zip(lengths[: len(members)], lengths[len(members) :], strict=True))
