"""Assets over HTTP: upload checks, metadata, versions, content, delete; owners only (404)."""

from __future__ import annotations

import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from tests.utils.factories import UserClient, create_user, png_bytes

from scenecraft.api.platform import Platform
from scenecraft.db.models import Asset, AuditRecord


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


@pytest.fixture
def bob(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "bob")
    return UserClient(app, "bob")


def upload(user: UserClient, data: bytes, name: str = "scene.png", mime: str = "image/png") -> dict[str, object]:
    r = user.post("/v1/assets", files={"file": (name, data, mime)})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_upload_then_read_back_the_exact_bytes(alice: UserClient) -> None:
    data = png_bytes((20, 10))
    asset = upload(alice, data)
    assert asset["kind"] == "upload" and asset["latest_version"] == 1 and asset["name"] == "scene.png"
    versions = alice.get(f"/v1/assets/{asset['id']}/versions").json()
    assert len(versions) == 1
    v = versions[0]
    assert (v["number"], v["parent_number"], v["width"], v["height"]) == (1, None, 20, 10)
    content = alice.get(f"/v1/assets/{asset['id']}/versions/1/content")
    assert content.content == data and content.headers["content-type"] == "image/png"
    assert content.headers["etag"] == f'"{v["sha256"]}"'
    assert alice.get(f"/v1/assets/{asset['id']}").json()["id"] == asset["id"]
    assert [a["id"] for a in alice.get("/v1/assets").json()["items"]] == [asset["id"]]


def test_content_type_comes_from_the_bytes(alice: UserClient) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    asset = upload(alice, buf.getvalue(), name="lies.png", mime="image/png")
    content = alice.get(f"/v1/assets/{asset['id']}/versions/1/content")
    assert content.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"not an image at all", 415, "not an image"),
        (b"", 422, "empty"),
    ],
)
def test_bad_uploads_are_refused_and_store_nothing(
    alice: UserClient, platform: Platform, data: bytes, status: int, message: str
) -> None:
    r = alice.post("/v1/assets", files={"file": ("x.png", data, "image/png")})
    assert r.status_code == status and message in r.json()["detail"]
    with platform.db.session() as s:
        assert s.scalars(select(Asset)).all() == []
    assert platform.store.backend.list() == []


def test_upload_limits(app: FastAPI, platform: Platform, alice: UserClient) -> None:
    object.__setattr__(platform.settings, "max_upload_pixels", 64 * 64)
    r = alice.post("/v1/assets", files={"file": ("big.png", png_bytes((100, 100)), "image/png")})
    assert r.status_code == 413 and "at most 4096 pixels" in r.json()["detail"]


def test_other_users_assets_are_404(alice: UserClient, bob: UserClient) -> None:
    asset_id = upload(alice, png_bytes())["id"]
    for url in [
        f"/v1/assets/{asset_id}",
        f"/v1/assets/{asset_id}/versions",
        f"/v1/assets/{asset_id}/versions/1/content",
    ]:
        r = bob.get(url)
        assert r.status_code == 404 and r.json()["detail"] == f"asset {asset_id} not found"
    assert bob.delete(f"/v1/assets/{asset_id}").status_code == 404
    assert bob.get("/v1/assets").json()["items"] == []
    assert alice.get(f"/v1/assets/{asset_id}").status_code == 200


def test_missing_things_are_404(alice: UserClient) -> None:
    asset_id = upload(alice, png_bytes())["id"]
    assert alice.get(f"/v1/assets/{'0' * 32}").status_code == 404
    r = alice.get(f"/v1/assets/{asset_id}/versions/2/content")
    assert r.status_code == 404 and r.json()["detail"] == f"version 2 of asset {asset_id} not found"
    assert alice.get(f"/v1/assets/{asset_id}/versions/0/content").status_code == 422


def test_read_only_keys_cannot_upload(app: FastAPI, alice: UserClient) -> None:
    key = alice.create_key(scopes=["assets:read"])["key"]
    r = TestClient(app).post(
        "/v1/assets", files={"file": ("x.png", png_bytes(), "image/png")}, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 403


def test_delete_is_audited_and_gc_frees_the_blob(alice: UserClient, platform: Platform) -> None:
    from datetime import timedelta

    asset_id = upload(alice, png_bytes())["id"]
    assert alice.delete(f"/v1/assets/{asset_id}").status_code == 204
    assert alice.get(f"/v1/assets/{asset_id}").status_code == 404
    with platform.db.session() as s:
        assert s.scalar(select(AuditRecord.action).order_by(AuditRecord.seq.desc())) == "asset.deleted"
        assert len(platform.store.backend.list()) == 1
        assert platform.store.gc(s, grace=timedelta(0)) == 1
    assert platform.store.backend.list() == []
