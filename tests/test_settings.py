from datetime import timedelta
from pathlib import Path

import pytest

from config import SettingsError, load_settings
from config.settings import parse_duration, parse_size
from tribe.infra.identity import user_agent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("3d", timedelta(days=3)),
        ("500ms", timedelta(milliseconds=500)),
        ("2.5", timedelta(seconds=2.5)),
    ],
)
def test_durations_read_like_people_write_them(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "15 minutes", "1h and 5m", "-3m"])
def test_a_bad_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10485760", 10485760), ("10MiB", 10 * 1024 * 1024), ("512 KB", 512_000), ("1gib", 1 << 30)],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRIBE_DATABASE_URL", "TRIBE_ALLOW_PRIVATE_ADDRESSES", "TRIBE_FETCH_DEADLINE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.TRIBE_DATABASE_URL == "sqlite:///./data/tribe.db"
    assert settings.TRIBE_ALLOW_PRIVATE_ADDRESSES is False
    assert timedelta(minutes=15) == settings.TRIBE_POLL_INTERVAL
    assert timedelta(minutes=5) == settings.TRIBE_POLL_MIN_INTERVAL
    assert timedelta(hours=24) == settings.TRIBE_POLL_MAX_INTERVAL
    assert settings.TRIBE_FETCH_MAX_BYTES == 10 * 1024 * 1024
    assert settings.TRIBE_POLL_PER_HOST == 2
    assert timedelta(days=3) == settings.TRIBE_MAX_ENTRY_AGE


def test_postgres_urls_get_the_installed_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBE_DATABASE_URL", "postgresql://tribe@db/tribe")
    assert load_settings().TRIBE_DATABASE_URL == "postgresql+psycopg://tribe@db/tribe"


def test_a_bad_setting_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBE_POLL_INTERVAL", "often")
    monkeypatch.setenv("TRIBE_DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "TRIBE_POLL_INTERVAL" in str(error.value)
    assert "TRIBE_DATABASE_URL" in str(error.value)


def test_settings_come_from_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIBE_POLL_PER_HOST", raising=False)
    (tmp_path / ".env").write_text("TRIBE_POLL_PER_HOST=5\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().TRIBE_POLL_PER_HOST == 5


def test_the_user_agent_carries_the_operator_contact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBE_CONTACT_URL", "https://tribe.example.org/about")
    agent = user_agent(load_settings())
    assert agent.startswith("tribe/")
    assert "+https://tribe.example.org/about" in agent
    monkeypatch.setenv("TRIBE_CONTACT_URL", "call me maybe")
    with pytest.raises(SettingsError, match="TRIBE_CONTACT_URL"):
        load_settings()


def test_a_lease_shorter_than_a_batch_can_take_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBE_FETCH_DEADLINE", "30s")
    monkeypatch.setenv("TRIBE_POLL_BATCH", "20")
    monkeypatch.setenv("TRIBE_WORKER_CONCURRENCY", "4")
    monkeypatch.setenv("TRIBE_FETCH_CONCURRENCY", "16")
    monkeypatch.setenv("TRIBE_POLL_LEASE", "150s")  # 30 s x ceil(20 x 4 / 16) = 150 s
    with pytest.raises(SettingsError, match="TRIBE_POLL_LEASE must be longer than 150s"):
        load_settings()
    monkeypatch.setenv("TRIBE_POLL_LEASE", "151s")
    assert load_settings().TRIBE_POLL_LEASE.total_seconds() == 151
