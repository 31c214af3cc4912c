"""tribe's own exceptions; third-party errors are wrapped into these where they happen."""

from __future__ import annotations


class TribeError(Exception):
    """The one root of tribe's errors: the message is a sentence a member or operator
    can act on. Third-party errors are wrapped into these where they happen."""


class SettingsError(TribeError):
    """A setting is missing or malformed; the message names it and says what is expected
    (the operator's to fix: the web app answers 503)."""


class NotFoundError(TribeError):
    """Something named by the caller (an email, a slug, an id) does not exist."""


class InvalidInputError(TribeError):
    """The caller's input is malformed: a bad email, URL, time zone or file."""


class ConflictError(TribeError):
    """The change would break a uniqueness rule (a second member with one email, ...)."""


class FeedError(TribeError):
    """Fetching or reading a feed failed; the message is meant for the blogger."""


class FetchError(FeedError):
    """The HTTP exchange failed (network, refused address, size, deadline, status)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BlockedAddressError(FetchError):
    """A server (a feed, a Mastodon instance, a Bluesky PDS, ...) is not on the public
    internet, or its name does not resolve: tribe will not connect to it."""


class NotAFeedError(FeedError):
    """The response is not an RSS or Atom feed we can read."""


class ForbiddenError(TribeError):
    """The member may see the thing but not do this to it (a chief-only action)."""


class NotSignedInError(TribeError):
    """Sign-in failed, or a session, token or link is missing, expired or revoked."""


class LinkError(TribeError):
    """A signed link (invite, password, a connection step) is forged, expired, withdrawn
    or already used: nothing to sign in again for, a new link is needed."""


class TooManyAttemptsError(TribeError):
    """Too many failed sign-ins from one email or address: wait before trying again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
