"""The remaining success / not-found / not-allowed cases of the account endpoints."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.utils.factories import UserClient, create_user

from scenecraft.api.platform import Platform


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


def test_session_only_endpoints_refuse_api_keys(app: FastAPI, alice: UserClient) -> None:
    key = {"Authorization": f"Bearer {alice.create_key()['key']}"}
    anon = TestClient(app)
    for method, url in [
        ("POST", "/v1/auth/logout"),
        ("POST", "/v1/auth/mfa/enroll"),
        ("POST", "/v1/auth/mfa/confirm"),
        ("GET", "/v1/keys"),
        ("POST", "/v1/keys"),
        ("POST", "/v1/auth/password"),
        ("GET", "/v1/auth/mfa"),
        ("POST", "/v1/auth/mfa/recovery-codes"),
        ("POST", "/v1/auth/mfa/disable"),
    ]:
        bodies: dict[str, object] = {
            "/v1/auth/mfa/confirm": {"code": "123456"},
            "/v1/keys": {"name": "x"},
            "/v1/auth/password": {"current_password": "x", "new_password": "longer than eight"},
            "/v1/auth/mfa/recovery-codes": {"password": "x"},
            "/v1/auth/mfa/disable": {"password": "x", "code": "123456"},
        }
        body = bodies.get(url) if method == "POST" else None
        r = anon.request(method, url, headers=key, json=body)
        assert r.status_code == 403 and "logged-in session" in r.json()["detail"], (url, r.text)
        assert anon.request(method, url, json=body).status_code == 401, url


def test_mfa_confirm_without_enrolment_and_enrol_twice(alice: UserClient) -> None:
    r = alice.post("/v1/auth/mfa/confirm", json={"code": "123456"})
    assert r.status_code == 400 and "POST /v1/auth/mfa/enroll first" in r.json()["detail"]
    assert alice.post("/v1/auth/mfa/confirm", json={"code": "12345"}).status_code == 422  # 6 digits
    import pyotp

    uri = alice.post("/v1/auth/mfa/enroll").json()["provisioning_uri"]
    assert alice.post("/v1/auth/mfa/confirm", json={"code": pyotp.parse_uri(uri).now()}).status_code == 200
    r = alice.post("/v1/auth/mfa/enroll")
    assert r.status_code == 409 and "already enabled" in r.json()["detail"]


def test_admin_user_creation_validates(app: FastAPI, platform: Platform) -> None:
    create_user(platform, "root", role="admin")
    admin = UserClient(app, "root")
    r = admin.post("/v1/admin/users", json={"username": "x", "password": "long enough pw"})
    assert r.status_code == 422 and r.json()["detail"].startswith("username: ")
    r = admin.post("/v1/admin/users", json={"username": "zed", "password": "short"})
    assert r.status_code == 422 and "password: String should have at least 8 characters" in r.json()["detail"]
    r = admin.post("/v1/admin/users", json={"username": "zed", "password": "long enough pw", "role": "god"})
    assert r.status_code == 422 and "role: " in r.json()["detail"]
