"""Running tribe: the web app, a worker, beat, all of them, and the health check."""

from __future__ import annotations

import logging
import sys

import click

from config import get_settings
from tribe.cli.base import main


@main.command()
@click.option("--host", help="Address to listen on (default: TRIBE_WEB_HOST).")
@click.option("--port", type=int, help="Port to listen on (default: TRIBE_WEB_PORT).")
def web(host: str | None, port: int | None) -> None:
    """Serve the web app and the JSON API (what `tribe run` starts beside the workers)."""
    import uvicorn

    from tribe.infra.keys import keyring_for

    settings = get_settings()
    keyring_for(settings)  # no key, no signed cookie: say so now, not at the first page
    logging.getLogger().setLevel(settings.TRIBE_LOG_LEVEL.upper())
    # No access log: invite and password links carry a token in their path. The app logs
    # each request itself, with the route's pattern instead of the path.
    uvicorn.run(
        "tribe.web.app:create_app",
        factory=True,
        host=host or settings.TRIBE_WEB_HOST,
        port=port or settings.TRIBE_WEB_PORT,
        access_log=False,
        log_level=settings.TRIBE_LOG_LEVEL.lower(),
        # The client's address (sign-in limits) comes from X-Forwarded-For only when the
        # request comes through one of these proxies.
        proxy_headers=True,
        forwarded_allow_ips=settings.TRIBE_TRUSTED_PROXIES,
    )


def _exec(process: str) -> None:
    """Become one of the processes `tribe run` starts, with exactly its command line."""
    import os

    from workers.run import child_environment, commands

    command = commands(get_settings())[process]
    sys.stdout.flush()
    os.execve(command[0], command, child_environment())  # noqa: S606 - our own command, no shell


@main.command()
def worker() -> None:
    """Run a Celery worker as `tribe run` does (what docker compose's worker runs)."""
    _exec("worker")


@main.command()
def beat() -> None:
    """Run Celery beat as `tribe run` does (run one, however many workers there are)."""
    _exec("beat")


@main.command()
def run() -> None:
    """Start the web app, the worker and beat in the foreground (Ctrl-C stops them all)."""
    from workers.run import run as run_all

    settings = get_settings()
    broker = settings.TRIBE_BROKER_URL or f"embedded ({settings.broker_path})"
    click.echo(f"tribe: database {settings.TRIBE_DATABASE_URL}, broker {broker}")
    click.echo(
        f"tribe: the web app is at http://{settings.TRIBE_WEB_HOST}:{settings.TRIBE_WEB_PORT}"
    )
    sys.exit(run_all(settings))


@main.command()
@click.option("--within", default=60, show_default=True, help="Seconds since the last sweep.")
def health(within: int) -> None:
    """Exit 0 when beat and a worker swept the feeds recently (for container health checks)."""
    from datetime import timedelta

    from tribe.infra.db import session_scope
    from tribe.infra.health import SWEEP_HEARTBEAT, is_alive

    with session_scope() as session:
        alive = is_alive(session, SWEEP_HEARTBEAT, within=timedelta(seconds=within))
    if not alive:
        raise click.ClickException(f"no feed sweep in the last {within} seconds")
    click.echo("ok")
