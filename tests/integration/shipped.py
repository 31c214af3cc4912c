"""The install as it ships: a virtualenv holding only what `pip install .` resolves.

The Dockerfile copies a few folders and runs `pip install .` with no extras. A module
that the code imports but pyproject.toml does not declare is then missing in the image,
while the dev virtualenv has it anyway (pytest brings `packaging`, which kombu's Redis
transport imports: every worker and beat crash-looped while `make test` was green).

So the environment here is made with `venv --without-pip` and filled by the dev
virtualenv's pip (`pip --python`): it holds exactly what `pip install .` resolves, not
even pip or setuptools. Resolving the dependencies takes a while, so that venv is kept
under .venv/shipped/, keyed by a hash of pyproject.toml's dependency list and the Python
version, and made again after a week (a new release of a dependency can change what it
brings: kombu's moved `packaging` into an extra). Each run reinstalls only the project
itself, built from a fresh copy of what the Dockerfile copies (never a stale build/
folder), and checks that the installed code is that copy.

`python -m tests.integration.shipped` builds it and prints the timings.
"""

from __future__ import annotations

import fcntl
import filecmp
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".venv" / "shipped"
PACKAGES = ("config", "tribe", "workers")  # what [tool.setuptools.packages.find] includes
_DONE = ".dependencies-installed"
MAX_AGE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Shipped:
    """A ready environment, and what making it cost."""

    venv: Path
    dependencies_seconds: float | None  # None: reused from the cache
    project_seconds: float

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def summary(self) -> str:
        deps = (
            "reused"
            if self.dependencies_seconds is None
            else f"resolved and installed in {self.dependencies_seconds:.1f}s (cold)"
        )
        return (
            f"shipped venv {self.venv.name}: dependencies {deps}; "
            f"project installed in {self.project_seconds:.1f}s"
        )


def dependency_key() -> str:
    """Changes when what `pip install .` resolves can change (short of new releases)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    material = {
        "dependencies": sorted(project.get("dependencies", [])),
        "requires-python": project.get("requires-python"),
        "python": sys.version,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def docker_context(dest: Path) -> None:
    """Copy what the Dockerfile's COPY lines copy, so pip sees what the image build sees."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for source in [w for w in words[1:-1] if not w.startswith("--")]:
            path = ROOT / source
            if path.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(path, dest / path.name, ignore=ignore)
            else:
                shutil.copy2(path, dest / path.name)


def pip(venv: Path, *args: str) -> None:
    """The dev virtualenv's pip, acting on `venv` (which has no pip of its own)."""
    command = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-4000:]
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{output}")


def _build_dependencies(venv: Path, context: Path) -> None:
    shutil.rmtree(venv, ignore_errors=True)  # an earlier build that did not finish
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip(venv, "install", "--quiet", str(context))
    (venv / _DONE).write_text(dependency_key() + "\n")


def _site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python3*/site-packages")
    return found


def stale_files(venv: Path, source: Path) -> list[str]:
    """Python files that differ between `source` and the venv (empty: the same code)."""
    site = _site_packages(venv)
    differ = []
    for package in PACKAGES:
        tree = {p.relative_to(source) for p in (source / package).rglob("*.py")}
        installed = {p.relative_to(site) for p in (site / package).rglob("*.py")}
        differ += [f"{p} (only one side)" for p in sorted(tree ^ installed)]
        differ += [
            str(p)
            for p in sorted(tree & installed)
            if not filecmp.cmp(source / p, site / p, shallow=False)
        ]
    return differ


def shipped_venv() -> Shipped:
    """The shipped install of the current working tree, its dependencies cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = dependency_key()
    venv = CACHE / key
    with (CACHE / ".lock").open("w") as lock, tempfile.TemporaryDirectory() as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once share one build
        context = Path(tmp) / "context"
        context.mkdir()
        docker_context(context)
        dependencies_seconds = None
        done = venv / _DONE
        if not done.exists() or time.time() - done.stat().st_mtime > MAX_AGE_SECONDS:
            started = time.monotonic()
            _build_dependencies(venv, context)
            dependencies_seconds = time.monotonic() - started
            for old in CACHE.iterdir():  # venvs for dependency lists gone by
                if old.is_dir() and old != venv:
                    shutil.rmtree(old, ignore_errors=True)
        started = time.monotonic()
        pip(venv, "install", "--quiet", "--no-deps", "--force-reinstall", str(context))
        shipped = Shipped(venv, dependencies_seconds, time.monotonic() - started)
        stale = stale_files(venv, context)
        if stale:
            raise RuntimeError(f"the shipped venv does not hold the working tree's code: {stale}")
        with (CACHE / "timings.log").open("a") as log:
            log.write(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {shipped.summary()}\n")
    return shipped


if __name__ == "__main__":
    print(shipped_venv().summary())
