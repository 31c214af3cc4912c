"""Exit 0 when the PostgreSQL and Redis the second test run needs both answer."""

from __future__ import annotations

import sys

import psycopg
import redis

from tests.conftest import POSTGRES_URL, REDIS_URL


def answering() -> bool:
    """Whether both answer (why not is printed)."""
    return main() == 0


def main() -> int:
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"PostgreSQL at {dsn} does not answer: {exc}".strip(), file=sys.stderr)
        return 1
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        print(f"Redis at {REDIS_URL} does not answer: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
