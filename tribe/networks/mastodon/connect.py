"""Connecting a Mastodon account: tribe's app on the instance, the member's authorization.

`register_app` (once per instance: the driver keeps it, `AppStore`) -> `authorize_url`
(the member approves tribe there) -> `exchange_code` -> the credentials ->
`describe_account` (who it is, and the instance's text limits). The instance sends the
member back to TRIBE_MASTODON_REDIRECT_URL when it is a web address (the web app's
callback), else shows the code to paste (the default, `urn:ietf:wg:oauth:2.0:oob`).
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from mastodon import Mastodon, MastodonError, MastodonNotFoundError

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network
from tribe.core.urls import parse_web_address
from tribe.infra.netguard import AddressPolicy
from tribe.networks.base import AppStore, Connected, Field, Returns, Step, check_public
from tribe.networks.mastodon.client import (
    CLIENT_NAME,
    DEFAULT_USER_AGENT,
    SCOPES,
    Seen,
    api,
    dig,
    guarded_session,
    host_of,
    int_or_none,
)
from tribe.networks.mastodon.errors import connect_error

# Mastodon's defaults, used when an instance does not say.
DEFAULT_MAX_CHARACTERS = 500
DEFAULT_CHARACTERS_RESERVED_PER_URL = 23


class MastodonConnector:
    """The Connector for Mastodon (and API-compatible servers)."""

    network = Network.MASTODON
    title = "Mastodon"
    fields = (Field("instance", "Your instance", example="mastodon.social", max_length=2048),)

    def __init__(
        self, *, redirect_uri: str, user_agent: str, policy: AddressPolicy, timeout: float
    ) -> None:
        self.redirect_uri = redirect_uri  # TRIBE_MASTODON_REDIRECT_URL
        self.user_agent = user_agent
        self.policy = policy
        self.timeout = timeout

    def begin(self, given: Mapping[str, str], apps: AppStore) -> Step:
        base, app = self._server(given.get("instance", ""), apps)
        # A callback must come back with this: a code someone else got cannot be slipped in.
        state = secrets.token_urlsafe(24)
        url = authorize_url(base, app, redirect_uri=self.redirect_uri, state=state)
        returns = (
            Returns.CALLBACK
            if self.redirect_uri.startswith(("http://", "https://"))
            else Returns.PASTE
        )
        return Step(
            url, {"base": base, "state": state}, returns, "code",
            "Paste the authorization code it shows",
        )  # fmt: skip

    def finish(self, state: Mapping[str, str], answer: str, apps: AppStore) -> Connected:
        code = answer.strip()
        if "?" in code or "://" in code:  # the callback address, not a bare code
            query = dict(parse_qsl(urlsplit(code).query))
            if not secrets.compare_digest(query.get("state", ""), state.get("state", "")):
                raise InvalidInputError(
                    "this answer from Mastodon does not match your attempt; start again"
                )
            code = query.get("code", "")
        if not code:
            raise InvalidInputError("the answer from Mastodon holds no authorization code")
        base, app = self._server(state["base"], apps)  # kept, not registered again
        credentials = exchange_code(
            base, app, code, redirect_uri=self.redirect_uri, timeout=self.timeout,
            policy=self.policy, user_agent=self.user_agent,
        )  # fmt: skip
        about = describe_account(
            base, credentials["access_token"], timeout=self.timeout, policy=self.policy,
            user_agent=self.user_agent,
        )  # fmt: skip
        return Connected(
            network=Network.MASTODON,
            handle=about["handle"],
            credentials=credentials,
            remote_user_id=about["remote_user_id"],
            base_url=base,
            limits={
                "max_characters": about["max_characters"],
                "url_characters": about["characters_reserved_per_url"],
            },
        )

    def _server(self, instance: str, apps: AppStore) -> tuple[str, dict[str, str]]:
        """The instance's API address and tribe's app there, registered on first use."""
        base = instance_base_url(instance)
        check_public(base, self.policy, self.timeout)
        app = apps.get(Network.MASTODON, base)
        if app is None:
            registered = register_app(
                base, redirect_uri=self.redirect_uri, timeout=self.timeout,
                policy=self.policy, user_agent=self.user_agent,
            )  # fmt: skip
            app = apps.keep(Network.MASTODON, base, registered)
        return base, app


def instance_base_url(instance_url: str) -> str:
    """The API address for what a member typed ("mastodon.social", "https://m.s/")."""
    value = instance_url.strip()
    if "@" in value and "://" not in value:
        value = value.rsplit("@", 1)[1]  # "@alice@mastodon.social" -> "mastodon.social"
    if not value:
        raise InvalidInputError("give the Mastodon server's address, like mastodon.social")
    if "://" not in value:
        value = "https://" + value
    address = parse_web_address(value, what="the Mastodon server's address")
    if address.query or address.fragment:
        raise InvalidInputError(
            f"{instance_url.strip()[:100]!r} is not a Mastodon server address, "
            "like https://mastodon.social"
        )
    return f"{address.origin}{address.path}".rstrip("/")


def register_app(
    instance_url: str,
    *,
    redirect_uri: str,
    timeout: float,
    policy: AddressPolicy,
    user_agent: str = DEFAULT_USER_AGENT,
    website: str | None = None,
) -> dict[str, str]:
    """Register tribe on the instance (once per instance): {"client_id", "client_secret"}."""
    base = instance_base_url(instance_url)
    host = host_of(base)
    seen = Seen()
    session = guarded_session(seen, policy, timeout)
    try:
        client_id, client_secret = Mastodon.create_app(
            CLIENT_NAME,
            scopes=SCOPES,
            redirect_uris=redirect_uri,
            website=website,
            api_base_url=base,
            request_timeout=timeout,
            session=session,
            user_agent=user_agent,
        )
    except (MastodonError, KeyError, TypeError) as error:
        # create_app reads the answer without looking at its status: an error answer
        # shows up as a KeyError, an HTML page as a "network" error.
        raise connect_error(error, host, seen.response, "register tribe") from error
    finally:
        session.close()
    return {"client_id": str(client_id), "client_secret": str(client_secret)}


def authorize_url(
    instance_url: str, app: dict[str, str], *, redirect_uri: str, state: str | None = None
) -> str:
    """Where to send the member to approve tribe; the instance redirects back with a code.

    Built here rather than by `Mastodon.auth_request_url`, which fetches the server's
    OAuth metadata and writes "state=None" into the URL when no state is given.
    """
    params = {
        "client_id": app["client_id"],
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES),
    }
    if state is not None:
        params["state"] = state
    return f"{instance_base_url(instance_url)}/oauth/authorize?{urlencode(params)}"


def exchange_code(
    instance_url: str,
    app: dict[str, str],
    code: str,
    *,
    redirect_uri: str,
    timeout: float,
    policy: AddressPolicy,
    user_agent: str = DEFAULT_USER_AGENT,
) -> dict[str, str]:
    """Trade the code from the redirect for the account's credentials {"access_token"}."""
    base = instance_base_url(instance_url)
    host = host_of(base)
    with api(
        base,
        policy=policy,
        timeout=timeout,
        user_agent=user_agent,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    ) as (client, seen):
        try:
            token = client.log_in(
                code=code.strip(),
                redirect_uri=redirect_uri,
                scopes=SCOPES,
                # Only a server we were told to reach over http may use http for OAuth.
                allow_http=base.startswith("http://"),
            )
        except MastodonError as error:
            raise connect_error(error, host, seen.response, "sign in", oauth=True) from error
    return {"access_token": str(token)}


def describe_account(
    instance_url: str,
    access_token: str,
    *,
    timeout: float,
    policy: AddressPolicy,
    user_agent: str = DEFAULT_USER_AGENT,
) -> dict[str, Any]:
    """Who the token belongs to, and the instance's text limits.

    Returns {"remote_user_id", "username", "handle" ("alice@mastodon.social"),
    "display_name", "url", "base_url", "max_characters", "characters_reserved_per_url"}.
    """
    base = instance_base_url(instance_url)
    host = host_of(base)
    with api(
        base, policy=policy, timeout=timeout, user_agent=user_agent, access_token=access_token
    ) as (client, seen):
        try:
            me = client.account_verify_credentials()
            try:
                instance = client.instance_v2()
                domain = dig(instance, "domain")
            except MastodonNotFoundError:  # before Mastodon 4.0
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    instance = client.instance_v1()
                domain = dig(instance, "uri")
        except MastodonError as error:
            raise connect_error(error, host, seen.response, "read the account") from error
    statuses = dig(instance, "configuration", "statuses") or {}
    max_characters = int_or_none(dig(statuses, "max_characters")) or int_or_none(
        dig(instance, "max_toot_chars")  # Pleroma, Akkoma
    )
    reserved = int_or_none(dig(statuses, "characters_reserved_per_url"))
    username = str(me["username"])
    domain = str(domain or "").removeprefix("https://").removeprefix("http://").strip("/")
    return {
        "remote_user_id": str(me["id"]),
        "username": username,
        "handle": f"{username}@{domain or urlsplit(base).hostname}",
        "display_name": str(me.get("display_name") or ""),
        "url": str(me.get("url") or ""),
        "base_url": base,
        "max_characters": max_characters or DEFAULT_MAX_CHARACTERS,
        "characters_reserved_per_url": (
            DEFAULT_CHARACTERS_RESERVED_PER_URL if reserved is None else reserved
        ),
    }
