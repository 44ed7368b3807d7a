"""Completion webhooks, signed as Stripe signs its events, delivered with retries.

    Scenecraft-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The secret is the job owner's (GET /v1/me/webhook-secret). A receiver recomputes the HMAC over
the timestamp and the raw body and refuses old timestamps, which stops replays (`verify` below is
the reference). A delivery row is written in the same transaction that ends the job, so a crash
never loses one; failed POSTs are retried with exponential backoff, then marked failed.

Each POST goes through the egress guard (jobs/egress.py): the URL is resolved and checked again at
send time and the connection goes to the checked address; a refused target fails the attempt
without any request being sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from scenecraft.db import Database
from scenecraft.db.models import Job, User, WebhookDelivery, utcnow
from scenecraft.jobs.egress import EgressGuard, TargetRefused

HEADER = "Scenecraft-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """Receiver side: checks the signature and that the timestamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def schedule(session: Session, job: Job) -> None:
    """Queues the completion webhook of a job that just ended (no-op without webhook_url)."""
    if not job.webhook_url:
        return
    payload = {
        "type": f"job.{job.status}",
        "job_id": job.id,
        "status": job.status,
        "asset_id": job.asset_id,
        "error": job.error,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    session.add(WebhookDelivery(job_id=job.id, url=job.webhook_url, payload=json.dumps(payload, separators=(",", ":"))))


class Deliverer:
    def __init__(
        self,
        db: Database,
        *,
        max_attempts: int,
        backoff_seconds: float,
        guard: EgressGuard | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.backoff = backoff_seconds
        self.guard = guard or EgressGuard([])
        # No redirects (a 30x could point anywhere), no proxy from the environment, and no kept-alive
        # connections: each POST opens a connection to the address the guard just checked.
        self.client = client or httpx.Client(
            timeout=10.0, follow_redirects=False, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def deliver_due(self, limit: int = 20) -> int:
        """Attempts every due delivery once; returns how many were attempted."""
        with self.db.session() as s:
            due = s.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow())
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            work = []
            for d in due:
                job = s.get(Job, d.job_id)
                owner = s.get(User, job.user_id) if job else None
                work.append((d, owner.webhook_secret if owner else ""))
                # claim: push the next attempt out so a parallel deliverer skips it meanwhile
                d.next_attempt_at = utcnow() + timedelta(seconds=60)
        for delivery, secret in work:
            self._attempt(delivery, secret)
        return len(work)

    def _attempt(self, delivery: WebhookDelivery, secret: str) -> None:
        body = delivery.payload.encode()
        error: str | None = None
        try:
            target = self.guard.resolve(delivery.url)
            r = self.client.post(
                target.pinned_url,
                content=body,
                headers={
                    "Host": target.host_header,
                    "Content-Type": "application/json",
                    HEADER: sign(secret, body, int(time.time())),
                    "User-Agent": "scenecraft-webhooks",
                },
                extensions={"sni_hostname": target.host},
            )
            if not 200 <= r.status_code < 300:
                error = f"HTTP {r.status_code}"
        except TargetRefused as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self.db.session() as s:
            row = s.get(WebhookDelivery, delivery.id)
            if row is None:
                return
            row.attempts += 1
            if error is None:
                row.status, row.last_error = "delivered", None
            elif row.attempts >= self.max_attempts:
                row.status, row.last_error = "failed", error
            else:
                row.last_error = error
                row.next_attempt_at = utcnow() + timedelta(seconds=self.backoff * 2 ** (row.attempts - 1))
