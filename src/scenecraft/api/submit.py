"""The one submit sequence of every job kind: enqueue, audit, commit, publish, wake.

The job row and its audit record are written in the caller's transaction and committed together;
only then is the event bus told (so no stream hears of a job that is not there) and are in-process
workers woken (so a job is picked up at once instead of at the next poll).
"""

from __future__ import annotations

from typing import Any

from fastapi import status
from sqlalchemy.orm import Session

from scenecraft import audit
from scenecraft.api.deps import quota_exceeded
from scenecraft.api.errors import ApiError
from scenecraft.api.platform import Platform
from scenecraft.db.models import Job
from scenecraft.jobs import queue
from scenecraft.jobs.params import EffectsParams, GenerateParams


def submit(
    session: Session,
    platform: Platform,
    *,
    user_id: str,
    params: GenerateParams | EffectsParams,
    audit_action: str,
    audit_target: str | None = None,
    audit_detail: dict[str, Any] | None = None,
    ip: str = "",
    idempotency_key: str | None = None,
    priority: int = 0,
    webhook_url: str | None = None,
) -> tuple[Job, bool]:
    """Queues `params` for `user_id`; returns (job, created). A replayed Idempotency-Key returns
    the first job (created=False, nothing audited again). 409 for a key reused with another body,
    429 over the queue quota."""
    try:
        job, created = queue.enqueue(
            session,
            user_id=user_id,
            params=params,
            policy=platform.policy,
            idempotency_key=idempotency_key,
            priority=priority,
            webhook_url=webhook_url,
        )
    except queue.IdempotencyConflict as exc:
        raise ApiError(status.HTTP_409_CONFLICT, str(exc), code="idempotency_conflict") from None
    except queue.QuotaExceeded as exc:
        raise quota_exceeded(exc) from None
    if created:
        detail = {"job_id": job.id, **(audit_detail or {})}
        audit.append(session, audit_action, actor_id=user_id, target=audit_target or job.id, detail=detail, ip=ip)
    session.commit()
    if created:
        platform.bus.publish(job.id)
        if platform.workers is not None:
            platform.workers.wake()
    return job, created
