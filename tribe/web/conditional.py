"""Conditional GETs for what tribe publishes to the world (a public tribe's feed, member
list and icons, its letter archive): tribe is a polite host, as its poller is a polite
guest.

Every answer carries a strong ETag (the body's hash, or a version the caller keeps),
`Last-Modified` when the caller knows it, and `Cache-Control: public, max-age=...`. A
request whose `If-None-Match` names the current ETag, or (without `If-None-Match`, as
RFC 9110 section 13.2.2 orders it) whose `If-Modified-Since` is not older than
`Last-Modified`, gets 304 with no body.

The app's middleware writes `no-store` on every answer that has no Cache-Control of
its own; these answers have one.
"""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime

from fastapi import Request, Response

from tribe.alliance.counting import aware


def strong_etag(data: bytes) -> str:
    """A strong ETag for `data`: the same bytes, the same tag."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def http_date(moment: datetime) -> str:
    """`Mon, 30 Nov 2026 18:24:41 GMT` (a naive moment is taken as UTC)."""
    return email.utils.format_datetime(aware(moment).astimezone(UTC), usegmt=True)


def _tags(header: str) -> list[str]:
    """The entity tags of an If-None-Match header, weak ones as their strong form
    (If-None-Match compares weakly: RFC 9110 section 13.1.2)."""
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def _since(header: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None  # an invalid date is ignored (RFC 9110 section 13.1.3)
    return aware(when)


def not_modified(request: Request, *, etag: str, last_modified: datetime | None) -> bool:
    """Whether the client's copy is current: its If-None-Match names `etag`, or it sent
    no If-None-Match and its If-Modified-Since is not before `last_modified`."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = _tags(if_none_match)
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None or last_modified is None:
        return False
    since = _since(if_modified_since)
    # HTTP dates have whole seconds: compare what the client was told.
    return since is not None and aware(last_modified).replace(microsecond=0) <= since


def conditional_response(
    request: Request,
    body: bytes,
    *,
    media_type: str,
    max_age: int,
    etag: str | None = None,
    last_modified: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`body` with its validators and public cache headers, or 304 with no body when the
    client's copy is current. `etag` (a stored version) spares hashing the body."""
    tag = etag or strong_etag(body)
    sent = {"ETag": tag, "Cache-Control": f"public, max-age={max_age}", **(headers or {})}
    if last_modified is not None:
        sent["Last-Modified"] = http_date(last_modified)
    if not_modified(request, etag=tag, last_modified=last_modified):
        return Response(status_code=304, headers=sent)
    return Response(body, media_type=media_type, headers=sent)
