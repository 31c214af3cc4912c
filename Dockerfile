FROM python:3.11-slim

# MALLOC_ARENA_MAX: two malloc arenas instead of one per thread (up to 8 per core) keep
# a worker's threads from holding ~10 MB of freed memory each (see workers/run.py).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MALLOC_ARENA_MAX=2 \
    TRIBE_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY tribe ./tribe
COPY workers ./workers
RUN pip install . \
    && useradd --system --create-home --home-dir /home/tribe tribe \
    && mkdir -p /data && chown tribe /data

USER tribe
CMD ["tribe", "--help"]
