"""Posting to Threads in two steps, reposting, looking for a post, renewing the token.

A post is a container made, then published (https://developers.facebook.com/docs/threads/
posts): POST /{user}/threads (media_type=TEXT, text, and link_attachment when the text
carries the article's link, for its preview card) answers a container id; POST
/{user}/threads_publish?creation_id=<it> answers the post's media id.

Crash safety. The container id is kept (`item.keep`, committed before it returns) the
moment it exists. A later attempt with `item.progress["container"]` never makes another:
it reads the container's status (GET /{container}?fields=status,error_message) and
publishes it when FINISHED, finds its post when PUBLISHED, makes a new one only when it
EXPIRED (24 hours unpublished) or ended in ERROR, and waits while IN_PROGRESS; a
container Threads no longer shows (or a status tribe does not know) may have been
published, so the account's recent posts decide first. Making a
container posts nothing, so a lost answer to it is Transient (an orphan just expires);
a lost answer to the publish step is Unknown.

The quota: 250 API posts per account in a moving 24 hours. Before making or publishing a
container, GET /{user}/threads_publishing_limit; when it is spent, RateLimited without
touching a container, until the oldest post still in the window leaves it (read from the
account's recent posts: the window cannot have moved sooner), else an hour from now.

A repost is one step: POST /{media}/repost. Threads has no idempotency key
(`idempotent = False`): after an Unknown outcome `find` reads the container's status when
one was kept, else the account's recent posts (GET /{user}/threads).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tribe.core.outcomes import (
    AccountContext,
    Credentials,
    NeedsReconnect,
    Publication,
    PublishError,
    RateLimited,
    Rejected,
    ReshareKind,
    Sent,
    Transient,
    Unknown,
    runs_out,
)
from tribe.networks.threads.client import (
    Signed,
    ThreadsApp,
    access_token,
    renew_token,
    user_id,
)
from tribe.networks.threads.errors import ThreadsLadder

RENEW_BEFORE = timedelta(days=1)  # renew before a call when the token runs out this soon
CLOCK_SLACK = timedelta(minutes=5)  # our clock against Threads', for "the list reaches back"
PAGE_SIZE = 100
PAGES = 3  # up to 300 recent posts are read to find one
QUOTA_FALLBACK = timedelta(hours=1)
# Container statuses that prove it never became a post: a new container may be made.
NEVER_POSTED = ("EXPIRED", "ERROR")
POST_FIELDS = "id,text,timestamp,permalink,link_attachment_url,media_type,reposted_post"

_T = TypeVar("_T")


class ThreadsPublisher:
    """Publisher for Threads. `Sent.remote_id` is the media id of the post (or of the
    repost); `remote_url` its permalink (a repost's: the account's Reposts tab)."""

    idempotent = False

    def __init__(self, app: ThreadsApp) -> None:
        self.app = app

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        if item.kind == ReshareKind.REPOST:
            target = item.target_id
            if not target:
                raise Rejected(
                    "there is no Threads post to repost (the author's post is not known)"
                )
            return self.signed_in(account, lambda s: self._repost(s, account, target))
        return self.signed_in(account, lambda s: self._post(s, account, item))

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        try:
            return self.signed_in(account, lambda s: self._find(s, account, item))
        except Unknown:
            raise
        except PublishError as error:
            raise Unknown(
                f"could not read the account's recent posts on Threads: {error}"
            ) from error

    def renew(self, account: AccountContext) -> Credentials:
        """Renewer: a new long-lived token now, stored under the account's lock (another
        worker may have renewed it already: then that one is kept)."""
        stale = account.credentials.get("access_token")

        def update(current: Credentials) -> Credentials | None:
            if current.get("access_token") != stale:
                return None
            return renew_token(self.app, current, account.timeout)

        return account.refresh(update)

    def signed_in(self, account: AccountContext, action: Callable[[Signed], _T]) -> _T:
        """`action` signed in as the account, its token renewed first when it runs out
        within a day (a renewal that cannot happen now leaves a still-valid token in use)."""
        creds = account.credentials
        until = runs_out(creds)
        if until is not None and until - RENEW_BEFORE <= datetime.now(UTC):
            try:
                creds = self.renew(account)
            except (Transient, Unknown, NeedsReconnect):
                # Not renewed now (or not at all: the renewal pass warns the member);
                # the token still works until it runs out.
                if until <= datetime.now(UTC):
                    raise
        with Signed(self.app, access_token(creds), account.timeout) as signed:
            return action(signed)

    # Posting ---------------------------------------------------------------------------

    def _post(self, s: Signed, account: AccountContext, item: Publication) -> Sent:
        user = user_id(account)
        kept = item.progress.get("container")
        if kept:
            status = self._status(s, str(kept))
            if status == "PUBLISHED":
                return self._published(s, account, item)
            if status == "IN_PROGRESS":
                raise Transient("Threads is still preparing the post; trying again shortly")
            if status == "FINISHED":
                self._check_quota(s, user)
                return self._publish(s, account, user, str(kept))
            if status not in NEVER_POSTED:
                # Gone from sight or a status tribe does not know: it may have been
                # published. Only the account's posts can tell (Unknown when they cannot).
                found = self._look(s, account, item)
                if found is not None:
                    return found
            # Never a post (or provably not among the account's): make a new one.
        self._check_quota(s, user)
        form = {"media_type": "TEXT", "text": item.text}
        if item.link and item.link in item.text:
            form["link_attachment"] = item.link
        made = s.post(f"{user}/threads", ThreadsLadder(acts=False), **form)
        container = str(made.get("id") or "")
        if not container:
            raise Transient(f"Threads answered without a container id: {made!r:.200}")
        item.keep({"container": container})
        return self._publish(s, account, user, container)

    def _publish(self, s: Signed, account: AccountContext, user: str, container: str) -> Sent:
        done = s.post(f"{user}/threads_publish", ThreadsLadder(acts=True), creation_id=container)
        media = str(done.get("id") or "")
        if not media:
            raise Unknown(f"Threads answered without a post id: {done!r:.200}")
        try:
            permalink = str(
                s.get(media, ThreadsLadder(acts=False), fields="permalink")["permalink"]
            )
        except (PublishError, KeyError):
            permalink = self._profile(account)  # posted all the same: the profile shows it
        return Sent(remote_id=media, remote_url=permalink)

    def _repost(self, s: Signed, account: AccountContext, target: str) -> Sent:
        done = s.post(f"{target}/repost", ThreadsLadder(acts=True))
        repost = str(done.get("id") or "")
        if not repost:
            raise Unknown(f"Threads did not confirm the repost: {done!r:.200}")
        return Sent(remote_id=repost, remote_url=f"{self._profile(account)}/reposts")

    def _status(self, s: Signed, container: str) -> str:
        """The container's status; "GONE" when Threads refuses to show it (it may have
        been published before it went: the account's posts decide)."""
        try:
            answer = s.get(container, ThreadsLadder(acts=False), fields="status,error_message")
        except Rejected:
            return "GONE"
        return str(answer.get("status", ""))

    def _published(self, s: Signed, account: AccountContext, item: Publication) -> Sent:
        """The kept container says PUBLISHED: its post must be among the recent ones."""
        found = self._look(s, account, item)
        if found is None:
            raise Unknown(
                "Threads says the post was published, but it is not among the account's posts yet"
            )
        return found

    def _check_quota(self, s: Signed, user: str) -> None:
        """RateLimited when the account's 250 posts a day are spent (see the module)."""
        answer = s.get(
            f"{user}/threads_publishing_limit",
            ThreadsLadder(acts=False),
            fields="quota_usage,config",
        )
        rows = answer.get("data") or [{}]
        reading = rows[0] if isinstance(rows[0], dict) else {}
        config = reading.get("config") or {}
        used, total = reading.get("quota_usage"), config.get("quota_total")
        if not isinstance(used, int) or not isinstance(total, int) or used < total:
            return
        window = timedelta(seconds=int(config.get("quota_duration") or 86400))
        until = self._window_moves(s, user, window)
        raise RateLimited(
            f"this Threads account has published its {total} posts for the day; trying again "
            f"after {until:%Y-%m-%d %H:%M} UTC",
            until,
        )

    def _window_moves(self, s: Signed, user: str, window: timedelta) -> datetime:
        """When the oldest post still in the moving window leaves it (the list may hold
        posts made in the app too: they are no later than the oldest API post, so this
        is never too late to look again); an hour from now when it cannot be read."""
        now = datetime.now(UTC)
        try:
            posts = self._recent_since(s, user, now - window)[0]
        except PublishError:
            posts = []
        times = [t for t in (_timestamp(p) for p in posts) if t is not None and t > now - window]
        if not times:
            return now + QUOTA_FALLBACK
        return max(min(times) + window, now + timedelta(minutes=1))

    # Finding ---------------------------------------------------------------------------

    def _find(self, s: Signed, account: AccountContext, item: Publication) -> Sent | None:
        kept = item.progress.get("container") if item.kind != ReshareKind.REPOST else None
        if kept:
            status = self._status(s, str(kept))
            if status == "PUBLISHED":
                return self._published(s, account, item)
            if status in ("FINISHED", "IN_PROGRESS", *NEVER_POSTED):
                return None  # never published: the next attempt goes on from the container
        # No container kept, or one gone from sight (or in a status tribe does not know):
        # the account's recent posts decide.
        return self._look(s, account, item)

    def _look(self, s: Signed, account: AccountContext, item: Publication) -> Sent | None:
        user = user_id(account)
        since = item.created_at if item.created_at.tzinfo else item.created_at.replace(tzinfo=UTC)
        since -= CLOCK_SLACK
        posts, complete = self._recent_since(s, user, since)
        for post in posts:
            if _matches(post, item):
                if item.kind == ReshareKind.REPOST:
                    return Sent(
                        remote_id=str(post["id"]), remote_url=f"{self._profile(account)}/reposts"
                    )
                return Sent(
                    remote_id=str(post["id"]),
                    remote_url=str(post.get("permalink") or self._profile(account)),
                )
        if not complete:
            raise Unknown("the account posted too much since then to tell whether this was posted")
        return None

    def _recent_since(
        self, s: Signed, user: str, since: datetime
    ) -> tuple[list[dict[str, Any]], bool]:
        """The account's posts since `since` (up to PAGES pages), and whether that is all."""
        posts: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(PAGES):
            params = {
                "fields": POST_FIELDS,
                "since": str(int(since.timestamp())),
                "limit": str(PAGE_SIZE),
            }
            if after:
                params["after"] = after
            answer = s.get(f"{user}/threads", ThreadsLadder(acts=False), **params)
            page = [p for p in answer.get("data") or [] if isinstance(p, dict)]
            posts += page
            paging = answer.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not page or not paging.get("next"):
                return posts, True  # the last page: every post since then was read
            if not after:
                return posts, False  # more to read, and no cursor to read it with

        return posts, False

    def _profile(self, account: AccountContext) -> str:
        return f"https://www.threads.net/@{account.handle.removeprefix('@')}"


def _matches(post: dict[str, Any], item: Publication) -> bool:
    if item.kind == ReshareKind.REPOST:
        reposted = post.get("reposted_post") or {}
        return isinstance(reposted, dict) and str(reposted.get("id")) == item.target_id
    if post.get("media_type") == "REPOST_FACADE":
        return False
    return _squash(str(post.get("text") or "")) == _squash(item.text)


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _timestamp(post: dict[str, Any]) -> datetime | None:
    try:
        return datetime.strptime(str(post["timestamp"]), "%Y-%m-%dT%H:%M:%S%z")
    except (KeyError, ValueError):
        return None
