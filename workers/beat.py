"""beat's scheduler: Celery's own, keeping its file in TRIBE_DATA_DIR."""

from __future__ import annotations

from pathlib import Path

from celery.beat import PersistentScheduler


class Scheduler(PersistentScheduler):
    """Creates the data folder first: a fresh volume or checkout may not have it yet."""

    schedule_filename: str  # set by PersistentScheduler.__init__ (celery-types omits it)

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()
