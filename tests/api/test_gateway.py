"""Gateway and service endpoints: security headers, request ids, body limits, IP filters, per-IP
rate limits, health/readiness/metrics, the OpenAPI contract, and no torch in the API process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform


def test_security_headers_and_request_id(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.json() == {"status": "ok"}
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert len(r.headers["x-request-id"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "trace-abc-123"}).headers["x-request-id"] == "trace-abc-123"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["x-request-id"] != "bad id!"


def test_body_size_limit_is_413(platform_factory: Callable[..., Platform]) -> None:
    platform = platform_factory(max_body_bytes=2048)
    client = TestClient(create_app(platform=platform))
    r = client.post("/v1/auth/login", content=b"x" * 5000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "at most 2048" in r.json()["detail"]

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(5):
            yield b"y" * 1000

    r = client.post("/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_ip_allow_and_deny_lists(platform_factory: Callable[..., Platform]) -> None:
    app = create_app(platform=platform_factory(ip_allow=["10.0.0.0/8"], ip_deny=["10.9.0.0/16"]))
    assert TestClient(app, client=("10.1.2.3", 5000)).get("/healthz").status_code == 200
    r = TestClient(app, client=("10.9.1.1", 5000)).get("/healthz")
    assert r.status_code == 403 and "10.9.1.1 are not allowed" in r.json()["detail"]
    assert TestClient(app, client=("192.168.1.1", 5000)).get("/healthz").status_code == 403


def test_per_ip_rate_limit_is_429_with_retry_after(platform_factory: Callable[..., Platform]) -> None:
    platform = platform_factory(rate_limit_ip="3/minute")
    app = create_app(platform=platform)
    client = TestClient(app, client=("10.0.0.7", 5000))
    codes = [client.get("/v1/me").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    r = client.get("/v1/me")
    assert 1 <= int(r.headers["retry-after"]) <= 60 and "rate limit for this IP" in r.json()["detail"]
    assert TestClient(app, client=("10.0.0.8", 5000)).get("/v1/me").status_code == 401  # others unaffected
    assert client.get("/healthz").status_code == 200  # probes are not limited


def test_readyz_and_metrics(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["ready"] is True
    assert r.json()["checks"]["database"] == "ok" and r.json()["checks"]["storage"] == "ok"
    client.get("/v1/me")
    text = client.get("/metrics").text
    assert 'scenecraft_http_request_duration_seconds_count{method="GET",route="/v1/me",status="401"} 1.0' in text
    assert 'scenecraft_jobs{status="queued"} 0.0' in text


def test_readyz_reports_a_broken_database(platform_factory: Callable[..., Platform]) -> None:
    platform = platform_factory()
    client = TestClient(create_app(platform=platform))
    platform.db.engine.dispose()
    platform.db.ping = lambda: (_ for _ in ()).throw(ConnectionError("down"))  # type: ignore[method-assign]
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["database"] == "error: ConnectionError"


def test_openapi_has_bounds_on_every_job_field(app: FastAPI) -> None:
    spec = app.openapi()
    job = spec["components"]["schemas"]["JobCreate"]["properties"]
    width = next(b for b in job["width"]["anyOf"] if b.get("type") == "integer")  # or null: the model's default
    assert width["maximum"] == 4096 and width["multipleOf"] == 8 and {"type": "null"} in job["width"]["anyOf"]
    assert job["steps"]["anyOf"][0]["minimum"] == 1 and job["prompt"]["maxLength"] == 2000
    for name, prop in job.items():
        text = str(prop)
        bounded = any(
            k in text
            for k in (
                "maximum",
                "maxLength",
                "maxItems",
                "enum",
                "const",
                "pattern",
                "$ref",
                "'type': 'boolean'",
                "format': 'uri'",
            )
        )
        assert bounded, f"JobCreate.{name} has no bound: {prop}"
    paths = spec["paths"]
    for path in [
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/auth/mfa/enroll",
        "/v1/auth/mfa/confirm",
        "/v1/keys",
        "/v1/keys/{key_id}",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/cancel",
        "/v1/jobs/{job_id}/events",
        "/v1/assets",
        "/v1/assets/{asset_id}",
        "/v1/assets/{asset_id}/versions",
        "/v1/assets/{asset_id}/versions/{number}/content",
        "/healthz",
        "/readyz",
        "/metrics",
    ]:
        assert path in paths, path


def test_the_api_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from scenecraft.config import Settings\n"
        "from scenecraft.api.app import create_app\n"
        f"app = create_app(Settings(data_dir={str(tmp_path)!r}, embedded_workers=0))\n"
        "app.openapi()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
