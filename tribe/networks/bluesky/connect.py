"""Connecting a Bluesky account: one login with an app password, on the member's PDS.

`login` is the only `createSession` call tribe makes (logins are rate limited hard); the
session it returns is kept and refreshed after that (client.py). The PDS the member
names, and the one the account's DID document points to, must both be public servers.
"""

from __future__ import annotations

from collections.abc import Mapping

from atproto_client import models  # type: ignore[import-untyped]

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network
from tribe.core.outcomes import Credentials
from tribe.infra.netguard import AddressPolicy
from tribe.networks.base import AppStore, Connected, Field, check_public
from tribe.networks.bluesky.client import DEFAULT_PDS, Session, client, pds_address
from tribe.networks.bluesky.errors import CALL_ERRORS, BlueskyLadder


class BlueskyConnector:
    """The Connector for Bluesky: no authorize page, so `begin` connects at once."""

    network = Network.BLUESKY
    title = "Bluesky"
    fields = (
        Field("handle", "Handle", example="alice.bsky.social", max_length=253),
        Field(
            "password", "App password", secret=True, max_length=200,
            hint="Bluesky: Settings > Privacy and security > App passwords",
        ),
        Field("pds", "PDS address", default=DEFAULT_PDS, required=False),
    )  # fmt: skip

    def __init__(self, *, policy: AddressPolicy, timeout: float) -> None:
        self.policy = policy
        self.timeout = timeout

    def begin(self, given: Mapping[str, str], apps: AppStore) -> Connected:
        """Log in once with an app password; the session is kept and resumed after that."""
        pds = pds_address(given.get("pds") or DEFAULT_PDS)
        check_public(pds, self.policy, self.timeout)
        handle, password = given.get("handle", "").strip(), given.get("password", "").strip()
        if not handle or not password:
            raise InvalidInputError("Bluesky needs the handle and an app password")
        credentials = login(
            pds, handle.lstrip("@"), password, timeout=self.timeout, policy=self.policy
        )
        check_public(str(credentials["pds_url"]), self.policy, self.timeout)  # its DID's PDS
        return Connected(
            network=Network.BLUESKY,
            handle=str(credentials["handle"]),
            credentials=credentials,
            remote_user_id=str(credentials["did"]),
            base_url=str(credentials["pds_url"]),
        )

    def finish(self, state: Mapping[str, str], answer: str, apps: AppStore) -> Connected:
        raise InvalidInputError("Bluesky connects in one step; start it again")


def login(
    pds_url: str, handle: str, app_password: str, *, timeout: float, policy: AddressPolicy
) -> Credentials:
    """Create the session once, when the member connects: the ONLY `createSession` call.

    `pds_url` is the server the member signs in to (`https://bsky.social` for most);
    `handle` may also be the DID or the e-mail address. Returns the credentials described
    in client.py; `credentials["did"]` is the account's DID (its `remote_user_id`),
    `credentials["pds_url"]` its PDS (`base_url`). Raises `InvalidInputError` for an
    address that is not one, `NeedsReconnect` for a refused handle or password,
    `RateLimited`, `Transient`.
    """
    identifier = handle.strip().removeprefix("@")
    server = pds_address(pds_url or DEFAULT_PDS)
    ladder = BlueskyLadder("login", identifier, server, timeout)
    with client(server, timeout, policy) as sdk:
        try:
            response = sdk.com.atproto.server.create_session(
                models.ComAtprotoServerCreateSession.Data(
                    identifier=identifier, password=app_password
                )
            )
        except CALL_ERRORS as error:
            raise ladder.classify(error) from error
    return Session.from_answer(response, server).credentials()
