"""Members' social accounts (the records), their schedules and share templates."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.core import timefmt
from tribe.core.errors import ConflictError, InvalidInputError, NotFoundError
from tribe.core.kinds import Connection, Network, ReshareKind, ScheduleMode
from tribe.core.schedule import Schedule, Slot, normalise_slots, parse_slots, parse_time, upcoming
from tribe.core.sharetext import DEFAULT_TEMPLATES, Limit, check_template, limit_for
from tribe.infra.models import Account, Member
from tribe.members.people import check_timezone

_NAME = re.compile(r"^(?=.{1,100}$)[^\W_](?:[\w'\u2019&.,()-]| (?! ))*$")
_HANDLES = {
    Network.X: (re.compile(r"^[A-Za-z0-9_]{1,15}$"), "an X handle like @alice_writes"),
    Network.MASTODON: (
        re.compile(r"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"),
        "a Mastodon address like @alice@mastodon.social",
    ),
    Network.BLUESKY: (
        re.compile(r"^(?=.{3,253}$)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$"),
        "a Bluesky handle like alice.bsky.social",
    ),
    # LinkedIn and Facebook have no handle to mention by: the name the profile or the
    # Page shows (what connecting finds) stands for the account.
    Network.LINKEDIN: (_NAME, "a LinkedIn profile's name like Alice Writes"),
    Network.FACEBOOK: (_NAME, "a Facebook Page's name like Alice's Garden"),
    Network.THREADS: (
        re.compile(r"^[A-Za-z0-9._]{1,30}$"),
        "a Threads username like @alice.writes",
    ),
}
_SPOKEN = frozenset({Network.LINKEDIN, Network.FACEBOOK})  # no @handles: names


def check_network(name: str) -> Network:
    try:
        return Network(name.strip().lower())
    except ValueError:
        choices = ", ".join(n.value for n in Network)
        raise InvalidInputError(f"{name!r} is not a network; use one of {choices}") from None


def normalize_handle(network: Network, handle: str) -> str:
    value = handle.strip()
    value = " ".join(value.split()) if network in _SPOKEN else value.removeprefix("@")
    if network not in (Network.X, *_SPOKEN):
        value = value.lower()
    pattern, example = _HANDLES[network]
    if not pattern.match(value):
        raise InvalidInputError(f"{handle!r} is not {example}")
    return value


def mention(account: Account) -> str:
    """How a post names this account's owner: @alice, @alice@host, @alice.bsky.social;
    on LinkedIn and Facebook, where a mention is not typed text, their name."""
    if account.network in _SPOKEN:
        return account.handle
    return "@" + account.handle


@dataclass(frozen=True)
class AccountInfo:
    id: int
    network: Network
    handle: str
    active: bool
    state: str  # active, needs_reconnect, unconnected, inactive
    reshare: str  # post or repost (X's default), "+ announce" when it posts own articles
    schedule: str
    paused: bool
    note: str  # what the member should do, when anything
    rate_limited_until: datetime | None


def account_state(account: Account) -> str:
    if not account.active:
        return "inactive"
    if account.connection == Connection.CONNECTED:
        return "active"
    return account.connection.value


def _note(account: Account) -> str:
    if account.connection == Connection.NEEDS_RECONNECT:
        return (
            f"reconnect it on the Accounts page or with tribe account connect "
            f"({account.connection_note})"
        )
    if account.connection == Connection.CONNECTED and account.connection_note:
        return account.connection_note  # a warning ahead of time: the sign-in runs out
    if account.connection == Connection.UNCONNECTED:
        return (
            "not connected yet: nothing is sent until it is connected "
            "(Accounts page, or tribe account connect)"
        )
    return ""


def describe(account: Account, member: Member) -> AccountInfo:
    assert account.id is not None
    return AccountInfo(
        id=account.id,
        network=account.network,
        handle=mention(account),
        active=account.active,
        state=account_state(account),
        reshare=account.reshare.value + (" + announce" if account.announce_own else ""),
        schedule=schedule_of(account, member).describe(),
        paused=account.paused or member.queue_paused,
        note=_note(account),
        rate_limited_until=account.rate_limited_until,
    )


def own_account(session: Session, member: Member, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None or account.member_id != member.id:
        raise NotFoundError(f"{member.email} has no account #{account_id}")
    return account


def set_sharing(
    session: Session,
    *,
    member: Member,
    account_id: int,
    reshare: str | None = None,
    announce_own: bool | None = None,
) -> AccountInfo:
    """How this account reshares (post or repost), and whether it announces my own posts."""
    account = own_account(session, member, account_id)
    if reshare is not None:
        if reshare not in (ReshareKind.POST.value, ReshareKind.REPOST.value):
            raise InvalidInputError("reshare by 'post' (own words) or 'repost' (native)")
        account.reshare = ReshareKind(reshare)
    if announce_own is not None:
        account.announce_own = announce_own
    session.flush()
    return describe(account, member)


def add_account(
    session: Session,
    *,
    member: Member,
    network: str,
    handle: str,
    max_characters: int | None = None,
) -> AccountInfo:
    """Record a member's account (connecting it for real comes with publishing)."""
    net = check_network(network)
    value = normalize_handle(net, handle)
    exists = session.exec(
        select(Account).where(
            col(Account.member_id) == member.id,
            col(Account.network) == net,
            col(Account.handle) == value,
        )
    ).first()
    if exists is not None:
        raise ConflictError(f"{member.email} already has the {net.value} account @{value}")
    if max_characters is not None and max_characters < 100:
        raise InvalidInputError("--max-characters must be at least 100")
    account = Account(
        member_id=member.id,  # type: ignore[arg-type]
        network=net,
        handle=value,
        max_characters=max_characters,
        # X's automation rules forbid many accounts posting the same text through one
        # app: there, a native repost of the author's own post is the default.
        reshare=ReshareKind.REPOST if net == Network.X else ReshareKind.POST,
    )
    session.add(account)
    session.flush()
    return describe(account, member)


def list_accounts(
    session: Session, *, member: Member, limit: int | None = None, offset: int = 0
) -> list[AccountInfo]:
    """The member's accounts by id (a page of them with `limit` and `offset`)."""
    accounts = session.exec(
        select(Account)
        .where(col(Account.member_id) == member.id)
        .order_by(col(Account.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return [describe(a, member) for a in accounts]


def count_accounts(session: Session, *, member: Member) -> int:
    """How many accounts `list_accounts` lists in all."""
    return session.exec(select(func.count()).where(col(Account.member_id) == member.id)).one()


def member_accounts(session: Session, member: Member, *, active_only: bool = True) -> list[Account]:
    query = select(Account).where(col(Account.member_id) == member.id)
    if active_only:
        query = query.where(col(Account.active).is_(True))
    return list(session.exec(query.order_by(col(Account.id))).all())


def schedule_of(account: Account, member: Member) -> Schedule:
    # `account.slots` holds the member's groups as they wrote them ("mon-fri 09:00,12:30",
    # "sat 10:00"): the spec is their join.
    spec = "; ".join(account.slots)
    return Schedule(
        zone=member.timezone,
        mode=account.schedule_mode,
        slots=parse_slots(spec) if spec else (),
        min_gap=timedelta(minutes=account.min_gap_minutes),
        window_start=parse_time(account.window_start),
        window_end=parse_time(account.window_end),
        daily_cap=account.daily_cap,
        spec=spec,
    )


def limit_of(account: Account) -> Limit:
    return limit_for(
        account.network, max_characters=account.max_characters, url_cost=account.url_characters
    )


@dataclass(frozen=True)
class ScheduleChange:
    slots: str | None = None  # "mon-fri 09:00,12:30; sat 10:00"
    every: timedelta | None = None
    between: tuple[str, str] | None = None  # ("08:00", "21:00")
    daily_cap: int | None = None
    timezone: str | None = None


def _check_change(change: ScheduleChange) -> tuple[Slot, ...] | None:
    if change.slots is not None and (change.every is not None or change.between is not None):
        raise InvalidInputError("use either slots or an interval (--every/--between), not both")
    if change.daily_cap is not None and not 1 <= change.daily_cap <= 100:
        raise InvalidInputError("the daily cap must be between 1 and 100")
    if change.every is not None and not timedelta(minutes=1) <= change.every <= timedelta(days=1):
        raise InvalidInputError("--every must be between 1 minute and 24 hours")
    return parse_slots(change.slots) if change.slots is not None else None


def changed_schedule(current: Schedule, change: ScheduleChange) -> Schedule:
    """`current` with `change` applied (pure: nothing is stored)."""
    slots = _check_change(change)
    result = current
    if slots is not None:
        assert change.slots is not None
        spec = normalise_slots(change.slots)  # kept as written, not one line per day
        result = replace(result, mode=ScheduleMode.SLOTS, slots=slots, spec=spec)
    if change.every is not None or change.between is not None:
        result = replace(result, mode=ScheduleMode.INTERVAL)
    if change.every is not None:
        result = replace(result, min_gap=timedelta(minutes=change.every.total_seconds() // 60))
    if change.between is not None:
        start, end = (parse_time(t) for t in change.between)
        if start >= end:
            raise InvalidInputError("posting hours must start before they end, e.g. 08:00-21:00")
        result = replace(result, window_start=start, window_end=end)
    if change.daily_cap is not None:
        result = replace(result, daily_cap=change.daily_cap)
    if change.timezone is not None:
        result = replace(result, zone=check_timezone(change.timezone))
    return result


def set_schedule(
    session: Session, *, member: Member, change: ScheduleChange, account_id: int | None = None
) -> list[AccountInfo]:
    """Change the schedule of one account, or of every account of the member."""
    _check_change(change)
    if change.timezone is not None:
        member.timezone = check_timezone(change.timezone)
    accounts = member_accounts(session, member, active_only=False)
    if account_id is not None:
        accounts = [a for a in accounts if a.id == account_id]
        if not accounts:
            raise NotFoundError(f"{member.email} has no account #{account_id}")
    elif not accounts and (change.slots or change.every or change.between or change.daily_cap):
        raise InvalidInputError(
            f"{member.email} has no accounts yet; connect one on the Accounts page "
            "(or with tribe account connect)"
        )
    for account in accounts:
        _store(account, changed_schedule(schedule_of(account, member), change))
    session.flush()
    return [describe(a, member) for a in accounts]


def _store(account: Account, schedule: Schedule) -> None:
    account.schedule_mode = schedule.mode
    if schedule.slots:
        account.slots = schedule.slot_spec.split("; ")
    account.min_gap_minutes = int(schedule.min_gap.total_seconds() // 60)
    account.window_start = f"{schedule.window_start:%H:%M}"
    account.window_end = f"{schedule.window_end:%H:%M}"
    account.daily_cap = schedule.daily_cap


@dataclass(frozen=True)
class ScheduleView:
    """An account's schedule field by field, as a form or a script edits it."""

    account_id: int
    mode: ScheduleMode
    slots: str  # "mon-fri 09:00,12:30; sat 10:00", as written (kept in interval mode)
    every_minutes: int
    between: tuple[str, str]  # ("08:00", "21:00"), in the member's time zone
    daily_cap: int
    timezone: str
    summary: str


def schedule_view(session: Session, *, member: Member, account_id: int) -> ScheduleView:
    schedule = schedule_of(own_account(session, member, account_id), member)
    return ScheduleView(
        account_id=account_id,
        mode=schedule.mode,
        slots=schedule.slot_spec,
        every_minutes=int(schedule.min_gap.total_seconds() // 60),
        between=(f"{schedule.window_start:%H:%M}", f"{schedule.window_end:%H:%M}"),
        daily_cap=schedule.daily_cap,
        timezone=schedule.zone,
        summary=schedule.describe(),
    )


@dataclass(frozen=True)
class UpcomingTime:
    """One of the next times a schedule gives: the moment, as the member reads it, and why."""

    at: datetime
    local: str  # "Mon 30 Nov, 09:00 CET"
    reason: str

    def __str__(self) -> str:
        return f"{self.local} — {self.reason}"


def schedule_preview(
    session: Session,
    *,
    member: Member,
    account_id: int,
    change: ScheduleChange | None = None,
    now: datetime | None = None,
    count: int = 5,
) -> list[UpcomingTime]:
    """The next times an account's schedule (with `change`, unsaved) allows, in the member's
    time zone, before counting what is already queued."""
    account = own_account(session, member, account_id)
    schedule = schedule_of(account, member)
    if change is not None:
        schedule = changed_schedule(schedule, change)
    now = now or datetime.now(UTC)
    return [
        UpcomingTime(p.due_at, timefmt.moment(p.due_at, schedule.tz, now=now), p.reason)
        for p in upcoming(schedule, now=now, count=count)
        if p.due_at is not None
    ]


def template_for(member: Member, network: Network) -> str:
    return member.templates.get(network.value) or DEFAULT_TEMPLATES[network]


def set_template(session: Session, *, member: Member, network: str, template: str) -> str:
    net = check_network(network)
    stored = check_template(template)  # with plain newlines, whatever the edge sent
    member.templates = {**member.templates, net.value: stored}
    session.flush()
    return stored


def templates_of(member: Member) -> dict[str, str]:
    """The member's template per network (the default where they set none)."""
    return {n.value: template_for(member, n) for n in Network}
