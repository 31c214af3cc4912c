"""One network = one folder with the same files, one registry line, loaded on first use."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from config import Settings, get_settings
from tribe.core.kinds import Network
from tribe.networks import registry
from tribe.networks.dryrun import DryRunFollowers, DryRunPublisher

NETWORKS_DIR = Path(registry.__file__).parent
SAME_FILES = {"__init__.py", "client.py", "errors.py", "publish.py", "connect.py", "followers.py"}


@pytest.mark.parametrize("network", list(Network))
def test_every_network_is_a_folder_with_the_same_files(network: Network) -> None:
    name = registry.NETWORKS[network]
    folder = NETWORKS_DIR / name.rsplit(".", 1)[1]
    assert {p.name for p in folder.glob("*.py")} == SAME_FILES


@pytest.mark.parametrize("network", list(Network))
def test_the_registry_builds_its_publisher_connector_and_follower_counter(network: Network) -> None:
    settings = get_settings()
    connector = registry.connector(network, settings)
    assert connector.network == network
    assert connector.title
    assert len({f.name for f in connector.fields}) == len(connector.fields)
    publisher = registry.package(network).publisher(settings)
    assert isinstance(publisher.idempotent, bool)
    assert not isinstance(registry.make_follower_counters(settings)(network), DryRunFollowers)


def test_dry_run_publishes_nowhere_on_every_network() -> None:
    settings = Settings(**{**get_settings().model_dump(), "TRIBE_DRY_RUN": True})
    publishers = registry.make_publishers(settings)
    assert all(isinstance(publishers(n), DryRunPublisher) for n in Network)
    counters = registry.make_follower_counters(settings)
    assert all(isinstance(counters(n), DryRunFollowers) for n in Network)


def test_no_module_of_the_networks_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(NETWORKS_DIR)): n
        for p in NETWORKS_DIR.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}


def test_a_worker_that_only_polls_loads_no_network_library() -> None:
    heavy = ("tweepy", "mastodon", "atproto_client", "PIL", "twitter_text")
    code = (
        "import sys, workers.tasks, tribe.networks.registry; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_beat_loads_no_task_code() -> None:
    """Beat sends tasks by name: it never loads the features, the database layer or the
    network clients a worker needs (tens of MB on a small server)."""
    code = (
        "import sys, workers.beat; "
        "print(sorted({m.split('.')[0] + '.' + m.split('.')[1] if m.startswith('tribe.') else m "
        "for m in sys.modules if m.startswith(('tribe.', 'workers.tasks', 'sqlmodel', "
        "'httpx', 'feedparser'))}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "['tribe.core']"


ALLOWED_IN_A_NETWORK = (
    "config",
    "tribe.core.",
    "tribe.infra.netguard",
    "tribe.infra.transports",
    "tribe.infra.guarded_requests",
    "tribe.infra.identity",
    "tribe.networks.base",
    "tribe.networks.graph",  # what Meta's Graph APIs share (Facebook, Threads)
    "tribe.networks.cards",  # a link card's page and image, fetched once (Bluesky)
)


@pytest.mark.parametrize("network", list(Network))
def test_a_network_folder_needs_no_database_and_no_other_network(network: Network) -> None:
    """Adapters and connectors get what they need handed in (AccountContext, AppStore):
    they import the pure core, the guard and the shared base, and their own folder."""
    name = registry.NETWORKS[network]
    folder = NETWORKS_DIR / name.rsplit(".", 1)[1]
    ours = []
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                ours.append(node.module)
            elif isinstance(node, ast.Import):
                ours += [alias.name for alias in node.names]
    ours = [m for m in ours if m.split(".")[0] in {"tribe", "config", "workers"}]
    strays = [
        m for m in ours if not m.startswith((*ALLOWED_IN_A_NETWORK, name + ".")) and m != name
    ]
    assert strays == []
