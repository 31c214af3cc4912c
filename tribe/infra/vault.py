"""Tokens and passwords at rest: encrypted with the Fernet keys of `tribe.keys`.

TRIBE_SECRET_KEYS holds one or more keys, newest first (MultiFernet): the first
encrypts, every one decrypts. Rotating is: put a new key first, run `tribe keys rotate`
(every stored secret is re-encrypted with the new key), then drop the old key. On the
embedded default without the setting, the local key file stands in (`tribe.keys`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from config import Settings, SettingsError, get_settings
from tribe.infra.keys import keyring_for
from tribe.infra.models import Account, NetworkApp

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet


class Vault:
    """Seals and opens secrets. cryptography (~7 MB) is loaded when the first vault is
    made, i.e. by a process about to publish, not by every worker that only polls."""

    def __init__(self, keys: list[str]) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        self._fernet: MultiFernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """The vault, or a SettingsError that tells the operator what to do."""
        return cls(list(keyring_for(settings).keys))

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        from cryptography.fernet import InvalidToken

        try:
            value = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SettingsError(
                "a stored secret cannot be decrypted with TRIBE_SECRET_KEYS: was a key "
                "removed before `tribe keys rotate` ran? Put the old key back after the new one"
            ) from None
        assert isinstance(value, dict)
        return value

    def rotate(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SettingsError(
                "a stored secret cannot be decrypted with any key in TRIBE_SECRET_KEYS; "
                "put the key it was made with back in the list"
            ) from None


def generate_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def rotate_all(session: Session, vault: Vault) -> int:
    """Re-encrypt every stored secret with the first key; returns how many."""
    count = 0
    for account in session.exec(select(Account).where(col(Account.credentials).is_not(None))):
        assert account.credentials is not None
        account.credentials = vault.rotate(account.credentials)
        count += 1
    for app in session.exec(select(NetworkApp)):
        app.client_secret = vault.rotate(app.client_secret)
        count += 1
    session.flush()
    return count


def vault_for(settings: Settings) -> Vault | None:
    """The vault; in dry run, None when no key is configured (nothing is sent anyway)."""
    try:
        return Vault.from_settings(settings)
    except SettingsError:
        if settings.dry_run:
            return None
        raise


@lru_cache(maxsize=1)
def process_vault() -> Vault | None:
    return vault_for(get_settings())
