"""Tokens and passwords at rest: encrypted with Fernet keys from TRIBE_SECRET_KEYS.

The setting holds one or more keys, newest first (MultiFernet): the first encrypts,
every one decrypts. Rotating is: put a new key first, run `tribe keys rotate` (every
stored secret is re-encrypted with the new key), then drop the old key.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlmodel import Session, col, select

from config import Settings, SettingsError, get_settings
from tribe.models import Account, NetworkApp

_HOW = "make one with `tribe keys generate` and put it in TRIBE_SECRET_KEYS"


class Vault:
    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """The vault, or a SettingsError that tells the operator what to do."""
        keys = [k.strip() for k in settings.TRIBE_SECRET_KEYS.split(",") if k.strip()]
        if not keys:
            raise SettingsError(f"TRIBE_SECRET_KEYS is not set: {_HOW}")
        for position, key in enumerate(keys, 1):
            try:
                Fernet(key)
            except ValueError:
                raise SettingsError(
                    f"TRIBE_SECRET_KEYS key #{position} is a placeholder or not a Fernet key "
                    f"(32 url-safe base64-encoded bytes): {_HOW}"
                ) from None
        return cls(keys)

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
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
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SettingsError(
                "a stored secret cannot be decrypted with any key in TRIBE_SECRET_KEYS; "
                "put the key it was made with back in the list"
            ) from None


def generate_key() -> str:
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
        if settings.TRIBE_DRY_RUN:
            return None
        raise


@lru_cache(maxsize=1)
def process_vault() -> Vault | None:
    return vault_for(get_settings())
