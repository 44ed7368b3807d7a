"""Routes the web studio needs: sessions (list, end), world context scenes, admin queue status, and
the built studio served at `/` under the CSP."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from tests.utils.factories import UserClient, create_user

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.config import Settings


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


def test_sessions_list_marks_the_current_one_and_ends_another(app: FastAPI, platform: Platform) -> None:
    create_user(platform, "alice")
    laptop, phone = UserClient(app, "alice"), UserClient(app, "alice")
    rows = laptop.get("/v1/auth/sessions").json()
    assert len(rows) == 2 and sum(r["current"] for r in rows) == 1
    other = next(r["id"] for r in rows if not r["current"])
    assert laptop.delete(f"/v1/auth/sessions/{other}").status_code == 204
    assert phone.get("/v1/me").status_code == 401  # that device is logged out
    assert laptop.get("/v1/me").status_code == 200
    assert [r["current"] for r in laptop.get("/v1/auth/sessions").json()] == [True]


def test_sessions_of_others_are_not_found_and_keys_are_refused(app: FastAPI, platform: Platform) -> None:
    create_user(platform, "alice")
    create_user(platform, "bob")
    alice, bob = UserClient(app, "alice"), UserClient(app, "bob")
    bobs = bob.get("/v1/auth/sessions").json()[0]["id"]
    assert alice.delete(f"/v1/auth/sessions/{bobs}").status_code == 404
    assert alice.delete(f"/v1/auth/sessions/{'0' * 64}").status_code == 404
    assert alice.delete("/v1/auth/sessions/not-an-id").status_code == 422
    key = {"Authorization": f"Bearer {alice.create_key()['key']}"}
    r = TestClient(app).get("/v1/auth/sessions", headers=key)
    assert r.status_code == 403 and "logged-in session" in r.json()["detail"]
    assert TestClient(app).get("/v1/auth/sessions").status_code == 401
    assert bob.get("/v1/me").status_code == 200


def test_world_scene_is_an_asset_usable_as_a_context_scene(alice: UserClient) -> None:
    body = {"ground": "marble", "background": "wood", "light_azimuth_deg": 120, "size": 64, "seed": 3}
    r = alice.post("/v1/scenes/world", json=body)
    assert r.status_code == 201, r.text
    asset = r.json()
    assert asset["kind"] == "generated" and asset["latest_version"] == 1
    version = alice.get(f"/v1/assets/{asset['id']}/versions").json()[0]
    assert version["operation"]["op"] == "world" and version["operation"]["ground"] == "marble"
    png = alice.get(f"/v1/assets/{asset['id']}/versions/1/content")
    image = Image.open(io.BytesIO(png.content))
    assert image.size == (64, 64) and len(image.convert("RGB").getcolors(4096) or []) > 10  # not a flat fill
    job = {"prompt": "a chair", "width": 64, "height": 64, "scene_asset_id": asset["id"]}
    assert alice.post("/v1/jobs", json=job).status_code == 202


def test_world_scene_validates_and_needs_a_write_scope(app: FastAPI, alice: UserClient) -> None:
    r = alice.post("/v1/scenes/world", json={"ground": "lava"})
    assert r.status_code == 422 and r.json()["detail"].startswith("ground: ")
    r = alice.post("/v1/scenes/world", json={"size": 512})
    assert r.status_code == 422 and "size" in r.json()["detail"]
    key = {"Authorization": f"Bearer {alice.create_key(scopes=['assets:read'])['key']}"}
    r = TestClient(app).post("/v1/scenes/world", json={}, headers=key)
    assert r.status_code == 403 and "assets:write" in r.json()["detail"]
    assert TestClient(app).post("/v1/scenes/world", json={}).status_code == 401


def test_admin_queue_status_counts_every_status(app: FastAPI, platform: Platform, alice: UserClient) -> None:
    create_user(platform, "root", role="admin")
    admin = UserClient(app, "root")
    assert alice.post("/v1/jobs", json={"prompt": "a", "width": 32, "height": 32}).status_code == 202
    r = admin.get("/v1/admin/queue")
    assert r.status_code == 200
    assert r.json() == {"depth": {"queued": 1, "running": 0, "succeeded": 0, "dead": 0, "cancelled": 0}, "workers": 0}
    r = alice.get("/v1/admin/queue")
    assert r.status_code == 403 and "admin role" in r.json()["detail"]


def test_the_built_studio_is_served_at_the_root(platform: Platform, tmp_path: Path) -> None:
    web = tmp_path / "dist"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text('<!doctype html><script type="module" src="/assets/app-1.js"></script>')
    (web / "assets" / "app-1.js").write_text("console.log(1)")
    (web / "manifest.webmanifest").write_text("{}")
    settings: Settings = platform.settings.model_copy(update={"web_dir": web})
    with TestClient(create_app(platform=Platform(**{**platform.__dict__, "settings": settings}))) as client:
        index = client.get("/")
        assert index.status_code == 200 and "app-1.js" in index.text
        assert index.headers["cache-control"] == "no-cache"
        csp = index.headers["content-security-policy"]
        assert (
            "script-src 'self';" in csp
            and "worker-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )
        bundle = client.get("/assets/app-1.js")
        assert bundle.status_code == 200 and "immutable" in bundle.headers["cache-control"]
        assert client.get("/manifest.webmanifest").headers["content-type"] == "application/manifest+json"
        assert client.get("/healthz").json() == {"status": "ok"}  # the API still answers
        assert client.get("/no-such-file.js").status_code == 404


def test_without_a_build_the_root_is_not_served(platform: Platform, tmp_path: Path) -> None:
    settings = platform.settings.model_copy(update={"web_dir": tmp_path / "missing"})
    with TestClient(create_app(platform=Platform(**{**platform.__dict__, "settings": settings}))) as client:
        assert client.get("/").status_code == 404
        assert client.get("/healthz").status_code == 200
