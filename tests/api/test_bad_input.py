"""Bad input is a 4xx that says what was wrong, never a 500, on both databases: forged cursors,
oversized Last-Event-ID, control characters in any text field, JSON types taken exactly, and a
cost limit that never refuses an allowed request forever."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.utils.factories import JOB, UserClient, create_user, png_bytes

from scenecraft.api.app import create_app
from scenecraft.api.deps import charge_generation
from scenecraft.api.errors import ApiError
from scenecraft.api.platform import Platform
from scenecraft.api.routes.jobs import generation_cost
from scenecraft.db.models import ApiKey, Job


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        b64("2026-12-01T10:00:00|" + "a" * 32),  # a naive time: once a 500 on both databases
        b64("2026-12-01T10:00:00+00:00|not-a-job-id"),
        b64("2026-12-01T10:00:00+00:00"),
        b64("9999-12-31T23:59:59-23:59|" + "a" * 32),  # out of range once made UTC
        "bm90IGEgY3Vyc29y",  # base64 of "not a cursor"
        base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
    ],
)
def test_forged_cursors_are_422(alice: UserClient, cursor: str) -> None:
    alice.post("/v1/jobs", json=JOB)
    r = alice.get("/v1/jobs", params={"cursor": cursor})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error" and r.json()["errors"][0]["loc"] == ["query", "cursor"]
    assert "next_cursor" in r.json()["detail"]


def test_real_cursors_still_page(alice: UserClient) -> None:
    ids = {alice.post("/v1/jobs", json={**JOB, "seed": i}).json()["id"] for i in range(3)}
    first = alice.get("/v1/jobs", params={"limit": 2}).json()
    second = alice.get("/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert {j["id"] for j in first["items"] + second["items"]} == ids and second["next_cursor"] is None


@pytest.mark.parametrize("value", ["99999999999999999999", "2147483648", "-1", "12a"])
def test_last_event_id_out_of_range_is_422(alice: UserClient, value: str) -> None:
    job_id = alice.post("/v1/jobs", json=JOB).json()["id"]
    r = alice.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": value})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["header", "Last-Event-ID"]


def test_the_largest_last_event_id_is_accepted(alice: UserClient, platform: Platform) -> None:
    job_id = alice.post("/v1/jobs", json=JOB).json()["id"]
    alice.post(f"/v1/jobs/{job_id}/cancel")  # ends the stream after its last event
    with alice.http.stream("GET", f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "1"}) as r:
        assert r.status_code == 200 and "event: cancelled" in "".join(r.iter_text())


CONTROL = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800"]


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/v1/keys", {"name": "my{}key"}, "name"),  # a NUL here was a 500 on PostgreSQL
        ("/v1/jobs", {**JOB, "prompt": "a red{}cube"}, "prompt"),
        ("/v1/jobs", {**JOB, "negative_prompt": "blur{}"}, "negative_prompt"),
        ("/v1/jobs", {**JOB, "subjects": [{"prompt": "a{}b"}]}, "subjects"),
        ("/v1/admin/users", {"username": "carol", "password": "long enough{}pw"}, "password"),
    ],
)
def test_control_characters_are_422_in_every_text_field(
    app: FastAPI, platform: Platform, url: str, body: dict[str, object], field: str
) -> None:
    create_user(platform, "root", role="admin")
    admin = UserClient(app, "root")
    for char in CONTROL:
        payload = json.dumps(body).replace("{}", json.dumps(char)[1:-1])  # escaped: "\u0000", "\ud800"
        r = admin.post(url, content=payload, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (char, r.text)
        assert r.json()["errors"][0]["loc"][:2] == ["body", field]
        if char != "\ud800":  # a lone surrogate is refused already as "not a valid string"
            assert f"U+{ord(char):04X}" in r.json()["detail"] and "control character" in r.json()["detail"]
    with platform.db.session() as s:
        assert s.scalars(select(ApiKey)).all() == [] and s.scalars(select(Job)).all() == []


def test_an_integral_number_is_an_integer(alice: UserClient) -> None:
    """JSON Schema's rule (64.0 is the integer 64); Python's bool-is-int is not."""
    r = alice.post("/v1/jobs", json={**JOB, "width": 64.0, "height": 64, "steps": 4.0})
    assert r.status_code == 202, r.text


def test_tabs_and_line_breaks_are_text(alice: UserClient) -> None:
    assert alice.post("/v1/jobs", json={**JOB, "prompt": "a cube\non a table,\tlit\r\n"}).status_code == 202


def test_a_control_character_in_an_upload_name_is_422(alice: UserClient) -> None:
    body = (  # by hand: httpx would percent-encode the character
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="scene\x01.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png_bytes() + b"\r\n--b0undary--\r\n"
    )
    r = alice.post("/v1/assets", content=body, headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "file"]


def test_every_request_string_in_the_spec_refuses_control_characters(app: FastAPI) -> None:
    from scenecraft.api.schemas import TEXT_PATTERN

    schemas = app.openapi()["components"]["schemas"]
    request_models = ["LoginRequest", "MfaConfirm", "UserCreate", "KeyCreate", "JobCreate", "Subject", "EffectsRequest"]

    def strings(schema: dict[str, object], where: str) -> list[tuple[str, dict[str, object]]]:
        found = []
        if schema.get("type") == "string":
            found.append((where, schema))
        for key, sub in dict(schema.get("properties", {})).items():  # type: ignore[call-overload]
            found += strings(sub, f"{where}.{key}")
        for sub in list(schema.get("anyOf", [])):  # type: ignore[call-overload]
            found += strings(sub, where)
        return found

    for name in request_models:
        for where, prop in strings(schemas[name], name):
            assert {"pattern", "enum", "const", "format"} & set(prop), f"{where} has no pattern: {prop}"
            if "pattern" in prop and prop["pattern"] != TEXT_PATTERN:
                continue  # a stricter pattern of its own (ids, usernames, TOTP codes)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seed": False}, "seed"),  # once accepted as seed 0
        ({"seed": True}, "seed"),
        ({"steps": 4.5}, "steps"),
        ({"width": "64"}, "width"),
        ({"inpaint": 0}, "inpaint"),
        ({"guidance": True}, "guidance"),
        ({"effects": [{"op": "film_grain", "seed": True}]}, "effects"),
        ({"effects": "[{\"op\": \"exposure\"}]"}, "effects"),  # JSON text is not a JSON array
        ({"effects": []}, "effects"),
    ],
)
def test_json_types_are_taken_exactly(alice: UserClient, change: dict[str, object], field: str) -> None:
    r = alice.post("/v1/jobs", json={**JOB, **change})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][:2] == ["body", field], r.text


def test_an_allowed_request_is_never_refused_forever(platform_factory: Callable[..., Platform]) -> None:
    """The largest request the schema allows (4096x4096, 200 steps: 2560 units) costs more than the
    default window (200 units a minute) holds; it takes the whole window instead of being refused
    every time (once a 429 "retry in 51 s" forever)."""
    platform = platform_factory()
    cost = generation_cost(4096, 4096, 200)
    assert cost == 2560 > platform.limiter.capacity(platform.settings.rate_limit_generation)
    charge_generation(platform, "u1", cost, "generation")  # accepted on an empty window
    with pytest.raises(ApiError) as refused:
        charge_generation(platform, "u1", 1, "generation")  # and it used the window up
    assert refused.value.status_code == 429 and 1 <= int(refused.value.headers["Retry-After"]) <= 60  # type: ignore[index]
    charge_generation(platform, "u2", cost, "generation")  # per user


def test_a_job_over_a_tight_window_runs_once_the_window_is_empty(platform_factory: Callable[..., Platform]) -> None:
    platform = platform_factory(rate_limit_generation="2/minute")
    create_user(platform, "alice")
    alice = UserClient(create_app(platform=platform), "alice")
    big = {**JOB, "width": 128, "height": 128, "steps": 200}  # 3 units > the window of 2
    assert alice.post("/v1/jobs", json=big).status_code == 202
    r = alice.post("/v1/jobs", json=JOB)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) <= 60


def test_errors_have_one_shape(app: FastAPI, alice: UserClient) -> None:
    anon = TestClient(app)
    for r in [
        anon.get("/v1/me"),  # 401
        alice.get("/v1/jobs/" + "0" * 32),  # 404
        alice.post("/v1/jobs", json={"prompt": ""}),  # 422
        anon.get("/no/such/route"),  # 404 from the router
        anon.put("/v1/jobs"),  # 405
        alice.post("/v1/assets", files={"file": ("x.png", b"not an image", "image/png")}),  # 415
    ]:
        body = r.json()
        assert r.status_code >= 400 and isinstance(body["detail"], str) and isinstance(body["code"], str), r.text
        assert set(body) <= {"detail", "code", "errors"}


def test_405_allows_every_method_of_the_path(app: FastAPI) -> None:
    r = TestClient(app).put("/v1/jobs")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST"}
    r = TestClient(app).post("/v1/keys/" + "a" * 32)
    assert set(r.headers["Allow"].split(", ")) == {"DELETE"}
