"""Jobs: submit (idempotent), status, list (own, paginated), cancel, and the live event stream."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import and_, or_, select

from scenecraft import audit
from scenecraft.api.deps import (
    ClientIP,
    JobsRead,
    JobsWrite,
    PlatformDep,
    SessionDep,
    charge_generation,
    field_error,
    not_found,
)
from scenecraft.api.errors import ApiError
from scenecraft.api.job_models import checked_params, resolve_model
from scenecraft.api.schemas import JobAccepted, JobCreate, JobPage, JobPublic, Progress
from scenecraft.api.submit import submit
from scenecraft.api.threads import finish_in_thread
from scenecraft.db.models import Asset, Job, JobEvent
from scenecraft.jobs import queue
from scenecraft.jobs.egress import TargetRefused
from scenecraft.jobs.params import GenerateParams

router = APIRouter(tags=["jobs"])
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
TERMINAL_EVENTS = ("done", "failed", "cancelled")
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
# One cost unit = one 256x256 image at 20 steps (anything smaller costs one unit too); bigger or
# longer jobs cost proportionally more: 1024x1024 at 200 steps is 160 units, within the default
# rate_limit_generation (200/minute). A job that costs more than the whole window (4096x4096) takes
# all of it (deps.charge_generation): it waits for an empty window, it is never refused forever.
UNIT = 256 * 256 * 20
MAX_EVENT_ID = 2**31 - 1  # job_events.seq is a 32-bit integer on both databases


def job_public(job: Job, session: Any = None) -> JobPublic:
    """The job as the API shows it; with a `session`, a queued job also gets its queue position."""
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
        queue_position=queue.queue_position(session, job) if session is not None else None,
    )


def owned_job(session: Any, job_id: str, user_id: str, *, lock: bool = False) -> Job:
    """The caller's job; `lock` takes its row lock (FOR UPDATE) for a read-then-write."""
    job = session.get(Job, job_id, with_for_update=lock)
    if job is None or job.user_id != user_id:  # another user's job is "not found", never "forbidden"
        raise not_found("job", job_id)
    assert isinstance(job, Job)
    return job


def generation_cost(width: int, height: int, steps: int) -> int:
    return max(1, math.ceil(width * height * steps / UNIT))


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
    entry = resolve_model(body, platform.library())
    values = checked_params(body, entry, has_variants=platform.settings.checkpoint is None)
    cost = generation_cost(values["width"], values["height"], values["steps"])
    charge_generation(platform, user.id, cost, "generation (weighted by size and steps)")
    if body.scene_asset_id is not None:
        scene = session.get(Asset, body.scene_asset_id)
        if scene is None or scene.user_id != user.id:
            message = f"scene_asset_id {body.scene_asset_id} is not one of your assets"
            raise field_error("scene_asset_id", "not_found", message)
    if body.webhook_url is not None:
        try:
            platform.egress.resolve(str(body.webhook_url))
        except TargetRefused as exc:
            raise field_error("webhook_url", "webhook_target", str(exc)) from None
    if idempotency_key is not None and values["seed"] is None:
        # the seed must not make a retried request look different: derive it from the key
        values["seed"] = int(hashlib.sha256(idempotency_key.encode()).hexdigest()[:8], 16)
    elif values["seed"] is None:
        values["seed"] = secrets.randbelow(2**31)
    params = GenerateParams(**values)
    job, created = submit(
        session,
        platform,
        user_id=user.id,
        params=params,
        audit_action="job.submitted",
        audit_detail={"model": params.model, "size": params.width, "steps": params.steps},
        ip=ip,
        idempotency_key=idempotency_key,
        priority=body.priority,
        webhook_url=str(body.webhook_url) if body.webhook_url else None,
    )
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return JobAccepted(id=job.id, status=job.status)


@router.get("/v1/jobs/{job_id}", response_model=JobPublic, responses={404: {"description": "not found"}})
def get_job(job_id: JobId, principal: JobsRead, session: SessionDep) -> JobPublic:
    return job_public(owned_job(session, job_id, principal.user.id), session)


def _encode_cursor(job: Job) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at.isoformat()}|{job.id}".encode()).decode()


_CURSOR_ID = re.compile(r"^[0-9a-f]{32}$")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(created_at, id) of the last job of the previous page. Everything is checked, so a forged
    cursor is a 422, never a database error: the time must carry its UTC offset, the id be a job id."""
    try:
        when, job_id = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii").split("|")
        created = datetime.fromisoformat(when)
        if created.tzinfo is None or not _CURSOR_ID.match(job_id):
            raise ValueError("not a cursor of ours")
        return created.astimezone(UTC), job_id
    except (ValueError, binascii.Error, UnicodeError, OverflowError):
        raise field_error(
            "cursor", "value_error", "cursor is not one this API returned; pass next_cursor from the previous page",
            where="query",
        ) from None


@router.get("/v1/jobs", response_model=JobPage)
def list_jobs(
    principal: JobsRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_=-]+$", description="next_cursor of the previous page")
    ] = None,
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
    return JobPage(items=[job_public(j, session) for j in rows], next_cursor=_encode_cursor(rows[-1]) if more else None)


@router.post(
    "/v1/jobs/{job_id}/cancel",
    response_model=JobPublic,
    responses={404: {"description": "not found"}, 409: {"description": "the job already ended"}},
)
def cancel_job(
    job_id: JobId, principal: JobsWrite, platform: PlatformDep, session: SessionDep, ip: ClientIP
) -> JobPublic:
    job = owned_job(session, job_id, principal.user.id, lock=True)  # concurrent cancels queue up here
    if job.status in queue.TERMINAL:
        raise ApiError(status.HTTP_409_CONFLICT, f"job {job_id} already ended ({job.status})", code="job_ended")
    if job.cancel_requested:  # running, already asked to stop: nothing new to record
        return job_public(job)
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
    last_event_id: Annotated[
        int, Header(alias="Last-Event-ID", ge=0, le=MAX_EVENT_ID, description="resume after this event id")
    ] = 0,
) -> StreamingResponse:
    owned_job(session, job_id, principal.user.id)
    session.close()
    start = last_event_id

    async def stream() -> AsyncIterator[str]:
        last, quiet = start, 0.0
        yield "retry: 2000\n\n"
        while True:
            for seq, kind, data in await finish_in_thread(partial(_events_after, platform, job_id, last)):
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
