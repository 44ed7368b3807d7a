"""Fixtures for tests/jobs: a database, a blob store, and a worker around a fake engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.utils.fake_engine import FakeEngine
from tests.utils.fixtures import *  # noqa: F403

from scenecraft.db import Database
from scenecraft.jobs.events import MemoryBus
from scenecraft.jobs.queue import QueuePolicy
from scenecraft.jobs.worker import Worker
from scenecraft.storage.backends import LocalBlobBackend
from scenecraft.storage.crypto import Keyring
from scenecraft.storage.store import BlobStore


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(LocalBlobBackend(tmp_path / "blobs"), Keyring({"k1": bytes(range(32))}, "k1"))


def make_worker(
    db: Database, store: BlobStore, engine: FakeEngine, policy: QueuePolicy | None = None, worker_id: str = "w1"
) -> Worker:
    return Worker(
        db=db, store=store, bus=MemoryBus(), policy=policy or QueuePolicy(), engine=engine, worker_id=worker_id
    )
