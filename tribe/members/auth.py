"""Signing in: passwords, browser sessions, personal API tokens, and signed links.

Secrets handed to a browser or a script (session cookies, API tokens) are random and
stored only as SHA-256 hashes. Links (invites, password resets) are signed with a key
derived from TRIBE_SECRET_KEYS (`tribe.keys`), never one kept in the database, and
expire; a reset link also stops working once the password it resets has changed. So a
copy of the database signs nobody in. No link makes anyone an operator: that is a
command run on the host (`tribe member login-link --operator`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from tribe.core.errors import (
    ConflictError,
    InvalidInputError,
    LinkError,
    NotFoundError,
    TooManyAttemptsError,
)
from tribe.infra.db import serialize
from tribe.infra.keys import Keyring
from tribe.infra.models import ApiToken, LoginFailure, Member, WebSession
from tribe.members.people import add_member, normalize_email

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 would hash a megabyte; nobody's password is that long
TOKEN_PREFIX = "tribe_"  # noqa: S105 - a marker that makes leaked tokens easy to find

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verifying against this when the email is unknown takes as long as a real check,
    so the time of an answer does not tell which emails have accounts. Made on the
    first sign-in, not at import: one argon2 hash takes 64 MB for a moment, and the
    workers and beat, which import this module, never sign anyone in."""
    return _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class LoginLimits:
    """Failed sign-ins allowed within `window` (OWASP's device-cookie scheme).

    A browser that signed in to the account before shows its device cookie: its
    failures count against that cookie alone (`per_device`), so nobody elsewhere can
    lock the owner out of their own browser. Every other attempt counts per email and
    address (`per_pair`, the limit a guesser meets), per email (`per_email`, however
    many addresses the guesser uses) and per address (`per_address`, however many
    emails it tries); IPv6 addresses count by their /64.
    """

    per_pair: int = 5
    per_email: int = 20
    per_address: int = 20
    per_device: int = 5
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Device:
    """A browser that has signed in to an account before: what its device cookie says."""

    member_id: int
    nonce: str


def _device_signer(keys: Keyring) -> TimestampSigner:
    return TimestampSigner(keys.derived("device"), salt="tribe.device")


def device_cookie(keys: Keyring, member: Member) -> str:
    """A new device cookie for a browser that just signed in as `member`."""
    value = f"{member.id}.{secrets.token_urlsafe(16)}"
    return _device_signer(keys).sign(value).decode()


def read_device(keys: Keyring, cookie: str, *, max_age: timedelta) -> Device | None:
    try:
        value = _device_signer(keys).unsign(cookie, max_age=int(max_age.total_seconds()))
    except BadSignature:  # also an expired one
        return None
    member_id, _, nonce = value.decode().partition(".")
    if not member_id.isdigit() or not nonce:
        return None
    return Device(int(member_id), nonce)


def address_key(client: str) -> str:
    """What failures count against for a client address: IPv6 by its /64 (one host
    commonly holds the whole /64), IPv4 as it is."""
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInputError(f"the password must have at most {MAX_PASSWORD} characters")
    return password


def set_password(session: Session, member: Member, password: str) -> None:
    """Set a new password and sign out every browser signed in with the old one."""
    member.password_hash = _hasher.hash(check_password(password))
    session.add(member)
    session.exec(delete(WebSession).where(col(WebSession.member_id) == member.id))
    session.flush()


def _verify(member: Member | None, password: str) -> bool:
    try:
        return _hasher.verify(
            member.password_hash if member and member.password_hash else _dummy_hash(),
            password[:MAX_PASSWORD],
        ) and bool(member and member.password_hash)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    client: str,
    limits: LoginLimits,
    device: Device | None = None,
    now: datetime | None = None,
) -> Member | None:
    """The member with this email and password, or None (the failure is recorded: commit
    it). Refused outright while too many attempts failed (see `LoginLimits`)."""
    now = now or datetime.now(UTC)
    try:
        address = normalize_email(email)
    except InvalidInputError:
        address = "-"
    member = session.exec(select(Member).where(col(Member.email) == address)).first()
    if device is not None and member is not None and device.member_id == member.id:
        keys = {f"device:{device.nonce}": limits.per_device}
    else:
        network = address_key(client)
        keys = {
            f"pair:{address}|{network}": limits.per_pair,
            f"email:{address}": limits.per_email,
            f"address:{network}": limits.per_address,
        }
    for key, allowed in keys.items():
        _check_attempts(session, key, allowed, limits, now)
    if not _verify(member, password):
        session.add_all([LoginFailure(key=key, at=now) for key in keys])
        session.exec(delete(LoginFailure).where(col(LoginFailure.at) < now - limits.window))
        session.flush()
        return None
    assert member is not None
    first = next(iter(keys))  # the device's or the pair's own count starts again
    session.exec(delete(LoginFailure).where(col(LoginFailure.key) == first))
    if _hasher.check_needs_rehash(member.password_hash or ""):
        member.password_hash = _hasher.hash(password)
    return member


NO_MATCH = "that email and password do not match an account"


def _check_attempts(
    session: Session, key: str, allowed: int, limits: LoginLimits, now: datetime
) -> None:
    since = now - limits.window
    count, first = session.exec(
        select(func.count(), func.min(col(LoginFailure.at))).where(
            col(LoginFailure.key) == key, col(LoginFailure.at) >= since
        )
    ).one()
    if count >= allowed:
        wait = int((first + limits.window - now).total_seconds()) + 1
        minutes = max(1, round(wait / 60))
        raise TooManyAttemptsError(
            f"too many failed sign-ins; try again in {minutes} minute{'s' * (minutes != 1)}",
            retry_after=wait,
        )


def needs_operator(session: Session) -> bool:
    """True on an empty instance: the first account made there is the operator's."""
    return session.exec(select(func.count()).select_from(Member)).one() == 0


def create_operator(
    session: Session, *, email: str, display_name: str, timezone: str, password: str
) -> Member:
    """The first account of an empty instance, which becomes its operator."""
    check_password(password)
    serialize(session, "operator")  # two first visitors at once: one operator
    if not needs_operator(session):
        raise ConflictError(
            "this instance already has its operator; ask a tribe chief to invite you"
        )
    member = add_member(session, email=email, display_name=display_name, timezone=timezone)
    member.is_operator = True
    set_password(session, member, password)
    return member


# Browser sessions


def start_session(session: Session, *, member: Member, ttl: timedelta) -> str:
    """A new signed-in browser for `member`; returns the token for its cookie."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    assert member.id is not None
    session.add(
        WebSession(
            token_hash=digest(token),
            member_id=member.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return token


def session_member(session: Session, token: str, *, now: datetime | None = None) -> Member | None:
    """The member a browser session belongs to, while it has not expired."""
    now = now or datetime.now(UTC)
    return session.exec(
        select(Member)
        .join(WebSession, col(WebSession.member_id) == col(Member.id))
        .where(col(WebSession.token_hash) == digest(token), col(WebSession.expires_at) > now)
    ).first()


def end_session(session: Session, token: str) -> None:
    session.exec(delete(WebSession).where(col(WebSession.token_hash) == digest(token)))


# Personal API tokens


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


def _token_info(token: ApiToken) -> TokenInfo:
    assert token.id is not None
    return TokenInfo(token.id, token.name, token.prefix, token.created_at, token.last_used_at)


def create_token(session: Session, *, member: Member, name: str) -> tuple[TokenInfo, str]:
    """A new API token; the secret is returned once and never stored."""
    label = " ".join(name.split())
    if not label or len(label) > 80:
        raise InvalidInputError("give the token a name of 1 to 80 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert member.id is not None
    token = ApiToken(member_id=member.id, name=label, token_hash=digest(secret), prefix=secret[:12])
    session.add(token)
    session.flush()
    return _token_info(token), secret


def list_tokens(session: Session, *, member: Member) -> list[TokenInfo]:
    rows = session.exec(
        select(ApiToken)
        .where(col(ApiToken.member_id) == member.id, col(ApiToken.revoked_at).is_(None))
        .order_by(col(ApiToken.id))
    ).all()
    return [_token_info(t) for t in rows]


def revoke_token(session: Session, *, member: Member, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.member_id != member.id or token.revoked_at is not None:
        raise NotFoundError(f"no API token #{token_id} of {member.email}")
    token.revoked_at = datetime.now(UTC)
    session.flush()


USE_RECORDED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenUse:
    """Who an API token signs in, and whether this use should be recorded."""

    member: Member
    token_id: int
    record: bool


def token_member(session: Session, secret: str, *, now: datetime | None = None) -> TokenUse | None:
    """The member an API token belongs to, unless it was revoked (reading only)."""
    now = now or datetime.now(UTC)
    row = session.exec(
        select(ApiToken, Member)
        .join(Member, col(Member.id) == col(ApiToken.member_id))
        .where(col(ApiToken.token_hash) == digest(secret), col(ApiToken.revoked_at).is_(None))
    ).first()
    if row is None:
        return None
    token, member = row
    assert token.id is not None
    # Recorded at most once a minute: a busy script does not make every request a write.
    stale = token.last_used_at is None or now - token.last_used_at > USE_RECORDED_EVERY
    return TokenUse(member, token.id, stale)


def record_token_use(session: Session, token_id: int, *, now: datetime | None = None) -> None:
    session.exec(
        update(ApiToken)
        .where(col(ApiToken.id) == token_id)
        .values(last_used_at=now or datetime.now(UTC))
    )


# Signed links


class _SignedAt(TimestampSigner):
    """A timestamp signer that signs with a given time instead of now."""

    def __init__(self, *args: Any, at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._at = at

    def get_timestamp(self) -> int:
        return self._at


def _serializer(keys: Keyring, purpose: str, at: datetime | None = None) -> URLSafeTimedSerializer:
    # Every configured key verifies; the newest signs (itsdangerous signs with the last).
    if at is None:
        return URLSafeTimedSerializer(keys.derived("links"), salt=f"tribe.{purpose}")
    return URLSafeTimedSerializer(
        keys.derived("links"),
        salt=f"tribe.{purpose}",
        signer=_SignedAt,
        signer_kwargs={"at": int(at.timestamp())},
    )


def sign_link(
    keys: Keyring, purpose: str, payload: dict[str, Any], *, issued_at: datetime | None = None
) -> str:
    """A signed link token; with `issued_at`, it is signed as made then (and so the same
    token each time: a link that stays put until it is renewed), else as made now."""
    return str(_serializer(keys, purpose, issued_at).dumps(payload))


def read_link(keys: Keyring, purpose: str, token: str, *, max_age: timedelta) -> dict[str, Any]:
    """The payload of a signed link, or a clear error when it is forged or too old."""
    try:
        payload = _serializer(keys, purpose).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        raise LinkError("this link has expired; ask for a new one") from exc
    except BadSignature as exc:
        raise LinkError("this link is not valid; check that it was copied whole") from exc
    if not isinstance(payload, dict):
        raise LinkError("this link is not valid; check that it was copied whole")
    return payload


def _password_stamp(member: Member) -> str:
    """Changes whenever the password does, so a used reset link cannot be used again."""
    return hmac.new(b"reset", (member.password_hash or "").encode(), "sha256").hexdigest()[:16]


def reset_token(*, member: Member, keys: Keyring) -> str:
    """A signed link token to set the member's password."""
    return sign_link(keys, "reset", {"m": member.id, "s": _password_stamp(member)})


def request_reset(
    session: Session,
    *,
    email: str,
    keys: Keyring,
    limits: LoginLimits,
    now: datetime | None = None,
) -> str | None:
    """A password-link token for `email`, or None when no member has it. Each request
    counts against that email's sign-in limit, so nobody can flood an inbox with links."""
    address = normalize_email(email)
    count_mail_request(session, key=f"reset:{address}", limits=limits, now=now)
    member = session.exec(select(Member).where(col(Member.email) == address)).first()
    if member is None:
        return None
    return reset_token(member=member, keys=keys)


def count_mail_request(
    session: Session, *, key: str, limits: LoginLimits, now: datetime | None = None
) -> None:
    """Count a request that emails an address (`key` names it); refused beyond the
    sign-in limit per pair within the window, so no inbox can be flooded from here."""
    now = now or datetime.now(UTC)
    _check_attempts(session, key, limits.per_pair, limits, now)
    session.add(LoginFailure(key=key, at=now))
    session.flush()


def reset_member(session: Session, *, token: str, keys: Keyring, max_age: timedelta) -> Member:
    """Whose password a link sets, while it is valid and unused."""
    payload = read_link(keys, "reset", token, max_age=max_age)
    member_id = payload.get("m")
    member = session.get(Member, member_id) if isinstance(member_id, int) else None
    if member is None or payload.get("s") != _password_stamp(member):
        raise LinkError("this link was already used; ask for a new one")
    return member


def reset_password(
    session: Session, *, token: str, password: str, keys: Keyring, max_age: timedelta
) -> Member:
    member = reset_member(session, token=token, keys=keys, max_age=max_age)
    set_password(session, member, password)
    # Taking an account back must also shut out scripts someone else set up meanwhile.
    session.exec(
        update(ApiToken)
        .where(col(ApiToken.member_id) == member.id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    session.flush()
    return member


def make_operator(session: Session, *, member: Member) -> Member:
    """Give a member the operator's pages. Only the host's command line does this."""
    member.is_operator = True
    session.flush()
    return member
