"""Job kinds: the `kind` column (migration 0002, expand-style), the discriminated params, and rows
written by an older pod (kind only inside params, or nowhere) still run through the right handler."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from tests.jobs.conftest import make_worker
from tests.utils.fake_engine import FakeEngine

from scenecraft.auth.accounts import create_user
from scenecraft.db import Database
from scenecraft.db.engine import make_engine, migrate
from scenecraft.db.models import Job
from scenecraft.jobs import queue
from scenecraft.jobs.params import EffectsParams, GenerateParams, parse_params
from scenecraft.jobs.queue import QueuePolicy
from scenecraft.storage.store import BlobStore

GENERATE = {"prompt": "p", "width": 32, "height": 32, "steps": 2, "seed": 3, "model": "seed-12M"}


def test_params_are_discriminated_by_kind() -> None:
    assert isinstance(parse_params(GENERATE), GenerateParams)  # no kind anywhere: a generate job
    effects = parse_params({"asset_id": "a" * 32, "version": 1, "chain": []}, "effects")
    assert isinstance(effects, EffectsParams)
    assert isinstance(parse_params({"kind": "effects", "asset_id": "a", "version": 2, "chain": []}), EffectsParams)
    with pytest.raises(ValidationError, match="asset_id"):
        parse_params({"version": 1, "chain": []}, "effects")
    with pytest.raises(ValidationError, match="expected tags: 'generate', 'effects'"):
        parse_params(GENERATE, "upscale")


def test_enqueue_fills_the_kind_and_model_columns(db: Database) -> None:
    with db.session() as s:
        uid = create_user(s, "alice", "long password").id
        gen, _ = queue.enqueue(s, user_id=uid, params=GenerateParams(**GENERATE), policy=QueuePolicy())
        eff, _ = queue.enqueue(
            s, user_id=uid, params=EffectsParams(asset_id="a" * 32, version=1, chain=[]), policy=QueuePolicy()
        )
        assert (gen.kind, gen.model, gen.params["kind"]) == ("generate", "seed-12M", "generate")
        assert (eff.kind, eff.model, eff.params["kind"]) == ("effects", None, "effects")
        assert gen.batch_key == GenerateParams(**GENERATE).batch_key() and eff.batch_key.startswith("effects:")


def test_a_row_from_an_older_pod_runs_by_its_params(db: Database, store: BlobStore) -> None:
    with db.session() as s:
        uid = create_user(s, "alice", "long password").id
        job, _ = queue.enqueue(s, user_id=uid, params=GENERATE, policy=QueuePolicy())
        job.kind = job.model = None  # as an older pod writes it: no kind column
        job_id = job.id
    engine = FakeEngine()
    assert make_worker(db, store, engine).run_once() == 1
    assert engine.batches == [[3]]
    with db.session() as s:
        assert s.get(Job, job_id).status == "succeeded"  # type: ignore[union-attr]


def test_migration_0002_backfills_kind_and_model(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    migrate(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, password_hash, role, disabled, mfa_last_step, created_at,"
                " webhook_secret) VALUES ('u', 'alice', 'x', 'user', 0, 0, '2026-01-01', 'w')"
            )
        )
        for job_id, params in (("g", {**GENERATE}), ("e", {"kind": "effects", "asset_id": "a", "version": 1})):
            conn.execute(
                text(
                    "INSERT INTO jobs (id, user_id, status, priority, request_hash, params, batch_key, attempts,"
                    " max_attempts, available_at, cancel_requested, progress_step, progress_total, created_at)"
                    " VALUES (:id, 'u', 'queued', 0, 'h', :params, 'k', 0, 3, '2026-01-01', 0, 0, 0, '2026-01-01')"
                ),
                {"id": job_id, "params": json.dumps(params)},
            )
    migrate(engine)
    with engine.connect() as conn:
        rows = dict((i, (k, m)) for i, k, m in conn.execute(text("SELECT id, kind, model FROM jobs")).all())
    engine.dispose()
    assert rows == {"g": ("generate", "seed-12M"), "e": ("effects", None)}


def test_claim_prefers_the_resident_model_until_another_job_waited_too_long(db: Database) -> None:
    from datetime import timedelta

    from scenecraft.db.models import utcnow

    policy = QueuePolicy(max_batch_size=1, affinity_wait_seconds=60, quota_max_running=10)
    with db.session() as s:
        uid = create_user(s, "alice", "long password").id
        other, _ = queue.enqueue(s, user_id=uid, params={**GENERATE, "model": "flux-dev"}, policy=policy)
        own, _ = queue.enqueue(s, user_id=uid, params={**GENERATE, "model": "pixart"}, policy=policy)
        other_id, own_id = other.id, own.id
    with db.session() as s:  # the older job is for another model: the resident one's goes first
        (got,) = queue.claim(s, "w1", policy, resident_model="pixart")
        assert got.id == own_id
    with db.session() as s:  # nothing of its own left: it takes the other model's job (and swaps)
        (got,) = queue.claim(s, "w1", policy, resident_model="pixart")
        assert got.id == other_id
    with db.session() as s:
        late, _ = queue.enqueue(s, user_id=uid, params={**GENERATE, "model": "flux-dev"}, policy=policy)
        queue.enqueue(s, user_id=uid, params={**GENERATE, "model": "pixart"}, policy=policy)
        late.created_at = utcnow() - timedelta(seconds=120)  # waited past affinity_wait_seconds
        late_id = late.id
    with db.session() as s:
        (got,) = queue.claim(s, "w1", policy, resident_model="pixart")
        assert got.id == late_id
