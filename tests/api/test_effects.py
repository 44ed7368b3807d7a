"""Effects over HTTP: `POST /v1/assets/{id}/effects` queues an effects job that a worker renders into
a new version (parent = the source), and `POST /v1/jobs` with `effects` stores v1 raw + v2 effects.
Results are checked against `render_image` run directly on the source image (an independent path:
no API, no queue, no blob store), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from fastapi import FastAPI
from tests.utils.factories import JOB, UserClient, create_user
from tests.utils.fake_engine import FakeEngine, expected_image

from scenecraft.api.platform import Platform
from scenecraft.effects.render import render_image
from scenecraft.jobs.worker import Worker

CHAIN = [{"op": "exposure", "stops": 0.7}, {"op": "vignette", "amount": 0.5}, {"op": "saturation", "amount": 0.3}]


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


@pytest.fixture
def bob(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "bob")
    return UserClient(app, "bob")


@pytest.fixture
def worker(platform: Platform) -> Worker:
    """Run jobs on demand (run_once), so each test sees exactly the jobs it queued."""
    return Worker(db=platform.db, store=platform.store, bus=platform.bus, policy=platform.policy, engine=FakeEngine())


def png(image: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")  # type: ignore[attr-defined]
    return buf.getvalue()


def pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def upload(user: UserClient, data: bytes) -> str:
    r = user.post("/v1/assets", files={"file": ("scene.png", data, "image/png")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def versions(user: UserClient, asset_id: str) -> list[dict[str, object]]:
    r = user.get(f"/v1/assets/{asset_id}/versions")
    assert r.status_code == 200, r.text
    return list(r.json())


def test_effects_make_a_new_version_equal_to_a_direct_render(alice: UserClient, worker: Worker) -> None:
    source = expected_image(11, 32)  # noisy, so every op changes it
    asset_id = upload(alice, png(source))
    r = alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": CHAIN})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert worker.run_once() == 1
    job = alice.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["asset_id"] == asset_id, job

    history = versions(alice, asset_id)
    assert [(v["number"], v["parent_number"]) for v in history] == [(1, None), (2, 1)]
    assert history[1]["operation"]["op"] == "effects"  # type: ignore[index]
    assert alice.get(f"/v1/assets/{asset_id}").json()["latest_version"] == 2
    out = pixels(alice.get(f"/v1/assets/{asset_id}/versions/2/content").content)
    assert np.abs(out - pixels(png(source))).mean() > 5  # the chain visibly changed the image
    reference = np.asarray(render_image(CHAIN, source).convert("RGB"), dtype=np.int16)
    assert np.array_equal(out, reference)


def test_an_older_version_can_be_the_source(alice: UserClient, worker: Worker) -> None:
    source = expected_image(12, 32)
    asset_id = upload(alice, png(source))
    alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": [{"op": "exposure", "stops": -1}]})
    worker.run_once()
    r = alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": CHAIN, "version": 1})
    assert r.status_code == 202, r.text
    worker.run_once()
    history = versions(alice, asset_id)
    assert [(v["number"], v["parent_number"]) for v in history] == [(1, None), (2, 1), (3, 1)]
    out = pixels(alice.get(f"/v1/assets/{asset_id}/versions/3/content").content)
    assert np.array_equal(out, np.asarray(render_image(CHAIN, source).convert("RGB"), dtype=np.int16))


def test_the_done_event_names_the_asset(alice: UserClient, worker: Worker, platform: Platform) -> None:
    from sqlalchemy import select

    from scenecraft.db.models import JobEvent

    asset_id = upload(alice, png(expected_image(13, 16)))
    job_id = alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": CHAIN}).json()["id"]
    worker.run_once()
    with platform.db.session() as s:
        kinds = s.execute(select(JobEvent.kind, JobEvent.data).where(JobEvent.job_id == job_id)).all()
    assert [k for k, _ in kinds] == ["status", "status", "done"]
    assert json.loads(kinds[-1][1])["asset_id"] == asset_id


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        ([{"op": "exposure", "stops": 9}], "op 0 (exposure): parameter 'stops'"),
        ([{"op": "vignette", "amout": 0.2}], "op 0 (vignette): unknown parameter 'amout'"),
        ([{"op": "blom"}], "op 0: unknown op 'blom'"),
        ([], "the chain is empty"),
    ],
)
def test_a_bad_chain_is_422_naming_op_and_parameter_and_stores_nothing(
    alice: UserClient, worker: Worker, chain: list[dict[str, object]], expected: str
) -> None:
    asset_id = upload(alice, png(expected_image(14, 16)))
    r = alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": chain})
    assert r.status_code == 422
    message = r.json()["detail"]
    assert message.startswith("chain: ") and expected in message, message
    assert worker.run_once() == 0  # no job was queued
    assert len(versions(alice, asset_id)) == 1
    assert alice.get("/v1/jobs").json()["items"] == []


def test_missing_asset_or_version_is_404(alice: UserClient) -> None:
    r = alice.post(f"/v1/assets/{'0' * 32}/effects", json={"chain": CHAIN})
    assert r.status_code == 404
    asset_id = upload(alice, png(expected_image(15, 16)))
    r = alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": CHAIN, "version": 2})
    assert r.status_code == 404 and "version 2" in r.json()["detail"]
    r = alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": CHAIN, "version": 0})
    assert r.status_code == 422 and r.json()["detail"].startswith("version: ")


def test_another_users_asset_is_404_and_untouched(alice: UserClient, bob: UserClient, worker: Worker) -> None:
    asset_id = upload(alice, png(expected_image(16, 16)))
    r = bob.post(f"/v1/assets/{asset_id}/effects", json={"chain": CHAIN})
    assert r.status_code == 404
    assert worker.run_once() == 0
    assert len(versions(alice, asset_id)) == 1


def test_effects_writes_an_audit_record(alice: UserClient, platform: Platform) -> None:
    from sqlalchemy import select

    from scenecraft.db.models import AuditRecord

    asset_id = upload(alice, png(expected_image(17, 16)))
    alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": CHAIN})
    with platform.db.session() as s:
        rows = s.scalars(select(AuditRecord).where(AuditRecord.action == "asset.effects")).all()
    recorded = [(r.target, json.loads(r.detail)["ops"]) for r in rows]
    assert recorded == [(asset_id, ["exposure", "vignette", "saturation"])]


def test_a_job_with_effects_stores_raw_v1_and_effects_v2(alice: UserClient, worker: Worker) -> None:
    r = alice.post("/v1/jobs", json={**JOB, "width": 32, "height": 32, "steps": 2, "effects": CHAIN})
    assert r.status_code == 202, r.text
    assert worker.run_once() == 1
    job = alice.get(f"/v1/jobs/{r.json()['id']}").json()
    assert job["status"] == "succeeded", job
    asset_id = job["asset_id"]
    history = versions(alice, asset_id)
    assert [(v["number"], v["parent_number"]) for v in history] == [(1, None), (2, 1)]
    raw = expected_image(int(JOB["seed"]), 32)  # type: ignore[call-overload]
    assert np.array_equal(pixels(alice.get(f"/v1/assets/{asset_id}/versions/1/content").content), np.asarray(raw))
    out = pixels(alice.get(f"/v1/assets/{asset_id}/versions/2/content").content)
    assert np.array_equal(out, np.asarray(render_image(CHAIN, raw).convert("RGB"), dtype=np.int16))


def test_a_job_with_a_bad_chain_is_422_at_submission(alice: UserClient, worker: Worker) -> None:
    r = alice.post("/v1/jobs", json={**JOB, "effects": [{"op": "bloom", "strength": 5}]})
    assert r.status_code == 422
    message = r.json()["detail"]
    assert message.startswith("effects: ") and "op 0 (bloom): parameter 'strength'" in message, message
    assert worker.run_once() == 0


def test_openapi_shows_the_chain_schema_with_bounds(alice: UserClient) -> None:
    spec = alice.get("/openapi.json").json()
    op = spec["paths"]["/v1/assets/{asset_id}/effects"]["post"]
    assert "202" in op["responses"] and "422" in op["responses"]
    schemas = spec["components"]["schemas"]
    assert schemas["EffectsRequest"]["properties"]["version"]["anyOf"][0]["minimum"] == 1
    assert schemas["Exposure"]["properties"]["stops"]["maximum"] == 6.0
    assert "effects" in schemas["JobCreate"]["properties"]


def test_transparency_is_kept_through_the_chain(alice: UserClient, worker: Worker) -> None:
    from PIL import Image

    rgb = np.asarray(expected_image(18, 16))
    alpha = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))[..., None]
    source = Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA")
    asset_id = upload(alice, png(source))
    alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": CHAIN})
    worker.run_once()
    out = Image.open(io.BytesIO(alice.get(f"/v1/assets/{asset_id}/versions/2/content").content))
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[..., 3], alpha[..., 0])
    assert np.array_equal(np.asarray(out), np.asarray(render_image(CHAIN, source)))


def test_an_asset_deleted_before_the_worker_runs_ends_the_job_without_a_retry(
    alice: UserClient, worker: Worker
) -> None:
    asset_id = upload(alice, png(expected_image(19, 16)))
    job_id = alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": CHAIN}).json()["id"]
    assert alice.delete(f"/v1/assets/{asset_id}").status_code == 204
    assert worker.run_once() == 1
    job = alice.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "dead" and "no longer exists" in job["error"], job
    assert worker.run_once() == 0


def test_effects_jobs_are_never_batched(alice: UserClient, worker: Worker) -> None:
    asset_id = upload(alice, png(expected_image(20, 16)))
    for stops in (0.5, -0.5):
        r = alice.post(f"/v1/assets/{asset_id}/effects", json={"chain": [{"op": "exposure", "stops": stops}]})
        assert r.status_code == 202
    assert [worker.run_once(), worker.run_once(), worker.run_once()] == [1, 1, 0]
    # "latest" is resolved at submission: both were queued while version 1 was the latest
    assert [(v["number"], v["parent_number"]) for v in versions(alice, asset_id)] == [(1, None), (2, 1), (3, 1)]


def test_an_idempotency_key_makes_a_retry_answer_the_first_job(alice: UserClient, worker: Worker) -> None:
    asset_id = upload(alice, png(expected_image(13, 32)))
    body = {"chain": CHAIN, "version": 1}
    first = alice.post(f"/v1/assets/{asset_id}/effects", json=body, headers={"Idempotency-Key": "fx-1"})
    again = alice.post(f"/v1/assets/{asset_id}/effects", json=body, headers={"Idempotency-Key": "fx-1"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert worker.run_once() == 1 and worker.run_once() == 0  # one job, one new version
    assert [v["number"] for v in versions(alice, asset_id)] == [1, 2]
    other = alice.post(
        f"/v1/assets/{asset_id}/effects",
        json={"chain": [{"op": "exposure", "stops": 1}], "version": 1},
        headers={"Idempotency-Key": "fx-1"},
    )
    assert other.status_code == 409
