"""The digest's links: each signed for one member and one action, working without
signing in for that action only.

A token carries the member, the action and the stream items it acts on, and ends when
its items do (an item expires TRIBE_STREAM_EXPIRY after it reached the stream); the
unsubscribe link does not end. Signed with the "links" key (`tribe.members.auth`), so a
token is forged by nobody without TRIBE_SECRET_KEYS and a copy of the database makes none.

The web app serves them at `/digest/{token}`: a GET (mail scanners open every link)
only shows what the link would do, with one button; the POST does it, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, cast, get_args

from tribe.core.errors import LinkError
from tribe.infra.keys import Keyring
from tribe.members.auth import read_link, sign_link

Action = Literal["approve", "skip", "all", "unsubscribe"]
ACTIONS: tuple[Action, ...] = get_args(Action)
PURPOSE = "digest"
# An upper bound for the signature's age; the link's own end (`expires`) comes first.
_LONGEST = timedelta(days=3650)


@dataclass(frozen=True)
class DigestLink:
    member_id: int
    action: Action
    item_ids: tuple[int, ...] = ()  # one for approve/skip, the digest's items for "all"
    expires: datetime | None = None  # None: the unsubscribe link, which does not end


def digest_token(keys: Keyring, link: DigestLink) -> str:
    """The signed token for `link`."""
    payload: dict[str, object] = {"m": link.member_id, "a": link.action, "i": list(link.item_ids)}
    if link.expires is not None:
        payload["x"] = int(link.expires.timestamp())
    return sign_link(keys, PURPOSE, payload)


def read_digest_token(keys: Keyring, token: str, *, now: datetime) -> DigestLink:
    """The link a token stands for, or LinkError when forged, malformed or expired."""
    payload = read_link(keys, PURPOSE, token, max_age=_LONGEST)
    member_id, action, item_ids = payload.get("m"), payload.get("a"), payload.get("i")
    expires_at = payload.get("x")
    if (
        not isinstance(member_id, int)
        or action not in ACTIONS
        or not isinstance(item_ids, list)
        or not all(isinstance(i, int) for i in item_ids)
        or not (expires_at is None or isinstance(expires_at, int))
    ):
        raise LinkError("this link is not valid; check that it was copied whole")
    expires = None if expires_at is None else datetime.fromtimestamp(expires_at, UTC)
    if expires is not None and now >= expires:
        raise LinkError("this link has expired with the post it was for")
    return DigestLink(member_id, cast(Action, action), tuple(item_ids), expires)


def digest_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/digest/{token}"


def item_links(
    keys: Keyring,
    base_url: str,
    *,
    member_id: int,
    item_id: int,
    expires: datetime,
) -> tuple[str, str]:
    """The Approve and Skip links of one item."""

    def url(action: Action) -> str:
        link = DigestLink(member_id, action, (item_id,), expires)
        return digest_url(base_url, digest_token(keys, link))

    return url("approve"), url("skip")


def approve_all_url(
    keys: Keyring, base_url: str, *, member_id: int, item_ids: Sequence[int], expires: datetime
) -> str:
    return digest_url(
        base_url, digest_token(keys, DigestLink(member_id, "all", tuple(item_ids), expires))
    )


def unsubscribe_url(keys: Keyring, base_url: str, *, member_id: int) -> str:
    """The one-click unsubscribe (RFC 8058): it turns the digest off, and does not end."""
    return digest_url(base_url, digest_token(keys, DigestLink(member_id, "unsubscribe")))
