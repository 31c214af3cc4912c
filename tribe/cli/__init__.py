"""The `tribe` command: what an operator (or a member in a terminal) can do.

One module per command group; importing them registers their commands on `main`.
"""

from tribe.cli import (  # noqa: F401 - each registers its commands
    accounts,
    alliance,
    chief,
    db,
    digest,
    feeds,
    keys,
    letters,
    members,
    public,
    queue,
    running,
    schedules,
    stream,
    subscribers,
)
from tribe.cli.base import main

__all__ = ["main"]
