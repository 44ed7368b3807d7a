"""Races on every unique or single-use thing, over HTTP, with requests really in flight together
(one thread and event loop per request, released by one barrier), on SQLite and PostgreSQL:
idempotency keys, TOTP steps, deletes, cancels and key revocations each happen exactly once, and
none of the losers gets a 500."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.utils.factories import JOB, PASSWORD, UserClient, create_user, png_bytes

from scenecraft.api.platform import Platform
from scenecraft.db.models import ApiKey, Asset, AuditRecord, Job, JobEvent

RACERS = 8


def race(
    app: FastAPI, user: UserClient | None, request: Callable[[TestClient], httpx.Response]
) -> list[httpx.Response]:
    """Runs `request` RACERS times at once, each on its own client (same cookies and CSRF token)."""
    barrier = threading.Barrier(RACERS)

    def one(_: int) -> httpx.Response:
        client = TestClient(app, cookies=dict(user.http.cookies) if user else None)
        if user is not None:
            client.headers["X-CSRF-Token"] = user.csrf
        barrier.wait()
        return request(client)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(one, range(RACERS)))


def audit_count(platform: Platform, action: str) -> int:
    with platform.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action)) or 0)


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


def test_one_idempotency_key_makes_one_job(app: FastAPI, platform: Platform, alice: UserClient) -> None:
    replies = race(app, alice, lambda c: c.post("/v1/jobs", json=JOB, headers={"Idempotency-Key": "same-key-1"}))
    assert [r.status_code for r in replies] == [202] * RACERS, [r.text for r in replies]
    assert len({r.json()["id"] for r in replies}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies) == RACERS - 1
    with platform.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1
    assert audit_count(platform, "job.submitted") == 1


def test_one_idempotency_key_with_two_bodies_is_one_job_and_409s(
    app: FastAPI, platform: Platform, alice: UserClient
) -> None:
    bodies = iter([{**JOB, "seed": i % 2} for i in range(RACERS)])
    lock = threading.Lock()

    def submit(c: TestClient) -> httpx.Response:
        with lock:
            body = next(bodies)
        return c.post("/v1/jobs", json=body, headers={"Idempotency-Key": "same-key-2"})

    codes = Counter(r.status_code for r in race(app, alice, submit))
    assert set(codes) <= {202, 409} and codes[409] >= 1 and codes[202] >= 1
    with platform.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1


def test_one_totp_code_opens_one_session(app: FastAPI, platform: Platform, alice: UserClient) -> None:
    totp = pyotp.parse_uri(alice.post("/v1/auth/mfa/enroll").json()["provisioning_uri"])
    assert alice.post("/v1/auth/mfa/confirm", json={"code": totp.now()}).status_code == 200
    code = totp.at(int(time.time()) + 30)  # the next step: within the drift window, not used yet
    body = {"username": "alice", "password": PASSWORD, "totp": code}
    replies = race(app, None, lambda c: c.post("/v1/auth/login", json=body))
    assert sorted(r.status_code for r in replies) == [200] + [401] * (RACERS - 1), [r.text for r in replies]
    assert audit_count(platform, "auth.login") == 2  # the enrolling session's login, and one winner


def test_concurrent_deletes_delete_once(app: FastAPI, platform: Platform, alice: UserClient) -> None:
    """While another transaction holds the asset's row lock, every delete has read the asset and
    waits to write: the widest window a real race has. Released, exactly one deletes."""
    asset_id = alice.post("/v1/assets", files={"file": ("a.png", png_bytes(), "image/png")}).json()["id"]
    holder = platform.db.sessions()
    holder.execute(select(Asset).where(Asset.id == asset_id).with_for_update())
    threading.Timer(1.0, holder.commit).start()  # after the deletes are in flight
    try:
        replies = race(app, alice, lambda c: c.delete(f"/v1/assets/{asset_id}"))
    finally:
        holder.close()
    assert sorted(r.status_code for r in replies) == [204] + [404] * (RACERS - 1), [r.text for r in replies]
    assert audit_count(platform, "asset.deleted") == 1


def test_concurrent_cancels_cancel_once(app: FastAPI, platform: Platform, alice: UserClient) -> None:
    job_id = alice.post("/v1/jobs", json=JOB).json()["id"]
    replies = race(app, alice, lambda c: c.post(f"/v1/jobs/{job_id}/cancel"))
    assert sorted(r.status_code for r in replies) == [200] + [409] * (RACERS - 1), [r.text for r in replies]
    assert all(r.json()["code"] == "job_ended" for r in replies if r.status_code == 409)
    assert audit_count(platform, "job.cancelled") == 1
    with platform.db.session() as s:
        kinds = s.scalars(select(JobEvent.kind).where(JobEvent.job_id == job_id)).all()
        assert kinds.count("cancelled") == 1


def test_concurrent_revocations_revoke_once(app: FastAPI, platform: Platform, alice: UserClient) -> None:
    created = alice.create_key()
    replies = race(app, alice, lambda c: c.delete(f"/v1/keys/{created['id']}"))
    assert sorted(r.status_code for r in replies) == [204] + [409] * (RACERS - 1), [r.text for r in replies]
    assert audit_count(platform, "key.revoked") == 1
    with platform.db.session() as s:
        assert s.get(ApiKey, created["id"]).revoked_at is not None  # type: ignore[union-attr]
    r = TestClient(app).get("/v1/jobs", headers={"Authorization": f"Bearer {created['key']}"})
    assert r.status_code == 401
