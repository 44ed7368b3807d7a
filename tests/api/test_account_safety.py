"""Account safety: password change (signs out the other sessions), MFA recovery codes (hashed,
single use, also under a race), turning MFA off, the enrolment code's browser not asked again in
the same step, failed-only MFA attempt counting, and sessions named by device."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.utils.factories import PASSWORD, UserClient, create_user

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.auth import enrolment_pass, mfa, recovery
from scenecraft.db.models import RecoveryCode, User, UserSession

NEW_PASSWORD = "a much longer new password"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def alice(platform: Platform) -> User:
    return create_user(platform, "alice")


def login(app: FastAPI, **body: str) -> tuple[TestClient, int]:
    http = TestClient(app)
    r = http.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD, **body})
    return http, r.status_code


def enrol(user: UserClient) -> tuple[pyotp.TOTP, list[str]]:
    totp = pyotp.parse_uri(user.post("/v1/auth/mfa/enroll").json()["provisioning_uri"])
    r = user.post("/v1/auth/mfa/confirm", json={"code": totp.now()})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["mfa_enabled"] is True
    return totp, r.json()["recovery_codes"]


def code_of_step(totp: pyotp.TOTP, step: int) -> str:
    return totp.at(step * 30)


# -- password ---------------------------------------------------------------------------------
def test_password_change_signs_out_the_other_sessions_only(app: FastAPI, platform: Platform, alice: User) -> None:
    here, elsewhere = UserClient(app, "alice"), UserClient(app, "alice")
    r = here.post("/v1/auth/password", json={"current_password": "wrong one", "new_password": NEW_PASSWORD})
    assert r.status_code == 403 and "current password" in r.json()["detail"]
    r = here.post("/v1/auth/password", json={"current_password": PASSWORD, "new_password": PASSWORD})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "new_password"]
    r = here.post("/v1/auth/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert r.status_code == 422 and "new_password" in r.json()["detail"]
    r = here.post("/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json() == {"sessions_ended": 1}
    assert here.get("/v1/me").status_code == 200
    assert elsewhere.get("/v1/me").status_code == 401
    assert login(app)[1] == 401
    assert login(app, password=NEW_PASSWORD)[1] == 200
    with platform.db.session() as s:
        assert len(s.scalars(select(UserSession)).all()) == 2  # this one and the new login


# -- recovery codes ---------------------------------------------------------------------------
def test_recovery_codes_are_shown_once_stored_hashed_and_single_use(
    app: FastAPI, platform: Platform, alice: User
) -> None:
    user = UserClient(app, "alice")
    _, codes = enrol(user)
    assert len(codes) == 10 and len(set(codes)) == 10
    with platform.db.session() as s:
        stored = [r.code_hash for r in s.scalars(select(RecoveryCode))]
    assert len(stored) == 10 and not any(c.replace("-", "") in h for c in codes for h in stored)
    assert user.get("/v1/auth/mfa").json() == {"enabled": True, "recovery_codes_left": 10}
    # typed loosely (upper case, no dash): still the same code
    http, status = login(app, recovery_code=codes[0].upper().replace("-", ""))
    assert status == 200 and http.get("/v1/me").status_code == 200
    assert login(app, recovery_code=codes[0])[1] == 401  # used up
    assert user.get("/v1/auth/mfa").json()["recovery_codes_left"] == 9
    # new codes replace the old ones, and need the password
    assert user.post("/v1/auth/mfa/recovery-codes", json={"password": "nope"}).status_code == 403
    fresh = user.post("/v1/auth/mfa/recovery-codes", json={"password": PASSWORD}).json()["recovery_codes"]
    assert login(app, recovery_code=codes[1])[1] == 401
    assert login(app, recovery_code=fresh[1])[1] == 200


def test_a_recovery_code_raced_from_two_requests_logs_in_once(platform: Platform, alice: User) -> None:
    with platform.db.session() as s:
        user = s.get(User, alice.id)
        assert user is not None
        codes = recovery.issue(s, user)
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def redeem() -> None:
        barrier.wait(timeout=30)  # all four start their transactions together
        with platform.db.session() as s:
            results.append(recovery.redeem(s, alice, codes[3]))

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]


# -- MFA off ----------------------------------------------------------------------------------
def test_turning_mfa_off_needs_the_password_and_a_code(app: FastAPI, platform: Platform, alice: User) -> None:
    user = UserClient(app, "alice")
    assert user.post("/v1/auth/mfa/disable", json={"password": PASSWORD, "code": "123456"}).status_code == 409
    _, codes = enrol(user)
    r = user.post("/v1/auth/mfa/disable", json={"password": "wrong", "code": codes[0]})
    assert r.status_code == 403
    r = user.post("/v1/auth/mfa/disable", json={"password": PASSWORD, "code": "000000"})
    assert r.status_code == 400
    r = user.post("/v1/auth/mfa/disable", json={"password": PASSWORD, "code": codes[0]})
    assert r.status_code == 204
    assert user.get("/v1/me").json()["mfa_enabled"] is False
    with platform.db.session() as s:
        assert s.scalars(select(RecoveryCode)).all() == []
    assert login(app)[1] == 200  # no code asked any more


# -- the enrolment step -----------------------------------------------------------------------
def test_the_enrolling_browser_is_not_asked_for_the_same_code_again(app: FastAPI, alice: User) -> None:
    user = UserClient(app, "alice")
    enrol(user)
    assert enrolment_pass.COOKIE in user.http.cookies
    assert user.post("/v1/auth/logout").status_code == 204
    r = user.http.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text  # same browser, same step: the code it just typed counts
    assert enrolment_pass.COOKIE not in user.http.cookies  # once only
    user.csrf = r.json()["csrf_token"]
    assert user.post("/v1/auth/logout").status_code == 204
    r = user.http.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 401 and "TOTP" in r.json()["detail"]
    assert login(app)[1] == 401  # another browser always needs a code


def test_the_enrolment_pass_is_bound_to_user_key_and_step() -> None:
    now = 1_800_000_000.0
    step = int(now // 30)
    value = enrolment_pass.issue("k", "u1", step)
    assert enrolment_pass.accepts("k", "u1", value, now=now)
    assert enrolment_pass.accepts("k", "u1", value, now=now + 30)  # the next step: drift allowed
    assert not enrolment_pass.accepts("k", "u1", value, now=now + 60)
    assert not enrolment_pass.accepts("k", "u2", value, now=now)
    assert not enrolment_pass.accepts("other key", "u1", value, now=now)
    assert not enrolment_pass.accepts("k", "u1", f"{step + 1}.{value.split('.')[1]}", now=now)
    assert not enrolment_pass.accepts("k", "u1", "garbage", now=now)


# -- attempt limit ----------------------------------------------------------------------------
def test_good_codes_do_not_count_toward_the_attempt_limit(
    platform_factory: Callable[..., Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    # only the failure limit is under test: wrong TOTP codes count toward the account's login failures
    platform = platform_factory(rate_limit_login="1000/minute", rate_limit_login_account="5/hour")
    create_user(platform, "alice")
    app = create_app(platform=platform)
    user = UserClient(app, "alice")
    totp, _ = enrol(user)
    start = int(time.time() // 30) + 2  # past the enrolment's step
    for i in range(6):  # the limit is 5 failures: six good logins in a row
        now = (start + 2 * i) * 30 + 1.0
        monkeypatch.setattr(mfa, "time", SimpleNamespace(time=lambda now=now: now))
        assert login(app, totp=code_of_step(totp, start + 2 * i))[1] == 200
    statuses = [login(app, totp="000000")[1] for _ in range(6)]
    assert statuses == [401] * 5 + [429]  # failures still count


# -- device names -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (FIREFOX, "Firefox on Linux"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("", "an unknown device"),
    ],
)
def test_sessions_are_named_by_browser_and_platform(app: FastAPI, alice: User, agent: str, name: str) -> None:
    http = TestClient(app, headers={"User-Agent": agent})
    r = http.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    rows = http.get("/v1/auth/sessions").json()
    assert [(row["device"], row["current"]) for row in rows] == [(name, True)]
