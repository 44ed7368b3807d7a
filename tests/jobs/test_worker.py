"""Workers with a fake engine: results stored encrypted as asset v1, events, batching, cancel
(checked every step), retries, non-retryable rejections, lost leases."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image
from sqlalchemy import select, update
from tests.jobs.conftest import make_worker
from tests.utils.fake_engine import FakeEngine, expected_image

from scenecraft.auth.accounts import create_user
from scenecraft.db import Database
from scenecraft.db.models import Asset, AssetVersion, Job, JobEvent
from scenecraft.jobs import queue
from scenecraft.jobs.queue import QueuePolicy
from scenecraft.storage.store import BlobStore

PARAMS = {
    "prompt": "p",
    "width": 32,
    "height": 32,
    "steps": 3,
    "sampler": "euler",
    "guidance": 1.0,
    "model": "seed-12M",
    "seed": 11,
}


def setup_jobs(db: Database, seeds: list[int], policy: QueuePolicy, **params: object) -> tuple[str, list[str]]:
    with db.session() as s:
        uid = create_user(s, "alice", "long password").id
        ids = [
            queue.enqueue(s, user_id=uid, params={**PARAMS, **params, "seed": seed}, policy=policy)[0].id
            for seed in seeds
        ]
    return uid, ids


def events(db: Database, job_id: str) -> list[tuple[str, dict[str, object]]]:
    with db.session() as s:
        rows = s.execute(
            select(JobEvent.kind, JobEvent.data).where(JobEvent.job_id == job_id).order_by(JobEvent.seq)
        ).all()
    return [(k, json.loads(d)) for k, d in rows]


def test_a_batch_runs_in_one_forward_pass_and_stores_each_image(db: Database, store: BlobStore) -> None:
    policy = QueuePolicy(max_batch_size=4)
    _, ids = setup_jobs(db, [1, 2, 3], policy)
    engine = FakeEngine()
    assert make_worker(db, store, engine, policy).run_once() == 3
    assert engine.batches == [[1, 2, 3]]
    with db.session() as s:
        for job_id, seed in zip(ids, [1, 2, 3], strict=True):
            job = s.get(Job, job_id)
            assert job is not None and job.status == "succeeded" and job.progress_step == 3
            asset = s.get(Asset, job.asset_id)
            assert asset is not None and asset.kind == "generated" and asset.latest_version == 1
            version = s.scalars(select(AssetVersion).where(AssetVersion.asset_id == asset.id)).one()
            png = store.read_version(s, version).data
            got = Image.open(io.BytesIO(png))
            assert got.format == "PNG" and got.tobytes() == expected_image(seed, 32).tobytes()


def test_events_are_status_progress_preview_done(db: Database, store: BlobStore) -> None:
    _, (job_id,) = setup_jobs(db, [5], QueuePolicy())
    make_worker(db, store, FakeEngine()).run_once()
    got = events(db, job_id)
    kinds = [k for k, _ in got]
    assert kinds == ["status", "status"] + ["progress", "preview"] * 3 + ["done"]
    assert got[2][1] == {"step": 1, "total": 3}
    preview = Image.open(io.BytesIO(base64.b64decode(str(got[3][1]["jpeg"]))))
    assert preview.format == "JPEG" and preview.size == (8, 8)
    with db.session() as s:
        assert got[-1][1]["asset_id"] == s.get(Job, job_id).asset_id  # type: ignore[union-attr]


def test_cancel_of_a_running_job_is_seen_at_the_next_step(db: Database, store: BlobStore) -> None:
    policy = QueuePolicy(max_batch_size=2)
    _, (victim, mate) = setup_jobs(db, [1, 2], policy, steps=10)

    def cancel_at(step: int) -> None:
        if step == 2:
            with db.session() as s:
                job = s.get(Job, victim)
                assert job is not None
                queue.cancel(s, job)

    engine = FakeEngine(on_step=cancel_at)
    make_worker(db, store, engine, policy).run_once()
    with db.session() as s:
        v, m = s.get(Job, victim), s.get(Job, mate)
        assert v is not None and m is not None
        assert v.status == "cancelled" and v.progress_step == 2  # stopped right after step 2
        assert m.status == "queued" and m.attempts == 0  # batch mate given back, no attempt spent
    engine.on_step = None
    make_worker(db, store, engine, policy).run_once()
    with db.session() as s:
        assert s.get(Job, mate).status == "succeeded"  # type: ignore[union-attr]


def test_crashes_are_retried_then_the_job_dies_keeping_the_error(db: Database, store: BlobStore) -> None:
    policy = QueuePolicy(max_attempts=2, retry_backoff_seconds=0)
    _, (job_id,) = setup_jobs(db, [1], policy)
    engine = FakeEngine(fail_times=5)
    worker = make_worker(db, store, engine, policy)
    worker.run_once()
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == "queued" and job.error == "RuntimeError: simulated engine crash"
    worker.run_once()
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and (job.status, job.attempts) == ("dead", 2)
        assert job.error == "RuntimeError: simulated engine crash"
    assert events(db, job_id)[-1] == (
        "failed",
        {"error": "RuntimeError: simulated engine crash", "dead": True, "attempts": 2},
    )


def test_a_retry_after_a_crash_succeeds(db: Database, store: BlobStore) -> None:
    policy = QueuePolicy(max_attempts=3, retry_backoff_seconds=0)
    _, (job_id,) = setup_jobs(db, [1], policy)
    worker = make_worker(db, store, FakeEngine(fail_times=1), policy)
    worker.run_once()
    worker.run_once()
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and (job.status, job.attempts) == ("succeeded", 2)


def test_rejected_requests_die_at_once(db: Database, store: BlobStore) -> None:
    policy = QueuePolicy(max_attempts=3)
    _, (job_id,) = setup_jobs(db, [1], policy)
    make_worker(db, store, FakeEngine(reject=True), policy).run_once()
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == "dead" and job.attempts == 1
        assert job.error == "rejected by the engine: size 32 is not supported"


def test_a_worker_that_lost_its_lease_writes_nothing(db: Database, store: BlobStore) -> None:
    _, (job_id,) = setup_jobs(db, [1], QueuePolicy())

    def steal(step: int) -> None:
        if step == 1:  # another worker took the job over (as after a lease expiry)
            with db.session() as s:
                s.execute(update(Job).where(Job.id == job_id).values(lease_owner="w2"))

    make_worker(db, store, FakeEngine(on_step=steal)).run_once()
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == "running" and job.lease_owner == "w2" and job.asset_id is None
        assert s.scalars(select(Asset)).all() == []
