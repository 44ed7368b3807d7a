"""API keys: shown once, hashed, scoped, revocable, last-used; signed requests and replays."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.utils.factories import JOB, UserClient, create_user, signed_headers

from scenecraft.api.platform import Platform
from scenecraft.db.models import ApiKey


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


@pytest.fixture
def bob(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "bob")
    return UserClient(app, "bob")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_key_is_shown_once_and_stored_hashed(alice: UserClient, platform: Platform) -> None:
    created = alice.create_key(name="ci")
    key = created["key"]
    assert key.startswith(created["prefix"] + "_") and len(key) == len("sc_12345678_") + 43
    listed = alice.get("/v1/keys").json()
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    with platform.db.session() as s:
        row = s.scalars(select(ApiKey)).one()
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in json.dumps(row.scopes)


def test_bearer_key_works_without_csrf_and_records_last_use(app: FastAPI, alice: UserClient) -> None:
    created = alice.create_key()
    anon = TestClient(app)
    r = anon.post("/v1/jobs", json=JOB, headers=bearer(created["key"]))
    assert r.status_code == 202
    assert alice.get("/v1/keys").json()[0]["last_used_at"] is not None


def test_scopes_are_enforced(app: FastAPI, alice: UserClient) -> None:
    key = alice.create_key(scopes=["jobs:read"])["key"]
    anon = TestClient(app)
    assert anon.get("/v1/jobs", headers=bearer(key)).status_code == 200
    r = anon.post("/v1/jobs", json=JOB, headers=bearer(key))
    assert r.status_code == 403 and "jobs:write" in r.json()["detail"]
    assert anon.get("/v1/assets", headers=bearer(key)).status_code == 403


def test_unknown_scopes_are_422(alice: UserClient) -> None:
    r = alice.post("/v1/keys", json={"name": "k", "scopes": ["root"]})
    assert r.status_code == 422 and "scopes.0" in r.json()["detail"]


def test_revoked_and_malformed_keys_are_401(app: FastAPI, alice: UserClient) -> None:
    created = alice.create_key()
    assert alice.delete(f"/v1/keys/{created['id']}").status_code == 204
    anon = TestClient(app)
    r = anon.get("/v1/jobs", headers=bearer(created["key"]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert anon.get("/v1/jobs", headers=bearer("sc_nothing")).status_code == 401
    assert alice.get("/v1/keys").json()[0]["revoked_at"] is not None


def test_keys_cannot_mint_keys(app: FastAPI, alice: UserClient) -> None:
    key = alice.create_key()["key"]
    r = TestClient(app).post("/v1/keys", json={"name": "x"}, headers=bearer(key))
    assert r.status_code == 403


def test_another_users_key_is_404(alice: UserClient, bob: UserClient) -> None:
    key_id = alice.create_key()["id"]
    assert bob.delete(f"/v1/keys/{key_id}").status_code == 404
    assert bob.delete(f"/v1/keys/{'0' * 32}").status_code == 404
    assert alice.get("/v1/keys").json()[0]["revoked_at"] is None


def test_signed_requests_and_replay(app: FastAPI, alice: UserClient) -> None:
    created = alice.create_key(signed=True)
    key, prefix = created["key"], created["prefix"]
    body = json.dumps(JOB).encode()
    anon = TestClient(app)
    headers = {**signed_headers(key, prefix, "POST", "/v1/jobs", body), "Content-Type": "application/json"}
    assert anon.post("/v1/jobs", content=body, headers=headers).status_code == 202
    replay = anon.post("/v1/jobs", content=body, headers=headers)
    assert replay.status_code == 401 and "replayed" in replay.json()["detail"]
    # query strings are signed too
    path = "/v1/jobs?limit=5"
    assert anon.get(path, headers=signed_headers(key, prefix, "GET", path)).status_code == 200


def test_signed_request_checks(app: FastAPI, alice: UserClient) -> None:
    created = alice.create_key(signed=True)
    key, prefix = created["key"], created["prefix"]
    anon = TestClient(app)
    body = json.dumps(JOB).encode()
    ct = {"Content-Type": "application/json"}
    stale = signed_headers(key, prefix, "POST", "/v1/jobs", body, timestamp=int(time.time()) - 3600)
    r = anon.post("/v1/jobs", content=body, headers={**stale, **ct})
    assert r.status_code == 401 and "at most 300 s" in r.json()["detail"]
    tampered = signed_headers(key, prefix, "POST", "/v1/jobs", body)
    r = anon.post("/v1/jobs", content=body.replace(b"cube", b"ball"), headers={**tampered, **ct})
    assert r.status_code == 401 and r.json()["detail"] == "request signature does not match"
    wrong_key = signed_headers(key[:-1] + ("A" if key[-1] != "A" else "B"), prefix, "POST", "/v1/jobs", body)
    assert anon.post("/v1/jobs", content=body, headers={**wrong_key, **ct}).status_code == 401
    r = anon.get("/v1/jobs", headers=bearer(key))  # a signing key never travels as a bearer
    assert r.status_code == 401 and "must sign" in r.json()["detail"]
    plain = alice.create_key()
    r = anon.get("/v1/jobs", headers=signed_headers(plain["key"], plain["prefix"], "GET", "/v1/jobs"))
    assert r.status_code == 401 and "not a signing key" in r.json()["detail"]
