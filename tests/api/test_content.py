"""Version content as a CDN-friendly resource: strong ETag, 304, Range (RFC 9110), presigned S3 redirects."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from tests.utils.factories import UserClient, create_user, png_bytes

from scenecraft.api import content
from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.config import Settings


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


def uploaded(user: UserClient, data: bytes) -> str:
    r = user.post("/v1/assets", files={"file": ("scene.png", data, "image/png")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_full_body_carries_a_strong_etag_and_immutable_private_caching(alice: UserClient) -> None:
    data = png_bytes((30, 20))
    asset_id = uploaded(alice, data)
    r = alice.get(f"/v1/assets/{asset_id}/versions/1/content")
    assert r.status_code == 200 and r.content == data
    assert r.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'  # strong: no W/ prefix
    assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert r.headers["accept-ranges"] == "bytes"


def test_if_none_match_answers_304_without_a_body(alice: UserClient) -> None:
    data = png_bytes((12, 12))
    asset_id = uploaded(alice, data)
    etag = alice.get(f"/v1/assets/{asset_id}/versions/1/content").headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = alice.get(f"/v1/assets/{asset_id}/versions/1/content", headers={"If-None-Match": header})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag, header
    r = alice.get(f"/v1/assets/{asset_id}/versions/1/content", headers={"If-None-Match": '"stale"'})
    assert r.status_code == 200 and r.content == data


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", slice(0, 10)),
        ("bytes=10-", slice(10, None)),
        ("bytes=-7", slice(-7, None)),
        ("bytes=5-100000", slice(5, None)),  # an end past the body is clamped (RFC 9110 §14.1.2)
    ],
)
def test_range_answers_206_with_the_part_asked_for(alice: UserClient, header: str, expected: slice) -> None:
    data = png_bytes((16, 16))
    asset_id = uploaded(alice, data)
    r = alice.get(f"/v1/assets/{asset_id}/versions/1/content", headers={"Range": header})
    part = data[expected]
    assert r.status_code == 206 and r.content == part
    start = data.index(part) if expected.start is None or expected.start >= 0 else len(data) + expected.start
    assert r.headers["content-range"] == f"bytes {start}-{start + len(part) - 1}/{len(data)}"


def test_unsatisfiable_and_ignored_ranges(alice: UserClient) -> None:
    data = png_bytes((8, 8))
    asset_id = uploaded(alice, data)
    url = f"/v1/assets/{asset_id}/versions/1/content"
    r = alice.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
    assert alice.get(url, headers={"Range": "bytes=9-3"}).status_code == 416
    for ignored in ("bytes=0-1,4-5", "items=0-3", "bytes=abc"):  # served whole, as RFC 9110 allows
        r = alice.get(url, headers={"Range": ignored})
        assert r.status_code == 200 and r.content == data, ignored
    # If-Range with another validator: the client's copy is stale, so the whole body comes back
    r = alice.get(url, headers={"Range": "bytes=0-3", "If-Range": '"not-this-one"'})
    assert r.status_code == 200 and r.content == data
    etag = r.headers["etag"]
    r = alice.get(url, headers={"Range": "bytes=0-3", "If-Range": etag})
    assert r.status_code == 206 and r.content == data[:4]


def test_parse_range_against_the_rfc_examples() -> None:
    # RFC 9110 §14.1.2's examples on a 10000-byte representation
    assert content.parse_range("bytes=0-499", 10000) == content.ByteRange(0, 499)
    assert content.parse_range("bytes=500-999", 10000) == content.ByteRange(500, 999)
    assert content.parse_range("bytes=-500", 10000) == content.ByteRange(9500, 9999)
    assert content.parse_range("bytes=9500-", 10000) == content.ByteRange(9500, 9999)
    with pytest.raises(content.RangeNotSatisfiable):
        content.parse_range("bytes=-0", 10000)
    with pytest.raises(content.RangeNotSatisfiable):
        content.parse_range("bytes=0-1", 0)
    assert content.parse_range("bytes=" + "1" * 2000 + "-", 10) is None  # over-long: not parsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_presigned_redirect_serves_the_plaintext_from_s3(
    s3_endpoint: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="downloads-test")
    platform = Platform.from_settings(
        settings.model_copy(
            update={
                "storage_backend": "s3",
                "s3_bucket": "downloads-test",
                "s3_endpoint_url": s3_endpoint,
                "s3_presigned_downloads": True,
                "s3_presign_seconds": 60,
            }
        )
    )
    platform.db.migrate()
    try:
        app = create_app(platform=platform)
        create_user(platform, "alice")
        alice = UserClient(app, "alice")
        data = png_bytes((24, 24))
        asset_id = uploaded(alice, data)
        r = alice.get(f"/v1/assets/{asset_id}/versions/1/content", follow_redirects=False)
        assert r.status_code == 302 and r.headers["cache-control"] == "private, no-store"
        location = r.headers["location"]
        assert location.startswith(s3_endpoint) and ("Expires=" in location or "X-Amz-Expires=60" in location)
        fetched = httpx.get(location)
        assert fetched.status_code == 200 and fetched.content == data
        # the blob itself stays encrypted at its own key; only the download copy is plaintext
        sha = hashlib.sha256(data).hexdigest()
        raw = platform.store.backend.client.get_object(Bucket="downloads-test", Key=f"blobs/{sha}")["Body"].read()  # type: ignore[attr-defined]
        assert raw != data and raw.startswith(b"SCB1")
        # 304 still answers before any redirect
        r = alice.get(
            f"/v1/assets/{asset_id}/versions/1/content", headers={"If-None-Match": f'"{sha}"'}, follow_redirects=False
        )
        assert r.status_code == 304
    finally:
        platform.close()


def test_presigned_downloads_need_s3(settings: Settings) -> None:
    with pytest.raises(ValueError, match="s3_presigned_downloads needs storage_backend='s3'"):
        Settings(**{**settings.model_dump(), "s3_presigned_downloads": True})
