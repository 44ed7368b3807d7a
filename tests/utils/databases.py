"""Throw-away databases for tests: a SQLite file per test, or a fresh PostgreSQL schema per test.

PostgreSQL runs at 127.0.0.1:5432 on every machine (CI included); override with
SCENECRAFT_TEST_POSTGRES_URL. Each test gets its own schema (search_path set on the connection),
dropped afterwards, so tests never see each other's rows and can run in any order.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
from sqlalchemy import Engine, event

POSTGRES_URL = os.environ.get("SCENECRAFT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def temporary_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yields a SQLAlchemy URL for an empty database; removes it afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        _drop_schema(schema)


def _drop_schema(schema: str, attempts: int = 5) -> None:
    """DROP SCHEMA ... CASCADE takes every table's exclusive lock; a connection the test's app is
    still closing (a housekeeping query) can deadlock with it, and PostgreSQL then cancels one side.
    The drop is retried: the other side is gone a moment later."""
    for attempt in range(attempts):
        try:
            with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            return
        except psycopg.errors.DeadlockDetected:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


class PoolWatch:
    """Counts the connections `engine` has checked out, and notes how many were out each time the engine
    was disposed. Engine.dispose() closes only the connections in the pool: one checked out then is
    returned later into the disposed pool, is never closed, and is garbage-collected open (psycopg's
    "connection deleted while still open"). Pool events set on the engine carry over to the pools that
    dispose() makes, so a watch lasts the engine's life."""

    def __init__(self, engine: Engine) -> None:
        self.checked_out = 0
        self.out_at_dispose: list[int] = []
        self._lock = threading.Lock()
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "checkin", self._on_checkin)
        event.listen(engine, "engine_disposed", self._on_disposed)

    def _on_checkout(self, *_: object) -> None:
        with self._lock:
            self.checked_out += 1

    def _on_checkin(self, *_: object) -> None:
        with self._lock:
            self.checked_out -= 1

    def _on_disposed(self, _engine: Engine) -> None:
        with self._lock:
            self.out_at_dispose.append(self.checked_out)

    def assert_released(self) -> None:
        """Fails if the engine was disposed while a connection was checked out, or one is out now."""
        assert not any(self.out_at_dispose), (
            f"the pool was disposed with connections still checked out ({self.out_at_dispose} at each "
            "dispose): they go back into the disposed pool and are never closed"
        )
        assert self.checked_out == 0, f"{self.checked_out} connection(s) still checked out after close"
