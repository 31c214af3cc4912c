"""The queue, the schedule and the history on the pages, over the API and in the CLI:
editing a queued text, "send next", moving in place, re-timing on a new schedule, slots
as written, dry runs in the history, and one time format everywhere."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlmodel import col, select

from tests.cli import ok
from tests.web.conftest import World, api_token, csrf, post_form, sign_in
from tribe.core import timefmt
from tribe.core.kinds import DeliveryState, Network
from tribe.delivery.dispatch import PublishConfig, claim_due, run_claims
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Delivery
from tribe.members.accounts import set_template
from tribe.members.people import get_member
from tribe.networks.dryrun import DryRunPublisher
from tribe.stream.approvals import approve
from tribe.web.deps import _local

API = "/api/v1"
INPLACE = {"X-Tribe-Inplace": "1"}
PARIS = ZoneInfo("Europe/Paris")
# One shape for every time a member reads: "Mon 30 Nov, 14:05 CET" (a year when not this one).
SHAPE = re.compile(
    r"^[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}( \d{4})?, \d\d:\d\d ([A-Z]{2,5}|[+-]\d{4})$"
)


def approved(world: World, who: str, n: int) -> dict[Network, int]:
    """`who` (bob or carol) approves alice's post `n`: their delivery ids by network."""
    member = getattr(world, who)
    item = world.item(member, world.new_post(f"Post {n}", n))
    with session_scope() as s:
        decision = approve(s, member=get_member(s, member.email), item_id=item)
    return {q.network: q.delivery_id for q in decision.queued}


def delivery(delivery_id: int) -> Delivery:
    with session_scope() as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None
        s.expunge(row)
        return row


def inplace(client: TestClient, path: str, data: dict[str, Any] | None = None) -> Any:
    token = csrf(client, "/queue")
    return client.post(path, data=data or {}, headers={**INPLACE, "X-CSRF-Token": token})


# --- editing a queued text --------------------------------------------------------------------


def test_the_queue_page_offers_to_edit_a_text_with_the_streams_counters(
    app: TestClient, world: World
) -> None:
    ids = approved(world, "bob", 1)
    page = sign_in(app, world.bob.email).get("/queue").text
    assert '<script src="http://testserver/static/queue.js" defer></script>' in page
    assert "queue.css" in page
    mastodon, x = ids[Network.MASTODON], ids[Network.X]
    form = page[page.index(f'action="/queue/{mastodon}/text"') :]
    area = form[: form.index("</textarea>")]
    assert 'data-network="mastodon" data-max="500" data-url-cost="23"' in area
    assert html.escape(delivery(mastodon).text) in area
    # Bob's X account reposts the author's own post: no text of its own to edit.
    assert f'action="/queue/{x}/text"' not in page
    assert "A repost of the author's own post" in page


def test_a_queued_text_is_edited_with_and_without_script(app: TestClient, world: World) -> None:
    ids = approved(world, "bob", 1)
    mastodon, x = ids[Network.MASTODON], ids[Network.X]
    sign_in(app, world.bob.email)
    saved = post_form(app, f"/queue/{mastodon}/text", {"text": "Worth a read"}, page="/queue")
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/queue#delivery-{mastodon}"
    assert delivery(mastodon).text == "Worth a read https://alice.blog/1"
    assert "your text is saved" in app.get("/queue").text

    fragment = inplace(app, f"/queue/{mastodon}/text", {"text": "Tomatoes!\r\nRead it."})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.lstrip().startswith("<section")
    assert "Tomatoes!\nRead it. https://alice.blog/1" in fragment.text
    assert delivery(mastodon).text == "Tomatoes!\nRead it. https://alice.blog/1"

    too_long = inplace(app, f"/queue/{mastodon}/text", {"text": "a" * 490})
    assert too_long.status_code == 422
    assert "your mastodon text is 514 long and the limit is 500" in too_long.text
    repost = inplace(app, f"/queue/{x}/text", {"text": "My words"})
    assert repost.status_code == 409
    assert "a repost of the author's own post" in repost.text
    assert delivery(mastodon).text == "Tomatoes!\nRead it. https://alice.blog/1"

    sign_in(app, world.carol.email)
    assert inplace(app, f"/queue/{mastodon}/text", {"text": "Mine now"}).status_code == 404
    assert delivery(mastodon).text == "Tomatoes!\nRead it. https://alice.blog/1"


def test_a_queued_text_is_edited_over_the_api(app: TestClient, world: World) -> None:
    ids = approved(world, "bob", 1)
    mastodon, x = ids[Network.MASTODON], ids[Network.X]
    auth = api_token(world.bob.email)
    url = f"{API}/queue/{mastodon}/text"
    edited = app.post(url, headers=auth, json={"text": "Worth a read"})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["text"], edited.json()["kind"]) == (
        "Worth a read https://alice.blog/1",
        "post",
    )
    for body, status, code in [
        ({"text": "a" * 490}, 422, "invalid_input"),
        ({"text": ""}, 422, "invalid_request"),
        ({"text": "x", "colour": "red"}, 422, "invalid_request"),
        (None, 422, "invalid_request"),
    ]:
        answer = app.post(url, headers=auth, json=body)
        assert (answer.status_code, answer.json()["code"]) == (status, code), body
    repost = app.post(f"{API}/queue/{x}/text", headers=auth, json={"text": "Mine"})
    assert (repost.status_code, repost.json()["code"]) == (409, "conflict")
    theirs = app.post(url, headers=api_token(world.carol.email), json={"text": "Mine"})
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")
    assert delivery(mastodon).text == "Worth a read https://alice.blog/1"


# --- send next, move and cancel in place ------------------------------------------------------


def test_send_next_on_the_page_in_place_and_over_the_api(app: TestClient, world: World) -> None:
    first = approved(world, "bob", 1)[Network.MASTODON]
    second = approved(world, "bob", 2)[Network.MASTODON]
    earliest = delivery(first).due_at
    assert delivery(second).due_at > earliest
    sign_in(app, world.bob.email)
    post_form(app, f"/queue/{first}/cancel", page="/queue")
    fragment = inplace(app, f"/queue/{second}/next")
    assert fragment.status_code == 200, fragment.text
    assert "<html" not in fragment.text
    assert f"#{second} goes out next: " in fragment.text
    assert delivery(second).due_at == earliest
    assert delivery(second).reason.startswith("sent next by you: slot ")
    # It is first now: it cannot go earlier, and the answer says why.
    refused = app.post(f"{API}/queue/{second}/next", headers=api_token(world.bob.email))
    assert (refused.status_code, refused.json()["code"]) == (409, "conflict")
    assert "the next allowed time is already its time" in refused.json()["detail"]
    without_script = post_form(app, f"/queue/{second}/next", page="/queue")
    assert without_script.status_code == 303
    assert "the next allowed time is already its time" in app.get("/queue").text


def test_send_next_over_the_api_answers_the_delivery(app: TestClient, world: World) -> None:
    first = approved(world, "bob", 1)[Network.MASTODON]
    second = approved(world, "bob", 2)[Network.MASTODON]
    earliest = delivery(first).due_at
    auth = api_token(world.bob.email)
    assert app.post(f"{API}/queue/{first}/cancel", headers=auth).status_code == 204
    moved = app.post(f"{API}/queue/{second}/next", headers=auth)
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert datetime.fromisoformat(body["due_at"]) == earliest
    assert body["due_local"] == timefmt.moment(earliest, "America/Chicago")
    assert app.post(f"{API}/queue/{first}/next", headers=auth).status_code == 409  # cancelled
    assert (
        app.post(f"{API}/queue/{second}/next", headers=api_token(world.carol.email)).status_code
        == 404
    )


def test_moving_up_stays_in_place(app: TestClient, world: World) -> None:
    first = approved(world, "carol", 1)[Network.X]
    second = approved(world, "carol", 2)[Network.X]
    times = delivery(first).due_at, delivery(second).due_at
    sign_in(app, world.carol.email)
    fragment = inplace(app, f"/queue/{second}/move", {"direction": "up"})
    assert fragment.status_code == 200, fragment.text
    text = fragment.text
    assert "<html" not in text
    assert "<nav" not in text
    account = delivery(second).account_id
    assert f'id="account-{account}"' in text
    assert 'data-upcoming="2"' in text  # for the count in the navigation
    assert text.index(f'id="delivery-{second}"') < text.index(f'id="delivery-{first}"')
    assert f"#{second} now goes out {timefmt.moment(times[0], PARIS)}" in text
    assert (delivery(second).due_at, delivery(first).due_at) == times
    # The forms still work without the script: a redirect back to the delivery.
    back = post_form(app, f"/queue/{second}/move", {"direction": "down"}, page="/queue")
    assert back.headers["location"] == f"/queue#delivery-{second}"
    assert (delivery(first).due_at, delivery(second).due_at) == times
    # Cancelling in place answers the account's queue with one fewer.
    cancelled = inplace(app, f"/queue/{first}/cancel")
    assert 'data-upcoming="1"' in cancelled.text
    assert f'id="delivery-{first}"' not in cancelled.text


# --- a new schedule ---------------------------------------------------------------------------


def at(days: int, hour: int) -> datetime:
    """`days` from today at `hour`:00 in Paris (carol's zone)."""
    today = datetime.now(PARIS).date()
    return datetime.combine(today + timedelta(days=days), datetime.min.time(), PARIS).replace(
        hour=hour
    )


def carol_has_three_queued(world: World) -> list[int]:
    """Carol's X queue: tomorrow 09:00 and 17:00, the day after 09:00 (Paris)."""
    ids = [approved(world, "carol", n)[Network.X] for n in (1, 2, 3)]
    with session_scope() as s:
        for delivery_id, when in zip(ids, (at(1, 9), at(1, 17), at(2, 9)), strict=True):
            row = s.get(Delivery, delivery_id)
            assert row is not None
            row.due_at = when.astimezone(UTC)
    return ids


def paris_times(ids: list[int]) -> list[str]:
    return [delivery(i).due_at.astimezone(PARIS).strftime("%H:%M") for i in ids]


def carols_x() -> int:
    with session_scope() as s:
        account_id = s.exec(
            select(col(Account.id)).where(Account.handle == "carol", Account.network == "x")
        ).one()
        assert account_id is not None
        return account_id


def test_saving_a_schedule_on_the_page_retimes_what_no_longer_fits(
    app: TestClient, world: World
) -> None:
    ids = carol_has_three_queued(world)
    sign_in(app, world.carol.email)
    saved = post_form(
        app,
        f"/schedule/{carols_x()}",
        {"mode": "slots", "slots": "mon-sun 17:00", "cap": "6", "action": "save"},
        page="/schedule",
    )
    assert saved.status_code == 303
    assert "2 deliveries moved to the new times" in app.get("/schedule").text
    assert paris_times(ids) == ["17:00", "17:00", "17:00"]
    assert delivery(ids[1]).due_at == at(1, 17)  # it fitted: it stays
    assert len({delivery(i).due_at for i in ids}) == 3


def test_saving_a_schedule_over_the_api_says_how_many_moved(app: TestClient, world: World) -> None:
    ids = carol_has_three_queued(world)
    url = f"{API}/accounts/{carols_x()}/schedule"
    saved = app.put(url, headers=api_token(world.carol.email), json={"slots": "mon-sun 17:00"})
    assert saved.status_code == 200, saved.text
    assert (saved.json()["moved"], saved.json()["message"]) == (
        2,
        "2 deliveries moved to the new times",
    )
    assert paris_times(ids) == ["17:00", "17:00", "17:00"]


def test_saving_a_schedule_in_the_cli_says_how_many_moved(world: World) -> None:
    ids = carol_has_three_queued(world)
    out = ok("schedule", "set", world.carol.email, "--slots", "mon-sun 17:00")
    assert out.splitlines() == [
        "x @carol: slots mon-sun 17:00, at most 6 a day (Europe/Paris)",
        "2 deliveries moved to the new times",
    ]
    assert paris_times(ids) == ["17:00", "17:00", "17:00"]


def test_slots_are_kept_as_the_member_wrote_them(app: TestClient, world: World) -> None:
    sign_in(app, world.carol.email)
    account_id = carols_x()
    for written, kept in [
        ("mon-fri 09:00,12:30; sat 10:00", ["mon-fri 09:00,12:30", "sat 10:00"]),
        # Tidied (case, spaces, HH:MM in order), but their groups in their order.
        ("Sat 10:00 ; Mon-Fri 12:30, 9:00", ["sat 10:00", "mon-fri 09:00,12:30"]),
    ]:
        post_form(
            app,
            f"/schedule/{account_id}",
            {"mode": "slots", "slots": written, "cap": "4", "action": "save"},
            page="/schedule",
        )
        with session_scope() as s:
            assert s.get_one(Account, account_id).slots == kept
        spec = "; ".join(kept)
        page = app.get("/schedule").text
        assert f'value="{spec}"' in page
        assert f"slots {spec}, at most 4 a day" in page
        auth = api_token(world.carol.email)
        body = app.get(f"{API}/accounts/{account_id}/schedule", headers=auth).json()
        assert body["slots"] == spec
        (shown,) = json.loads(ok("schedule", "show", world.carol.email, "--json"))
        assert shown["schedule"].startswith(f"slots {spec},")


def test_the_schedule_form_and_the_templates_page(app: TestClient, world: World) -> None:
    sign_in(app, world.carol.email)
    page = app.get("/schedule").text
    assert "static/schedule.js" in page
    assert 'value="mon-sun 09:00,17:00" maxlength="500" data-mode="slots"' in page
    assert page.count('data-mode="interval"') == 3
    long = "{title}\n\n{url}\n\nvia {author}\n" + "#tag " * 40 + "\n{tags}"
    with session_scope() as s:
        set_template(s, member=get_member(s, world.carol.email), network="mastodon", template=long)
    templates = app.get("/templates").text
    assert "<h1>Templates</h1>" in templates
    assert "static/schedule.js" in templates
    area = templates[templates.index('id="template-mastodon"') :]
    found = re.search(r'<textarea name="template" rows="(\d+)"', area)
    assert found
    rows = int(found.group(1))
    assert rows >= long.count("\n") + 1 + 3  # every line, and the long one wrapped, in view
    assert "data-grow" in area


# --- history ----------------------------------------------------------------------------------


def test_history_says_dry_run_not_sent_with_the_text(app: TestClient, world: World) -> None:
    ids = approved(world, "bob", 1)
    mastodon, x = ids[Network.MASTODON], ids[Network.X]
    with session_scope() as s:
        for row in s.exec(select(Delivery)).all():
            row.due_at = datetime.now(UTC) - timedelta(minutes=1)
    dry = PublishConfig(
        dry_run=True,
        timeout=1.0,
        lease=timedelta(minutes=2),
        max_attempts=3,
        retry_base=timedelta(minutes=1),
        batch=50,
        x_daily_per_account=100,
        x_daily_per_app=1000,
    )
    with session_scope() as s:
        claims = claim_due(s, now=datetime.now(UTC), config=dry)
    run_claims(claims, publishers=lambda n: DryRunPublisher(n.value), config=dry, vault=None)
    assert {delivery(i).state for i in ids.values()} == {DeliveryState.SENT}
    text = delivery(mastodon).text

    page = sign_in(app, world.bob.email).get("/history").text
    assert page.count("dry run — not sent") == 2
    assert f'<p class="text">{html.escape(text)}</p>' in page
    assert "see the post" not in page  # nothing on any network to link to
    body = app.get(f"{API}/history", headers=api_token(world.bob.email)).json()
    entries = {e["id"]: e for e in body["data"]}
    assert entries[mastodon]["dry_run"] is True
    assert entries[mastodon]["text"] == text
    assert entries[mastodon]["sent_local"] == timefmt.moment(
        datetime.fromisoformat(entries[mastodon]["sent_at"]), "America/Chicago"
    )
    assert entries[x]["dry_run"] is True

    # What a network has: "sent", the text and the live link, and no dry-run label.
    with session_scope() as s:
        row = s.get_one(Delivery, mastodon)
        row.reason, row.remote_id, row.dry_run = "sent", "1099", False
        row.remote_url = "https://mastodon.social/@bob/1099"
    page = app.get("/history").text
    assert page.count("dry run — not sent") == 1
    assert 'href="https://mastodon.social/@bob/1099"' in page
    assert f'<p class="text">{html.escape(text)}</p>' in page
    body = app.get(f"{API}/history", headers=api_token(world.bob.email)).json()
    assert {e["id"]: e["dry_run"] for e in body["data"]} == {mastodon: False, x: True}


# --- one time format --------------------------------------------------------------------------


def test_pages_the_api_and_the_cli_write_times_one_way(app: TestClient, world: World) -> None:
    (delivery_id,) = approved(world, "carol", 1).values()
    due = delivery(delivery_id).due_at
    expected = timefmt.moment(due, PARIS)
    assert SHAPE.match(expected), expected
    assert _local(due, "Europe/Paris") == expected  # the Jinja filter every template uses
    assert _local(None, "Europe/Paris") == ""
    page = sign_in(app, world.carol.email).get("/queue").text
    assert f"<strong>{expected}</strong>" in page
    (listed,) = app.get(f"{API}/queue", headers=api_token(world.carol.email)).json()["data"]
    assert listed["due_local"] == expected
    assert datetime.fromisoformat(listed["due_at"]) == due  # and ISO 8601 beside it
    (shown,) = json.loads(ok("queue", world.carol.email, "--json"))
    assert shown["due_local"] == expected
    assert expected in ok("queue", world.carol.email)
    schedule = app.get("/schedule").text
    (upcoming,) = re.findall(r"<ol class=\"preview\"><li>([^<]+) — ", schedule)[:1]
    assert SHAPE.match(upcoming), upcoming
