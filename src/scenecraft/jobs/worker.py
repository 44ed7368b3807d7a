"""Workers: claim a batch of jobs of one kind and hand it to that kind's handler.

    claim (lease, affinity to the resident model) ──► HANDLERS[kind](lease)   (jobs/handlers/)
        │                                               generate: one forward pass per batch
        ▼                                               effects: one chain on a stored version
    heartbeat thread renews the lease every lease/3 s (jobs/lease.py)

A worker killed at any point loses nothing: its lease expires, another worker claims the job and,
generation being deterministic by seed, produces the same image. Writes guarded by
`lease_owner = me` mean a worker that lost its lease cannot clobber the rerun's result.

`WorkerPool` runs N such workers as threads of one process, sharing one engine (so one resident
model, loaded once), plus a maintenance thread (webhooks, expired nonces).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from scenecraft.db import Database
from scenecraft.db.models import utcnow
from scenecraft.jobs import queue
from scenecraft.jobs.engine import Engine
from scenecraft.jobs.events import EventBus
from scenecraft.jobs.handlers import HANDLERS
from scenecraft.jobs.lease import Claimed, Lease, WorkerContext
from scenecraft.jobs.params import parse_params
from scenecraft.jobs.queue import QueuePolicy
from scenecraft.jobs.webhooks import Deliverer
from scenecraft.observability import Metrics
from scenecraft.storage.store import BlobStore

log = structlog.get_logger("scenecraft.worker")


class Worker:
    def __init__(
        self,
        *,
        db: Database,
        store: BlobStore,
        bus: EventBus,
        policy: QueuePolicy,
        engine: Engine,
        worker_id: str | None = None,
        metrics: Metrics | None = None,
        preview_every: int = 1,
    ) -> None:
        self.ctx = WorkerContext(
            db=db,
            store=store,
            bus=bus,
            policy=policy,
            worker_id=worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            metrics=metrics,
            preview_every=preview_every,
            engine=engine,
        )

    @property
    def worker_id(self) -> str:
        return self.ctx.worker_id

    def resident_model(self) -> str | None:
        """The model the engine holds now (affinity); engines that do not say have none."""
        resident = getattr(self.ctx.engine, "resident_model", None)
        return resident() if callable(resident) else None

    def run_once(self) -> int:
        """Claims and runs one batch; returns the number of jobs it took (0: queue empty)."""
        ctx = self.ctx
        with ctx.db.session() as s:
            rows = queue.claim(s, ctx.worker_id, ctx.policy, resident_model=self.resident_model())
            claimed = [
                Claimed(j.id, j.user_id, parse_params(dict(j.params), j.kind), j.created_at, j.attempts) for j in rows
            ]
        if not claimed:
            return 0
        for job in claimed:
            ctx.bus.publish(job.id)
            if ctx.metrics is not None and job.attempts == 1:
                ctx.metrics.job_phase.labels("queued").observe((utcnow() - job.created_at).total_seconds())
        kind = claimed[0].params.kind
        log.info("batch claimed", worker=ctx.worker_id, kind=kind, jobs=[j.id for j in claimed])
        HANDLERS[kind](Lease(ctx, claimed))
        return len(claimed)


class WorkerPool:
    """N worker threads plus one maintenance thread (webhooks, expired nonces) in one process."""

    def __init__(
        self,
        *,
        db: Database,
        store: BlobStore,
        bus: EventBus,
        policy: QueuePolicy,
        engine_factory: Callable[[], Engine],
        count: int = 1,
        metrics: Metrics | None = None,
        preview_every: int = 1,
        poll_seconds: float = 0.5,
        deliverer: Deliverer | None = None,
        warm_model: str | None = None,
    ) -> None:
        self.db, self.store, self.bus, self.policy = db, store, bus, policy
        self.engine_factory = engine_factory
        self.count = count
        self.metrics = metrics
        self.heartbeat = metrics.watch_workers() if metrics is not None else None
        self.preview_every = preview_every
        self.poll_seconds = poll_seconds
        self.deliverer = deliverer
        self.warm_model = warm_model
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loops: list[threading.Thread] = []
        self._worker_ids: list[str] = []
        self._engine: Engine | None = None
        self._model_state = "loading"

    @classmethod
    def from_platform(cls, platform: Any, count: int) -> WorkerPool:
        from scenecraft.jobs.engine import PipelineEngine

        settings = platform.settings
        return cls(
            db=platform.db,
            store=platform.store,
            bus=platform.bus,
            policy=platform.policy,
            engine_factory=lambda: PipelineEngine.from_settings(settings, metrics=platform.metrics),
            count=count,
            metrics=platform.metrics,
            preview_every=settings.preview_every_steps,
            deliverer=Deliverer(
                platform.db,
                max_attempts=settings.webhook_max_attempts,
                backoff_seconds=settings.webhook_backoff_seconds,
                guard=platform.egress,
            ),
            warm_model=settings.model,
        )

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.engine_factory()
        return self._engine

    def model_status(self) -> str:
        return self._model_state

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._threads.append(threading.Thread(target=self._warm, name="engine-warm", daemon=True))
        self._loops = [
            threading.Thread(target=self._loop, args=(i,), name=f"worker-{i}", daemon=True) for i in range(self.count)
        ]
        self._threads += self._loops
        self._threads.append(threading.Thread(target=self._maintain, name="maintenance", daemon=True))
        for t in self._threads:
            t.start()

    def _warm(self) -> None:
        try:
            engine = self.engine()
            if self.warm_model is not None and hasattr(engine, "load"):
                engine.load(self.warm_model)
            self._model_state = "ok"
        except Exception as exc:
            self._model_state = f"error: {type(exc).__name__}: {exc}"
            log.exception("engine failed to load")

    def _loop(self, index: int) -> None:
        worker = Worker(
            db=self.db,
            store=self.store,
            bus=self.bus,
            policy=self.policy,
            engine=self.engine(),
            metrics=self.metrics,
            preview_every=self.preview_every,
        )
        self._worker_ids.append(worker.worker_id)
        while not self._stop.is_set():
            if self.heartbeat is not None:
                self.heartbeat.set_to_current_time()
            try:
                took = worker.run_once()
            except Exception:
                log.exception("worker loop error", worker=worker.worker_id)
                took = 0
                self._stop.wait(1.0)
            if took == 0:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def _maintain(self) -> None:
        from scenecraft.auth.api_keys import purge_nonces

        last_purge = 0.0
        while not self._stop.wait(1.0):
            try:
                if self.deliverer is not None:
                    self.deliverer.deliver_due()
                if time.monotonic() - last_purge > 60:
                    with self.db.session() as s:
                        purge_nonces(s)
                    last_purge = time.monotonic()
            except Exception:
                log.exception("maintenance error")

    def stop(self, grace_seconds: float = 30.0) -> list[str]:
        """Drains (SIGTERM): claims nothing more, lets the batches in hand finish for up to
        `grace_seconds`, then releases whatever is still held at once (queue.release_owned) so
        another worker takes it now, not after the lease. Returns the ids released."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + grace_seconds
        for t in self._loops:
            t.join(max(0.0, deadline - time.monotonic()))
        released: list[str] = []
        if any(t.is_alive() for t in self._loops):
            with self.db.session() as s:
                for worker_id in self._worker_ids:
                    released += queue.release_owned(s, worker_id)
            for job_id in released:
                self.bus.publish(job_id)
            log.warning("drain grace ran out; jobs released to other workers", jobs=released)
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()) + 2.0)  # a released batch stops at its next step
        self._threads.clear()
        self._loops.clear()
        return released
