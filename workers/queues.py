"""Every queue tribe uses, declared in one place.

Besides these, each worker process reads a queue of its own, where only its self-check
probes go (`workers.selfcheck.QUEUE`).
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    # Periodic scanners: short tasks that must not wait behind thousands of polls.
    SCHEDULER = "scheduler"
    # One task per feed poll.
    FEEDS = "feeds"
    # One task per delivery: never stuck behind a sweep of slow feeds.
    PUBLISH = "publish"
    # Batches of emails from the outbox: a slow SMTP server holds up nothing else.
    MAIL = "mail"


ROUTES = {
    "tribe.feeds.poll_due_feeds": {"queue": Queue.SCHEDULER.value},
    "tribe.stream.expire_items": {"queue": Queue.SCHEDULER.value},
    "tribe.approvals.auto_approve": {"queue": Queue.SCHEDULER.value},
    "tribe.feeds.poll_feeds": {"queue": Queue.FEEDS.value},
    "tribe.publishing.dispatch": {"queue": Queue.SCHEDULER.value},
    "tribe.publishing.publish_delivery": {"queue": Queue.PUBLISH.value},
    "tribe.mail.dispatch": {"queue": Queue.SCHEDULER.value},
    "tribe.mail.send": {"queue": Queue.MAIL.value},
    "tribe.reach.daily": {"queue": Queue.SCHEDULER.value},
    "tribe.reminders.queue": {"queue": Queue.SCHEDULER.value},
    "tribe.digest.queue": {"queue": Queue.SCHEDULER.value},
    # Queueing an edition's thousands of emails is database work, not SMTP: the mail
    # queue stays free for sending.
    "tribe.letter.tick": {"queue": Queue.SCHEDULER.value},
    # Reading followers can wait like a poll; a delivery never waits behind it.
    "tribe.reach.snapshot": {"queue": Queue.FEEDS.value},
    # Blog icons for public pages: the scan is short, each fetch waits like a poll.
    "tribe.icons.scan": {"queue": Queue.SCHEDULER.value},
    "tribe.icons.fetch": {"queue": Queue.FEEDS.value},
    "tribe.accounts.renewals": {"queue": Queue.SCHEDULER.value},
    # A network call about an account, beside its posts.
    "tribe.accounts.renew": {"queue": Queue.PUBLISH.value},
}


# How often beat's periodic passes look (each pass is cheap: it enqueues what is due).
REACH_EVERY = 600.0  # tribe.reach.daily: each account read once a UTC day
ICONS_EVERY = 3600.0  # tribe.icons.scan: each shown feed's icon at most once a week
RENEW_EVERY = 3600.0  # tribe.accounts.renewals: long-lived sign-ins renewed ahead
