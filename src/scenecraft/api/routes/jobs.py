"""Jobs: submit (idempotent), status, list (own, paginated), cancel, and the live event stream."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import and_, or_, select

from scenecraft import audit
from scenecraft.api.deps import ClientIP, JobsRead, JobsWrite, PlatformDep, SessionDep, not_found, too_many
from scenecraft.api.schemas import JobAccepted, JobCreate, JobPage, JobPublic, Progress
from scenecraft.db.models import Asset, Job, JobEvent
from scenecraft.jobs import queue
from scenecraft.variants import get_variant

router = APIRouter(tags=["jobs"])
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
TERMINAL_EVENTS = ("done", "failed", "cancelled")
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
# One cost unit = one 64x64 image at 20 steps; bigger or longer jobs cost proportionally more.
UNIT = 64 * 64 * 20


def job_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        priority=job.priority,
        params=job.params,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        cancel_requested=job.cancel_requested,
        progress=Progress(step=job.progress_step, total=job.progress_total),
        error=job.error,
        asset_id=job.asset_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def owned_job(session: Any, job_id: str, user_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.user_id != user_id:  # another user's job is "not found", never "forbidden"
        raise not_found("job", job_id)
    assert isinstance(job, Job)
    return job


def generation_cost(body: JobCreate, steps: int) -> int:
    return max(1, math.ceil(body.width * body.height * steps / UNIT))


def job_steps(body: JobCreate, checkpoint: str | None) -> int:
    """The steps a job runs: as asked, else its variant's (a platform serving its own checkpoint: 20)."""
    if body.steps is not None:
        return body.steps
    return 20 if checkpoint is not None else get_variant(body.variant).steps


@router.post(
    "/v1/jobs",
    response_model=JobAccepted,
    status_code=202,
    responses={
        409: {"description": "Idempotency-Key reused with another body"},
        429: {"description": "quota or rate limit"},
    },
)
def submit_job(
    body: JobCreate,
    response: Response,
    principal: JobsWrite,
    platform: PlatformDep,
    session: SessionDep,
    ip: ClientIP,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$"),
    ] = None,
) -> JobAccepted:
    user = principal.user
    steps = job_steps(body, platform.settings.checkpoint)
    verdict = platform.limiter.hit(
        platform.settings.rate_limit_generation, "gen", user.id, cost=generation_cost(body, steps)
    )
    if not verdict.allowed:
        raise too_many(verdict, "generation (weighted by size and steps)")
    if body.scene_asset_id is not None:
        scene = session.get(Asset, body.scene_asset_id)
        if scene is None or scene.user_id != user.id:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                [
                    {
                        "loc": ["body", "scene_asset_id"],
                        "type": "not_found",
                        "msg": f"scene_asset_id {body.scene_asset_id} is not one of your assets",
                    }
                ],
            )
    params = body.model_dump(mode="json", exclude={"priority", "webhook_url"})
    params["steps"] = steps  # the variant's own when the request gives none; stored, so reruns match
    if idempotency_key is not None and params["seed"] is None:
        # the seed must not make a retried request look different: derive it from the key
        params["seed"] = int(hashlib.sha256(idempotency_key.encode()).hexdigest()[:8], 16)
    elif params["seed"] is None:
        params["seed"] = secrets.randbelow(2**31)
    try:
        job, created = queue.enqueue(
            session,
            user_id=user.id,
            params=params,
            policy=platform.policy,
            idempotency_key=idempotency_key,
            priority=body.priority,
            webhook_url=str(body.webhook_url) if body.webhook_url else None,
        )
    except queue.IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except queue.QuotaExceeded as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": "30"}) from None
    if created:
        audit.append(
            session,
            "job.submitted",
            actor_id=user.id,
            target=job.id,
            detail={"model": params["model"], "size": params["width"], "steps": params["steps"]},
            ip=ip,
        )
    else:
        response.headers["Idempotent-Replayed"] = "true"
    session.commit()
    if created:
        platform.bus.publish(job.id)
        if platform.workers is not None:
            platform.workers.wake()
    return JobAccepted(id=job.id, status=job.status)


@router.get("/v1/jobs/{job_id}", response_model=JobPublic, responses={404: {"description": "not found"}})
def get_job(job_id: JobId, principal: JobsRead, session: SessionDep) -> JobPublic:
    return job_public(owned_job(session, job_id, principal.user.id))


def _encode_cursor(job: Job) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at.isoformat()}|{job.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        when, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(when), job_id
    except (ValueError, binascii.Error):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["query", "cursor"],
                    "type": "value_error",
                    "msg": "cursor is not one this API returned; pass next_cursor from the previous page",
                }
            ],
        ) from None


@router.get("/v1/jobs", response_model=JobPage)
def list_jobs(
    principal: JobsRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status_filter: Annotated[
        str | None, Query(alias="status", pattern="^(queued|running|succeeded|dead|cancelled)$")
    ] = None,
) -> JobPage:
    q = select(Job).where(Job.user_id == principal.user.id)
    if status_filter:
        q = q.where(Job.status == status_filter)
    if cursor:
        when, last_id = _decode_cursor(cursor)
        q = q.where(or_(Job.created_at < when, and_(Job.created_at == when, Job.id < last_id)))
    rows = session.scalars(q.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return JobPage(items=[job_public(j) for j in rows], next_cursor=_encode_cursor(rows[-1]) if more else None)


@router.post("/v1/jobs/{job_id}/cancel", response_model=JobPublic, responses={404: {"description": "not found"}})
def cancel_job(
    job_id: JobId, principal: JobsWrite, platform: PlatformDep, session: SessionDep, ip: ClientIP
) -> JobPublic:
    job = owned_job(session, job_id, principal.user.id)
    if job.status in queue.TERMINAL:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} already ended ({job.status})")
    queue.cancel(session, job)
    audit.append(session, "job.cancelled", actor_id=principal.user.id, target=job.id, ip=ip)
    session.commit()
    platform.bus.publish(job.id)
    return job_public(job)


def _events_after(platform: Any, job_id: str, after: int) -> list[tuple[int, str, str]]:
    with platform.db.sessions() as s:
        rows = s.execute(
            select(JobEvent.seq, JobEvent.kind, JobEvent.data)
            .where(JobEvent.job_id == job_id, JobEvent.seq > after)
            .order_by(JobEvent.seq)
            .limit(500)
        ).all()
    return [(int(seq), kind, data) for seq, kind, data in rows]


@router.get(
    "/v1/jobs/{job_id}/events",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events: status, progress, preview (JPEG, base64), done, failed, "
            "cancelled. Each has an id; reconnect with Last-Event-ID to resume.",
        },
        404: {"description": "not found"},
    },
)
def job_events(
    job_id: JobId,
    request: Request,
    principal: JobsRead,
    platform: PlatformDep,
    session: SessionDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20, pattern=r"^[0-9]*$")] = None,
) -> StreamingResponse:
    owned_job(session, job_id, principal.user.id)
    session.close()
    start = int(last_event_id) if last_event_id else 0

    async def stream() -> AsyncIterator[str]:
        last, quiet = start, 0.0
        yield "retry: 2000\n\n"
        while True:
            for seq, kind, data in await run_in_threadpool(_events_after, platform, job_id, last):
                yield f"id: {seq}\nevent: {kind}\ndata: {data}\n\n"
                last = seq
                if kind in TERMINAL_EVENTS:
                    return
            if await request.is_disconnected():
                return
            if await platform.bus.wait(job_id, POLL_SECONDS):
                quiet = 0.0
            else:
                quiet += POLL_SECONDS
                if quiet >= KEEPALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet = 0.0

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
