"""`tribe tribe set SLUG --public|--private`: the operator's switch for a public page."""

import pytest

from tests.cli import fails, ok, tribe
from tribe.infra.db import read_scope
from tribe.members.people import get_tribe

pytestmark = pytest.mark.usefixtures("db")


def is_public(slug: str) -> bool:
    with read_scope() as session:
        return get_tribe(session, slug).is_public


def test_a_tribe_is_made_public_and_private_again() -> None:
    ok("member", "add", "alice@example.com", "--name", "Alice")
    ok("tribe", "create", "Garden Writers", "--chief", "alice@example.com")
    assert not is_public("garden-writers")
    out = ok("tribe", "set", "garden-writers", "--public")
    assert out == "garden-writers is public: http://127.0.0.1:8000/t/garden-writers\n"
    assert is_public("garden-writers")
    # Typed another way, the slug is still found, and printed as it is.
    assert ok("tribe", "set", " Garden-Writers ", "--public").startswith("garden-writers is")
    out = ok("tribe", "set", "garden-writers", "--private")
    assert out.startswith("garden-writers is private")
    assert not is_public("garden-writers")


def test_an_unknown_slug_and_a_missing_choice_are_one_clear_line() -> None:
    assert fails("tribe", "set", "nobody", "--public") == "Error: no tribe with the slug 'nobody'"
    ok("member", "add", "alice@example.com", "--name", "Alice")
    ok("tribe", "create", "Garden Writers", "--chief", "alice@example.com")
    message = fails("tribe", "set", "garden-writers")
    assert len(message.splitlines()) == 1
    assert "say --public or --private" in message
    assert tribe("tribe", "set", "garden-writers").exit_code == 2
    assert not is_public("garden-writers")
