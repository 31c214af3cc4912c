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
and an `app.bsky.embed.external` card for the link (title and description clipped to
`CARD_TITLE_GRAPHEMES` / `CARD_DESCRIPTION_GRAPHEMES`). No `langs`: the language is not
known. A repost points at `target_id` (an at:// URI) and `target_cid`.

Link cards. Bluesky shows what the poster's record says, so the card is tribe's to make:
with `LinkCards` (tribe/networks/cards.py) the publisher reads the article's page for its
title, description and picture, uploads the picture (`com.atproto.repo.uploadBlob`, at
most `THUMB_MAX_BYTES`, the lexicon's `thumb` limit) and refers to the blob as the card's
`thumb`. A delivery is one post on one account, so the card is made once per delivery:
kept in its progress (`Publication.keep`, {"card": {"title", "description", "thumb"}})
before the record is written, and a retry uses the kept card as it is (no second fetch,
no second upload, the identical record). The card never fails a post: a page or picture
that cannot be had, an upload that fails, or a PDS that no longer knows the blob (an
unreferenced blob is deleted after a while) leaves the card without its picture. Without
`LinkCards` the card is the feed's title and summary alone, as it is for a page that
cannot be read.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import regex
from atproto_client import Client, models  # type: ignore[import-untyped]
from atproto_client.models.blob_ref import BlobRef  # type: ignore[import-untyped]
from atproto_client.models.utils import get_response_model  # type: ignore[import-untyped]
from atproto_client.utils.facet_detection import detect_facets  # type: ignore[import-untyped]

from tribe.core.outcomes import (
    AccountContext,
    Publication,
    PublishError,
    Rejected,
    ReshareKind,
    Sent,
    Unknown,
)
from tribe.infra.netguard import AddressPolicy
from tribe.networks.bluesky.client import DEFAULT_PDS, Authorized, Session, client, server_url
from tribe.networks.bluesky.errors import CALL_ERRORS, BlueskyLadder, xrpc_error
from tribe.networks.cards import LinkCards, Thumbnail

log = logging.getLogger(__name__)

POST_COLLECTION = "app.bsky.feed.post"
REPOST_COLLECTION = "app.bsky.feed.repost"
CARD_TITLE_GRAPHEMES = 300
CARD_DESCRIPTION_GRAPHEMES = 300
THUMB_MAX_BYTES = 1_000_000  # app.bsky.embed.external#external: thumb maxSize
# What the PDS answers a record whose blob it does not have or will not take.
_BLOB_ERRORS = frozenset({"BlobNotFound", "InvalidMimeType", "BlobTooLarge"})

_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AT_POST = re.compile(r"at://([^/]+)/app\.bsky\.feed\.post/([A-Za-z0-9._:~-]+)")
_GRAPHEME = regex.compile(r"\X")
# Characters that would continue a URL, and the punctuation that ends one all the same.
_URL_TAIL = re.compile(rb"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_URL_END_PUNCTUATION = b".,;:!?)]}'\""


class BlueskyPublisher:
    """Posts and reposts with `putRecord` at a fixed TID: a retry is the same record.

    `cards` reads the link's page and picture for the card; without it, the card is the
    feed's title and summary (nothing fetched).
    """

    idempotent = True

    def __init__(self, *, policy: AddressPolicy, cards: LinkCards | None = None) -> None:
        self.policy = policy
        self.cards = cards

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        # Built first: what cannot be a record is refused before any page is fetched.
        collection, record = build_record(item)
        rkey = record_key(item)
        session = Session.from_context(account)
        ladder = BlueskyLadder("write", session.handle, session.pds_url, account.timeout)
        with client(session.pds_url, account.timeout, self.policy) as sdk:
            authorized = Authorized(account, sdk, ladder)
            card, session = self._card(item, authorized, session)
            if card is not None:
                collection, record = build_record(item, card)

            def put(sdk: Client, auth: dict[str, str], did: str) -> Any:
                return sdk.com.atproto.repo.put_record(
                    models.ComAtprotoRepoPutRecord.Data(
                        repo=did, collection=collection, rkey=rkey, record=record
                    ),
                    headers=auth,
                )

            try:
                response, session = authorized.run(session, put)
            except Rejected as refused:
                if card is None or card.thumb is None or not _blob_refused(refused):
                    raise
                # The PDS will not take the picture (a blob it has since deleted): the
                # post goes out with the card's words alone, and so does every retry.
                log.warning("Bluesky refused the card picture for %s: %s", item.link, refused)
                card = replace(card, thumb=None)
                item.keep({"card": card.progress()})
                collection, record = build_record(item, card)
                session = Session.from_context(account)  # as a refresh may have left it
                response, session = authorized.run(session, put)
        return _sent(item, session.handle, str(response.uri), str(response.cid))

    def _card(
        self, item: Publication, authorized: Authorized, session: Session
    ) -> tuple[Card | None, Session]:
        """The card kept by an earlier attempt, else a new one made and kept; None when
        the feed's words are the card (a repost, no link, no `LinkCards`)."""
        if self.cards is None or item.kind == ReshareKind.REPOST or not item.link:
            return None, session
        kept = Card.from_progress(item.progress.get("card"))
        if kept is not None:
            return kept, session
        page = self.cards.describe(item.link, title=item.title, summary=item.summary)
        thumb = None
        if page.image_url:
            picture = self.cards.thumbnail(page.image_url, max_bytes=THUMB_MAX_BYTES)
            if picture is not None:
                thumb, session = _upload(picture, authorized, session, item.link)
        card = Card(
            title=_clip(page.title, CARD_TITLE_GRAPHEMES),
            description=_clip(page.description, CARD_DESCRIPTION_GRAPHEMES),
            thumb=thumb,
        )
        item.keep({"card": card.progress()})
        return card, session

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


@dataclass(frozen=True)
class Card:
    """A post's link card as its record carries it, and as the delivery keeps it."""

    title: str
    description: str
    thumb: dict[str, Any] | None  # the uploaded blob's ref, as JSON; None: no picture

    @classmethod
    def from_progress(cls, kept: Any) -> Card | None:
        """The card an earlier attempt kept; None when there is none (or not one we wrote)."""
        if not isinstance(kept, Mapping):
            return None
        title, description, thumb = kept.get("title"), kept.get("description"), kept.get("thumb")
        if not isinstance(title, str) or not isinstance(description, str):
            return None
        if thumb is not None and not _blob_ref(thumb):
            return None
        return cls(title, description, dict(thumb) if thumb is not None else None)

    def progress(self) -> dict[str, Any]:
        return {"title": self.title, "description": self.description, "thumb": self.thumb}


def _upload(
    picture: Thumbnail, authorized: Authorized, session: Session, link: str
) -> tuple[dict[str, Any] | None, Session]:
    """Upload the card's picture; its blob ref (JSON), or None (logged) when that fails."""

    def upload(sdk: Client, auth: dict[str, str], did: str) -> Any:
        # As `sdk.com.atproto.repo.upload_blob` does, but the bytes go as httpx's
        # `content` (the SDK hands them over as `data`, which httpx deprecates).
        response = sdk.invoke_procedure(
            "com.atproto.repo.uploadBlob",
            content=picture.data,
            headers={**auth, "Content-Type": picture.mime_type},
        )
        return get_response_model(response, models.ComAtprotoRepoUploadBlob.Response)

    try:
        response, session = authorized.run(session, upload)
    except PublishError as error:
        log.warning("the card for %s goes without its picture: %s", link, error)
        return None, Session.from_context(authorized.account)
    blob: Any = getattr(response, "blob", None)
    if not isinstance(blob, BlobRef) or not str(blob.mime_type).startswith("image/"):
        log.warning("the card for %s goes without its picture: Bluesky took it as %r", link, blob)
        return None, session
    return dict(blob.model_dump(mode="json", by_alias=True)), session


def _blob_ref(value: Any) -> bool:
    try:
        BlobRef.model_validate(value)
    except pydantic.ValidationError:
        return False
    return True


def _blob_refused(refused: Rejected) -> bool:
    return xrpc_error(refused.__cause__ or refused)[0] in _BLOB_ERRORS


# Records ---------------------------------------------------------------------------------


def record_key(item: Publication) -> str:
    """The record's key: a TID from the creation time and the delivery's key (see above)."""
    created = _utc(item.created_at)
    micros = (created - _EPOCH) // timedelta(microseconds=1)
    spread = int.from_bytes(hashlib.sha256(item.key.encode()).digest()[:8], "big")
    micros = micros - micros % 1000 + spread % 1000
    value = (micros << 10) | (spread // 1000) % 1024
    return "".join(_TID_CHARS[(value >> (5 * (12 - i))) & 31] for i in range(13))


def build_record(item: Publication, card: Card | None = None) -> tuple[str, Any]:
    """(collection, record model) for the publication; `Rejected` when it cannot be one.

    A post's link card is `card`, or, without one, the feed's title and summary.
    """
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
            if card is None:
                card = Card(
                    title=_clip(item.title, CARD_TITLE_GRAPHEMES),
                    description=_clip(item.summary, CARD_DESCRIPTION_GRAPHEMES),
                    thumb=None,
                )
            embed = models.AppBskyEmbedExternal.Main(
                external=models.AppBskyEmbedExternal.External(
                    uri=item.link,
                    title=card.title,
                    description=card.description,
                    thumb=BlobRef.model_validate(card.thumb) if card.thumb else None,
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
