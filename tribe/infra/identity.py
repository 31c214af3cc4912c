"""Who tribe says it is when it knocks on other servers (feeds, Mastodon instances)."""

from __future__ import annotations

from config import Settings
from tribe import __version__


def user_agent(settings: Settings) -> str:
    """Names tribe and how the blogger whose server we poll reaches the operator."""
    contact = settings.TRIBE_CONTACT_URL or "operator contact not configured"
    return f"tribe/{__version__} (self-hosted feed poller; +{contact})"
