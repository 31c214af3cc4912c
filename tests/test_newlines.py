"""Text that is posted has plain `\\n` line breaks, whatever the edge sent: browsers send a
text area's lines with `\\r\\n`, and a lone `\\r` would be posted as is."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from tests import builders as b
from tests.builders import Item, rss
from tribe.core.kinds import Network
from tribe.core.sharetext import ShareInput, check_own_text, check_template, fit, limit_for
from tribe.infra.db import session_scope
from tribe.infra.models import Delivery, Post, StreamItem
from tribe.ingest.parse import parse_feed
from tribe.members.accounts import ScheduleChange, add_account, set_schedule, set_template
from tribe.members.people import get_member
from tribe.stream.approvals import approve
from tribe.stream.items import fan_out

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
URL = "https://alice.blog/1"


def test_own_words_keep_their_lines_without_carriage_returns() -> None:
    text = check_own_text("First line\r\n\r\nSecond\rThird", URL, limit_for(Network.MASTODON))
    assert text == f"First line\n\nSecond\nThird {URL}"


def test_a_template_is_checked_stored_and_filled_with_plain_newlines() -> None:
    assert check_template("{title}\r\n\r\n{url}\rvia {author}") == "{title}\n\n{url}\nvia {author}"
    data = ShareInput(title="Why tomatoes split", url=URL, author="Alice")
    filled = fit("{title}\r\n\r\n{url}\rvia {author}", data, limit_for(Network.MASTODON))
    assert filled == f"Why tomatoes split\n\n{URL}\nvia Alice"


def test_a_title_with_carriage_returns_is_recorded_on_one_line() -> None:
    body = rss([Item("Why tomatoes\rsplit\r\nin the rain", guid="g", link=URL)])
    (entry,) = parse_feed(body, {"content-type": "application/rss+xml"}, URL).entries
    assert entry.title == "Why tomatoes split in the rain"


@pytest.mark.usefixtures("db")
def test_an_edit_and_a_template_from_any_edge_are_queued_with_plain_newlines() -> None:
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        b.tribe(s, "Writers", alice, bob)
        feed = b.feed(s, alice, "https://alice.blog/feed")
        add_account(s, member=get_member(s, bob.email), network="x", handle="@bob")
        add_account(
            s, member=get_member(s, bob.email), network="mastodon", handle="@bob@mastodon.social"
        )
        set_schedule(
            s, member=get_member(s, bob.email), change=ScheduleChange(slots="mon-sun 09:00,17:00")
        )
        stored = set_template(
            s, member=get_member(s, bob.email), network="x", template="{title}\r\n{url}"
        )
        post = Post(feed_id=b.pk(feed), entry_key="k", url=URL, title="Why tomatoes split")
        s.add(post)
        s.flush()
        fan_out(s, [b.pk(post)], now=NOW - timedelta(minutes=5))
        item = s.exec(select(StreamItem)).one()
    assert stored == "{title}\n{url}"
    with session_scope() as s:
        assert get_member(s, "bob@example.com").templates["x"] == "{title}\n{url}"
    with session_scope() as s:
        own = {Network.MASTODON: "My own words\r\n\r\nabout it"}
        approve(s, member=get_member(s, "bob@example.com"), item_id=item.id or 0, own=own, now=NOW)
    with session_scope() as s:
        texts = sorted(d.text for d in s.exec(select(Delivery)))
    assert texts == [
        f"My own words\n\nabout it {URL}",
        f"Why tomatoes split\n{URL}",
    ]
