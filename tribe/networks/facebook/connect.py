"""Connecting a Facebook Page: Facebook Login's code flow, then the Page's own token.

Meta's "Manually Build a Login Flow": the member's browser opens the login dialog
(`/<ver>/dialog/oauth` with client_id, redirect_uri, state, response_type=code and the
Pages permissions) and comes back to tribe's callback with `code` and `state` (or
`error=access_denied` when they cancel). Then, all server to server:

1. GET /oauth/access_token (client_id, client_secret, redirect_uri, code): a short-lived
   user token (about an hour);
2. GET /oauth/access_token (grant_type=fb_exchange_token): a long-lived one (60 days),
   because a Page token made from it does not expire ("Long-Lived Access Tokens");
3. GET /me/accounts (id, name, access_token, tasks): the Pages the member has a role
   on, each with its Page token. tribe keeps only the chosen Page's token: personal
   profiles cannot be posted to through the API any more, and the user token is not
   needed again.

Which Page: the only one; else the one named (by name or id) in the `page` field the
member gave before signing in; else the member is asked, with the names to choose from.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network
from tribe.networks.base import AppStore, Connected, Field, Returns, Step, callback_code
from tribe.networks.facebook.client import APP_KEYS, FacebookApp
from tribe.networks.facebook.errors import FacebookConnectError
from tribe.networks.graph import connect_call, graph_client

SCOPES = ("pages_show_list", "pages_manage_posts", "pages_read_engagement")
CREATE_CONTENT = "CREATE_CONTENT"  # the Page task that may publish as the Page
HANDLE_LENGTH = 100  # tribe/members/accounts.py: a Page is named by its name
PAGES_LISTED = 100  # `limit` of /me/accounts: more Pages than anyone manages by hand


@dataclass(frozen=True)
class Page:
    """One Page the member has a role on, as /me/accounts lists it."""

    id: str
    name: str
    token: str
    tasks: tuple[str, ...] | None  # None: Facebook did not say

    @classmethod
    def from_answer(cls, entry: Mapping[str, Any]) -> Page | None:
        page_id, name, token = entry.get("id"), entry.get("name"), entry.get("access_token")
        if not (isinstance(page_id, str) and isinstance(name, str) and isinstance(token, str)):
            return None
        tasks = entry.get("tasks")
        listed = tuple(str(t) for t in tasks) if isinstance(tasks, list) else None
        return cls(page_id, name, token, listed)


class FacebookConnector:
    """The Connector for Facebook Pages (see the module docstring)."""

    network = Network.FACEBOOK
    title = "Facebook"
    fields: tuple[Field, ...] = (
        Field(
            "page",
            "Page name or id",
            example="Alice Writes",
            hint="only needed when you manage several Pages",
            required=False,
            max_length=HANDLE_LENGTH,
        ),
    )

    def __init__(self, app: FacebookApp, *, redirect_url: str, timeout: float) -> None:
        self.app = app
        self.redirect_url = redirect_url  # TRIBE_FACEBOOK_REDIRECT_URL: the app's callback
        self.timeout = timeout

    def begin(self, given: Mapping[str, str], apps: AppStore) -> Step:
        if not (self.app.client_id and self.app.client_secret):
            raise InvalidInputError(f"connecting Facebook needs {APP_KEYS} to be set")
        if not self.redirect_url:
            raise InvalidInputError(
                "connecting Facebook needs TRIBE_FACEBOOK_REDIRECT_URL (your app's "
                "Valid OAuth Redirect URI) to be set"
            )
        state = secrets.token_urlsafe(24)
        query = {
            "client_id": self.app.client_id,
            "redirect_uri": self.redirect_url,
            "state": state,
            "response_type": "code",
            "scope": ",".join(SCOPES),
        }
        return Step(
            f"{self.app.dialog()}?{urlencode(query)}",
            {"state": state, "redirect_uri": self.redirect_url, "page": given.get("page", "")},
            Returns.CALLBACK,
            "address",
            "Paste the whole address Facebook sent you back to",
        )

    def finish(self, state: Mapping[str, str], answer: str, apps: AppStore) -> Connected:
        code = callback_code("Facebook", state, answer)
        with graph_client(self.app.policy, self.timeout) as client:

            def ask(step: str, path: str, params: dict[str, str]) -> dict[str, Any]:
                return connect_call(
                    client, "GET", self.app.graph(path), network="Facebook", step=step,
                    unreachable=FacebookConnectError, params=params,
                )  # fmt: skip

            app = {"client_id": self.app.client_id, "client_secret": self.app.client_secret}
            short = ask(
                "finish the sign-in",
                "oauth/access_token",
                {**app, "redirect_uri": state["redirect_uri"], "code": code},
            )
            long = ask(
                "make the sign-in last",
                "oauth/access_token",
                {
                    **app,
                    "grant_type": "fb_exchange_token",
                    "fb_exchange_token": _token(short),
                },
            )
            listed = ask(
                "list your Pages",
                "me/accounts",
                {
                    "fields": "id,name,access_token,tasks",
                    "limit": str(PAGES_LISTED),
                    **self.app.signed(_token(long)),
                },
            )
        page = choose_page(_pages(listed), state.get("page", ""))
        return Connected(
            network=Network.FACEBOOK,
            handle=page.name[:HANDLE_LENGTH],
            credentials={"access_token": page.token},
            remote_user_id=page.id,
        )


def _token(answer: Mapping[str, Any]) -> str:
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise FacebookConnectError("Facebook answered the sign-in without a token; try again")
    return token


def _pages(answer: Mapping[str, Any]) -> list[Page]:
    data = answer.get("data")
    entries = data if isinstance(data, list) else []
    return [page for e in entries if isinstance(e, dict) and (page := Page.from_answer(e))]


def choose_page(pages: list[Page], asked: str) -> Page:
    """The Page to connect among the member's, by the rules of the module docstring."""
    if not pages:
        raise InvalidInputError(
            "Facebook lists no Page you manage for tribe: tribe posts to a Facebook Page "
            "(personal profiles cannot be posted to through Facebook's API). Create a Page "
            "or ask for a role on one, then connect again and tick it when Facebook asks"
        )
    wanted = " ".join(asked.split()).casefold()
    if wanted:
        found = [p for p in pages if p.id == wanted or p.name.casefold() == wanted]
        if not found:
            raise InvalidInputError(
                f"none of your Pages is called {asked.strip()!r}: {_names(pages)}"
            )
        page = found[0]
    elif len(pages) == 1:
        page = pages[0]
    else:
        raise InvalidInputError(
            f"You manage {len(pages)} Pages: {_names(pages)}. Give the one to post to."
        )
    if page.tasks is not None and CREATE_CONTENT not in page.tasks:
        raise InvalidInputError(
            f"your role on the Page {page.name} does not allow creating content: ask one of "
            "its admins for a role that can post, then connect again"
        )
    return page


def _names(pages: list[Page]) -> str:
    return ", ".join(p.name for p in pages)
