"""The Celery app: broker from settings (Redis in production, the embedded one locally)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    celeryd_after_setup,
    worker_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
from kombu.entity import Queue as KombuQueue

from config import Settings, SettingsError, get_settings
from workers import embedded, selfcheck
from workers.queues import ICONS_EVERY, REACH_EVERY, RENEW_EVERY, ROUTES, Queue


def broker_config(settings: Settings) -> dict[str, Any]:
    """Redis (or any kombu URL) when `TRIBE_BROKER_URL` is set, else the embedded file."""
    if settings.TRIBE_BROKER_URL:
        return {"broker_url": settings.TRIBE_BROKER_URL}
    return {
        "broker_url": f"{embedded.SCHEME}://",
        "broker_transport_options": {"path": str(settings.broker_path.resolve())},
    }


def make_app(settings: Settings, *, tasks: bool = True) -> Celery:
    """The app. `tasks=False` (beat's, workers/beat.py): the schedule without the task
    modules, so beat never loads what only a worker runs (it sends tasks by name)."""
    app = Celery("tribe", include=["workers.tasks"] if tasks else [])
    sweep_every = settings.TRIBE_POLL_SWEEP_EVERY.total_seconds()
    dispatch_every = settings.TRIBE_DISPATCH_EVERY.total_seconds()
    digest_every = settings.TRIBE_DIGEST_EVERY.total_seconds()
    letter_every = settings.TRIBE_LETTER_EVERY.total_seconds()
    app.conf.update(
        **broker_config(settings),
        task_queues=[KombuQueue(q.value, routing_key=q.value) for q in Queue],
        task_default_queue=Queue.FEEDS.value,
        task_routes=ROUTES,
        task_ignore_result=True,
        # Polls are idempotent (a claim token is used once), so a redelivery is harmless
        # and acking late means a task survives a worker's warm restart.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        enable_utc=True,
        timezone="UTC",
        beat_schedule={
            "poll-due-feeds": {
                "task": "tribe.feeds.poll_due_feeds",
                "schedule": sweep_every,
                # A sweep that waited longer than one interval is already replaced.
                "options": {"expires": sweep_every},
            },
            "expire-stream-items": {
                "task": "tribe.stream.expire_items",
                "schedule": 600.0,
                "options": {"expires": 600.0},
            },
            "dispatch-deliveries": {
                "task": "tribe.publishing.dispatch",
                "schedule": dispatch_every,
                "options": {"expires": dispatch_every},
            },
            "dispatch-mail": {
                "task": "tribe.mail.dispatch",
                "schedule": dispatch_every,
                "options": {"expires": dispatch_every},
            },
            "queue-reminders": {
                "task": "tribe.reminders.queue",
                "schedule": 4 * 3600.0,  # a few times a day: each member is due once
                "options": {"expires": 4 * 3600.0},
            },
            "reach-snapshots": {
                # Each account is read once a UTC day; the pass looks every few minutes.
                "task": "tribe.reach.daily",
                "schedule": REACH_EVERY,
                "options": {"expires": REACH_EVERY},
            },
            "blog-icons": {
                # Each shown feed's icon is fetched at most once a week; the pass looks hourly.
                "task": "tribe.icons.scan",
                "schedule": ICONS_EVERY,
                "options": {"expires": ICONS_EVERY},
            },
            "queue-digests": {
                "task": "tribe.digest.queue",
                "schedule": digest_every,
                "options": {"expires": digest_every},
            },
            "letter": {
                "task": "tribe.letter.tick",
                "schedule": letter_every,
                "options": {"expires": letter_every},
            },
            "renew-sign-ins": {
                # Long-lived tokens renewed ahead of time; the pass looks hourly.
                "task": "tribe.accounts.renewals",
                "schedule": RENEW_EVERY,
                "options": {"expires": RENEW_EVERY},
            },
            "auto-approve": {
                "task": "tribe.approvals.auto_approve",
                "schedule": 60.0,
                "options": {"expires": 60.0},
            },
        },
        beat_schedule_filename=str(settings.TRIBE_DATA_DIR / "celerybeat-schedule"),
        beat_scheduler="workers.beat:Scheduler",
    )
    return app


app = make_app(get_settings())


@after_setup_logger.connect
def _quiet_libraries(logger: logging.Logger, **_: Any) -> None:
    # httpx logs every request at INFO: thousands of lines a sweep.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@worker_ready.connect
def _warn_without_contact(**_: Any) -> None:
    if not get_settings().TRIBE_CONTACT_URL:
        logging.getLogger("tribe").warning(
            "TRIBE_CONTACT_URL is not set: bloggers whose feeds we poll cannot reach you"
        )


SELF_CHECK_TASK = "tribe.worker.self_check"


def _self_check_timeout() -> float:
    return get_settings().TRIBE_WORKER_STALL_TIMEOUT.total_seconds()


@celeryd_after_setup.connect
def _read_own_queue(instance: Any, **_: Any) -> None:
    """Each worker process reads a queue of its own: its self-check probes go there."""
    if _self_check_timeout():
        instance.app.amqp.queues.select_add(selfcheck.QUEUE)


@worker_ready.connect
def _start_self_check(sender: Any, **_: Any) -> None:
    settings = get_settings()
    timeout = settings.TRIBE_WORKER_STALL_TIMEOUT.total_seconds()
    if not timeout:
        return
    if "prefork" in type(sender.pool).__module__:
        logging.getLogger("tribe").warning(
            "the worker self-check needs --pool threads (tasks run in this process): "
            "it is off for this worker"
        )
        return
    if settings.TRIBE_WORKER_STALL_TIMEOUT <= settings.TRIBE_POLL_LEASE:
        logging.getLogger("tribe").warning(
            "TRIBE_WORKER_STALL_TIMEOUT is not longer than TRIBE_POLL_LEASE: a worker whose "
            "threads are all busy polling may be restarted"
        )

    def send(token: str) -> None:
        app.send_task(SELF_CHECK_TASK, args=[token], queue=selfcheck.QUEUE, expires=timeout)

    selfcheck.start(send, timeout)


# Set while the worker shuts down: tasks that go on by themselves stop early (tasks run
# in the worker's process with --pool threads, as `tribe run` starts them).
stopping = threading.Event()


@worker_init.connect
def _starting(**_: Any) -> None:
    stopping.clear()  # a process may run one worker after another (the tests do)


@worker_shutting_down.connect
def _stop_self_check(**_: Any) -> None:
    stopping.set()
    selfcheck.stop()  # a shutdown that takes a while is not a stall


@worker_shutdown.connect
def _say_why(sender: Any, **_: Any) -> None:
    if selfcheck.stalled():
        sender.exitcode = selfcheck.STALLED_EXIT  # a supervisor restarts it on failure


@worker_init.connect
def _check_secret_keys(**_: Any) -> None:
    """Without a real key no credential can be read: stop now, not at the first post."""
    from tribe.infra.vault import vault_for  # a worker's concern: beat never loads it

    settings = get_settings()
    try:
        vault_for(settings)
    except SettingsError as error:
        raise SystemExit(f"tribe worker: {error} (or set TRIBE_DRY_RUN=true)") from None
    if settings.dry_run:
        logging.getLogger("tribe").warning(
            "TRIBE_DRY_RUN is on: deliveries are logged, not sent to any network"
        )
