"""The client's address: X-Forwarded-For counts only from settings.trusted_proxies (default: never),
and the address decides login throttles, audit records and ip_allow/ip_deny alike.

The end-to-end check against a real `scenecraft serve` (uvicorn's own proxy-header trust switched
off) is in tests/api/test_server_process.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.utils.factories import create_user

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.auth.gateway import TrustedProxies
from scenecraft.config import Settings
from scenecraft.db.models import AuditRecord


def last_audit_ip(platform: Platform) -> str:
    with platform.db.session() as s:
        ip = s.scalar(select(AuditRecord.ip).order_by(AuditRecord.seq.desc()))
        assert ip is not None
        return ip


def test_forwarded_for_is_ignored_without_trusted_proxies(platform_factory: Callable[..., Platform]) -> None:
    platform = platform_factory()
    create_user(platform, "alice")
    client = TestClient(create_app(platform=platform), client=("127.0.0.1", 5000))
    codes = []
    for i in range(11):  # a new forged address each time: the lockout still sees 127.0.0.1
        r = client.post(
            "/v1/auth/login",
            json={"username": "alice", "password": "wrong password"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        codes.append(r.status_code)
    assert codes == [401] * 10 + [429]
    assert last_audit_ip(platform) == "127.0.0.1"


def test_a_trusted_proxy_names_the_client(platform_factory: Callable[..., Platform]) -> None:
    platform = platform_factory(trusted_proxies=["10.0.0.0/24"])
    create_user(platform, "alice")
    app = create_app(platform=platform)
    via_proxy = TestClient(app, client=("10.0.0.2", 5000))
    r = via_proxy.post(
        "/v1/auth/login",
        json={"username": "alice", "password": "wrong password"},
        headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.9"},  # client, then an inner trusted proxy
    )
    assert r.status_code == 401 and last_audit_ip(platform) == "203.0.113.7"
    direct = TestClient(app, client=("192.0.2.50", 5000))  # not a proxy: its header is not believed
    direct.post(
        "/v1/auth/login",
        json={"username": "alice", "password": "wrong password"},
        headers={"X-Forwarded-For": "203.0.113.99"},
    )
    assert last_audit_ip(platform) == "192.0.2.50"


def test_ip_deny_sees_the_forwarded_client(platform_factory: Callable[..., Platform]) -> None:
    app = create_app(platform=platform_factory(trusted_proxies=["10.0.0.1/32"], ip_deny=["203.0.113.0/24"]))
    proxy = TestClient(app, client=("10.0.0.1", 5000))
    assert proxy.get("/healthz", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 200
    r = proxy.get("/healthz", headers={"X-Forwarded-For": "203.0.113.5"})
    assert r.status_code == 403 and r.json()["code"] == "ip_not_allowed"
    # a denied client cannot hide behind the header when it connects directly
    direct = TestClient(app, client=("203.0.113.5", 1))
    assert direct.get("/healthz", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 403


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("10.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("10.0.0.1", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # rightmost untrusted hop, not the leftmost
        ("10.0.0.1", "203.0.113.7, 10.0.0.3", "203.0.113.7"),  # trusted hops are skipped
        ("10.0.0.1", "garbage, 203.0.113.7", "203.0.113.7"),
        ("10.0.0.1", "203.0.113.7, garbage", "10.0.0.1"),  # the proxy appended nonsense: keep the proxy
        ("10.0.0.1", "10.0.0.2, 10.0.0.3", "10.0.0.2"),  # all trusted: the leftmost
        ("192.0.2.1", "203.0.113.7", "192.0.2.1"),  # untrusted peer
        ("10.0.0.1", "", "10.0.0.1"),
    ],
)
def test_forwarded_for_is_read_right_to_left(peer: str, header: str, client: str) -> None:
    assert TrustedProxies(["10.0.0.0/24"]).client(peer, header) == client


def test_forwarded_proto_counts_only_from_a_trusted_proxy() -> None:
    proxies = TrustedProxies(["10.0.0.0/24"])
    assert proxies.scheme("10.0.0.1", "https", "http") == "https"
    assert proxies.scheme("192.0.2.1", "https", "http") == "http"
    assert proxies.scheme("10.0.0.1", "gopher", "http") == "http"


def test_trusted_proxies_must_be_cidrs() -> None:
    with pytest.raises(ValueError, match=r"trusted_proxies: 'proxy\.local' is not a CIDR block"):
        Settings(trusted_proxies=["proxy.local"])
