"""beat: its app (`celery -A workers.beat beat`) and its scheduler, Celery's own, keeping
its file in TRIBE_DATA_DIR.

Beat only sends tasks by name on a schedule: its app is the workers' without the task
modules (`make_app(tasks=False)`), so it does not load the feature code, the network
clients or the templates a worker needs (tens of MB on a small server).
"""

from __future__ import annotations

from pathlib import Path

from celery.beat import PersistentScheduler


class Scheduler(PersistentScheduler):
    """Creates the data folder first: a fresh volume or checkout may not have it yet."""

    schedule_filename: str  # set by PersistentScheduler.__init__ (celery-types omits it)

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()


from config import get_settings  # noqa: E402 - the scheduler above is what the app names
from workers.app import make_app  # noqa: E402

app = make_app(get_settings(), tasks=False)
