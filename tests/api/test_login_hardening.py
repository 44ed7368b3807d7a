"""Login against guessing: one reply for every failure (an MFA account never confirms its password),
failure throttles per account and per address, and TOTP steps taken by compare-and-set."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.utils.factories import PASSWORD, UserClient, create_user

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.api.routes.auth import LOGIN_FAILED
from scenecraft.auth import mfa
from scenecraft.db.models import User


def enrol(app: FastAPI, username: str) -> pyotp.TOTP:
    user = UserClient(app, username)
    totp = pyotp.parse_uri(user.post("/v1/auth/mfa/enroll").json()["provisioning_uri"])
    assert user.post("/v1/auth/mfa/confirm", json={"code": totp.now()}).status_code == 200
    return totp


def test_an_mfa_account_answers_alike_whether_the_password_is_right(app: FastAPI, platform: Platform) -> None:
    create_user(platform, "alice")
    totp = enrol(app, "alice")
    wrong_code = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    attempts = [
        {"username": "alice", "password": "wrong password"},
        {"username": "alice", "password": PASSWORD},  # right password, no code
        {"username": "alice", "password": "wrong password", "totp": wrong_code},
        {"username": "alice", "password": PASSWORD, "totp": wrong_code},  # right password, wrong code
        {"username": "nobody", "password": PASSWORD},
    ]
    client = TestClient(app)
    replies = [client.post("/v1/auth/login", json=body) for body in attempts]
    assert {(r.status_code, r.text) for r in replies} == {
        (401, json.dumps({"detail": LOGIN_FAILED, "code": "login_failed"}, separators=(",", ":")))
    }
    next_step = totp.at(int(time.time()) + 30)  # the enrolment used this step's code
    assert client.post("/v1/auth/login", json={**attempts[1], "totp": next_step}).status_code == 200


def test_failures_are_throttled_per_account_from_any_address(platform_factory: Callable[..., Platform]) -> None:
    platform = platform_factory(rate_limit_login_account="3/hour")
    create_user(platform, "alice")
    create_user(platform, "bob")
    app = create_app(platform=platform)
    for i in range(3):  # three guesses from three addresses
        r = TestClient(app, client=(f"198.51.100.{i}", 1)).post(
            "/v1/auth/login", json={"username": "alice", "password": f"guess {i} pw"}
        )
        assert r.status_code == 401
    r = TestClient(app, client=("198.51.100.9", 1)).post(
        "/v1/auth/login", json={"username": "alice", "password": PASSWORD}
    )  # even the right password waits: the reply does not depend on it
    assert r.status_code == 429 and r.json()["code"] == "rate_limited" and "this account" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) >= 1
    assert TestClient(app).post("/v1/auth/login", json={"username": "bob", "password": PASSWORD}).status_code == 200


def test_password_spraying_from_one_address_is_throttled(platform_factory: Callable[..., Platform]) -> None:
    platform = platform_factory(rate_limit_login_ip="4/hour")
    for name in ("user1", "user2", "user3", "user4", "user5"):
        create_user(platform, name)
    client = TestClient(create_app(platform=platform), client=("203.0.113.3", 1))
    codes = [
        client.post("/v1/auth/login", json={"username": name, "password": "Summer2026!"}).status_code
        for name in ("user1", "user2", "user3", "user4", "user5")
    ]  # one password across usernames: the per-(address, username) limit alone never fires
    assert codes == [401, 401, 401, 401, 429]
    r = client.post("/v1/auth/login", json={"username": "user5", "password": PASSWORD})
    assert r.status_code == 429 and "from this address" in r.json()["detail"]
    other = TestClient(create_app(platform=platform), client=("203.0.113.4", 1))
    assert other.post("/v1/auth/login", json={"username": "user5", "password": PASSWORD}).status_code == 200


def test_successes_do_not_count_as_failures(platform_factory: Callable[..., Platform]) -> None:
    platform = platform_factory(rate_limit_login_account="2/hour", rate_limit_login_ip="2/hour")
    create_user(platform, "alice")
    client = TestClient(create_app(platform=platform))
    for _ in range(5):
        assert client.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200


def test_a_stale_read_cannot_take_a_used_totp_step(platform: Platform) -> None:
    """Two logins read the account before either writes (what concurrent requests on PostgreSQL do):
    the second's compare-and-set finds the step taken, although its own copy says it is free."""
    create_user(platform, "alice")
    secret = pyotp.random_base32()
    with platform.db.session() as s:
        user = s.query(User).filter_by(username="alice").one()
        user.mfa_secret = platform.box.seal(secret, mfa.PURPOSE)
    code = pyotp.TOTP(secret).now()
    first, second = platform.db.sessions(), platform.db.sessions()
    try:
        early = second.query(User).filter_by(username="alice").one()  # read, step 0 in its copy
        second.commit()
        winner = first.query(User).filter_by(username="alice").one()
        assert mfa.verify(first, winner, platform.box, code)
        first.commit()
        assert early.mfa_last_step == 0  # stale, as a concurrent reader's would be
        assert not mfa.verify(second, early, platform.box, code)
        second.commit()
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_step_is_claimed_once_and_earlier_steps_after_it_never(platform: Platform, offset: int) -> None:
    create_user(platform, "alice")
    with platform.db.session() as s:
        user = s.query(User).filter_by(username="alice").one()
        assert mfa.claim_step(s, user, 1000 + offset)
        assert not mfa.claim_step(s, user, 1000 + offset)
        assert not mfa.claim_step(s, user, 999 + offset)
        assert mfa.claim_step(s, user, 1001 + offset) and user.mfa_last_step == 1001 + offset
