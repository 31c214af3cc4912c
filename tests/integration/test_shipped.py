"""The install as it ships (`pip install .`, no dev extras) runs docker compose's shape.

From a virtualenv holding only what pyproject.toml declares (see shipped.py), the real
console scripts do what the compose services do, on PostgreSQL + Redis: `tribe db
upgrade` on an empty database, then `tribe web`, `tribe worker` and `tribe beat`. The
rest of the suite runs in the dev virtualenv, where pytest and friends bring modules
that the image lacks; this is the test that sees an import the package does not declare.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import func, select

from config import get_settings
from tests import builders as b
from tests.builders import posts, rss
from tests.conftest import BACKEND, POSTGRES_URL
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.integration.cluster import cluster, free_port, web_answers
from tests.integration.shipped import Shipped, shipped_venv
from tribe.core.kinds import DeliveryState, PollOutcome
from tribe.infra.db import dispose_engines, session_scope
from tribe.infra.models import Delivery, Feed, Post
from tribe.members.accounts import add_account
from tribe.members.people import get_member

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        BACKEND != "postgres",
        reason="the shipped install is smoke-tested on docker compose's backend only: "
        "PostgreSQL + Redis (TRIBE_TEST_BACKEND=postgres)",
    ),
    pytest.mark.timeout(600),  # the first run in a clone resolves the dependencies
]


@pytest.fixture(scope="module")
def shipped() -> Shipped:
    built = shipped_venv()
    print(built.summary())
    return built


@pytest.fixture
def own_database(tribe_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database of this test's own, for the shipped migrations to create."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"tribe_shipped_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("TRIBE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Every module of ours, imported in one clean interpreter of the shipped venv: the smoke
# run below only reaches what a dry run needs. The broker's transport comes first, the
# way a worker meets it with nothing imported yet: once anything imports pkg_resources
# (twitter-text-parser does), setuptools puts its vendored `packaging` on sys.path, and
# that would hide kombu's undeclared need for it.
IMPORT_EVERYTHING = """
import importlib, pkgutil
from kombu.transport import resolve_transport
resolve_transport("redis")
for top in ("config", "tribe", "workers"):
    package = importlib.import_module(top)
    for module in pkgutil.walk_packages(package.__path__, top + "."):
        if ".migrations" not in module.name and not module.name.endswith(".__main__"):
            importlib.import_module(module.name)
"""


def shipped_environment(shipped: Shipped) -> dict[str, str]:
    """The test's settings, with the shipped venv first and no path into the working tree."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env.update(
        PATH=f"{shipped.bin}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(shipped.venv),
        TRIBE_DRY_RUN="true",
        TRIBE_DISPATCH_EVERY="1s",
        TRIBE_POLL_SWEEP_EVERY="1s",
    )
    return env


def executable(pid: int) -> str:
    """The interpreter a process runs (after `tribe worker` became celery by exec)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()


def feed_polled(feed_id: int) -> bool:
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        return feed is not None and feed.last_success_at is not None


def delivery(delivery_id: int) -> Delivery:
    with session_scope() as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None
        return row


def a_feed_and_a_due_delivery(server: FeedServer) -> tuple[int, int]:
    """Alice's feed, due now; Bob, her tribemate, has approved an earlier post of hers
    for his Mastodon account, and it is due now too."""
    server.routes["/alice.xml"] = Served(rss(posts(3)))
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        b.tribe(s, "Writers", alice, bob)
        feed = b.feed(s, alice, server.url("/alice.xml"), next_poll_at=datetime.now(UTC))
        earlier = Post(
            feed_id=b.pk(feed),
            entry_key="earlier",
            url="https://alice.blog/earlier",
            title="An earlier post",
        )
        s.add(earlier)
        s.flush()
        account = add_account(
            s, member=get_member(s, bob.email), network="mastodon", handle="@bob@mastodon.social"
        )
        approved = Delivery(
            account_id=b.pk(account),
            post_id=b.pk(earlier),
            text="Alice wrote this: https://alice.blog/earlier",
            due_at=datetime.now(UTC),
        )
        s.add(approved)
        s.flush()
        assert feed.id is not None
        assert approved.id is not None
        return feed.id, approved.id


def test_the_shipped_install_migrates_serves_polls_a_feed_and_sends_a_dry_run_delivery(
    shipped: Shipped, own_database: str, server: FeedServer, tmp_path: Path
) -> None:
    env = shipped_environment(shipped)
    tribe, python = str(shipped.bin / "tribe"), str(shipped.bin / "python")
    # The import check runs while the database is migrated and the processes start.
    importing = subprocess.Popen(
        [python, "-c", IMPORT_EVERYTHING],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with importing:
        migrate = subprocess.run(
            [tribe, "db", "upgrade"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        feed_id, delivery_id = a_feed_and_a_due_delivery(server)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with cluster(tmp_path / "cluster", **env) as c:
            c.env.update(TRIBE_WEB_PORT=str(port), TRIBE_BASE_URL=base)
            c.start("worker", [tribe, "worker"])
            c.start("beat", [tribe, "beat"])
            c.start("web", [tribe, "web"])
            output, _ = importing.communicate(timeout=120)
            assert importing.returncode == 0, output
            c.wait_for("the web app", lambda: web_answers(base))
            c.wait_for("the feed polled", lambda: feed_polled(feed_id))
            c.wait_for(
                "the dry-run delivery", lambda: delivery(delivery_id).state == DeliveryState.SENT
            )
            with urllib.request.urlopen(f"{base}/login", timeout=10) as page:  # templates ship
                assert page.status == 200
            assert {name: executable(p.pid) for name, p in c.procs.items()} == dict.fromkeys(
                ("worker", "beat", "web"), python
            )
            assert f"(delivery {delivery_id}, key" in c.log("worker")  # the dry run's log line
    assert server.hits("/alice.xml") >= 1
    with session_scope() as s:
        assert s.get_one(Feed, feed_id).last_outcome == PollOutcome.OK
        assert s.exec(select(func.count()).select_from(Post)).one() == 4  # 3 and the earlier
    assert delivery(delivery_id).reason.startswith("dry run")
