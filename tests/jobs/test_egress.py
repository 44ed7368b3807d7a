"""Webhook SSRF guard: internal targets refused at submit time (422) and again at send time (DNS
rebinding), the connection pinned to the checked address, and an explicit allow-list."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from tests.utils.factories import JOB, UserClient, create_user

from scenecraft.api.platform import Platform
from scenecraft.auth.accounts import create_user as create_account
from scenecraft.db import Database
from scenecraft.db.models import Job, WebhookDelivery
from scenecraft.jobs import queue, webhooks
from scenecraft.jobs.egress import EgressGuard, TargetRefused
from scenecraft.jobs.queue import QueuePolicy

INTERNAL = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://[::1]:8080/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped IPv6 is still loopback
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.9/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://224.0.0.1/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://100.64.0.1/", "not globally routable"),  # carrier-grade NAT
    ("http://240.0.0.1/", "reserved"),
]


@pytest.mark.parametrize(("url", "why"), INTERNAL)
def test_internal_addresses_are_refused(url: str, why: str) -> None:
    with pytest.raises(TargetRefused, match=why):
        EgressGuard([]).resolve(url)


def test_a_host_is_refused_if_any_of_its_addresses_is_internal() -> None:
    guard = EgressGuard([], resolver=lambda host, port: ["93.184.216.34", "10.0.0.5"])
    with pytest.raises(TargetRefused, match=r"'hooks.example' resolves to 10.0.0.5, a private address"):
        guard.resolve("https://hooks.example/x")


def test_public_targets_are_pinned_to_the_checked_address() -> None:
    guard = EgressGuard([], resolver=lambda host, port: ["93.184.216.34"])
    target = guard.resolve("https://hooks.example:8443/in?x=1")
    assert target.address == "93.184.216.34" and target.host == "hooks.example"
    assert target.pinned_url == "https://93.184.216.34:8443/in?x=1" and target.host_header == "hooks.example:8443"


def test_the_allow_list_admits_a_private_range_only() -> None:
    guard = EgressGuard(["10.20.0.0/16"])
    assert guard.resolve("http://10.20.3.4/hook").address == "10.20.3.4"
    with pytest.raises(TargetRefused):
        guard.resolve("http://10.21.0.1/hook")
    with pytest.raises(ValueError, match="webhook_allow_private"):
        EgressGuard(["not-a-cidr"])


def test_unresolvable_and_credentialed_urls_are_refused() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(TargetRefused, match="does not resolve"):
        EgressGuard([], resolver=fail).resolve("http://nowhere.invalid/")
    with pytest.raises(TargetRefused, match="user name or password"):
        EgressGuard([]).resolve("http://user:pw@93.184.216.34/")


@pytest.fixture
def alice(app: FastAPI, platform: Platform) -> UserClient:
    create_user(platform, "alice")
    return UserClient(app, "alice")


@pytest.mark.parametrize("url", ["http://127.0.0.1:5432/", "http://169.254.169.254/", "http://192.168.0.10/hook"])
def test_internal_webhooks_are_422_and_queue_nothing(alice: UserClient, platform: Platform, url: str) -> None:
    r = alice.post("/v1/jobs", json={**JOB, "webhook_url": url})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert r.json()["errors"][0]["loc"] == ["body", "webhook_url"]
    assert "public addresses only" in r.json()["detail"]
    with platform.db.session() as s:
        assert s.scalars(select(Job)).all() == []


def test_a_public_webhook_is_accepted(alice: UserClient) -> None:
    assert alice.post("/v1/jobs", json={**JOB, "webhook_url": "https://93.184.216.34/hook"}).status_code == 202


class Receiver(http.server.BaseHTTPRequestHandler):
    hosts: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.hosts.append(self.headers["Host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver_port() -> Iterator[int]:
    Receiver.hosts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _finished_job_with_webhook(db: Database, url: str) -> None:
    policy = QueuePolicy()
    with db.session() as s:
        user = create_account(s, "alice", "long password")
        queue.enqueue(s, user_id=user.id, params={"seed": 1}, policy=policy, webhook_url=url)
    with db.session() as s:
        (claimed,) = queue.claim(s, "w", policy)
        queue.mark_succeeded(s, claimed, "f" * 32)


def test_dns_rebinding_is_caught_at_send_time(db: Database, receiver_port: int) -> None:
    """Public when submitted, loopback when sent: the POST never happens and the error says why."""
    _finished_job_with_webhook(db, f"http://hooks.example:{receiver_port}/hook")
    answers = iter([["127.0.0.1"]])
    guard = EgressGuard([], resolver=lambda host, port: next(answers))
    webhooks.Deliverer(db, max_attempts=1, backoff_seconds=0, guard=guard).deliver_due()
    assert Receiver.hosts == []
    with db.session() as s:
        d = s.scalars(select(WebhookDelivery)).one()
        assert d.status == "failed" and d.last_error is not None
        assert d.last_error.startswith("refused: ") and "loopback" in d.last_error


def test_the_post_goes_to_the_checked_address_with_the_original_host(db: Database, receiver_port: int) -> None:
    """The guard's answer is the address connected to (no second lookup): `hooks.example` exists in
    no DNS, yet the POST arrives, with Host: hooks.example:<port>."""
    _finished_job_with_webhook(db, f"http://hooks.example:{receiver_port}/hook")
    guard = EgressGuard(["127.0.0.1/32"], resolver=lambda host, port: ["127.0.0.1"])
    webhooks.Deliverer(db, max_attempts=1, backoff_seconds=0, guard=guard).deliver_due()
    assert Receiver.hosts == [f"hooks.example:{receiver_port}"]
    with db.session() as s:
        assert s.scalars(select(WebhookDelivery.status)).one() == "delivered"
