"""A worker's hold on the jobs it claimed: heartbeat, stop checks, and the endings every kind shares.

Every write here is guarded by `lease_owner = me AND status = 'running'` (queue.held_job), so a
worker that lost its lease (its job re-run by another) cannot overwrite the newer result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from scenecraft.db import Database
from scenecraft.db.models import Job
from scenecraft.jobs import queue
from scenecraft.jobs.events import EventBus
from scenecraft.jobs.params import EffectsParams, GenerateParams
from scenecraft.jobs.queue import QueuePolicy
from scenecraft.observability import Metrics
from scenecraft.storage.store import BlobStore


@dataclass(frozen=True)
class Claimed:
    id: str
    user_id: str
    params: GenerateParams | EffectsParams
    created_at: datetime
    attempts: int


@dataclass
class WorkerContext:
    """What a handler needs of its worker: the stores, the bus, the policy, its identity."""

    db: Database
    store: BlobStore
    bus: EventBus
    policy: QueuePolicy
    worker_id: str
    metrics: Metrics | None = None
    preview_every: int = 1
    engine: Any = None  # jobs.engine.Engine, for generate jobs


@dataclass
class Lease:
    """The jobs of one batch while a handler runs them; `lost` and `cancelled` fill as it goes."""

    ctx: WorkerContext
    jobs: list[Claimed]
    lost: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)

    @property
    def ids(self) -> list[str]:
        return [j.id for j in self.jobs]

    def start_heartbeat(self) -> Callable[[], None]:
        """Renews the leases every lease/3 s until the returned function is called."""
        stop = threading.Event()
        ids = self.ids

        def beat() -> None:
            while not stop.wait(self.ctx.policy.lease_seconds / 3):
                with self.ctx.db.session() as s:
                    held = queue.heartbeat(s, self.ctx.worker_id, ids, self.ctx.policy)
                metrics = self.ctx.metrics
                if metrics is not None and metrics.worker_heartbeat is not None:
                    metrics.worker_heartbeat.set_to_current_time()
                self.lost.update(set(ids) - held.keys())
                self.cancelled.update(k for k, flag in held.items() if flag)

        heart = threading.Thread(target=beat, name=f"heartbeat-{ids[0][:8]}", daemon=True)
        heart.start()

        def halt() -> None:
            stop.set()
            heart.join()

        return halt

    def should_stop(self) -> bool:
        """Reads cancel flags and lease ownership: True when a job was cancelled or all are lost."""
        ids = self.ids
        with self.ctx.db.session() as s:
            rows = s.execute(
                select(Job.id, Job.cancel_requested, Job.lease_owner, Job.status).where(Job.id.in_(ids))
            ).all()
        for job_id, flag, owner, status in rows:
            if flag:
                self.cancelled.add(job_id)
            if owner != self.ctx.worker_id or status != "running":
                self.lost.add(job_id)
        return bool(self.cancelled) or self.lost >= set(ids)

    def progress(self, step: int, total: int, previews: list[str | None]) -> None:
        """Progress (and a preview, base64 JPEG, where given) for each job still held."""
        with self.ctx.db.session() as s:
            for job, preview in zip(self.jobs, previews, strict=True):
                if job.id in self.lost:
                    continue
                result = s.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.lease_owner == self.ctx.worker_id, Job.status == "running")
                    .values(progress_step=step, progress_total=total)
                )
                if getattr(result, "rowcount", 1) == 0:
                    self.lost.add(job.id)
                    continue
                queue.add_event(s, job.id, "progress", {"step": step, "total": total})
                if preview is not None:
                    queue.add_event(s, job.id, "preview", {"step": step, "total": total, "jpeg": preview})
        self.publish()

    def publish(self, jobs: list[Claimed] | None = None) -> None:
        for job in jobs if jobs is not None else self.jobs:
            self.ctx.bus.publish(job.id)

    def drop(self, job: Claimed) -> None:
        """Takes a job out of the batch (it ended on its own, e.g. its scene asset is gone)."""
        self.jobs = [j for j in self.jobs if j.id != job.id]

    # -- endings --------------------------------------------------------------------------
    def finish_cancelled(self, jobs: list[Claimed] | None = None) -> None:
        """Cancelled jobs end; their batch mates are given back untouched (no attempt counted)."""
        jobs = jobs if jobs is not None else self.jobs
        with self.ctx.db.session() as s:
            for job in jobs:
                row = queue.held_job(s, self.ctx.worker_id, job.id)
                if row is None:
                    continue
                if row.cancel_requested:
                    queue.mark_cancelled(s, row)
                else:
                    queue.release(s, row)
        self.publish(jobs)

    def finish_failed(self, jobs: list[Claimed] | None, error: str, *, retryable: bool) -> None:
        jobs = jobs if jobs is not None else self.jobs
        with self.ctx.db.session() as s:
            for job in jobs:
                row = queue.held_job(s, self.ctx.worker_id, job.id)
                if row is not None:
                    queue.mark_failed(s, row, error, self.ctx.policy, retryable=retryable)
        if self.ctx.metrics is not None:
            self.ctx.metrics.errors.labels("job_failed").inc(len(jobs))
        self.publish(jobs)

    def finished(self, job: Claimed, outcome: str, phase: str, seconds: float) -> None:
        """Counts one job's ending in the metrics and wakes its event streams."""
        self.ctx.bus.publish(job.id)
        if self.ctx.metrics is not None:
            self.ctx.metrics.job_phase.labels(phase).observe(seconds)
            self.ctx.metrics.jobs_finished.labels(outcome).inc()
