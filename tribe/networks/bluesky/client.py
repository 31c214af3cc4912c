"""The atproto SDK, tamed: a guarded client per call, and sessions tribe refreshes itself.

One guarded way out: the SDK's httpx client gets `GuardedTransport`
(tribe/infra/netguard.py) through atproto's `Request`, so every connection, to the
member's PDS or wherever its answers point, is checked against the `AddressPolicy`, and
a redirect is refused instead of followed (a 307 would otherwise carry the app password
to wherever it points). Every call has the account's timeout (httpx's connect, read,
write and pool timeouts).

Sessions. Logins are rate limited hard (about 30 per 5 minutes and a few hundred a day
per account), so only connecting logs in; a post sends the stored access token. When it
expires within two minutes (by its `exp`), or the PDS answers `ExpiredToken` /
`InvalidToken`, the session is refreshed inside `AccountContext.refresh` (the account's
lock): the update first looks whether the stored credentials are still the stale ones
(another worker may have refreshed them), and only then spends the single-use refresh
token, so the new one is saved before it is used. atproto's `Client` refreshes on its
own when it holds a session; the clients made here never hold one (each call carries its
own `Authorization` header), so that path can never run behind the lock's back.

Credentials (what `login` returns; stored encrypted)::

    {
        "did": "did:plc:...",          # the account; also its remote_user_id
        "handle": "alice.bsky.social", # as the PDS last reported it
        "pds_url": "https://...",      # where the session lives: the PDS the login answer's
                                       # DID document names, else the server logged in to
        "access_jwt": "...",           # short-lived (about two hours on bsky.social)
        "refresh_jwt": "...",          # single use: every refresh returns a new one
    }
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from atproto_client import Client  # type: ignore[import-untyped]
from atproto_client.client.session import (  # type: ignore[import-untyped]
    get_session_pds_endpoint,
)
from atproto_client.request import Request  # type: ignore[import-untyped]
from atproto_server.auth.jwt import get_jwt_payload  # type: ignore[import-untyped]

from tribe.core.errors import InvalidInputError
from tribe.core.outcomes import AccountContext, Credentials, NeedsReconnect
from tribe.core.urls import parse_web_address
from tribe.infra.netguard import AddressPolicy
from tribe.infra.transports import GuardedTransport
from tribe.networks.bluesky.errors import CALL_ERRORS, TOKEN_ERRORS, BlueskyLadder, xrpc_error

DEFAULT_PDS = "https://bsky.social"
REFRESH_MARGIN = timedelta(minutes=2)  # refresh an access token this close to its expiry

T = TypeVar("T")


@contextmanager
def client(server: str, timeout: float, policy: AddressPolicy) -> Iterator[Client]:
    """An SDK client without a session (so it never refreshes on its own), `timeout` on
    all, every connection through tribe's guard and no redirect followed."""
    transport = GuardedTransport(policy, refuse_redirects=True)
    # trust_env=False: with it, httpx would send some URLs around the transport to a proxy.
    request = Request(timeout=timeout, transport=transport, trust_env=False)
    sdk = Client(base_url=server, request=request)
    try:
        yield sdk
    finally:
        sdk.request.close()


def pds_address(url: str) -> str:
    """A member-given PDS address, read strictly (InvalidInputError), as `server_url`."""
    address = parse_web_address(url, what="the Bluesky server's address")
    if address.query or address.fragment:
        raise InvalidInputError(
            f"{url.strip()[:100]!r} is not a Bluesky server address, like https://bsky.social"
        )
    return server_url(f"{address.origin}{address.path}")


def server_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url.removesuffix("/xrpc")


@dataclass(frozen=True)
class Session:
    did: str
    handle: str
    pds_url: str
    access_jwt: str
    refresh_jwt: str

    @classmethod
    def from_context(cls, account: AccountContext) -> Session:
        return cls.from_credentials(account.credentials, account)

    @classmethod
    def from_credentials(cls, credentials: Credentials, account: AccountContext) -> Session:
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
            pds_url=server_url(str(values.get("pds_url") or account.base_url or DEFAULT_PDS)),
            access_jwt=access,
            refresh_jwt=refresh,
        )

    @classmethod
    def from_answer(cls, response: Any, server: str) -> Session:
        """From a createSession/refreshSession answer (its DID document may name the PDS)."""
        pds = get_session_pds_endpoint(response)
        return cls(
            did=str(response.did),
            handle=str(response.handle),
            pds_url=server_url(str(pds)) if pds else server,
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


class Authorized:
    """Runs one authorized call: refresh first when due, and once more on ExpiredToken."""

    def __init__(self, account: AccountContext, sdk: Client, ladder: BlueskyLadder) -> None:
        self.account, self.sdk, self.ladder = account, sdk, ladder

    def run(
        self, session: Session, action: Callable[[Client, dict[str, str], str], T]
    ) -> tuple[T, Session]:
        if session.expiring():
            session = self.refresh(session)
        try:
            return action(self.sdk, session.auth(), session.did), session
        except CALL_ERRORS as error:
            if xrpc_error(error)[0] not in TOKEN_ERRORS:
                raise self.ladder.classify(error) from error
        # The PDS refused the access token before acting: refresh once, try once more.
        session = self.refresh(session)
        try:
            return action(self.sdk, session.auth(), session.did), session
        except CALL_ERRORS as error:
            raise self.ladder.classify(error) from error

    def refresh(self, stale: Session) -> Session:
        account, sdk = self.account, self.sdk

        def update(current: Credentials) -> Credentials | None:
            now = Session.from_credentials(current, account)
            if now.refresh_jwt != stale.refresh_jwt and not now.expiring():
                return None  # another worker refreshed it meanwhile: use theirs
            return {**current, **self._refresh_session(sdk, now).credentials()}

        saved = account.refresh(update)
        account.credentials = saved
        return Session.from_credentials(saved, account)

    def _refresh_session(self, sdk: Client, session: Session) -> Session:
        ladder = BlueskyLadder("refresh", session.handle, session.pds_url, self.ladder.timeout)
        try:
            response = sdk.com.atproto.server.refresh_session(
                headers={"Authorization": f"Bearer {session.refresh_jwt}"}
            )
        except CALL_ERRORS as error:
            raise ladder.classify(error) from error
        return Session.from_answer(response, session.pds_url)
