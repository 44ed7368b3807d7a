"""Factories: users, logged-in clients, API keys, images, signed requests."""

from __future__ import annotations

import io
import secrets
import time
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from scenecraft.api.platform import Platform
from scenecraft.auth import accounts
from scenecraft.auth.api_keys import sign_request
from scenecraft.db.models import User

PASSWORD = "correct horse battery"


def create_user(platform: Platform, username: str, role: str = "user", password: str = PASSWORD) -> User:
    with platform.db.session() as s:
        return accounts.create_user(s, username, password, role)


class UserClient:
    """A TestClient logged in as one user, sending its CSRF token on writes."""

    def __init__(self, app: FastAPI, username: str, password: str = PASSWORD, totp: str | None = None) -> None:
        self.http = TestClient(app)
        body: dict[str, str] = {"username": username, "password": password}
        if totp:
            body["totp"] = totp
        r = self.http.post("/v1/auth/login", json=body)
        assert r.status_code == 200, r.text
        self.csrf = r.json()["csrf_token"]
        self.user_id = r.json()["user"]["id"]

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.http.get(url, **kw)

    def write(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.write("POST", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.write("DELETE", url, **kw)

    def create_key(self, scopes: list[str] | None = None, signed: bool = False, name: str = "k") -> dict[str, str]:
        body: dict[str, object] = {"name": name, "signed": signed}
        if scopes is not None:
            body["scopes"] = scopes
        r = self.post("/v1/keys", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())


def png_bytes(size: tuple[int, int] = (16, 16), color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def signed_headers(
    key: str,
    prefix: str,
    method: str,
    path_qs: str,
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(16)
    return {
        "X-Scenecraft-Key": prefix,
        "X-Scenecraft-Timestamp": ts,
        "X-Scenecraft-Nonce": nonce,
        "X-Scenecraft-Signature": sign_request(key, ts, nonce, method, path_qs, body),
    }


JOB = {"prompt": "a red cube on a wooden table", "width": 64, "height": 64, "steps": 4, "seed": 7}
