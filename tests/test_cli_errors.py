"""Failures outside our own error classes still come out as one line, not a traceback."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from config import get_settings
from tribe.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_a_database_that_was_never_migrated_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    code, out = run("stream", "someone@example.com")
    assert code == 1
    assert out.startswith("Error: database error: no such table")
    assert "run `tribe db upgrade` first" in out
    assert "Traceback" not in out


def test_importing_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    code, out = run("import", str(tmp_path))
    assert code == 1
    assert out.startswith(f"Error: cannot read {tmp_path}")
