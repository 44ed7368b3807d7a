"""Login, sessions (rotation, timeouts), CSRF, MFA, roles."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.utils.factories import PASSWORD, UserClient, create_user

from scenecraft.api.platform import Platform
from scenecraft.api.routes.auth import LOGIN_FAILED
from scenecraft.audit import verify
from scenecraft.db.models import AuditRecord, User, UserSession, utcnow


@pytest.fixture
def alice(platform: Platform) -> User:
    return create_user(platform, "alice")


def test_login_returns_csrf_token_and_sets_an_httponly_cookie(client: TestClient, alice: User) -> None:
    r = client.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    assert len(r.json()["csrf_token"]) >= 32 and r.json()["user"]["username"] == "alice"
    cookie = r.headers["set-cookie"].lower()
    assert "scenecraft_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/v1/me").json()["id"] == alice.id


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong password"), ("nobody", PASSWORD)])
def test_wrong_credentials_are_401_and_audited(
    client: TestClient, platform: Platform, alice: User, username: str, password: str
) -> None:
    r = client.post("/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 401 and r.json() == {"detail": LOGIN_FAILED, "code": "login_failed"}
    with platform.db.session() as s:
        assert s.scalar(select(AuditRecord.action).order_by(AuditRecord.seq.desc())) == "auth.login_failed"


def test_requests_without_a_session_are_401(client: TestClient) -> None:
    assert client.get("/v1/me").status_code == 401


def test_cookie_writes_need_the_csrf_token(app: FastAPI, alice: User) -> None:
    user = UserClient(app, "alice")
    r = user.http.post("/v1/keys", json={"name": "k"})  # cookie only, no X-CSRF-Token
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
    r = user.http.post("/v1/keys", json={"name": "k"}, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    assert user.post("/v1/keys", json={"name": "k"}).status_code == 201


def test_login_rotates_the_session(app: FastAPI, platform: Platform, alice: User) -> None:
    user = UserClient(app, "alice")
    old_cookie = user.http.cookies["scenecraft_session"]
    r = user.http.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    assert user.http.cookies["scenecraft_session"] != old_cookie
    stale = TestClient(app, cookies={"scenecraft_session": old_cookie})
    assert stale.get("/v1/me").status_code == 401
    with platform.db.session() as s:
        assert len(s.scalars(select(UserSession)).all()) == 1


def test_logout_ends_the_session(app: FastAPI, alice: User) -> None:
    user = UserClient(app, "alice")
    cookie = user.http.cookies["scenecraft_session"]
    assert user.post("/v1/auth/logout").status_code == 204
    assert TestClient(app, cookies={"scenecraft_session": cookie}).get("/v1/me").status_code == 401


@pytest.mark.parametrize("which", ["idle", "absolute"])
def test_sessions_expire(app: FastAPI, platform: Platform, alice: User, which: str) -> None:
    user = UserClient(app, "alice")
    assert user.get("/v1/me").status_code == 200
    now = utcnow()
    with platform.db.session() as s:
        if which == "idle":  # idle 30 min by default
            s.execute(update(UserSession).values(last_seen_at=now - timedelta(minutes=31)))
        else:  # absolute 12 h, even when active
            s.execute(update(UserSession).values(created_at=now - timedelta(hours=12, minutes=1), last_seen_at=now))
    assert user.get("/v1/me").status_code == 401
    with platform.db.session() as s:
        assert s.scalars(select(UserSession)).all() == []


def test_mfa_enrol_confirm_and_login_with_single_use_codes(app: FastAPI, platform: Platform, alice: User) -> None:
    user = UserClient(app, "alice")
    uri = user.post("/v1/auth/mfa/enroll").json()["provisioning_uri"]
    assert uri.startswith("otpauth://totp/scenecraft:alice?") and "issuer=scenecraft" in uri
    totp = pyotp.parse_uri(uri)
    assert user.post("/v1/auth/mfa/confirm", json={"code": "000000"}).status_code == 400
    code = totp.now()
    r = user.post("/v1/auth/mfa/confirm", json={"code": code})
    assert r.status_code == 200 and r.json()["user"]["mfa_enabled"] is True
    fresh = TestClient(app)
    r = fresh.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 401 and "TOTP" in r.json()["detail"]
    # the code used to confirm was consumed: it cannot log in (and the reply is the one for any failure)
    r = fresh.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD, "totp": code})
    assert r.status_code == 401 and r.json()["detail"] == LOGIN_FAILED
    next_code = totp.at(int(utcnow().timestamp()) + 30)  # the next time step (within drift)
    r = fresh.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD, "totp": next_code})
    assert r.status_code == 200
    r = fresh.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD, "totp": next_code})
    assert r.status_code == 401  # replay of the same code


def test_mfa_attempts_are_rate_limited(app: FastAPI, alice: User) -> None:
    user = UserClient(app, "alice")
    user.post("/v1/auth/mfa/enroll")
    codes = [user.post("/v1/auth/mfa/confirm", json={"code": f"{i:06d}"}).status_code for i in range(7)]
    assert codes[:5] == [400] * 5 and codes[5:] == [429, 429]  # 5 per 5 minutes by default
    r = user.post("/v1/auth/mfa/confirm", json={"code": "123456"})
    assert int(r.headers["Retry-After"]) > 0


def test_logins_are_rate_limited_per_ip_and_username(client: TestClient, alice: User) -> None:
    codes = [
        client.post("/v1/auth/login", json={"username": "alice", "password": "bad password"}).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429


def test_admin_creates_users_and_plain_users_cannot(app: FastAPI, platform: Platform, alice: User) -> None:
    create_user(platform, "root", role="admin")
    admin = UserClient(app, "root")
    r = admin.post("/v1/admin/users", json={"username": "bob", "password": "long enough pw"})
    assert r.status_code == 201 and r.json()["role"] == "user"
    assert admin.post("/v1/admin/users", json={"username": "bob", "password": "long enough pw"}).status_code == 409
    assert {u["username"] for u in admin.get("/v1/admin/users").json()} == {"alice", "root", "bob"}
    user = UserClient(app, "alice")
    assert user.post("/v1/admin/users", json={"username": "eve", "password": "long enough pw"}).status_code == 403
    assert user.get("/v1/admin/users").status_code == 403


def test_webhook_secret_is_per_user_and_needs_a_session(app: FastAPI, platform: Platform, alice: User) -> None:
    create_user(platform, "bob")
    a, b = UserClient(app, "alice"), UserClient(app, "bob")
    sa, sb = a.get("/v1/me/webhook-secret").json()["secret"], b.get("/v1/me/webhook-secret").json()["secret"]
    assert sa.startswith("whsec_") and sa != sb
    key = a.create_key()["key"]
    assert TestClient(app).get("/v1/me/webhook-secret", headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_every_login_and_key_change_is_in_a_valid_audit_chain(app: FastAPI, platform: Platform, alice: User) -> None:
    user = UserClient(app, "alice")
    key_id = user.create_key()["id"]
    user.delete(f"/v1/keys/{key_id}")
    with platform.db.session() as s:
        actions = s.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)).all()
        assert actions == ["auth.login", "key.created", "key.revoked"]
        assert verify(s).ok


def test_housekeeping_purges_expired_sessions_only(app: FastAPI, platform: Platform, alice: User) -> None:
    from scenecraft.auth.sessions import purge_expired

    UserClient(app, "alice")
    UserClient(app, "alice")  # two live sessions
    with platform.db.session() as s:
        first = s.scalars(select(UserSession)).first()
        assert first is not None
        s.execute(update(UserSession).where(UserSession.id == first.id)
                  .values(last_seen_at=utcnow() - timedelta(hours=1)))
    with platform.db.session() as s:
        assert purge_expired(s, idle=platform.session_idle, absolute=platform.session_absolute) == 1
        assert len(s.scalars(select(UserSession)).all()) == 1
