"""Webhooks: Stripe-style signatures checked against a hand-computed HMAC; retries against a
real local HTTP server that fails first."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import ClassVar

import pytest
from sqlalchemy import select, update

from scenecraft.auth.accounts import create_user
from scenecraft.db import Database
from scenecraft.db.models import Job, User, WebhookDelivery, utcnow
from scenecraft.jobs import queue, webhooks
from scenecraft.jobs.egress import EgressGuard
from scenecraft.jobs.queue import QueuePolicy

LOCAL = EgressGuard(["127.0.0.1/32"])  # the receiver below listens on loopback: allowed explicitly


def test_signature_matches_a_hand_computed_hmac() -> None:
    body = b'{"job_id":"abc"}'
    header = webhooks.sign("whsec_x", body, 1767225600)
    expected = hmac.new(b"whsec_x", b'1767225600.{"job_id":"abc"}', hashlib.sha256).hexdigest()
    assert header == f"t=1767225600,v1={expected}"
    assert webhooks.verify("whsec_x", body, header, now=1767225600 + 10)
    assert not webhooks.verify("whsec_x", body, header, now=1767225600 + 301)  # too old: replay
    assert not webhooks.verify("whsec_y", body, header, now=1767225600)
    assert not webhooks.verify("whsec_x", body + b" ", header, now=1767225600)
    assert not webhooks.verify("whsec_x", body, "garbage", now=1767225600)


class Receiver(http.server.BaseHTTPRequestHandler):
    plan: ClassVar[list[int]] = []
    received: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((body, self.headers[webhooks.HEADER]))
        self.send_response(Receiver.plan.pop(0) if Receiver.plan else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.plan, Receiver.received = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def finished_job(db: Database, url: str) -> tuple[str, str]:
    policy = QueuePolicy()
    with db.session() as s:
        user = create_user(s, "alice", "long password")
        job, _ = queue.enqueue(s, user_id=user.id, params={"seed": 1}, policy=policy, webhook_url=url)
    with db.session() as s:
        (claimed,) = queue.claim(s, "w", policy)
        queue.mark_succeeded(s, claimed, "f" * 32)
    return job.id, user.webhook_secret


def make_due(db: Database) -> None:
    with db.session() as s:
        s.execute(update(WebhookDelivery).values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def test_completion_webhook_is_signed_and_retried(db: Database, receiver: str) -> None:
    job_id, secret = finished_job(db, receiver)
    Receiver.plan = [500, 503]
    deliverer = webhooks.Deliverer(db, max_attempts=5, backoff_seconds=30, guard=LOCAL)
    for _ in range(3):
        assert deliverer.deliver_due() == 1
        make_due(db)
    assert len(Receiver.received) == 3
    body, header = Receiver.received[-1]
    assert webhooks.verify(secret, body, header)
    payload = json.loads(body)
    assert payload["type"] == "job.succeeded" and payload["job_id"] == job_id and payload["asset_id"] == "f" * 32
    with db.session() as s:
        d = s.scalars(select(WebhookDelivery)).one()
        assert (d.status, d.attempts, d.last_error) == ("delivered", 3, None)
    assert deliverer.deliver_due() == 0


def test_webhook_gives_up_after_max_attempts_keeping_the_error(db: Database, receiver: str) -> None:
    finished_job(db, receiver)
    Receiver.plan = [500] * 10
    deliverer = webhooks.Deliverer(db, max_attempts=2, backoff_seconds=30, guard=LOCAL)
    deliverer.deliver_due()
    with db.session() as s:
        d = s.scalars(select(WebhookDelivery)).one()
        assert d.status == "pending" and d.attempts == 1
        wait = (d.next_attempt_at - utcnow()).total_seconds()
        assert 28 < wait <= 30  # backoff * 2^0
    make_due(db)
    deliverer.deliver_due()
    with db.session() as s:
        d = s.scalars(select(WebhookDelivery)).one()
        assert (d.status, d.attempts, d.last_error) == ("failed", 2, "HTTP 500")


def test_jobs_without_webhook_schedule_nothing(db: Database) -> None:
    policy = QueuePolicy()
    with db.session() as s:
        uid = create_user(s, "alice", "long password").id
        job, _ = queue.enqueue(s, user_id=uid, params={"seed": 1}, policy=policy)
        queue.cancel(s, job)
    with db.session() as s:
        assert s.scalars(select(WebhookDelivery)).all() == []
        assert s.get(Job, job.id).status == "cancelled"  # type: ignore[union-attr]
        assert s.get(User, uid) is not None
