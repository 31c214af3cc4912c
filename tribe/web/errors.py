"""Our errors as HTTP: one status and one stable code per kind, decided here only."""

from __future__ import annotations

from tribe.core.errors import (
    ConflictError,
    FeedError,
    ForbiddenError,
    InvalidInputError,
    LinkError,
    NotFoundError,
    NotSignedInError,
    SettingsError,
    TooManyAttemptsError,
    TribeError,
)

# (status, stable code) per error class; the first match wins, so subclasses come first.
ERRORS: list[tuple[type[TribeError], int, str]] = [
    (TooManyAttemptsError, 429, "too_many_attempts"),
    (NotSignedInError, 401, "not_signed_in"),
    (LinkError, 410, "link_not_valid"),
    (ForbiddenError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (InvalidInputError, 422, "invalid_input"),
    (FeedError, 422, "feed_error"),
    (SettingsError, 503, "not_configured"),
    (TribeError, 400, "bad_request"),
]


def status_of(exc: TribeError) -> tuple[int, str]:
    for cls, status, code in ERRORS:
        if isinstance(exc, cls):
            return status, code
    return 400, "bad_request"  # pragma: no cover - TribeError is the last entry
