"""The Settings page's email choices: the digest daily, weekly or off at the member's
local hour, their chiefs' nudges and the reminder; bad input refused with a message and
nothing stored changed."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import World, as_response, post_form, sign_in
from tribe.core.kinds import DigestMode
from tribe.infra.db import session_scope
from tribe.infra.models import Member

DAILY = {"digest": "daily", "hour": "08:00", "weekday": "0", "nudges": "on", "reminders": "on"}


def stored(member: Member) -> tuple[DigestMode, str, int, bool, bool]:
    with session_scope() as s:
        row = s.get_one(Member, member.id)
        return row.digest_mode, row.digest_hour, row.digest_weekday, row.nudges, row.reminders


def save(app: TestClient, **fields: str) -> str:
    """The form sent as the page sends it; the page it leads to."""
    data = {k: v for k, v in {**DAILY, **fields}.items() if v is not None}
    for box in ("nudges", "reminders"):  # an unticked checkbox is not sent at all
        if data.get(box) == "":
            del data[box]
    response = post_form(app, "/settings/email", data, page="/settings")
    assert response.status_code == 303, response.text
    return as_response(app.get(response.headers["location"])).text


def checked(page: str, name: str, value: str | None = None) -> bool:
    """Whether the form's control `name` (the radio of `value`) is checked."""
    value_part = f' value="{value}"' if value else ""
    found = re.search(
        rf'<input type="(?:radio|checkbox)" name="{name}"{value_part}( checked)?>', page
    )
    assert found, (name, value)
    return found.group(1) is not None


def test_the_settings_page_shows_the_digest_as_stored_in_the_member_s_zone(
    app: TestClient, world: World
) -> None:
    page = sign_in(app, world.bob.email).get("/settings").text
    section = page.split('id="email"')[1].split("</section>")[0]
    assert "Digest email" in section
    assert "America/Chicago" in section
    assert checked(section, "digest", "daily")
    assert not checked(section, "digest", "weekly")
    assert 'name="hour" value="08:00"' in section
    assert checked(section, "nudges")
    assert checked(section, "reminders")
    assert "Nudges from my chiefs" in section
    assert "A reminder when my stream waits for me" in section


def test_saving_weekly_daily_and_off(app: TestClient, world: World) -> None:
    sign_in(app, world.bob.email)

    page = save(app, digest="weekly", hour="18:30", weekday="2", nudges="")
    assert stored(world.bob) == (DigestMode.WEEKLY, "18:30", 2, False, True)
    assert "the digest weekly on Wednesday at 18:30 (America/Chicago)" in page
    assert checked(page, "digest", "weekly")
    assert '<option value="2" selected>Wednesday</option>' in page
    assert not checked(page, "nudges")

    save(app, digest="daily", hour="07:15", weekday="2", nudges="on", reminders="")
    assert stored(world.bob) == (DigestMode.DAILY, "07:15", 2, True, False)

    page = save(app, digest="off", hour="", weekday="2", reminders="on")
    assert stored(world.bob) == (DigestMode.OFF, "07:15", 2, True, True)  # the hour kept
    assert "the digest off" in page
    assert stored(world.carol) == (DigestMode.DAILY, "08:00", 0, True, True)  # hers untouched


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"hour": "25:00"}, "25:00"),
        ({"hour": "8 in the morning"}, "8 in the morning"),
        ({"hour": ""}, ""),
        ({"digest": "hourly"}, "choose daily, weekly or off for the digest"),
        ({"digest": "weekly", "weekday": "7"}, "choose a day of the week"),
        ({"digest": "weekly", "weekday": "monday"}, "choose a day of the week"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_stored_changes(
    app: TestClient, world: World, fields: dict[str, str], said: str
) -> None:
    sign_in(app, world.bob.email)
    before = stored(world.bob)
    sent = {**DAILY, "reminders": "", **fields}  # a toggle changed too: it must not stick
    data = {k: v for k, v in sent.items() if k != "reminders"}
    response = post_form(app, "/settings/email", data, page="/settings")
    assert response.status_code == 422
    message = re.search(r'<p class="flash error" role="alert">([^<]+)</p>', response.text)
    assert message, response.text
    assert said in message.group(1).replace("&#39;", "'")
    assert stored(world.bob) == before
    # The form shows what was sent, to correct it, and no token or nudge setting was lost.
    assert not checked(response.text, "reminders")
    assert "Personal API tokens" in response.text
