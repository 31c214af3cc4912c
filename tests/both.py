"""Run the suite on SQLite + the embedded broker and, when they answer, on PostgreSQL +
Redis at the same time (`make test`).

The two runs share nothing (their own databases, brokers, ports and artifact folders)
and spend much of their time waiting on worker processes, so side by side they take
little longer than one. Each line is prefixed with its backend; the last lines say
which backends ran and how each ended.

    python -m tests.both [pytest arguments...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import IO

from tests.services import answering


def _stream(name: str, source: IO[str]) -> None:
    for line in source:
        sys.stdout.write(f"[{name}] {line}")
        sys.stdout.flush()


def main(args: list[str]) -> int:
    backends = ["sqlite"]
    if answering():
        backends.append("postgres")
    else:
        print("==> PostgreSQL + Redis are not answering: the suite runs on SQLite only")
    print(f"==> running the suite on {' and '.join(backends)}, side by side")
    runs: dict[str, subprocess.Popen[str]] = {}
    readers = []
    for backend in backends:
        env = {**os.environ, "TRIBE_TEST_BACKEND": backend}
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        runs[backend] = proc
        assert proc.stdout is not None
        reader = threading.Thread(target=_stream, args=(backend, proc.stdout))
        reader.start()
        readers.append(reader)
    codes = {backend: proc.wait() for backend, proc in runs.items()}
    for reader in readers:
        reader.join()
    names = {"sqlite": "SQLite + embedded broker", "postgres": "PostgreSQL + Redis"}
    for backend, code in codes.items():
        print(f"==> {names[backend]}: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    ran = " AND ".join(names[b] for b in codes)
    only = "" if len(codes) == 2 else " ONLY (PostgreSQL + Redis not answering)"
    print(f"==> ran the suite on {ran}{only}")
    return max(codes.values())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
