"""What /metrics reports for alerting: the oldest queued job, expired leases, disk, audit-chain
checks; each value checked against the state the test set up."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from tests.utils.factories import create_user

from scenecraft import audit
from scenecraft.api.platform import Platform
from scenecraft.db.models import AuditRecord, Job, utcnow
from scenecraft.jobs import queue


def samples(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[s.name + (f"{{{labels}}}" if labels else "")] = s.value
    return out


def params(seed: int) -> dict[str, object]:
    return {"prompt": "p", "width": 8, "height": 8, "steps": 2, "sampler": "euler", "guidance": 1.0,
            "model": "seed-12M", "seed": seed}


def test_oldest_queued_job_and_expired_leases(app: FastAPI, platform: Platform) -> None:
    user = create_user(platform, "alice")
    with platform.db.session() as s:
        old, _ = queue.enqueue(s, user_id=user.id, params=params(1), policy=platform.policy)
        queue.enqueue(s, user_id=user.id, params=params(2), policy=platform.policy)
        stale, _ = queue.enqueue(s, user_id=user.id, params=params(3), policy=platform.policy)
        s.flush()
        s.execute(update(Job).where(Job.id == old.id).values(created_at=utcnow() - timedelta(seconds=600)))
        s.execute(
            update(Job)
            .where(Job.id == stale.id)
            .values(status="running", lease_owner="gone", lease_expires_at=utcnow() - timedelta(seconds=5))
        )
    client = TestClient(app)
    got = samples(client)
    assert 600 <= got["scenecraft_oldest_queued_job_age_seconds"] < 660
    assert got["scenecraft_jobs_lease_expired"] == 1
    assert got["scenecraft_jobs{status=queued}"] == 2 and got["scenecraft_jobs{status=running}"] == 1
    usage = shutil.disk_usage(platform.settings.data_dir)
    assert got["scenecraft_data_dir_size_bytes"] == usage.total
    assert abs(got["scenecraft_data_dir_free_bytes"] - usage.free) < 64 * 1024 * 1024


def test_nothing_queued_reads_zero(client: TestClient) -> None:
    got = samples(client)
    assert got["scenecraft_oldest_queued_job_age_seconds"] == 0 and got["scenecraft_jobs_lease_expired"] == 0


def test_a_tampered_audit_chain_is_counted_as_broken(app: FastAPI, platform: Platform) -> None:
    with platform.db.session() as s:
        audit.append(s, "test.one", actor_id=None, target="a")
        audit.append(s, "test.two", actor_id=None, target="b")
        s.execute(update(AuditRecord).where(AuditRecord.seq == 1).values(target="changed"))
    with TestClient(app) as client:  # the lifespan's housekeeping verifies the chain at start
        deadline = time.monotonic() + 10
        while samples(client).get("scenecraft_audit_chain_checks_total{result=broken}", 0) < 1:
            assert time.monotonic() < deadline, "the broken chain was never counted"
            time.sleep(0.05)
        assert samples(client).get("scenecraft_audit_chain_checks_total{result=ok}", 0) == 0
