"""Throw-away databases for tests: a SQLite file per test, or a fresh PostgreSQL schema per test.

PostgreSQL runs at 127.0.0.1:5432 on every machine (CI included); override with
SCENECRAFT_TEST_POSTGRES_URL. Each test gets its own schema (search_path set on the connection),
dropped afterwards, so tests never see each other's rows and can run in any order.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg

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
