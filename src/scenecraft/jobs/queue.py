"""The durable job queue: the job row is the truth (DESIGN.md, key decision 6).

Life of a job::

    queued --claim--> running --complete--> succeeded
      ^                 |  \\--fail (attempts < max)--> queued again after a backoff
      |                 |   \\-fail (attempts = max)--> dead (error kept)
      |                 \\--lease expires (worker died)--> queued again (counts as an attempt)
      \\--cancel--> cancelled        running --cancel--> cancel_requested, worker stops at next step

Fair scheduling: among due jobs, a claim prefers the user with the fewest jobs running, then the
higher priority, then the older job; users at `quota_max_running` are skipped. On PostgreSQL the
claim locks rows with FOR UPDATE SKIP LOCKED, so many workers claim in parallel without blocking
on, or double-claiming, each other's rows; on SQLite the write lock serialises claims.

A worker holds a lease (`lease_expires_at`) and renews it by heartbeat; every write a worker makes
is guarded by `lease_owner = me AND status = 'running'`, so a worker that lost its lease (and whose
job another worker re-ran) cannot overwrite the newer result.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from scenecraft.db.models import Job, JobEvent, utcnow
from scenecraft.jobs import webhooks

TERMINAL = ("succeeded", "dead", "cancelled")
ACTIVE = ("queued", "running")


class QuotaExceeded(Exception):
    pass


class IdempotencyConflict(Exception):
    """The key was used before with a different request body."""


@dataclass(frozen=True)
class QueuePolicy:
    lease_seconds: float = 30.0
    max_attempts: int = 3
    retry_backoff_seconds: float = 5.0
    max_batch_size: int = 4
    quota_max_queued: int = 50
    quota_max_running: int = 2


EFFECTS_KIND = "effects"  # params["kind"] of a job that renders a chain on a stored asset version


def request_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def batch_key(params: dict[str, Any]) -> str:
    """Jobs with equal keys can share one forward pass: same model, variant, size, steps, sampler, guidance.
    Effects jobs (kind "effects") have no forward pass to share: each gets a key of its own."""
    if params.get("kind") == EFFECTS_KIND:
        return f"{EFFECTS_KIND}:{uuid.uuid4().hex}"
    keys = ("model", "variant", "width", "height", "steps", "sampler", "guidance")
    return "|".join(str(params.get(k)) for k in keys)


def enqueue(
    session: Session,
    *,
    user_id: str,
    params: dict[str, Any],
    policy: QueuePolicy,
    idempotency_key: str | None = None,
    priority: int = 0,
    webhook_url: str | None = None,
) -> tuple[Job, bool]:
    """Adds a job in the caller's transaction. Returns (job, created); an idempotency key that was
    seen before returns the first job (created=False), or raises if the body differs."""
    digest = request_hash({**params, "priority": priority, "webhook_url": webhook_url})
    if idempotency_key is not None:
        existing = session.scalar(select(Job).where(Job.user_id == user_id, Job.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.request_hash != digest:
                raise IdempotencyConflict(
                    f"Idempotency-Key {idempotency_key!r} was already used with a different request"
                )
            return existing, False
    active = session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user_id, Job.status.in_(ACTIVE)))
    if (active or 0) >= policy.quota_max_queued:
        raise QuotaExceeded(f"you have {active} jobs queued or running; the quota is {policy.quota_max_queued}")
    job = Job(
        user_id=user_id,
        status="queued",
        priority=priority,
        idempotency_key=idempotency_key,
        request_hash=digest,
        params=params,
        batch_key=batch_key(params),
        webhook_url=webhook_url,
        max_attempts=policy.max_attempts,
        available_at=utcnow(),
    )
    session.add(job)
    session.flush()
    add_event(session, job.id, "status", {"status": "queued"})
    return job, True


def add_event(session: Session, job_id: str, kind: str, data: dict[str, Any]) -> JobEvent:
    seq = (session.scalar(select(func.max(JobEvent.seq)).where(JobEvent.job_id == job_id)) or 0) + 1
    event = JobEvent(job_id=job_id, seq=seq, kind=kind, data=json.dumps(data, separators=(",", ":")))
    session.add(event)
    session.flush()
    return event


def cancel(session: Session, job: Job) -> str:
    """Cancels a queued job at once; asks a running one to stop (the worker checks each step).
    Returns the job's status afterwards."""
    if job.status == "queued":
        job.status, job.finished_at = "cancelled", utcnow()
        add_event(session, job.id, "cancelled", {"status": "cancelled"})
        webhooks.schedule(session, job)
    elif job.status == "running":
        job.cancel_requested = True
    return job.status


# -- worker side ------------------------------------------------------------------------------
def _reap_expired(session: Session, now: datetime) -> None:
    """Running jobs whose lease ran out: their worker died. Requeue, or dead after max attempts."""
    expired = session.scalars(
        select(Job).where(Job.status == "running", Job.lease_expires_at < now).with_for_update(skip_locked=True)
    ).all()
    for job in expired:
        job.lease_owner = job.lease_expires_at = None
        if job.cancel_requested:
            job.status, job.finished_at = "cancelled", now
            add_event(session, job.id, "cancelled", {"status": "cancelled"})
            webhooks.schedule(session, job)
        elif job.attempts >= job.max_attempts:
            job.status, job.finished_at = "dead", now
            job.error = f"worker lost (lease expired) on attempt {job.attempts} of {job.max_attempts}"
            add_event(session, job.id, "failed", {"error": job.error, "dead": True})
            webhooks.schedule(session, job)
        else:
            job.status, job.available_at = "queued", now


def claim(session: Session, worker_id: str, policy: QueuePolicy, now: datetime | None = None) -> list[Job]:
    """Claims the fairest due job and up to max_batch_size-1 compatible ones; commits nothing.

    Running counts per user are aggregated once per claim (not once per candidate row), so a
    claim costs one sort of the due jobs however many are running.
    """
    now = now or utcnow()
    _reap_expired(session, now)
    running = (
        select(Job.user_id.label("user_id"), func.count().label("n"))
        .where(Job.status == "running")
        .group_by(Job.user_id)
        .cte("running_per_user")
        .prefix_with("MATERIALIZED")  # computed once, not once per candidate row
    )
    busy = func.coalesce(running.c.n, 0)
    due = (
        select(Job)
        .outerjoin(running, running.c.user_id == Job.user_id)
        .where(Job.status == "queued", Job.available_at <= now, busy < policy.quota_max_running)
        .order_by(busy, Job.priority.desc(), Job.created_at, Job.id)
    )
    first = session.scalars(due.limit(1).with_for_update(skip_locked=True, of=Job)).first()
    if first is None:
        return []
    jobs = [first]
    if policy.max_batch_size > 1:
        jobs += session.scalars(
            due.where(Job.batch_key == first.batch_key, Job.id != first.id)
            .limit(policy.max_batch_size - 1)
            .with_for_update(skip_locked=True, of=Job)
        ).all()
    expires = now + timedelta(seconds=policy.lease_seconds)
    for job in jobs:
        job.status, job.lease_owner, job.lease_expires_at = "running", worker_id, expires
        job.attempts += 1
        job.started_at = job.started_at or now
        add_event(session, job.id, "status", {"status": "running", "attempt": job.attempts})
    session.flush()
    return jobs


def _held(worker_id: str) -> Any:
    return (Job.lease_owner == worker_id) & (Job.status == "running")


def heartbeat(session: Session, worker_id: str, job_ids: list[str], policy: QueuePolicy) -> dict[str, bool]:
    """Renews leases; returns {job_id: cancel_requested} for the jobs this worker still holds."""
    now = utcnow()
    session.execute(
        update(Job)
        .where(Job.id.in_(job_ids), _held(worker_id))
        .values(lease_expires_at=now + timedelta(seconds=policy.lease_seconds))
    )
    rows = session.execute(select(Job.id, Job.cancel_requested).where(Job.id.in_(job_ids), _held(worker_id)))
    return {job_id: bool(flag) for job_id, flag in rows}


def held_job(session: Session, worker_id: str, job_id: str) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, _held(worker_id)).with_for_update())


def mark_succeeded(session: Session, job: Job, asset_id: str) -> None:
    job.status, job.asset_id, job.finished_at = "succeeded", asset_id, utcnow()
    job.lease_owner = job.lease_expires_at = None
    job.progress_step = job.progress_total
    add_event(session, job.id, "done", {"asset_id": asset_id, "status": "succeeded"})
    webhooks.schedule(session, job)


def mark_cancelled(session: Session, job: Job) -> None:
    job.status, job.finished_at = "cancelled", utcnow()
    job.lease_owner = job.lease_expires_at = None
    add_event(session, job.id, "cancelled", {"status": "cancelled"})
    webhooks.schedule(session, job)


def mark_failed(session: Session, job: Job, error: str, policy: QueuePolicy, *, retryable: bool = True) -> None:
    """Requeues with exponential backoff (base * 2^(attempt-1)), or dead after the last attempt."""
    now = utcnow()
    job.lease_owner = job.lease_expires_at = None
    job.error = error
    if retryable and job.attempts < job.max_attempts:
        delay = policy.retry_backoff_seconds * 2 ** (job.attempts - 1)
        job.status, job.available_at = "queued", now + timedelta(seconds=delay)
        add_event(
            session,
            job.id,
            "status",
            {"status": "queued", "error": error, "attempt": job.attempts, "retry_in_s": delay},
        )
    else:
        job.status, job.finished_at = "dead", now
        add_event(session, job.id, "failed", {"error": error, "dead": True, "attempts": job.attempts})
        webhooks.schedule(session, job)


def release(session: Session, job: Job) -> None:
    """Gives a claimed job back untouched (a batch mate was cancelled): no attempt is counted."""
    job.status, job.lease_owner, job.lease_expires_at = "queued", None, None
    job.attempts = max(0, job.attempts - 1)


def queue_depth(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: int(n) for status, n in rows}
