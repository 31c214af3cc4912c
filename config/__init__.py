"""Settings from the environment and `.env`."""

from config.settings import Settings, get_settings, load_settings
from tribe.core.errors import SettingsError

__all__ = ["Settings", "SettingsError", "get_settings", "load_settings"]
