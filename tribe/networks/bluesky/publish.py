"""Posting to Bluesky: a post or a repost at a fixed record key, and looking for it.

Record keys. `app.bsky.feed.post` and `app.bsky.feed.repost` declare keys of type `tid`
(13 base32-sortable characters: microseconds since 1970, then a 10-bit clock id), and the
Bluesky app view is known to leave out posts under other keys. So the key is not
`Publication.key` itself (a 32-character hex string) but a TID derived from it and
`Publication.created_at`, both fixed for the delivery's life: the creation time to the
millisecond, with the sub-millisecond digits and the clock id taken from a hash of
`Publication.key`. A retry therefore writes the same record at the same key with
`putRecord`, which creates or replaces and never makes a second post (`createRecord` at
a taken key answers 500 on bsky.social). `record_key(item)` gives the key.

Records. A post has `text`, `createdAt` (`created_at` in UTC to the millisecond, so a retry
writes the identical record), a link facet (UTF-8 byte offsets) for every URL in the text,
always one spanning exactly `Publication.link` where it appears, tag facets for hashtags,
and an `app.bsky.embed.external` card for the link (title, summary clipped to
`CARD_DESCRIPTION_GRAPHEMES`, no thumbnail). No `langs`: the language is not known. A
repost points at `target_id` (an at:// URI) and `target_cid`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import regex
from atproto_client import Client, models  # type: ignore[import-untyped]
from atproto_client.utils.facet_detection import detect_facets  # type: ignore[import-untyped]

from tribe.core.outcomes import (
    AccountContext,
    Publication,
    Rejected,
    ReshareKind,
    Sent,
    Unknown,
)
from tribe.infra.netguard import AddressPolicy
from tribe.networks.bluesky.client import DEFAULT_PDS, Authorized, Session, client, server_url
from tribe.networks.bluesky.errors import CALL_ERRORS, BlueskyLadder, xrpc_error

POST_COLLECTION = "app.bsky.feed.post"
REPOST_COLLECTION = "app.bsky.feed.repost"
CARD_TITLE_GRAPHEMES = 300
CARD_DESCRIPTION_GRAPHEMES = 300

_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AT_POST = re.compile(r"at://([^/]+)/app\.bsky\.feed\.post/([A-Za-z0-9._:~-]+)")
_GRAPHEME = regex.compile(r"\X")
# Characters that would continue a URL, and the punctuation that ends one all the same.
_URL_TAIL = re.compile(rb"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_URL_END_PUNCTUATION = b".,;:!?)]}'\""


class BlueskyPublisher:
    """Posts and reposts with `putRecord` at a fixed TID: a retry is the same record."""

    idempotent = True

    def __init__(self, *, policy: AddressPolicy) -> None:
        self.policy = policy

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        collection, record = build_record(item)
        rkey = record_key(item)
        session = Session.from_context(account)
        ladder = BlueskyLadder("write", session.handle, session.pds_url, account.timeout)
        with client(session.pds_url, account.timeout, self.policy) as sdk:

            def put(sdk: Client, auth: dict[str, str], did: str) -> Any:
                return sdk.com.atproto.repo.put_record(
                    models.ComAtprotoRepoPutRecord.Data(
                        repo=did, collection=collection, rkey=rkey, record=record
                    ),
                    headers=auth,
                )

            response, session = Authorized(account, sdk, ladder).run(session, put)
        return _sent(item, session.handle, str(response.uri), str(response.cid))

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        collection = REPOST_COLLECTION if item.kind == ReshareKind.REPOST else POST_COLLECTION
        rkey = record_key(item)
        credentials = account.credentials or {}
        did = str(credentials.get("did") or account.remote_user_id or "")
        handle = str(credentials.get("handle") or account.handle)
        server = server_url(str(credentials.get("pds_url") or account.base_url or DEFAULT_PDS))
        if not did:
            raise Unknown("cannot look on Bluesky: the account's DID is not known")
        ladder = BlueskyLadder("read", handle, server, account.timeout)
        with client(server, account.timeout, self.policy) as sdk:
            try:
                # Reading a record needs no session (and so no refresh).
                response = sdk.com.atproto.repo.get_record(
                    models.ComAtprotoRepoGetRecord.Params(
                        repo=did, collection=collection, rkey=rkey
                    )
                )
            except CALL_ERRORS as error:
                if xrpc_error(error)[0] == "RecordNotFound":
                    return None
                found = ladder.classify(error)
                raise Unknown(f"could not look on Bluesky: {found}") from error
        return _sent(item, handle, str(response.uri), str(response.cid) if response.cid else None)


# Records ---------------------------------------------------------------------------------


def record_key(item: Publication) -> str:
    """The record's key: a TID from the creation time and the delivery's key (see above)."""
    created = _utc(item.created_at)
    micros = (created - _EPOCH) // timedelta(microseconds=1)
    spread = int.from_bytes(hashlib.sha256(item.key.encode()).digest()[:8], "big")
    micros = micros - micros % 1000 + spread % 1000
    value = (micros << 10) | (spread // 1000) % 1024
    return "".join(_TID_CHARS[(value >> (5 * (12 - i))) & 31] for i in range(13))


def build_record(item: Publication) -> tuple[str, Any]:
    """(collection, record model) for the publication; `Rejected` when it cannot be one."""
    created_at = _iso(item.created_at)
    try:
        if item.kind == ReshareKind.REPOST:
            if not item.target_id or not item.target_id.startswith("at://"):
                raise Rejected("cannot repost on Bluesky: the author's post is not known")
            if not item.target_cid:
                raise Rejected("cannot repost on Bluesky: the author's post has no CID")
            return REPOST_COLLECTION, models.AppBskyFeedRepost.Record(
                subject=models.ComAtprotoRepoStrongRef.Main(
                    uri=item.target_id, cid=item.target_cid
                ),
                created_at=created_at,
            )
        embed = None
        if item.link:
            embed = models.AppBskyEmbedExternal.Main(
                external=models.AppBskyEmbedExternal.External(
                    uri=item.link,
                    title=_clip(item.title, CARD_TITLE_GRAPHEMES),
                    description=_clip(item.summary, CARD_DESCRIPTION_GRAPHEMES),
                )
            )
        return POST_COLLECTION, models.AppBskyFeedPost.Record(
            text=item.text,
            created_at=created_at,
            facets=link_facets(item.text, item.link) or None,
            embed=embed,
        )
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise Rejected(f"not a valid Bluesky post: {problems}") from error


def link_facets(text: str, link: str | None = None) -> list[Any]:
    """Facets for the text: a link for every URL, tags for hashtags (UTF-8 byte offsets).

    Every appearance of `link` gets a link facet spanning exactly it (the SDK's detection
    wants a space or a parenthesis before a URL); the SDK's `detect_facets` (a port of the
    official detector) adds the other URLs and the hashtags.
    """
    data = text.encode()
    facets: list[Any] = []
    taken: list[tuple[int, int]] = []
    if link:
        needle = link.encode()
        start = data.find(needle)
        while start != -1:
            end = start + len(needle)
            tail = _URL_TAIL.match(data, end)
            rest = tail.group().rstrip(_URL_END_PUNCTUATION) if tail else b""
            if not rest:  # not the start of a longer URL
                facets.append(_facet(start, end, models.AppBskyRichtextFacet.Link(uri=link)))
                taken.append((start, end))
            start = data.find(needle, end)
    for facet in detect_facets(text):
        start, end = int(facet.index.byte_start), int(facet.index.byte_end)
        if all(end <= s or start >= e for s, e in taken):
            facets.append(facet)
    return sorted(facets, key=lambda f: int(f.index.byte_start))


def _facet(start: int, end: int, feature: Any) -> Any:
    return models.AppBskyRichtextFacet.Main(
        features=[feature],
        index=models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=end),
    )


def _sent(item: Publication, handle: str, uri: str, cid: str | None) -> Sent:
    if item.kind == ReshareKind.REPOST:
        target = _AT_POST.fullmatch(item.target_id or "")
        url = (
            f"https://bsky.app/profile/{target[1]}/post/{target[2]}"
            if target
            else item.target_id or uri
        )
        return Sent(remote_id=uri, remote_url=url, remote_cid=cid)
    rkey = uri.rsplit("/", 1)[-1]
    return Sent(
        remote_id=uri, remote_url=f"https://bsky.app/profile/{handle}/post/{rkey}", remote_cid=cid
    )


def _utc(moment: datetime) -> datetime:
    # Naive datetimes (SQLite gives those back) are UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    moment = _utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _clip(text: str, limit: int) -> str:
    """One line of at most `limit` graphemes, cut at a word where possible."""
    words = " ".join(text.split())
    parts: list[str] = _GRAPHEME.findall(words)
    if len(parts) <= limit:
        return words
    cut = "".join(parts[: limit - 1])
    space = cut.rfind(" ")
    if space > len(cut) // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"
