"""The letter's links: a subscriber's confirmation, and every reader's unsubscribe
(a subscriber's, or a member's from one tribe's letter), each signed for one reader and
one action.

Signed with the "letter" purpose (`tribe.members.auth`), so nobody forges one without
TRIBE_SECRET_KEYS and a copy of the database makes none. A confirmation link ends after
CONFIRM_FOR; an unsubscribe link does not (a letter kept for a year still unsubscribes).
What a link does is `tribe.alliance.subscribers`'; the web app serves them under
`/t/{slug}/confirm/` and `/t/{slug}/unsubscribe/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, cast, get_args

from tribe.core.errors import LinkError
from tribe.infra.keys import Keyring
from tribe.members.auth import read_link, sign_link

PURPOSE = "letter"  # the signing purpose of these links
CONFIRM_FOR = timedelta(days=7)
_LONGEST = timedelta(days=3650)  # the signature's bound; a confirmation ends sooner
_NOT_VALID = "this link is not valid; check that it was copied whole"

Action = Literal["confirm", "unsubscribe"]
ACTIONS: tuple[Action, ...] = get_args(Action)


@dataclass(frozen=True)
class LetterLink:
    """What a letter link stands for: a subscriber's confirmation or unsubscribe, or a
    member's unsubscribe from one tribe's letter."""

    action: Action
    subscriber_id: int | None = None
    member_id: int | None = None
    tribe_id: int | None = None  # with `member_id`
    expires: datetime | None = None  # a confirmation's end; None: it does not end


def letter_token(keys: Keyring, link: LetterLink) -> str:
    payload: dict[str, object] = {"a": link.action}
    if link.subscriber_id is not None:
        payload["s"] = link.subscriber_id
    if link.member_id is not None:
        payload["m"], payload["t"] = link.member_id, link.tribe_id
    if link.expires is not None:
        payload["x"] = int(link.expires.timestamp())
    return sign_link(keys, PURPOSE, payload)


def read_letter_token(
    keys: Keyring, token: str, *, now: datetime, action: Action | None = None
) -> LetterLink:
    """The link a token stands for (of `action`, when given), or LinkError when it is
    forged, malformed, of another action or expired."""
    payload = read_link(keys, PURPOSE, token, max_age=_LONGEST)
    kind, expires_at = payload.get("a"), payload.get("x")
    ids = [payload.get(name) for name in ("s", "m", "t")]
    if (
        kind not in ACTIONS
        or (action is not None and kind != action)
        or not all(i is None or isinstance(i, int) for i in ids)
        or not (expires_at is None or isinstance(expires_at, int))
    ):
        raise LinkError(_NOT_VALID)
    subscriber_id, member_id, tribe_id = cast(list[int | None], ids)
    for_subscriber = subscriber_id is not None and member_id is None and tribe_id is None
    for_member = subscriber_id is None and member_id is not None and tribe_id is not None
    if not (for_subscriber or (for_member and kind == "unsubscribe")):
        raise LinkError(_NOT_VALID)
    if kind == "confirm" and expires_at is None:
        raise LinkError(_NOT_VALID)
    expires = None if expires_at is None else datetime.fromtimestamp(expires_at, UTC)
    if expires is not None and now >= expires:
        raise LinkError(
            "this confirmation link has expired; subscribe again on the tribe's page for a new one"
        )
    return LetterLink(cast(Action, kind), subscriber_id, member_id, tribe_id, expires)


def tribe_url(base_url: str, slug: str) -> str:
    """The tribe's public page."""
    return f"{base_url.rstrip('/')}/t/{slug}"


def confirm_url(
    keys: Keyring, base_url: str, *, slug: str, subscriber_id: int, now: datetime
) -> str:
    """The confirmation link of an email sent `now`: it works for CONFIRM_FOR."""
    link = LetterLink("confirm", subscriber_id=subscriber_id, expires=now + CONFIRM_FOR)
    return f"{tribe_url(base_url, slug)}/confirm/{letter_token(keys, link)}"


def subscriber_unsubscribe_url(
    keys: Keyring, base_url: str, *, slug: str, subscriber_id: int
) -> str:
    """A subscriber's unsubscribe link, for every letter they get; it does not end."""
    link = LetterLink("unsubscribe", subscriber_id=subscriber_id)
    return f"{tribe_url(base_url, slug)}/unsubscribe/{letter_token(keys, link)}"


def member_unsubscribe_url(
    keys: Keyring, base_url: str, *, slug: str, tribe_id: int, member_id: int
) -> str:
    """A member's link to stop the tribe's letter (they stay in the tribe); it does not
    end."""
    link = LetterLink("unsubscribe", member_id=member_id, tribe_id=tribe_id)
    return f"{tribe_url(base_url, slug)}/unsubscribe/{letter_token(keys, link)}"


def unsubscribe_headers(url: str) -> dict[str, str]:
    """The headers that give mail clients their unsubscribe button: a POST to `url`
    with `List-Unsubscribe=One-Click` and no cookie (RFC 8058)."""
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
