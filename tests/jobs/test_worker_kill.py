"""A worker killed with SIGKILL in the middle of a job loses nothing: after its lease expires a
second worker process reruns the job and stores exactly one result, identical to what the
pipeline makes for that seed. Real processes, real pipeline, SQLite and PostgreSQL."""

from __future__ import annotations

import io
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from tests.utils.processes import reference_image, scenecraft

from scenecraft.api.platform import policy_from_settings
from scenecraft.api.serve_cli import first_run
from scenecraft.auth.accounts import create_user
from scenecraft.config import load_settings
from scenecraft.db import Database
from scenecraft.db.models import Asset, AssetVersion, Job
from scenecraft.jobs import queue
from scenecraft.storage.store import BlobStore

SEED, SIZE, STEPS = 5, 32, 30


def wait_for(check, timeout: float, what: str, logs: list[Path]):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}\n" + "\n".join(p.read_text()[-3000:] for p in logs))


@pytest.mark.slow
def test_sigkilled_worker_loses_nothing(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    first_run(data_dir)
    monkeypatch.setenv("SCENECRAFT_LEASE_SECONDS", "2")
    settings = load_settings(data_dir, database_url=database_url)
    db = Database(database_url)
    db.migrate()
    with db.session() as s:
        user = create_user(s, "alice", "long password")
        params = {
            "prompt": "p",
            "width": SIZE,
            "height": SIZE,
            "steps": STEPS,
            "sampler": "euler",
            "guidance": 1.0,
            "model": "seed-12M",
            "seed": SEED,
        }
        job, _ = queue.enqueue(s, user_id=user.id, params=params, policy=policy_from_settings(settings))
    args = ["worker", "--data-dir", str(data_dir), "--database-url", database_url, "--threads", "1"]
    env = {"SCENECRAFT_LEASE_SECONDS": "2"}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]

    def progress() -> int:
        with db.session() as s:
            j = s.get(Job, job.id)
            return j.progress_step if j is not None and j.status == "running" else 0

    first = scenecraft(args, env=env, log=logs[0])
    try:
        wait_for(lambda: progress() >= 2, 120, "the first worker to make progress", logs[:1])
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with db.session() as s:
        j = s.get(Job, job.id)
        assert j is not None and j.status == "running" and j.progress_step < STEPS and j.asset_id is None
    second = scenecraft(args, env=env, log=logs[1])
    try:

        def finished() -> str | None:
            with db.session() as s:
                j = s.get(Job, job.id)
                return j.status if j is not None and j.status in queue.TERMINAL else None

        assert wait_for(finished, 180, "the second worker to finish the job", logs) == "succeeded"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    store = BlobStore.from_settings(settings)
    with db.session() as s:
        j = s.get(Job, job.id)
        assert j is not None and j.attempts == 2 and j.error is None
        assets = s.scalars(select(Asset)).all()
        assert [a.id for a in assets] == [j.asset_id]  # exactly one result
        version = s.scalars(select(AssetVersion)).one()
        png = store.read_version(s, version).data
    db.dispose()
    got = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    expected = np.asarray(reference_image(SEED, SIZE, STEPS), dtype=np.int16)
    assert np.abs(got - expected).max() <= 1
