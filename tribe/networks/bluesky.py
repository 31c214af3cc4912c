"""Bluesky: posts, reposts and look-ups on the member's PDS with the atproto SDK.

Credentials (what `login` returns; stored encrypted, handed back in
`AccountContext.credentials`)::

    {
        "did": "did:plc:...",          # the account; also its remote_user_id
        "handle": "alice.bsky.social", # as the PDS last reported it
        "pds_url": "https://...",      # where the session lives: the PDS the login answer's
                                       # DID document names, else the server logged in to
        "access_jwt": "...",           # short-lived (about two hours on bsky.social)
        "refresh_jwt": "...",          # single use: every refresh returns a new one
    }

Sessions. `login` (connect time) is the only caller of `createSession`: logins are rate
limited hard (about 30 per 5 minutes and a few hundred a day per account), so a post never
logs in. `publish` sends the stored access token; when it expires within two minutes (by
its `exp`), or the PDS answers `ExpiredToken`/`InvalidToken`, the session is refreshed
inside `AccountContext.refresh` (the account's lock): the update first looks whether the
stored credentials are still the stale ones (another worker may have refreshed them), and
only then spends the refresh token, so the new one is saved before it is used. A refresh
refused by the PDS means the member must connect again (`NeedsReconnect`).
atproto's `Client` refreshes on its own when it holds a session; the clients made here
never hold one (each call carries its own `Authorization` header), so that path can never
run and spend a refresh token behind the lock's back.

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

Errors, classified for the dispatcher: 429 -> `RateLimited` (until `ratelimit-reset`, else
in five minutes); 401/403 or a session/account error -> `NeedsReconnect`; another 4xx ->
`Rejected` with the server's words; 5xx, a read timeout or a connection lost after
sending -> `Unknown`; a connection that could not be made -> `Transient` (an address
tribe's guard refused too, in its plain words). Every call has `AccountContext.timeout`
(httpx's connect/read/write/pool timeouts).

One guarded way out: the SDK's httpx client gets `GuardedTransport` (tribe/feeds/netguard.py),
so every connection, to the member's PDS or wherever its answers point, is checked against
the `AddressPolicy`, and a redirect is refused instead of followed (a 307 would otherwise
carry the app password to wherever it points). A refused redirect is `Unknown` for a write
and `Transient` otherwise.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

import httpx
import pydantic
import regex
from atproto_client import Client, models  # type: ignore[import-untyped]
from atproto_client.client.session import (  # type: ignore[import-untyped]
    get_session_pds_endpoint,
)
from atproto_client.exceptions import (  # type: ignore[import-untyped]
    RateLimitExceededError,
    RequestErrorBase,
)
from atproto_client.request import Request  # type: ignore[import-untyped]
from atproto_client.utils.facet_detection import detect_facets  # type: ignore[import-untyped]
from atproto_core.exceptions import AtProtocolError  # type: ignore[import-untyped]
from atproto_server.auth.jwt import get_jwt_payload  # type: ignore[import-untyped]

from tribe.core.errors import BlockedAddressError, InvalidInputError
from tribe.core.outcomes import (
    AccountContext,
    Credentials,
    NeedsReconnect,
    Publication,
    PublishError,
    RateLimited,
    Rejected,
    ReshareKind,
    Sent,
    Transient,
    Unknown,
)
from tribe.core.urls import parse_web_address
from tribe.infra.netguard import AddressPolicy, GuardedTransport, guard_refusal

__all__ = [
    "CARD_DESCRIPTION_GRAPHEMES",
    "DEFAULT_PDS",
    "POST_COLLECTION",
    "REPOST_COLLECTION",
    "BlueskyPublisher",
    "build_record",
    "link_facets",
    "login",
    "pds_address",
    "record_key",
]

DEFAULT_PDS = "https://bsky.social"
POST_COLLECTION = "app.bsky.feed.post"
REPOST_COLLECTION = "app.bsky.feed.repost"
REFRESH_MARGIN = timedelta(minutes=2)  # refresh an access token this close to its expiry
RATE_LIMIT_FALLBACK = timedelta(minutes=5)  # a 429 without a usable ratelimit-reset
CARD_TITLE_GRAPHEMES = 300
CARD_DESCRIPTION_GRAPHEMES = 300

_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AT_POST = re.compile(r"at://([^/]+)/app\.bsky\.feed\.post/([A-Za-z0-9._:~-]+)")
_GRAPHEME = regex.compile(r"\X")
# Characters that would continue a URL, and the punctuation that ends one all the same.
_URL_TAIL = re.compile(rb"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_URL_END_PUNCTUATION = b".,;:!?)]}'\""

_TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
_ACCOUNT_ERRORS = frozenset(
    {
        "AuthenticationRequired",
        "AuthMissing",
        "AuthFactorTokenRequired",
        "AccountTakedown",
        "AccountDeactivated",
        "RepoTakendown",
        "RepoDeactivated",
        "RepoSuspended",
    }
)
_NOT_SERVED = frozenset({"MethodNotImplemented", "XRPCNotSupported"})
# Everything a call through the SDK raises for a failed call (not for a bug of ours).
_CALL_ERRORS = (AtProtocolError, httpx.HTTPError, httpx.InvalidURL, pydantic.ValidationError)
# Failures in which the request never left (or never reached a server).
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.LocalProtocolError,
)

Step = Literal["login", "refresh", "write", "read"]
T = TypeVar("T")


# Connecting ------------------------------------------------------------------------------


def login(
    pds_url: str, handle: str, app_password: str, *, timeout: float, policy: AddressPolicy
) -> Credentials:
    """Create the session once, when the member connects: the ONLY `createSession` call.

    `pds_url` is the server the member signs in to (`https://bsky.social` for most);
    `handle` may also be the DID or the e-mail address. Returns the credentials described
    in the module docstring; `credentials["did"]` is the account's DID (its
    `remote_user_id`), `credentials["pds_url"]` its PDS (`base_url`).
    Raises `InvalidInputError` for an address that is not one, `NeedsReconnect` for a
    refused handle or password, `RateLimited`, `Transient`.
    """
    identifier = handle.strip().removeprefix("@")
    server = pds_address(pds_url or DEFAULT_PDS)
    call = _Call("login", identifier, server, timeout)
    with _client(server, timeout, policy) as client:
        try:
            response = client.com.atproto.server.create_session(
                models.ComAtprotoServerCreateSession.Data(
                    identifier=identifier, password=app_password
                )
            )
        except _CALL_ERRORS as error:
            raise call.classify(error) from error
    return _Session.from_answer(response, server).credentials()


# Publishing ------------------------------------------------------------------------------


class BlueskyPublisher:
    """Posts and reposts with `putRecord` at a fixed TID: a retry is the same record."""

    idempotent = True

    def __init__(self, *, policy: AddressPolicy) -> None:
        self.policy = policy

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        collection, record = build_record(item)
        rkey = record_key(item)
        session = _Session.from_context(account)
        call = _Call("write", session.handle, session.pds_url, account.timeout)
        with _client(session.pds_url, account.timeout, self.policy) as client:

            def put(client: Client, auth: dict[str, str], did: str) -> Any:
                return client.com.atproto.repo.put_record(
                    models.ComAtprotoRepoPutRecord.Data(
                        repo=did, collection=collection, rkey=rkey, record=record
                    ),
                    headers=auth,
                )

            response, session = _Authorized(account, client, call).run(session, put)
        return _sent(item, session.handle, str(response.uri), str(response.cid))

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        collection = REPOST_COLLECTION if item.kind == ReshareKind.REPOST else POST_COLLECTION
        rkey = record_key(item)
        credentials = account.credentials or {}
        did = str(credentials.get("did") or account.remote_user_id or "")
        handle = str(credentials.get("handle") or account.handle)
        server = _server_url(str(credentials.get("pds_url") or account.base_url or DEFAULT_PDS))
        if not did:
            raise Unknown("cannot look on Bluesky: the account's DID is not known")
        call = _Call("read", handle, server, account.timeout)
        with _client(server, account.timeout, self.policy) as client:
            try:
                # Reading a record needs no session (and so no refresh).
                response = client.com.atproto.repo.get_record(
                    models.ComAtprotoRepoGetRecord.Params(
                        repo=did, collection=collection, rkey=rkey
                    )
                )
            except _CALL_ERRORS as error:
                if _xrpc_error(error)[0] == "RecordNotFound":
                    return None
                found = call.classify(error)
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


# Sessions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Session:
    did: str
    handle: str
    pds_url: str
    access_jwt: str
    refresh_jwt: str

    @classmethod
    def from_context(cls, account: AccountContext) -> _Session:
        return cls.from_credentials(account.credentials, account)

    @classmethod
    def from_credentials(cls, credentials: Credentials, account: AccountContext) -> _Session:
        values = credentials or {}
        did = values.get("did") or account.remote_user_id
        access, refresh = values.get("access_jwt"), values.get("refresh_jwt")
        if not (isinstance(did, str) and isinstance(access, str) and isinstance(refresh, str)):
            raise NeedsReconnect(
                f"tribe holds no Bluesky session for @{account.handle}; connect the account again"
            )
        return cls(
            did=did,
            handle=str(values.get("handle") or account.handle),
            pds_url=_server_url(str(values.get("pds_url") or account.base_url or DEFAULT_PDS)),
            access_jwt=access,
            refresh_jwt=refresh,
        )

    @classmethod
    def from_answer(cls, response: Any, server: str) -> _Session:
        """From a createSession/refreshSession answer (its DID document may name the PDS)."""
        pds = get_session_pds_endpoint(response)
        return cls(
            did=str(response.did),
            handle=str(response.handle),
            pds_url=_server_url(str(pds)) if pds else server,
            access_jwt=str(response.access_jwt),
            refresh_jwt=str(response.refresh_jwt),
        )

    def credentials(self) -> Credentials:
        return {
            "did": self.did,
            "handle": self.handle,
            "pds_url": self.pds_url,
            "access_jwt": self.access_jwt,
            "refresh_jwt": self.refresh_jwt,
        }

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_jwt}"}

    def expiring(self) -> bool:
        """Whether the access token's `exp` is past or within REFRESH_MARGIN."""
        try:
            exp = get_jwt_payload(self.access_jwt).exp
        except Exception:  # not a JWT we can read: let the PDS judge it
            return False
        if not isinstance(exp, int | float):
            return False
        return datetime.fromtimestamp(exp, UTC) - REFRESH_MARGIN <= datetime.now(UTC)


class _Authorized:
    """Runs one authorized call: refresh first when due, and once more on ExpiredToken."""

    def __init__(self, account: AccountContext, client: Client, call: _Call) -> None:
        self.account, self.client, self.call = account, client, call

    def run(
        self, session: _Session, action: Callable[[Client, dict[str, str], str], T]
    ) -> tuple[T, _Session]:
        if session.expiring():
            session = self.refresh(session)
        try:
            return action(self.client, session.auth(), session.did), session
        except _CALL_ERRORS as error:
            if _xrpc_error(error)[0] not in _TOKEN_ERRORS:
                raise self.call.classify(error) from error
        # The PDS refused the access token before acting: refresh once, try once more.
        session = self.refresh(session)
        try:
            return action(self.client, session.auth(), session.did), session
        except _CALL_ERRORS as error:
            raise self.call.classify(error) from error

    def refresh(self, stale: _Session) -> _Session:
        account, client = self.account, self.client

        def update(current: Credentials) -> Credentials | None:
            now = _Session.from_credentials(current, account)
            if now.refresh_jwt != stale.refresh_jwt and not now.expiring():
                return None  # another worker refreshed it meanwhile: use theirs
            return {**current, **self._refresh_session(client, now).credentials()}

        saved = account.refresh(update)
        account.credentials = saved
        return _Session.from_credentials(saved, account)

    def _refresh_session(self, client: Client, session: _Session) -> _Session:
        call = _Call("refresh", session.handle, session.pds_url, self.call.timeout)
        try:
            response = client.com.atproto.server.refresh_session(
                headers={"Authorization": f"Bearer {session.refresh_jwt}"}
            )
        except _CALL_ERRORS as error:
            raise call.classify(error) from error
        return _Session.from_answer(response, session.pds_url)


# Calls and their errors ------------------------------------------------------------------


@contextmanager
def _client(server: str, timeout: float, policy: AddressPolicy) -> Iterator[Client]:
    """An SDK client without a session (so it never refreshes on its own), `timeout` on
    all, every connection through tribe's guard and no redirect followed."""
    transport = GuardedTransport(policy, refuse_redirects=True)
    # trust_env=False: with it, httpx would send some URLs around the transport to a proxy.
    request = Request(timeout=timeout, transport=transport, trust_env=False)
    client = Client(base_url=server, request=request)
    try:
        yield client
    finally:
        client.request.close()


def pds_address(url: str) -> str:
    """A member-given PDS address, read strictly (InvalidInputError), as `_server_url`."""
    address = parse_web_address(url, what="the Bluesky server's address")
    if address.query or address.fragment:
        raise InvalidInputError(
            f"{url.strip()[:100]!r} is not a Bluesky server address, like https://bsky.social"
        )
    return _server_url(f"{address.origin}{address.path}")


def _server_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url.removesuffix("/xrpc")


def _xrpc_error(error: BaseException) -> tuple[str | None, str | None]:
    """(error, message) of an XRPC error answer; (None, None) when there is none."""
    if not isinstance(error, RequestErrorBase) or error.response is None:
        return None, None
    content = error.response.content
    code = getattr(content, "error", None)
    message = getattr(content, "message", None)
    if isinstance(content, dict):
        code, message = content.get("error"), content.get("message")
    return (str(code) if code else None), (str(message) if message else None)


@dataclass(frozen=True)
class _Call:
    step: Step
    who: str  # the handle, for messages
    server: str
    timeout: float

    @property
    def host(self) -> str:
        return urlsplit(self.server).netloc or self.server

    def classify(self, error: Exception) -> PublishError:
        """Turn an SDK/httpx failure into the outcome the dispatcher acts on."""
        if isinstance(error, RateLimitExceededError):
            now = datetime.now(UTC)
            until = cast("datetime | None", error.reset_at)
            if until is None or until <= now:
                until = now + RATE_LIMIT_FALLBACK
            return RateLimited(
                f"Bluesky asks tribe to slow down for @{self.who}; "
                f"it will try again after {until:%Y-%m-%d %H:%M} UTC",
                until,
            )
        if isinstance(error, RequestErrorBase) and error.response is not None:
            return self._answer(int(error.response.status_code), *_xrpc_error(error))
        if isinstance(error, httpx.InvalidURL | httpx.UnsupportedProtocol):
            return NeedsReconnect(
                f"tribe cannot use {self.server!r} as the Bluesky server of @{self.who}; "
                "connect the account again"
            )
        cause = error if isinstance(error, httpx.HTTPError) else error.__cause__
        if isinstance(error, RequestErrorBase | httpx.HTTPError) and isinstance(
            cause, httpx.HTTPError
        ):
            return self._transport(cause)
        # An answer the SDK could not read (a proxy's page, a broken PDS).
        if self.step == "write":
            return Unknown(
                f"Bluesky's answer for @{self.who} could not be read ({error}); "
                "the post may have gone out"
            )
        return Transient(f"Bluesky's answer for @{self.who} could not be read ({error})")

    def _refused_by_guard(self, refused: Exception) -> PublishError:
        if isinstance(refused, BlockedAddressError):  # no connection was made
            return Transient(str(refused))
        if self.step == "write":  # a redirect, refused after the request was sent
            return Unknown(f"{refused}; the post may have gone out")
        return Transient(str(refused))

    def _answer(self, status: int, code: str | None, message: str | None) -> PublishError:
        said = message or code or f"HTTP {status}"
        refused = self._refused(status, code, said)
        if refused is not None:
            return refused
        if 400 <= status < 500 and status != 409:
            return self._invalid(status, said)
        if self.step == "write":
            return Unknown(
                f"Bluesky answered with an error (HTTP {status}: {said}) after receiving the "
                "post; it may have gone out"
            )
        return Transient(f"Bluesky is having trouble (HTTP {status}: {said})")

    def _refused(self, status: int, code: str | None, said: str) -> NeedsReconnect | None:
        """The account's credentials or server are the problem: the member must act."""
        who = f"@{self.who}"
        if self.step == "login" and (status == 401 or code == "AuthenticationRequired"):
            reason = (
                f"Bluesky refused the handle or app password for {who} ({said}); check both "
                "(an app password looks like xxxx-xxxx-xxxx-xxxx)"
            )
        elif code == "AuthFactorTokenRequired":
            reason = (
                f"Bluesky wants an e-mail code for {who}, which happens with the main "
                "password: create an app password (Settings > Privacy and security > "
                "App passwords) and connect with that"
            )
        elif status in {401, 403} or code in _ACCOUNT_ERRORS or code in _TOKEN_ERRORS:
            reason = (
                f"Bluesky no longer accepts tribe's session for {who} ({said}); "
                "connect the account again with an app password"
            )
        elif status in {404, 501} or code in _NOT_SERVED:
            reason = (
                f"{self.host} does not answer as a Bluesky server for {who} ({said}); "
                "check the account's server and connect again"
            )
        else:
            return None
        return NeedsReconnect(reason)

    def _invalid(self, status: int, said: str) -> PublishError:
        """Any other 4xx: the request itself was refused."""
        if self.step == "read":
            return Unknown(f"Bluesky answered {said}")
        if self.step != "write":
            return NeedsReconnect(
                f"Bluesky refused to sign in @{self.who} ({said}); connect the account again"
            )
        if status == 413:
            return Rejected("Bluesky refused the post as too large")
        return Rejected(f"Bluesky refused the post: {said}")

    def _transport(self, cause: httpx.HTTPError) -> PublishError:
        refused = guard_refusal(cause)  # the guard speaks through httpx's own errors
        if refused is not None:
            return self._refused_by_guard(refused)
        if isinstance(cause, _NOT_SENT):
            return Transient(f"could not reach Bluesky at {self.host} ({type(cause).__name__})")
        if isinstance(cause, httpx.TimeoutException):
            if self.step == "write":
                return Unknown(
                    f"Bluesky did not answer within {self.timeout:g} s; the post may have gone out"
                )
            return Transient(f"Bluesky did not answer within {self.timeout:g} s")
        if self.step == "write":
            return Unknown(
                f"the connection to Bluesky broke after the post was sent "
                f"({type(cause).__name__}); it may have gone out"
            )
        return Transient(f"the connection to Bluesky broke ({type(cause).__name__})")
