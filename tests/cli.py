"""Running the `tribe` command in-process, for the CLI tests."""

from click.testing import CliRunner, Result

from tribe.cli import main


def tribe(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="tribe", catch_exceptions=False)


def ok(*args: str) -> str:
    result = tribe(*args)
    assert result.exit_code == 0, result.output
    return result.output


def fails(*args: str) -> str:
    """A failure: non-zero exit and a message, never a traceback."""
    result = tribe(*args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    return result.output.strip()
