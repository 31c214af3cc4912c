"""Every key tribe signs or encrypts with comes from TRIBE_SECRET_KEYS, never the database.

The setting holds one or more Fernet keys, newest first. Stored credentials are
encrypted with them as they are (`tribe.vault`); every other purpose (session cookies,
CSRF tokens, invite and password links, device cookies) gets its own key derived from
each of them with HKDF, so a key leaked for one purpose opens nothing else, and a copy
of the database holds no key at all. Rotating (a new key first, the old one after it)
keeps what the old key signed valid until the old key is removed.

On the embedded default (`make run`: a SQLite database) with no key configured, tribe
makes one in the data directory (`secret.key`, mode 0600) and uses it, so a newcomer
can connect accounts at once; anywhere else (docker compose, PostgreSQL) a missing key
is an error that says how to make one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from config import Settings, SettingsError

KEY_FILE = "secret.key"
HOW = "make one with `tribe keys generate` and put it in TRIBE_SECRET_KEYS"

Purpose = Literal["cookies", "csrf", "links", "device"]


@dataclass(frozen=True)
class Keyring:
    """The instance's keys, newest first, and where they came from."""

    keys: tuple[str, ...]
    source: Literal["environment", "file"]
    path: Path | None = None  # the key file, when that is the source

    def derived(self, purpose: Purpose) -> list[bytes]:
        """One key per configured key for `purpose`, OLDEST first: itsdangerous signs with
        the last of a list and accepts any of them, which is how rotation works."""
        return [_derive(key, purpose) for key in reversed(self.keys)]

    def current(self, purpose: Purpose) -> bytes:
        """The key that signs new things for `purpose`."""
        return _derive(self.keys[0], purpose)


def _derive(key: str, purpose: Purpose) -> bytes:
    # cryptography (~7 MB) is loaded by the first process that uses a key, not by every
    # worker that only polls feeds.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    material = base64.urlsafe_b64decode(key.encode())
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tribe/" + purpose.encode()
    ).derive(material)


def parse_keys(value: str) -> tuple[str, ...]:
    """The keys in a TRIBE_SECRET_KEYS value; a SettingsError names a bad one."""
    keys = tuple(k.strip() for k in value.split(",") if k.strip())
    for position, key in enumerate(keys, 1):
        try:
            # What Fernet(key) checks, without loading cryptography to check it.
            if len(base64.urlsafe_b64decode(key.encode())) != 32:
                raise ValueError("not 32 bytes")
        except (ValueError, binascii.Error):
            raise SettingsError(
                f"TRIBE_SECRET_KEYS key #{position} is a placeholder or not a Fernet key "
                f"(32 url-safe base64-encoded bytes): {HOW}"
            ) from None
    return keys


def load_keyring(settings: Settings, *, create: bool = True) -> Keyring:
    """The keys from TRIBE_SECRET_KEYS; on the embedded default, the local key file.

    Raises SettingsError when there is no key to use (and says what to do).
    """
    keys = parse_keys(settings.TRIBE_SECRET_KEYS)
    if keys:
        return Keyring(keys, "environment")
    if not settings.embedded_default:
        raise SettingsError(f"TRIBE_SECRET_KEYS is not set: {HOW}")
    path = settings.TRIBE_DATA_DIR / KEY_FILE
    if not path.exists():
        if not create:
            raise SettingsError(f"TRIBE_SECRET_KEYS is not set and {path} does not exist")
        _make_key_file(path)
    try:
        found = parse_keys(path.read_text().strip())
    except SettingsError:
        raise SettingsError(f"{path} does not hold a key: remove it to make a new one") from None
    if len(found) != 1:
        raise SettingsError(f"{path} does not hold a key: remove it to make a new one")
    return Keyring(found, "file", path)


def _make_key_file(path: Path) -> None:
    """Write a new key where nobody else can read it, atomically: processes starting
    together either make the file or find it whole, never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")  # a Fernet key
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


@lru_cache(maxsize=8)
def keyring_for(settings: Settings) -> Keyring:
    """The keyring of these settings, read once per process."""
    return load_keyring(settings)
