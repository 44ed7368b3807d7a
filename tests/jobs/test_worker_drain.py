"""SIGTERM drains a worker process: it finishes the batch in hand within --drain-seconds, or, past
that, gives the jobs back at once (no attempt counted) so another worker takes them without waiting
out the lease. Real `scenecraft worker` processes (with the fake engine), SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from tests.utils.processes import free_port, scenecraft

from scenecraft.api.platform import policy_from_settings
from scenecraft.api.serve_cli import first_run
from scenecraft.auth.accounts import create_user
from scenecraft.config import load_settings
from scenecraft.db import Database
from scenecraft.db.models import Job, JobEvent
from scenecraft.jobs import queue

LEASE = 120  # far longer than the test: a job that comes back did not wait out a lease


def start(
    tmp_path: Path, database_url: str, drain: float, log: str, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], Path]:
    args = [
        "worker",
        "--data-dir",
        str(tmp_path / "data"),
        "--database-url",
        database_url,
        "--engine",
        "tests.utils.fake_engine:engine_from_env",
        "--drain-seconds",
        str(drain),
        *extra,
    ]
    path = tmp_path / log
    env = {"SCENECRAFT_LEASE_SECONDS": str(LEASE), "FAKE_ENGINE_STEP_DELAY": "0.1"}
    return scenecraft(args, env=env, log=path), path


def enqueue(tmp_path: Path, database_url: str, steps: int) -> tuple[Database, str]:
    data_dir = tmp_path / "data"
    first_run(data_dir)
    settings = load_settings(data_dir, database_url=database_url)
    db = Database(database_url)
    db.migrate()
    params = {
        "prompt": "p",
        "width": 8,
        "height": 8,
        "steps": steps,
        "sampler": "euler",
        "guidance": 1.0,
        "model": "seed-12M",
        "seed": 3,
    }
    with db.session() as s:
        user = create_user(s, "alice", "long password")
        job, _ = queue.enqueue(s, user_id=user.id, params=params, policy=policy_from_settings(settings))
    return db, job.id


def wait_step(db: Database, job_id: str, step: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with db.session() as s:
            j = s.get(Job, job_id)
            if j is not None and j.status == "running" and j.progress_step >= step:
                return
        time.sleep(0.05)
    pytest.fail(f"the worker never reached step {step}:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_sigterm_finishes_the_job_in_hand(tmp_path: Path, database_url: str) -> None:
    db, job_id = enqueue(tmp_path, database_url, steps=30)  # ~3 s of work
    port = free_port()
    worker, log = start(tmp_path, database_url, drain=30, log="w.log", extra=("--metrics-port", str(port)))
    try:
        wait_step(db, job_id, 3, log)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "checks": {"model": "ok"}}
        text = httpx.get(f"{base}/metrics").text
        beat = next(line for line in text.splitlines() if line.startswith("scenecraft_worker_heartbeat_timestamp"))
        assert abs(float(beat.split()[1]) - time.time()) < 60
        assert "scenecraft_gpu_memory_used_bytes" in text and "scenecraft_data_dir_free_bytes" in text
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    with db.session() as s:
        j = s.get(Job, job_id)
        assert j is not None and j.status == "succeeded" and j.attempts == 1 and j.asset_id is not None
    assert "stopped (0 jobs released)" in log.read_text()
    db.dispose()


@pytest.mark.slow
def test_past_the_grace_the_lease_is_released_at_once(tmp_path: Path, database_url: str) -> None:
    db, job_id = enqueue(tmp_path, database_url, steps=600)  # ~60 s of work, far past the grace
    worker, log = start(tmp_path, database_url, drain=1, log="w.log")
    try:
        wait_step(db, job_id, 2, log)
        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0, log.read_text()
        took = time.monotonic() - signalled
    finally:
        if worker.poll() is None:
            worker.kill()
    assert took < LEASE / 4, f"the worker took {took:.1f} s to stop"
    with db.session() as s:
        j = s.get(Job, job_id)
        assert j is not None and j.status == "queued" and j.lease_owner is None and j.lease_expires_at is None
        assert j.attempts == 0  # a drain is not a failed attempt
        kinds = [e.data for e in s.query(JobEvent).filter(JobEvent.job_id == job_id).order_by(JobEvent.seq)]
        assert "worker shutting down" in kinds[-1]
    assert "stopped (1 jobs released)" in log.read_text()
    # and another worker takes it right away (the lease, 120 s, is not waited out)
    second, log2 = start(tmp_path, database_url, drain=1, log="w2.log")
    try:
        wait_step(db, job_id, 1, log2)
    finally:
        second.kill()
        second.wait()
    db.dispose()
