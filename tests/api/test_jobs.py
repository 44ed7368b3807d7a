"""Jobs over HTTP: submit, idempotency, validation messages, status, pagination, cancel, the SSE
stream with Last-Event-ID resume, quotas and weighted rate limits, and other users' jobs (404)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.utils.factories import JOB, UserClient, create_user
from tests.utils.fake_engine import FakeEngine
from tests.utils.sse import parse

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.jobs.worker import WorkerPool


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


@pytest.fixture
def bob(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "bob")
    return UserClient(app, "bob")


@pytest.fixture
def workers(platform: Platform) -> Iterator[FakeEngine]:
    engine = FakeEngine(step_delay=0.05)
    platform.workers = WorkerPool(
        db=platform.db,
        store=platform.store,
        bus=platform.bus,
        policy=platform.policy,
        engine_factory=lambda: engine,
        count=1,
        poll_seconds=0.1,
    )
    platform.workers.start()
    yield engine
    platform.workers.stop()
    platform.workers = None


def test_submit_returns_202_and_status(alice: UserClient) -> None:
    r = alice.post("/v1/jobs", json=JOB)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    job = alice.get(f"/v1/jobs/{r.json()['id']}").json()
    assert job["params"]["prompt"] == JOB["prompt"] and job["params"]["seed"] == 7
    assert job["progress"] == {"step": 0, "total": 0} and job["attempts"] == 0


def test_idempotency_key_gives_the_same_job(alice: UserClient) -> None:
    body = {k: v for k, v in JOB.items() if k != "seed"}  # even with a server-chosen seed
    first = alice.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    again = alice.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    assert first.json()["id"] == again.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    other = alice.post("/v1/jobs", json={**body, "steps": 9}, headers={"Idempotency-Key": "order-42"})
    assert other.status_code == 409 and "different request" in other.json()["detail"]
    assert len(alice.get("/v1/jobs").json()["items"]) == 1


@pytest.mark.parametrize(
    ("change", "field", "allowed"),
    [
        ({"width": 8192, "height": 8192}, "width", "less than or equal to 4096"),
        ({"width": 256, "height": 256}, "width", "model seed-12M: width 256 is outside 32..128"),
        ({"width": 60, "height": 60}, "width", "multiple of 8"),
        ({"steps": 0}, "steps", "greater than or equal to 1"),
        ({"width": 64, "height": 128}, "width", "width and height must be equal"),
        ({"model": "flux-dev"}, "model", "model 'flux-dev' is not installed; installed: seed-12M"),
        (
            {"negative_prompt": "blurry"},
            "negative_prompt",
            "model seed-12M (scenecraft scene DiT (bundled)) cannot do negative_prompt",
        ),
        ({"sampler": "flow-euler"}, "sampler", "model seed-12M samples with euler or heun, not 'flow-euler'"),
        ({"prompt": ""}, "prompt", "at least 1 character"),
        (
            {"sampler": "magic"},
            "sampler",
            "'ddim', 'ddpm', 'euler', 'heun', 'dpm-solver++', 'flow-dpm-solver' or 'flow-euler'",
        ),
        ({"subjects": [{"prompt": "cat", "box": [0.5, 0.1, 0.2, 0.9]}]}, "subjects.0.box", "x0 < x1"),
        (
            {
                "subjects": [
                    {"prompt": "man", "pose": {"body_pose": [0.0] * 68, "global_orient": [0, 0, 0], "betas": [0] * 10}}
                ]
            },
            "subjects.0.pose.body_pose",
            "at least 69",
        ),
        ({"inpaint": True}, "body", "inpaint needs scene_asset_id"),
        (
            {
                "subjects": [
                    {"prompt": "man", "pose": {"body_pose": [0.0] * 69, "global_orient": [0, 0, 0], "betas": [0] * 10}}
                ]
            },
            "body",
            "has a pose but no box",
        ),
        ({"effects": []}, "effects", "the chain is empty"),
        ({"effects": [{"op": "exposure", "stops": 7}]}, "effects", "op 0 (exposure): parameter 'stops'"),
        ({"webhook_url": "ftp://x"}, "webhook_url", "URL scheme should be 'http' or 'https'"),
    ],
)
def test_validation_names_the_field_and_what_is_allowed(
    alice: UserClient, change: dict[str, object], field: str, allowed: str
) -> None:
    r = alice.post("/v1/jobs", json={**JOB, **change})
    assert r.status_code == 422
    message = r.json()["detail"]
    assert message.startswith(f"{field}: ") and allowed in message, message


def test_scene_asset_must_be_the_callers(alice: UserClient, bob: UserClient) -> None:
    from tests.utils.factories import png_bytes

    asset_id = bob.post("/v1/assets", files={"file": ("s.png", png_bytes(), "image/png")}).json()["id"]
    r = alice.post("/v1/jobs", json={**JOB, "scene_asset_id": asset_id})
    assert r.status_code == 422 and "not one of your assets" in r.text
    assert bob.post("/v1/jobs", json={**JOB, "scene_asset_id": asset_id}).status_code == 202


def test_list_is_paginated_newest_first_and_only_own(alice: UserClient, bob: UserClient) -> None:
    ids = [alice.post("/v1/jobs", json={**JOB, "seed": i}).json()["id"] for i in range(5)]
    bob.post("/v1/jobs", json=JOB)
    page1 = alice.get("/v1/jobs?limit=2").json()
    page2 = alice.get(f"/v1/jobs?limit=2&cursor={page1['next_cursor']}").json()
    page3 = alice.get(f"/v1/jobs?limit=2&cursor={page2['next_cursor']}").json()
    got = [j["id"] for p in (page1, page2, page3) for j in p["items"]]
    assert got == ids[::-1] and page3["next_cursor"] is None
    assert alice.get("/v1/jobs?status=succeeded").json()["items"] == []
    assert alice.get("/v1/jobs?cursor=bm9wZQ").status_code == 422
    assert alice.get("/v1/jobs?limit=101").status_code == 422


def test_cancel_a_queued_job(alice: UserClient) -> None:
    job_id = alice.post("/v1/jobs", json=JOB).json()["id"]
    r = alice.post(f"/v1/jobs/{job_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert alice.post(f"/v1/jobs/{job_id}/cancel").status_code == 409  # already ended


def test_other_users_jobs_are_404_everywhere(alice: UserClient, bob: UserClient) -> None:
    job_id = alice.post("/v1/jobs", json=JOB).json()["id"]
    for method, url in [
        ("GET", f"/v1/jobs/{job_id}"),
        ("POST", f"/v1/jobs/{job_id}/cancel"),
        ("GET", f"/v1/jobs/{job_id}/events"),
    ]:
        r = bob.write(method, url)
        assert r.status_code == 404 and r.json()["detail"] == f"job {job_id} not found"
    assert alice.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"  # untouched
    missing = "0" * 32
    assert alice.get(f"/v1/jobs/{missing}").status_code == 404
    assert alice.post(f"/v1/jobs/{missing}/cancel").status_code == 404
    assert alice.get("/v1/jobs/not-an-id").status_code == 422


def test_sse_streams_progress_previews_and_done_then_resumes(alice: UserClient, workers: FakeEngine) -> None:
    job_id = alice.post("/v1/jobs", json={**JOB, "width": 32, "height": 32, "steps": 3}).json()["id"]
    with alice.http.stream("GET", f"/v1/jobs/{job_id}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = parse(r.iter_lines())
    kinds = [e.event for e in events]
    assert kinds == ["status", "status"] + ["progress", "preview"] * 3 + ["done"]
    assert [int(e.id) for e in events] == list(range(1, 10))
    assert events[4].data == {"step": 2, "total": 3}
    asset_id = events[-1].data["asset_id"]
    assert alice.get(f"/v1/jobs/{job_id}").json()["asset_id"] == asset_id
    # reconnecting with Last-Event-ID replays only what came after
    with alice.http.stream("GET", f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "6"}) as r:
        resumed = parse(r.iter_lines())
    assert [e.id for e in resumed] == ["7", "8", "9"] and resumed[-1].event == "done"
    png = alice.get(f"/v1/assets/{asset_id}/versions/1/content")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"


def test_cancel_a_running_job_over_http(alice: UserClient, platform: Platform) -> None:
    engine = FakeEngine(step_delay=0.05)
    cancelled_at: list[int] = []

    def on_step(step: int) -> None:
        if step == 2:
            assert alice.post(f"/v1/jobs/{job_id}/cancel").json()["cancel_requested"] is True
            cancelled_at.append(step)

    engine.on_step = on_step
    job_id = alice.post("/v1/jobs", json={**JOB, "width": 32, "height": 32, "steps": 50}).json()["id"]
    pool = WorkerPool(
        db=platform.db,
        store=platform.store,
        bus=platform.bus,
        policy=platform.policy,
        engine_factory=lambda: engine,
        count=1,
        poll_seconds=0.1,
    )
    pool.start()
    try:
        with alice.http.stream("GET", f"/v1/jobs/{job_id}/events") as r:
            events = parse(r.iter_lines())
    finally:
        pool.stop()
    assert events[-1].event == "cancelled" and cancelled_at == [2]
    # followers learn of the request at once: a "cancelling" status right after step 2's events
    kinds = [(e.event, e.data) for e in events]
    at = kinds.index(("status", {"status": "cancelling"}))
    after = kinds[at + 1 :]  # at most the events of the step it was asked during, then the end
    assert [k for k, _ in after] in (["cancelled"], ["progress", "preview", "cancelled"])
    assert all(d["step"] == 2 for k, d in after if k == "progress")
    job = alice.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["progress"]["step"] == 2 and job["asset_id"] is None


def test_quota_of_queued_jobs_is_429(app: FastAPI, platform: Platform) -> None:
    object.__setattr__(platform.policy, "quota_max_queued", 2)
    create_user(platform, "carol")
    carol = UserClient(app, "carol")
    assert [carol.post("/v1/jobs", json={**JOB, "seed": i}).status_code for i in range(3)] == [202, 202, 429]


def test_generation_rate_limit_is_weighted_by_cost(platform_factory: Callable[..., Platform]) -> None:
    # a unit is 256x256 pixels x 20 steps: seed-12M's largest job (128x128, 200 steps) costs
    # ceil(2.5) = 3 units, the smallest 1; a 10-unit window takes three large jobs, then a small one
    platform = platform_factory(rate_limit_generation="10/minute")
    create_user(platform, "alice")
    alice = UserClient(create_app(platform=platform), "alice")
    big = {**JOB, "width": 128, "height": 128, "steps": 200}
    for _ in range(3):  # 9 units
        assert alice.post("/v1/jobs", json=big).status_code == 202
    r = alice.post("/v1/jobs", json=big)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and r.json()["code"] == "rate_limited"
    assert "weighted by size and steps" in r.json()["detail"]
    assert alice.post("/v1/jobs", json=JOB).status_code == 202


def test_anonymous_requests_are_401(app: FastAPI) -> None:
    anon = TestClient(app)
    assert anon.post("/v1/jobs", json=JOB).status_code == 401
    assert anon.get("/v1/jobs").status_code == 401


def test_queued_jobs_show_their_place_in_the_whole_queue(alice: UserClient, bob: UserClient) -> None:
    first = bob.post("/v1/jobs", json=JOB).json()["id"]
    mine = [alice.post("/v1/jobs", json=JOB).json()["id"] for _ in range(2)]
    urgent = alice.post("/v1/jobs", json={**JOB, "priority": 5}).json()["id"]
    assert bob.get(f"/v1/jobs/{first}").json()["queue_position"] == 2  # behind alice's priority-5 job
    positions = {j["id"]: j["queue_position"] for j in alice.get("/v1/jobs").json()["items"]}
    assert positions == {urgent: 1, mine[0]: 3, mine[1]: 4}
    alice.post(f"/v1/jobs/{mine[0]}/cancel")
    assert alice.get(f"/v1/jobs/{mine[1]}").json()["queue_position"] == 3
    assert alice.get(f"/v1/jobs/{mine[0]}").json()["queue_position"] is None


def test_assets_filter_by_kind(alice: UserClient) -> None:
    from tests.utils.factories import png_bytes

    r = alice.post("/v1/assets", files={"file": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 201, r.text
    assert [a["kind"] for a in alice.get("/v1/assets?kind=upload").json()["items"]] == ["upload"]
    assert alice.get("/v1/assets?kind=generated").json()["items"] == []
    assert alice.get("/v1/assets?kind=other").status_code == 422
