"""A fake Bluesky PDS: the XRPC methods tribe uses, answered like the reference PDS.

Wire contract followed (@atproto/pds, bsky.social):

- `POST /xrpc/com.atproto.server.createSession` {identifier, password}: the identifier is
  a handle, DID or e-mail; a wrong one answers 401 `AuthenticationRequired` "Invalid
  identifier or password". Logins are rate limited per identifier (`login_limit` per
  `login_window` seconds, 30 per 5 minutes like bsky.social) -> 429 `RateLimitExceeded`.
  The answer carries `accessJwt`, `refreshJwt`, `handle`, `did`, `active`, and no `didDoc`
  unless `did_doc=True` (then one that names this fake as the PDS, never a real host).
- `POST /xrpc/com.atproto.server.refreshSession` with the refresh JWT as bearer: ROTATES,
  the old refresh token is dead at once (stricter than the real PDS, which forgives a
  reuse for a short grace period): a dead or revoked one answers 400 `ExpiredToken`
  "Token has been revoked"; an expired one 400 `ExpiredToken` "Token has expired"; an
  access token in its place 400 `InvalidToken` "Bad token scope".
- `GET /xrpc/com.atproto.server.getSession`, `POST .../deleteSession`.
- `POST /xrpc/com.atproto.repo.putRecord` (create or replace at the rkey: one record),
  `POST .../createRecord` (an existing rkey answers 500 `InternalServerError`, as the real
  one does), `POST .../deleteRecord`, `GET .../getRecord` (absent: 400 `RecordNotFound`),
  `GET .../listRecords`. Reads need no token. Records of `app.bsky.feed.post` and
  `app.bsky.feed.repost` are checked like the lexicon does (text at most 300 graphemes
  and 3000 bytes, createdAt a datetime, facets' byte slices, the repost's strong ref):
  400 `InvalidRequest` with the PDS's wording. A record's CID is a hash of its content,
  so writing the same record again gives the same CID.
- Access tokens are JWTs (HS256 here): header {typ: at+jwt}, payload {scope, sub: DID,
  aud, jti, iat, exp}; lifetime `access_ttl` seconds (may be negative: born expired). Bad
  ones answer 400 `InvalidToken` "Token could not be verified", expired ones 400
  `ExpiredToken` "Token has expired", none 401 `AuthMissing` "Authentication Required".
- `POST /xrpc/com.atproto.repo.uploadBlob` with an access token and the raw bytes: the
  blob is kept for the account, its MIME type sniffed from the bytes (the header's when
  they are not a known image, like the PDS), and answered as a blob ref `{"$type": "blob",
  "ref": {"$link": <CID>}, "mimeType", "size"}`. A record's blob refs are checked when the
  record is written, as the PDS does: the blob must be this account's (400
  `BlobNotFound` "Could not find blob: <CID>"), of the MIME type referenced (400
  `InvalidMimeType`), and an `app.bsky.embed.external` thumb an image of at most
  1,000,000 bytes (400 `BlobTooLarge`).
- `GET /xrpc/app.bsky.actor.getProfile?actor=<DID or handle>` with an access token (a
  PDS hands app.bsky.* on to the app view for a signed-in account): the app view's
  `profileViewDetailed` with `followersCount` as `set_followers` says (left out when set
  to None), `followsCount`, `postsCount`; an unknown actor answers 400 `InvalidRequest`
  "Profile not found".
- Every answer (faults excepted) carries `ratelimit-limit`, `ratelimit-remaining`,
  `ratelimit-reset` (epoch seconds) and `ratelimit-policy`.

Test helpers: `add_account`, `set_followers`, `records`, `record`, `blobs`, `blob`,
`upload_count`, `login_count`,
`refresh_count`, `revoke_sessions(did)` (every refresh token dies; access tokens live on
until they expire, as on the real PDS), `expire_access(did)` (the access tokens issued so
far answer `ExpiredToken` although their `exp` is still ahead: the server's clock
disagrees), `session_for(did)` (tokens without a login, not counted as one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import regex

from tests.fakenet.common import FakeServer, Request, Response, bearer

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
AUDIENCE = "did:web:pds.fake.test"
ACCESS_SCOPE = "com.atproto.appPass"  # what a session made with an app password gets
REFRESH_SCOPE = "com.atproto.refresh"
THUMB_MAX_BYTES = 1_000_000  # app.bsky.embed.external#external thumb: maxSize
# The signatures the PDS sniffs a blob's type by (it trusts the bytes, not the header).
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
)

_RKEY = re.compile(r"[A-Za-z0-9._:~-]{1,512}")
_NSID = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)+\.[a-zA-Z][a-zA-Z0-9]*")
_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_GRAPHEME = regex.compile(r"\X")


def xrpc_error(status: int, error: str, message: str) -> Response:
    """An XRPC error answer: {"error": <name>, "message": <words>}."""
    return Response(status, {"error": error, "message": message})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_payload(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (for tests that look inside tokens)."""
    return dict(json.loads(unb64url(token.split(".")[1])))


def content_cid(value: Any) -> str:
    """A CIDv1-looking string (dag-cbor, sha-256) that depends only on the content."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def tid(micros: int | None = None) -> str:
    """A record key of type tid: microseconds since 1970 and a clock id, base32-sortable."""
    if micros is None:
        micros = time.time_ns() // 1000
    value = (micros << 10) | secrets.randbelow(1024)
    return "".join(_TID_CHARS[(value >> (5 * (12 - i))) & 31] for i in range(13))


def graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text))


@dataclass
class FakeAccount:
    handle: str
    did: str
    app_password: str
    email: str
    followers: int | None = 0  # None: the app view's profile has no count


@dataclass
class FakeRecord:
    """One record as the fake holds it (what test helpers return)."""

    did: str
    collection: str
    rkey: str
    value: dict[str, Any]
    cid: str
    writes: int = 1  # how many successful writes landed on this rkey

    @property
    def uri(self) -> str:
        return f"at://{self.did}/{self.collection}/{self.rkey}"


@dataclass
class FakeBlob:
    """One uploaded blob as the fake holds it."""

    did: str
    cid: str
    mime_type: str
    data: bytes

    def ref(self) -> dict[str, Any]:
        """The blob ref as uploadBlob answers it (and records carry it)."""
        return {
            "$type": "blob",
            "ref": {"$link": self.cid},
            "mimeType": self.mime_type,
            "size": len(self.data),
        }


@dataclass
class _RefreshToken:
    did: str
    alive: bool = True


@dataclass
class _Bucket:
    limit: int
    window: int
    used: int = 0
    reset: int = 0

    def take(self, now: float) -> bool:
        if now >= self.reset:
            self.used, self.reset = 0, int(now) + self.window
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def headers(self) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(max(self.limit - self.used, 0)),
            "ratelimit-reset": str(self.reset),
            "ratelimit-policy": f"{self.limit};w={self.window}",
        }


@dataclass
class _Auth:
    did: str | None = None
    error: Response | None = None


class FakeBluesky(FakeServer):
    def __init__(
        self,
        *,
        access_ttl: float = 7200,
        refresh_ttl: float = 90 * 86400,
        login_limit: int = 30,
        login_window: int = 300,
        rate_limit: int = 3000,
        rate_window: int = 300,
        did_doc: bool = False,
    ) -> None:
        super().__init__()
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.did_doc = did_doc
        self.accounts: dict[str, FakeAccount] = {}  # by DID
        self._records: dict[tuple[str, str, str], FakeRecord] = {}
        self._blobs: dict[tuple[str, str], FakeBlob] = {}  # by (DID, CID)
        self._refresh_tokens: dict[str, _RefreshToken] = {}  # by jti
        self._access_tokens: dict[str, list[str]] = {}  # DID -> issued
        self._expired_access: set[str] = set()
        self._login_limit, self._login_window = login_limit, login_window
        self._login_buckets: dict[str, _Bucket] = {}
        self._global = _Bucket(rate_limit, rate_window)
        self._secret = secrets.token_bytes(32)
        self._dids = itertools.count(1)
        xrpc = "/xrpc/"
        for method, nsid, handler in [
            ("POST", "com.atproto.server.createSession", self._create_session),
            ("POST", "com.atproto.server.refreshSession", self._refresh_session),
            ("GET", "com.atproto.server.getSession", self._get_session),
            ("POST", "com.atproto.server.deleteSession", self._delete_session),
            ("POST", "com.atproto.repo.putRecord", self._put_record),
            ("POST", "com.atproto.repo.createRecord", self._create_record),
            ("POST", "com.atproto.repo.deleteRecord", self._delete_record),
            ("GET", "com.atproto.repo.getRecord", self._get_record),
            ("GET", "com.atproto.repo.listRecords", self._list_records),
            ("POST", "com.atproto.repo.uploadBlob", self._upload_blob),
            ("GET", "app.bsky.actor.getProfile", self._get_profile),
        ]:
            self.route(method, re.escape(xrpc + nsid), self._limited(handler))

    # Test helpers ----------------------------------------------------------------------

    def add_account(
        self, handle: str, app_password: str = "abcd-efgh-ijkl-mnop", *, did: str | None = None
    ) -> FakeAccount:
        with self.lock:
            number = next(self._dids)
            account = FakeAccount(
                handle=handle,
                did=did or f"did:plc:fake{number:020d}",
                app_password=app_password,
                email=f"user{number}@example.org",
            )
            self.accounts[account.did] = account
            return account

    def set_followers(self, did: str, followers: int | None) -> None:
        """How many follow the account (the profile's followersCount; None leaves it out)."""
        with self.lock:
            self.accounts[did].followers = followers

    def records(self, did: str | None = None, collection: str | None = None) -> list[FakeRecord]:
        with self.lock:
            return [
                r
                for r in self._records.values()
                if (did is None or r.did == did)
                and (collection is None or r.collection == collection)
            ]

    def record(self, did: str, collection: str, rkey: str) -> FakeRecord | None:
        with self.lock:
            return self._records.get((did, collection, rkey))

    def blobs(self, did: str | None = None) -> list[FakeBlob]:
        """The blobs uploaded (by the account `did`), oldest first."""
        with self.lock:
            return [b for b in self._blobs.values() if did is None or b.did == did]

    def blob(self, did: str, ref: Any) -> FakeBlob | None:
        """The account's blob a record's blob ref (`{"ref": {"$link": CID}, ...}`) points at."""
        link = ref.get("ref", {}).get("$link") if isinstance(ref, dict) else None
        with self.lock:
            return self._blobs.get((did, str(link)))

    @property
    def upload_count(self) -> int:
        """uploadBlob calls that reached the server (failed ones included)."""
        return len(self.calls("POST", r"/xrpc/com\.atproto\.repo\.uploadBlob"))

    @property
    def login_count(self) -> int:
        """createSession calls that reached the server (failed ones included)."""
        return len(self.calls("POST", r"/xrpc/com\.atproto\.server\.createSession"))

    @property
    def refresh_count(self) -> int:
        """refreshSession calls that reached the server (failed ones included)."""
        return len(self.calls("POST", r"/xrpc/com\.atproto\.server\.refreshSession"))

    def revoke_sessions(self, did: str) -> None:
        """Every refresh token of the account dies (app password revoked, or a sign-out)."""
        with self.lock:
            for token in self._refresh_tokens.values():
                if token.did == did:
                    token.alive = False

    def expire_access(self, did: str) -> None:
        """The access tokens issued so far answer ExpiredToken, whatever their `exp` says."""
        with self.lock:
            self._expired_access.update(self._access_tokens.get(did, []))

    def session_for(self, did: str) -> dict[str, str]:
        """Tokens for a session made without a login (not counted as one)."""
        with self.lock:
            return self._issue(self.accounts[did])

    # Tokens ----------------------------------------------------------------------------

    def _sign(self, header: dict[str, Any], payload: dict[str, Any]) -> str:
        head = b64url(json.dumps(header, separators=(",", ":")).encode())
        body = b64url(json.dumps(payload, separators=(",", ":")).encode())
        signature = hmac.new(self._secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64url(signature)}"

    def _issue(self, account: FakeAccount) -> dict[str, str]:
        now = int(time.time())
        access = self._sign(
            {"typ": "at+jwt", "alg": "HS256"},
            {
                "scope": ACCESS_SCOPE,
                "sub": account.did,
                "aud": AUDIENCE,
                "jti": secrets.token_urlsafe(12),  # two sessions in one second differ
                "iat": now,
                "exp": int(now + self.access_ttl),
            },
        )
        jti = secrets.token_urlsafe(24)
        refresh = self._sign(
            {"typ": "refresh+jwt", "alg": "HS256"},
            {
                "scope": REFRESH_SCOPE,
                "sub": account.did,
                "aud": AUDIENCE,
                "jti": jti,
                "iat": now,
                "exp": int(now + self.refresh_ttl),
            },
        )
        self._refresh_tokens[jti] = _RefreshToken(account.did)
        self._access_tokens.setdefault(account.did, []).append(access)
        return {"accessJwt": access, "refreshJwt": refresh}

    def _verify(
        self, token: str | None, scopes: set[str]
    ) -> tuple[dict[str, Any] | None, Response | None]:
        if not token:
            return None, xrpc_error(401, "AuthMissing", "Authentication Required")
        try:
            head, body, signature = token.split(".")
            expected = hmac.new(self._secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, unb64url(signature)):
                raise ValueError("bad signature")
            payload = dict(json.loads(unb64url(body)))
        except ValueError:
            return None, xrpc_error(400, "InvalidToken", "Token could not be verified")
        if int(payload.get("exp", 0)) <= time.time():
            return None, xrpc_error(400, "ExpiredToken", "Token has expired")
        if payload.get("scope") not in scopes:
            return None, xrpc_error(400, "InvalidToken", "Bad token scope")
        return payload, None

    def _access(self, request: Request) -> _Auth:
        token = bearer(request)
        payload, error = self._verify(token, {ACCESS_SCOPE, "com.atproto.access"})
        if error is not None:
            return _Auth(error=error)
        assert payload is not None
        if token in self._expired_access:
            return _Auth(error=xrpc_error(400, "ExpiredToken", "Token has expired"))
        return _Auth(did=str(payload["sub"]))

    def _session_body(self, account: FakeAccount, tokens: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            **tokens,
            "handle": account.handle,
            "did": account.did,
            "email": account.email,
            "emailConfirmed": True,
            "active": True,
        }
        if self.did_doc:
            body["didDoc"] = {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": account.did,
                "alsoKnownAs": [f"at://{account.handle}"],
                "verificationMethod": [],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.base_url,
                    }
                ],
            }
        return body

    # Routes ----------------------------------------------------------------------------

    def _limited(self, handler: Any) -> Any:
        def serve(request: Request) -> Response:
            with self.lock:
                now = time.time()
                bucket = self._global
                if request.path.endswith("createSession"):
                    identifier = str((request.body or {}).get("identifier", "")).lower()
                    bucket = self._login_buckets.setdefault(
                        identifier, _Bucket(self._login_limit, self._login_window)
                    )
                if not bucket.take(now):
                    return Response(
                        429,
                        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                        bucket.headers(),
                    )
                response: Response = handler(request)
                response.headers = {**bucket.headers(), **response.headers}
                return response

        return serve

    def _find_account(self, identifier: str) -> FakeAccount | None:
        wanted = identifier.strip().lower().removeprefix("@")
        for account in self.accounts.values():
            if wanted in {account.handle.lower(), account.did.lower(), account.email.lower()}:
                return account
        return None

    def _create_session(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        identifier, password = body.get("identifier"), body.get("password")
        if not isinstance(identifier, str) or not isinstance(password, str):
            return xrpc_error(400, "InvalidRequest", 'Input must have the property "identifier"')
        account = self._find_account(identifier)
        if account is None or not hmac.compare_digest(account.app_password, password):
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        return Response(200, self._session_body(account, self._issue(account)))

    def _refresh_session(self, request: Request) -> Response:
        payload, error = self._verify(bearer(request), {REFRESH_SCOPE})
        if error is not None:
            return error
        assert payload is not None
        token = self._refresh_tokens.get(str(payload.get("jti")))
        if token is None or not token.alive:
            return xrpc_error(400, "ExpiredToken", "Token has been revoked")
        token.alive = False  # rotation: the old refresh token is spent
        account = self.accounts[token.did]
        return Response(200, self._session_body(account, self._issue(account)))

    def _get_session(self, request: Request) -> Response:
        auth = self._access(request)
        if auth.error is not None:
            return auth.error
        account = self.accounts[str(auth.did)]
        body = self._session_body(account, {})
        return Response(200, body)

    def _delete_session(self, request: Request) -> Response:
        payload, error = self._verify(bearer(request), {REFRESH_SCOPE})
        if error is not None:
            return error
        assert payload is not None
        token = self._refresh_tokens.get(str(payload.get("jti")))
        if token is not None:
            token.alive = False
        return Response(200, b"")

    def _repo(self, name: Any) -> FakeAccount | None:
        return self._find_account(name) if isinstance(name, str) else None

    def _write_target(  # noqa: PLR0911 - one answer per check, like the PDS
        self, request: Request, *, rkey_required: bool
    ) -> tuple[Any, Response | None]:
        auth = self._access(request)
        if auth.error is not None:
            return None, auth.error
        body = request.body if isinstance(request.body, dict) else {}
        repo = self._repo(body.get("repo"))
        if repo is None:
            return None, xrpc_error(
                400, "InvalidRequest", f"Could not find repo: {body.get('repo')}"
            )
        if repo.did != auth.did:
            return None, xrpc_error(401, "AuthenticationRequired", "Authentication Required")
        collection = body.get("collection")
        if not isinstance(collection, str) or not _NSID.fullmatch(collection):
            return None, xrpc_error(400, "InvalidRequest", "Invalid collection")
        rkey = body.get("rkey")
        if rkey is None and not rkey_required:
            rkey = tid()
        if not isinstance(rkey, str) or not _RKEY.fullmatch(rkey) or rkey in {".", ".."}:
            return None, xrpc_error(400, "InvalidRequest", "Invalid record key")
        record = body.get("record")
        if not isinstance(record, dict):
            return None, xrpc_error(400, "InvalidRequest", "Input/record must be an object")
        record = dict(record)
        record.setdefault("$type", collection)
        if record["$type"] != collection:
            return None, xrpc_error(
                400,
                "InvalidRequest",
                f"Invalid $type: expected {collection}, got {record['$type']}",
            )
        problem = _invalid(collection, record)
        if problem:
            return None, xrpc_error(
                400, "InvalidRequest", f"Invalid {collection} record: {problem}"
            )
        blob_error = self._blob_problem(repo.did, record)
        if blob_error is not None:
            return None, blob_error
        return (repo.did, collection, rkey, record), None

    def _blob_problem(self, did: str, record: dict[str, Any]) -> Response | None:
        """What the PDS says of a record's thumb blob ref (None: it may be written)."""
        embed = record.get("embed")
        external = embed.get("external") if isinstance(embed, dict) else None
        ref = external.get("thumb") if isinstance(external, dict) else None
        if ref is None:
            return None
        link = ref.get("ref", {}).get("$link") if isinstance(ref, dict) else None
        stored = self._blobs.get((did, str(link)))
        if stored is None:
            return xrpc_error(400, "BlobNotFound", f"Could not find blob: {link}")
        if ref.get("mimeType") != stored.mime_type:
            return xrpc_error(
                400,
                "InvalidMimeType",
                "Referenced Mimetype does not match stored blob. "
                f"Expected: {stored.mime_type}, Got: {ref.get('mimeType')}",
            )
        if not stored.mime_type.startswith("image/"):
            return xrpc_error(
                400,
                "InvalidMimeType",
                f"Wrong type of file. It is {stored.mime_type} but it must match image/*.",
            )
        if len(stored.data) > THUMB_MAX_BYTES:
            return xrpc_error(
                400,
                "BlobTooLarge",
                f"This file is too large. It is {len(stored.data)} bytes "
                f"but the maximum size is {THUMB_MAX_BYTES} bytes.",
            )
        return None

    def _upload_blob(self, request: Request) -> Response:
        auth = self._access(request)
        if auth.error is not None:
            return auth.error
        data = request.raw
        sniffed = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
        if sniffed is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            sniffed = "image/webp"
        header = (request.header("Content-Type") or "application/octet-stream").split(";")[0]
        cid = "bafkrei" + base64.b32encode(hashlib.sha256(data).digest()).decode().lower()[:52]
        blob = FakeBlob(str(auth.did), cid, sniffed or header.strip(), data)
        self._blobs[(blob.did, cid)] = blob
        return Response(200, {"blob": blob.ref()})

    def _written(self, stored: FakeRecord) -> Response:
        return Response(
            200,
            {
                "uri": stored.uri,
                "cid": stored.cid,
                "commit": {"cid": content_cid([stored.uri, stored.writes]), "rev": tid()},
                "validationStatus": "valid",
            },
        )

    def _put_record(self, request: Request) -> Response:
        target, error = self._write_target(request, rkey_required=True)
        if error is not None:
            return error
        did, collection, rkey, record = target
        cid = content_cid(record)
        stored = self._records.get((did, collection, rkey))
        if stored is None:
            stored = FakeRecord(did, collection, rkey, record, cid)
            self._records[(did, collection, rkey)] = stored
        elif stored.cid != cid:
            stored.value, stored.cid = record, cid
            stored.writes += 1
        return self._written(stored)

    def _create_record(self, request: Request) -> Response:
        target, error = self._write_target(request, rkey_required=False)
        if error is not None:
            return error
        did, collection, rkey, record = target
        if (did, collection, rkey) in self._records:
            # What bsky.social answers for a create at a taken rkey (a repo conflict).
            return xrpc_error(500, "InternalServerError", "Internal Server Error")
        stored = FakeRecord(did, collection, rkey, record, content_cid(record))
        self._records[(did, collection, rkey)] = stored
        return self._written(stored)

    def _delete_record(self, request: Request) -> Response:
        auth = self._access(request)
        if auth.error is not None:
            return auth.error
        body = request.body if isinstance(request.body, dict) else {}
        repo = self._repo(body.get("repo"))
        if repo is None or repo.did != auth.did:
            return xrpc_error(401, "AuthenticationRequired", "Authentication Required")
        self._records.pop((repo.did, str(body.get("collection")), str(body.get("rkey"))), None)
        return Response(200, {"commit": {"cid": content_cid(body), "rev": tid()}})

    def _get_record(self, request: Request) -> Response:
        repo = self._repo(request.query.get("repo"))
        if repo is None:
            return xrpc_error(
                400, "InvalidRequest", f"Could not find repo: {request.query.get('repo')}"
            )
        key = (repo.did, request.query.get("collection", ""), request.query.get("rkey", ""))
        stored = self._records.get(key)
        wanted_cid = request.query.get("cid")
        if stored is None or (wanted_cid and wanted_cid != stored.cid):
            uri = f"at://{key[0]}/{key[1]}/{key[2]}"
            return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return Response(200, {"uri": stored.uri, "cid": stored.cid, "value": stored.value})

    def _list_records(self, request: Request) -> Response:
        repo = self._repo(request.query.get("repo"))
        if repo is None:
            return xrpc_error(
                400, "InvalidRequest", f"Could not find repo: {request.query.get('repo')}"
            )
        collection = request.query.get("collection", "")
        limit = min(int(request.query.get("limit", "50")), 100)
        found = sorted(
            (r for r in self._records.values() if r.did == repo.did and r.collection == collection),
            key=lambda r: r.rkey,
            reverse=request.query.get("reverse") != "true",
        )
        cursor = request.query.get("cursor")
        if cursor:
            newest_first = request.query.get("reverse") != "true"
            found = [r for r in found if (r.rkey < cursor if newest_first else r.rkey > cursor)]
        page = found[:limit]
        body: dict[str, Any] = {
            "records": [{"uri": r.uri, "cid": r.cid, "value": r.value} for r in page]
        }
        if len(found) > limit:
            body["cursor"] = page[-1].rkey
        return Response(200, body)

    def _get_profile(self, request: Request) -> Response:
        auth = self._access(request)
        if auth.error is not None:
            return auth.error
        actor = self._repo(request.query.get("actor"))
        if actor is None:
            return xrpc_error(400, "InvalidRequest", "Profile not found")
        posts = sum(
            1 for r in self._records.values() if r.did == actor.did and r.collection == POST
        )
        body: dict[str, Any] = {
            "did": actor.did,
            "handle": actor.handle,
            "displayName": actor.handle.split(".")[0].title(),
            "followsCount": 0,
            "postsCount": posts,
            "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False},
            "indexedAt": "2024-01-01T00:00:00.000Z",
            "createdAt": "2024-01-01T00:00:00.000Z",
            "labels": [],
            "viewer": {"muted": False, "blockedBy": False},
        }
        if actor.followers is not None:
            body["followersCount"] = actor.followers
        return Response(200, body)


def _datetime_ok(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value
    ):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _invalid(collection: str, record: dict[str, Any]) -> str | None:  # noqa: PLR0911
    """What the lexicon check would say about a post or repost record (None: valid)."""
    if not _datetime_ok(record.get("createdAt")):
        return "Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)"
    if collection == POST:
        text = record.get("text")
        if not isinstance(text, str):
            return 'Record must have the property "text"'
        if len(text.encode()) > 3000:
            return "Record/text must not be longer than 3000 characters"
        if graphemes(text) > 300:
            return "Record/text must not be longer than 300 graphemes"
        for i, facet in enumerate(record.get("facets") or []):
            index = facet.get("index") if isinstance(facet, dict) else None
            if not isinstance(index, dict):
                return f'Record/facets/{i} must have the property "index"'
            for name in ("byteStart", "byteEnd"):
                if not isinstance(index.get(name), int) or index[name] < 0:
                    return f"Record/facets/{i}/index/{name} must be a non-negative integer"
            if not facet.get("features"):
                return f'Record/facets/{i} must have the property "features"'
        embed = record.get("embed")
        if isinstance(embed, dict) and embed.get("$type") == "app.bsky.embed.external":
            external = embed.get("external")
            if not isinstance(external, dict):
                return 'Record/embed must have the property "external"'
            for name in ("uri", "title", "description"):
                if not isinstance(external.get(name), str):
                    return f'Record/embed/external must have the property "{name}"'
    if collection == REPOST:
        subject = record.get("subject")
        if not isinstance(subject, dict):
            return 'Record must have the property "subject"'
        if not str(subject.get("uri", "")).startswith("at://"):
            return "Record/subject/uri must be a valid at-uri"
        if not isinstance(subject.get("cid"), str) or not subject["cid"]:
            return 'Record/subject must have the property "cid"'
    return None
