"""`tribe account connect`, run as a member runs it: a terminal process that prints the
authorize address and reads the code, against the local fake networks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from sqlmodel import select

from config import get_settings
from tests import builders as b
from tests.cli import fails, ok
from tests.fakenet.bluesky import FakeBluesky
from tests.fakenet.common import SECRET, internal_server, redirector
from tests.fakenet.facebook import FakeFacebook
from tests.fakenet.linkedin import FakeLinkedIn
from tests.fakenet.mastodon import FakeMastodon
from tests.fakenet.threads import FakeThreads
from tests.fakenet.x import FakeX
from tribe.cli import main
from tribe.core.kinds import Connection, DeliveryState
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Delivery, Post
from tribe.infra.vault import process_vault

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture(autouse=True)
def fakes_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake networks listen on 127.0.0.2, which member-given servers may not use
    unless the operator allows it (as for feeds); 127.0.0.1 is allowed too, as an
    operator might, but nothing else on loopback (tests/fakenet's INTERNAL)."""
    monkeypatch.setenv("TRIBE_ALLOWED_NETWORKS", "127.0.0.2/32,127.0.0.1/32")
    get_settings.cache_clear()


TRIBE_CLI = [sys.executable, "-c", "from tribe.cli import main; main()"]


def connect_bob_to_bluesky(pds: str) -> list[str]:
    """The arguments of `tribe account connect` for Bob's Bluesky account on `pds`."""
    bob = ["account", "connect", "bob@example.com", "bluesky", "--handle", "bob.bsky.social"]
    return [*bob, "--pds", pds]


class Terminal:
    """`tribe account connect ...` in a child process, answered like a person would."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*TRIBE_CLI, "account", "connect", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def address(self) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("   http"):
                return line.strip()
        raise AssertionError("no address printed")

    def answer(self, text: str) -> tuple[int, str]:
        out, _ = self.proc.communicate(text + "\n", timeout=60)
        return self.proc.returncode, out


def member() -> None:
    ok("member", "add", "bob@example.com", "--name", "Bob")


def stored(handle: str) -> Account:
    with session_scope() as s:
        account = s.exec(select(Account).where(Account.handle == handle)).one()
        s.expunge(account)
        return account


def test_mastodon_registers_once_per_instance_and_stores_the_token_encrypted() -> None:
    member()
    ok("member", "add", "carol@example.com", "--name", "Carol")
    with FakeMastodon(domain="fake.social", max_characters=1000) as fake:
        for email, user in (("bob@example.com", "bob"), ("carol@example.com", "carol")):
            term = Terminal(email, "mastodon", "--instance", fake.base_url)
            term.address()
            code, out = term.answer(fake.authorize(user))
            assert code == 0, out
            assert f"connected mastodon @{user}@fake.social" in out
        assert fake.app_registrations == 1  # kept and reused for the second member
    account = stored("bob@fake.social")
    assert account.connection == Connection.CONNECTED
    assert (account.max_characters, account.url_characters) == (1000, 23)
    assert account.base_url == fake.base_url
    assert account.credentials is not None
    assert "access_token" not in account.credentials  # encrypted at rest
    vault = process_vault()
    assert vault is not None
    assert set(vault.open(account.credentials)) == {"access_token"}
    (listed,) = json.loads(ok("account", "list", "bob@example.com", "--json"))
    assert listed["state"] == "active"


def test_x_oauth1_pin_flow_connects_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    member()
    with FakeX() as fake:
        user = fake.add_user("bob_writes")
        env = {
            "TRIBE_X_API_URL": fake.base_url,
            "TRIBE_X_API_KEY": fake.consumer_key,
            "TRIBE_X_API_SECRET": fake.consumer_secret,
        }
        term = Terminal("bob@example.com", "x", env=env)
        request_token = parse_qs(urlsplit(term.address()).query)["oauth_token"][0]
        code, out = term.answer(fake.authorize_oauth1(request_token, user))
    assert code == 0, out
    assert "connected x @bob_writes" in out
    account = stored("bob_writes")
    assert (account.connection, account.remote_user_id) == (Connection.CONNECTED, user.id)


def test_x_oauth2_pkce_flow_connects_the_account() -> None:
    member()
    with FakeX() as fake:
        user = fake.add_user("bob_writes")
        env = {
            "TRIBE_X_API_URL": fake.base_url,
            "TRIBE_X_CLIENT_ID": fake.client_id,
            "TRIBE_X_CLIENT_SECRET": fake.client_secret or "",
            "TRIBE_X_REDIRECT_URL": "https://tribe.example/x/callback",
        }
        term = Terminal("bob@example.com", "x", "--oauth2", env=env)
        code, out = term.answer(fake.oauth2_redirect(term.address(), user))
    assert code == 0, out
    vault = process_vault()
    assert vault is not None
    credentials = vault.open(stored("bob_writes").credentials or "")
    assert credentials["auth"] == "oauth2"
    assert credentials["refresh_token"]


def test_bluesky_logs_in_once_with_an_app_password_and_releases_held_reshares() -> None:
    member()
    with FakeBluesky() as fake:
        fake.add_account("bob.bsky.social", "app-pass-word")
        ok("account", "add", "bob@example.com", "bluesky", "bob.bsky.social")
        with session_scope() as s:
            account = s.exec(select(Account)).one()
            feed = b.feed(s, b.member(s, "Alice"), "https://alice.blog/feed")
            for n, state in enumerate((DeliveryState.HELD, DeliveryState.QUEUED)):
                post = Post(
                    feed_id=b.pk(feed), entry_key=f"k{n}", url=f"https://alice.blog/{n}", title="T"
                )
                s.add(post)
                s.flush()
                s.add(
                    Delivery(
                        account_id=b.pk(account),
                        post_id=b.pk(post),
                        text=f"T https://alice.blog/{n}",
                        due_at=datetime.now(UTC) - timedelta(hours=1),
                        state=state,
                    )
                )
        result = CliRunner().invoke(
            main, connect_bob_to_bluesky(fake.base_url), input="app-pass-word\n"
        )
        assert result.exit_code == 0, result.output
        assert "1 held reshare(s) queued again" in result.output
        assert fake.login_count == 1
    with session_scope() as s:
        deliveries = s.exec(select(Delivery)).all()
    # Held, or waiting for the connection: overdue ones get new times, not a burst.
    assert [d.state for d in deliveries] == [DeliveryState.QUEUED] * 2
    assert all(d.due_at > datetime.now(UTC) for d in deliveries)
    assert deliveries[0].due_at != deliveries[1].due_at


def test_connect_errors_are_one_clear_line() -> None:
    member()
    assert "needs --instance" in fails("account", "connect", "bob@example.com", "mastodon")
    assert "no member" in fails(
        "account", "connect", "nobody@example.com", "bluesky", "--handle", "a.b.c"
    )
    assert "TRIBE_X_API_KEY" in fails("account", "connect", "bob@example.com", "x")
    assert "needs TRIBE_X_REDIRECT_URL" in fails(
        "account", "connect", "bob@example.com", "x", "--oauth2"
    )
    with FakeBluesky() as fake:
        fake.add_account("bob.bsky.social", "right")
        result = CliRunner().invoke(main, connect_bob_to_bluesky(fake.base_url), input="wrong\n")
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def plain_refusal(host: str) -> str:
    """The one message for a refused address and a name that does not resolve alike."""
    return (
        f"Error: tribe could not reach a public server at {host}; check the address "
        "— tribe only connects to servers on the public internet"
    )


def connect_bluesky(pds: str, password: str = "app-pass-word") -> tuple[int, str]:
    result = CliRunner().invoke(
        main, connect_bob_to_bluesky(pds), input=password + "\n", catch_exceptions=False
    )
    return result.exit_code, result.output.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("server", "host"),
    [
        ("http://169.254.169.254", "169.254.169.254"),
        ("http://127.0.0.3:9", "127.0.0.3"),
        ("http://10.1.2.3", "10.1.2.3"),
        ("http://0177.0.0.3:9", "127.0.0.3"),  # octal, as getaddrinfo reads it
        ("http://no-such-host.invalid", "no-such-host.invalid"),  # the same words
    ],
)
def test_a_member_cannot_point_tribe_at_internal_addresses(server: str, host: str) -> None:
    member()
    out = fails("account", "connect", "bob@example.com", "mastodon", "--instance", server)
    assert out == plain_refusal(host)
    assert connect_bluesky(server) == (1, plain_refusal(host))


@pytest.mark.parametrize("server", ["http://host:99999", "https://h:1:2", "http://[::1"])
def test_a_server_address_that_is_not_one_is_one_line(server: str) -> None:
    member()
    out = fails("account", "connect", "bob@example.com", "mastodon", "--instance", server)
    assert out.startswith("Error: ")
    assert "\n" not in out
    assert "port" in out or "not a valid web address" in out
    code, line = connect_bluesky(server)
    assert code == 1
    assert "port" in line or "not a valid web address" in line


def test_a_server_that_redirects_inside_reaches_nothing_there() -> None:
    """A 307 to the operator's network would carry the app password there."""
    member()
    with internal_server() as internal, redirector(internal.base_url) as hostile:
        out = fails(
            "account", "connect", "bob@example.com", "mastodon", "--instance", hostile.base_url
        )
        code, line = connect_bluesky(hostile.base_url, "secret-app-password")
        assert internal.requests == []
    assert "answered with a redirect (HTTP 307)" in out
    assert (code, "answered with a redirect (HTTP 307)" in line) == (1, True)
    assert SECRET not in out + line


def test_linkedin_and_threads_connect_from_a_terminal_with_the_address_sent_back() -> None:
    member()
    with FakeLinkedIn() as linkedin, FakeThreads() as threads:
        person = linkedin.add_user("Bob Writes")
        term = Terminal("bob@example.com", "linkedin", env=linkedin.env())
        code, out = term.answer(linkedin.oauth2_redirect(term.address(), person))
        assert code == 0, out
        user = threads.add_user("bob.writes")
        term = Terminal("bob@example.com", "threads", env=threads.env())
        code, out = term.answer(threads.oauth2_redirect(term.address(), user))
        assert code == 0, out
    assert stored("Bob Writes").remote_user_id == person.id
    assert stored("bob.writes").remote_user_id == user.id
    assert "connected threads @bob.writes" in out


def test_a_facebook_page_is_chosen_by_name_when_the_member_manages_several() -> None:
    member()
    with FakeFacebook() as facebook:
        bob = facebook.add_person("Bob")
        facebook.add_page(bob, "Bob's Garden")
        kitchen = facebook.add_page(bob, "Bob's Kitchen")
        term = Terminal("bob@example.com", "facebook", env=facebook.env())
        code, out = term.answer(facebook.redirect(term.address(), bob))
        assert code != 0
        assert "You manage 2 Pages: Bob's Garden, Bob's Kitchen" in out
        term = Terminal(
            "bob@example.com", "facebook", "--page", "bob's kitchen", env=facebook.env()
        )
        code, out = term.answer(facebook.redirect(term.address(), bob))
    assert code == 0, out
    assert stored("Bob's Kitchen").remote_user_id == kitchen.id
