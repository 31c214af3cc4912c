"""Editing schedules (with a preview of the next times) and templates (with a live preview)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import select

from tests.builders import pk
from tests.web.conftest import World, csrf, post_form, sign_in
from tribe.core.kinds import ScheduleMode
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Member
from tribe.members.accounts import ScheduleChange, schedule_preview
from tribe.members.people import get_member


def bobs_x(world: World) -> Account:
    with session_scope() as s:
        account = s.exec(
            select(Account).where(Account.member_id == world.bob.id, Account.network == "x")
        ).one()
        s.expunge(account)
        return account


def test_the_schedule_page_previews_a_change_without_saving_it(
    app: TestClient, world: World
) -> None:
    account = bobs_x(world)
    sign_in(app, world.bob.email)
    page = app.get("/schedule").text
    assert "The next times" in page
    fields = {"mode": "slots", "slots": "mon-sun 07:15", "cap": "3"}
    preview = post_form(
        app, f"/schedule/{account.id}", {**fields, "action": "preview"}, page="/schedule"
    )
    assert preview.status_code == 200
    assert "With these changes" in preview.text
    # One slot a day, five days, in Bob's Chicago time.
    assert len(re.findall(r"07:15 C[SD]T —", preview.text)) == 5
    assert bobs_x(world).slots == account.slots  # nothing saved
    saved = post_form(
        app, f"/schedule/{account.id}", {**fields, "action": "save"}, page="/schedule"
    )
    assert saved.status_code == 303
    changed = bobs_x(world)
    assert changed.slots == ["mon-sun 07:15"]  # as written, not one line per day
    assert changed.daily_cap == 3


def test_an_interval_schedule_and_bad_fields(app: TestClient, world: World) -> None:
    account = bobs_x(world)
    sign_in(app, world.bob.email)
    fields = {
        "mode": "interval",
        "every": "45",
        "start": "10:00",
        "end": "12:00",
        "cap": "5",
        "action": "save",
    }
    assert post_form(app, f"/schedule/{account.id}", fields, page="/schedule").status_code == 303
    changed = bobs_x(world)
    assert (
        changed.schedule_mode,
        changed.min_gap_minutes,
        changed.window_start,
        changed.window_end,
    ) == (
        ScheduleMode.INTERVAL,
        45,
        "10:00",
        "12:00",
    )
    for bad, message in [
        ({"start": "12:00", "end": "10:00"}, "must start before they end"),
        ({"cap": "lots"}, "whole number"),
        ({"every": "soon"}, "not a duration"),
        ({"mode": "slots", "slots": "someday 25:99"}, ""),
    ]:
        response = post_form(app, f"/schedule/{account.id}", {**fields, **bad}, page="/schedule")
        assert response.status_code == 422, bad
        assert message in response.text
    assert bobs_x(world).min_gap_minutes == 45


def test_the_time_zone_is_changed_on_the_schedule_page(app: TestClient, world: World) -> None:
    sign_in(app, world.bob.email)
    post_form(app, "/schedule/timezone", {"timezone": "Pacific/Auckland"}, page="/schedule")
    with session_scope() as s:
        assert s.get_one(Member, world.bob.id).timezone == "Pacific/Auckland"
    bad = post_form(app, "/schedule/timezone", {"timezone": "Moon/Base"}, page="/schedule")
    assert bad.status_code == 303
    assert "is not an IANA time zone" in app.get("/schedule").text


def test_someone_elses_schedule_is_not_found(app: TestClient, world: World) -> None:
    account = bobs_x(world)
    sign_in(app, world.carol.email)
    token = csrf(app, "/schedule")
    response = app.post(
        f"/schedule/{account.id}",
        data={"mode": "slots", "slots": "mon 01:00", "action": "save"},
        headers={"X-Tribe-Inplace": "1", "X-CSRF-Token": token},
    )
    assert response.status_code == 404
    assert bobs_x(world).slots == account.slots


def test_the_schedule_preview_follows_slots_and_caps(world: World) -> None:
    account = bobs_x(world)
    monday = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    with session_scope() as s:
        times = schedule_preview(
            s,
            member=get_member(s, world.bob.email),
            account_id=pk(account),
            change=ScheduleChange(slots="mon 08:00,09:00; tue 08:00", daily_cap=1),
            now=monday,
            count=3,
        )
    # Chicago: Monday 08:00 (cap 1 a day, so not 09:00), Tuesday 08:00; next Monday's is
    # past the 7-day horizon.
    assert [str(t).split(" —")[0] for t in times] == [
        "Mon 1 Jun, 08:00 CDT",
        "Tue 2 Jun, 08:00 CDT",
    ]
    assert [t.at for t in times] == [
        datetime(2026, 6, 1, 13, 0, tzinfo=UTC),
        datetime(2026, 6, 2, 13, 0, tzinfo=UTC),
    ]


def test_templates_preview_live_on_a_real_post_and_save(app: TestClient, world: World) -> None:
    world.new_post("Why tomatoes split")
    sign_in(app, world.bob.email)
    page = app.get("/templates").text
    assert "Why tomatoes split https://alice.blog/1 via Alice" in page
    token = csrf(app, "/templates")
    headers = {"X-Tribe-Inplace": "1", "X-CSRF-Token": token}
    live = app.post(
        "/templates/x/preview",
        data={"template": "Read this: {title} {url} {tags}"},
        headers=headers,
    )
    assert live.status_code == 200
    assert live.text == "Read this: Why tomatoes split https://alice.blog/1 #Gardening"
    bad = app.post("/templates/x/preview", data={"template": "{title} {nope}"}, headers=headers)
    assert bad.status_code == 422
    assert "unknown placeholder" in bad.text
    assert (
        app.post("/templates/myspace/preview", data={"template": "x"}, headers=headers).status_code
        == 404
    )
    post_form(
        app,
        "/templates/mastodon",
        {"template": "New from {author}: {title} {url}"},
        page="/templates",
    )
    with session_scope() as s:
        assert (
            s.get_one(Member, world.bob.id).templates["mastodon"]
            == "New from {author}: {title} {url}"
        )
