"""Workers: claim a batch of compatible jobs, run one forward pass for all of them, store results.

One batch, step by step::

    claim (lease) ──► heartbeat thread renews the lease every lease/3 s
        │
        ▼ engine.generate(samples, callback, should_stop)
        │   callback: progress + preview events per job (each write guarded by the lease)
        │   should_stop: reads cancel flags and lease ownership from the DB every step
        ▼
    per job, one transaction: PNG -> encrypted blob -> asset v1 -> job succeeded (+ webhook row)
    (a job with an `effects` chain: the chain is rendered first, then v1 raw + v2 effects, parent 1)

An effects job (params["kind"] == "effects", never batched) renders a chain on a stored version and
appends the result as a new version of the same asset, parent = the source, in one transaction.

A worker killed at any point loses nothing: its lease expires, another worker claims the job and,
generation being deterministic by seed, produces the same image. Writes guarded by
`lease_owner = me` mean a worker that lost its lease cannot clobber the rerun's result.
"""

from __future__ import annotations

import base64
import io
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from PIL import Image
from sqlalchemy import select, update

from scenecraft.db import Database
from scenecraft.db.models import Asset, AssetVersion, Job, utcnow
from scenecraft.jobs import queue
from scenecraft.jobs.effects_render import EffectsRejected, Rendered, decode, render_png
from scenecraft.jobs.engine import Cancelled, Engine, RequestRejected, Sample
from scenecraft.jobs.events import EventBus
from scenecraft.jobs.queue import QueuePolicy
from scenecraft.jobs.webhooks import Deliverer
from scenecraft.observability import Metrics
from scenecraft.storage.store import BlobStore

log = structlog.get_logger("scenecraft.worker")
PREVIEW_QUALITY = 70


@dataclass(frozen=True)
class Claimed:
    id: str
    user_id: str
    params: dict[str, Any]
    created_at: datetime
    attempts: int


def encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def encode_preview(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=PREVIEW_QUALITY)
    return base64.b64encode(buf.getvalue()).decode()


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
        self.db = db
        self.store = store
        self.bus = bus
        self.policy = policy
        self.engine = engine
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.metrics = metrics
        self.preview_every = preview_every

    # -- one batch ------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claims and runs one batch; returns the number of jobs it took (0: queue empty)."""
        with self.db.session() as s:
            rows = queue.claim(s, self.worker_id, self.policy)
            claimed = [Claimed(j.id, j.user_id, dict(j.params), j.created_at, j.attempts) for j in rows]
        if not claimed:
            return 0
        for job in claimed:
            self.bus.publish(job.id)
            if self.metrics is not None and job.attempts == 1:
                self.metrics.job_phase.labels("queued").observe((utcnow() - job.created_at).total_seconds())
        log.info("batch claimed", worker=self.worker_id, jobs=[j.id for j in claimed])
        if claimed[0].params.get("kind") == queue.EFFECTS_KIND:
            assert len(claimed) == 1, "effects jobs have batch keys of their own"
            self._run_effects(claimed[0])
        else:
            self._run_batch(claimed)
        return len(claimed)

    def _start_heartbeat(self, ids: list[str], lost: set[str], cancelled: set[str]) -> Callable[[], None]:
        """Renews the leases every lease/3 s until the returned function is called."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.policy.lease_seconds / 3):
                with self.db.session() as s:
                    held = queue.heartbeat(s, self.worker_id, ids, self.policy)
                lost.update(set(ids) - held.keys())
                cancelled.update(k for k, flag in held.items() if flag)

        heart = threading.Thread(target=beat, name=f"heartbeat-{ids[0][:8]}", daemon=True)
        heart.start()

        def halt() -> None:
            stop.set()
            heart.join()

        return halt

    def _run_batch(self, jobs: list[Claimed]) -> None:
        ids = [j.id for j in jobs]
        lost: set[str] = set()
        cancelled: set[str] = set()
        halt_heartbeat = self._start_heartbeat(ids, lost, cancelled)

        def should_stop() -> bool:
            with self.db.session() as s:
                rows = s.execute(
                    select(Job.id, Job.cancel_requested, Job.lease_owner, Job.status).where(Job.id.in_(ids))
                ).all()
            for job_id, flag, owner, status in rows:
                if flag:
                    cancelled.add(job_id)
                if owner != self.worker_id or status != "running":
                    lost.add(job_id)
            return bool(cancelled) or lost >= set(ids)

        def on_step(step: int, total: int, previews: list[Image.Image]) -> None:
            with self.db.session() as s:
                for job, preview in zip(jobs, previews, strict=True):
                    if job.id in lost:
                        continue
                    result = s.execute(
                        update(Job)
                        .where(Job.id == job.id, Job.lease_owner == self.worker_id, Job.status == "running")
                        .values(progress_step=step, progress_total=total)
                    )
                    if getattr(result, "rowcount", 1) == 0:
                        lost.add(job.id)
                        continue
                    queue.add_event(s, job.id, "progress", {"step": step, "total": total})
                    if step % self.preview_every == 0 or step == total:
                        queue.add_event(
                            s, job.id, "preview", {"step": step, "total": total, "jpeg": encode_preview(preview)}
                        )
            for job in jobs:
                self.bus.publish(job.id)

        first = jobs[0].params
        started = time.perf_counter()
        samples, runnable = [], []
        for job in jobs:  # a job whose scene asset is gone fails alone; its batch mates go on
            try:
                samples.append(self._sample(job))
                runnable.append(job)
            except LookupError as exc:
                self._finish_failed([job], str(exc), retryable=False)
        if not runnable:
            halt_heartbeat()
            return
        jobs = runnable
        try:
            images = self.engine.generate(
                samples,
                model=str(first["model"]),
                variant=first.get("variant"),
                size=int(first["width"]),
                steps=int(first["steps"]),
                sampler=str(first["sampler"]),
                guidance=float(first["guidance"]),
                callback=on_step,
                should_stop=should_stop,
            )
        except Cancelled:
            self._finish_cancelled(jobs)
            return
        except RequestRejected as exc:
            self._finish_failed(jobs, f"rejected by the engine: {exc}", retryable=False)
            return
        except Exception as exc:
            log.exception("generation failed", worker=self.worker_id)
            self._finish_failed(jobs, f"{type(exc).__name__}: {exc}", retryable=True)
            return
        finally:
            halt_heartbeat()
        if self.metrics is not None:
            self.metrics.job_phase.labels("generate").observe(time.perf_counter() - started)
        for job, image in zip(jobs, images, strict=True):
            self._store_result(job, image)

    def _sample(self, job: Claimed) -> Sample:
        """A job's params as the engine's Sample; the scene asset's latest version is read here."""
        params = job.params
        scene = None
        scene_id = params.get("scene_asset_id")
        if scene_id:
            with self.db.session() as s:
                version = s.scalar(
                    select(AssetVersion)
                    .where(AssetVersion.asset_id == scene_id)
                    .order_by(AssetVersion.number.desc())
                    .limit(1)
                )
                if version is None:
                    raise LookupError(f"scene asset {scene_id} no longer exists")
                scene = self.store.read_version(s, version).data
        return Sample(
            seed=int(params["seed"]),
            prompt=str(params.get("prompt") or ""),
            subjects=tuple(params.get("subjects") or ()),
            scene=scene,
            inpaint=bool(params.get("inpaint")),
        )

    # -- endings --------------------------------------------------------------------------
    def _store_result(self, job: Claimed, image: Image.Image) -> None:
        started = time.perf_counter()
        data = encode_png(image)
        effects: Rendered | None = None
        if job.params.get("effects"):
            try:  # rendered before the transaction: a failure stores nothing
                effects = render_png(job.params["effects"], image)
            except EffectsRejected as exc:
                self._finish_failed([job], f"effects rejected: {exc}", retryable=False)
                return
            except Exception as exc:
                log.exception("effects failed", job_id=job.id)
                self._finish_failed([job], f"effects: {type(exc).__name__}: {exc}", retryable=True)
                return
        outcome = "lost"
        with self.db.session() as s:
            row = queue.held_job(s, self.worker_id, job.id)
            if row is not None and row.cancel_requested:
                queue.mark_cancelled(s, row)
                outcome = "cancelled"
            elif row is not None:
                asset = self.store.create_asset(
                    s,
                    user_id=job.user_id,
                    kind="generated",
                    data=data,
                    content_type="image/png",
                    width=image.width,
                    height=image.height,
                    source_job_id=job.id,
                    name=f"job-{job.id}",
                    operation={"op": "generate", "job_id": job.id, "params": job.params},
                )
                if effects is not None:
                    self.store.add_version(
                        s,
                        asset,
                        data=effects.png,
                        content_type="image/png",
                        width=effects.width,
                        height=effects.height,
                        operation={"op": "effects", "job_id": job.id, "chain": job.params["effects"]},
                        parent_number=1,
                    )
                queue.mark_succeeded(s, row, asset.id)
                outcome = "succeeded"
        self.bus.publish(job.id)
        if self.metrics is not None:
            self.metrics.job_phase.labels("store").observe(time.perf_counter() - started)
            self.metrics.jobs_finished.labels(outcome).inc()
        log.info("job finished", job_id=job.id, outcome=outcome)

    def _run_effects(self, job: Claimed) -> None:
        """Render params["chain"] on version params["version"] of params["asset_id"]; store it as the
        asset's next version (parent = that version) and finish the job, in one transaction."""
        asset_id, number, chain = str(job.params["asset_id"]), int(job.params["version"]), job.params["chain"]
        lost: set[str] = set()
        cancelled: set[str] = set()
        halt_heartbeat = self._start_heartbeat([job.id], lost, cancelled)
        started = time.perf_counter()
        try:
            with self.db.session() as s:
                version = s.scalar(
                    select(AssetVersion).where(AssetVersion.asset_id == asset_id, AssetVersion.number == number)
                )
                source = None if version is None else self.store.read_version(s, version).data
            if source is None:
                self._finish_failed([job], f"version {number} of asset {asset_id} no longer exists", retryable=False)
                return
            rendered = render_png(chain, decode(source))
        except EffectsRejected as exc:
            self._finish_failed([job], f"effects rejected: {exc}", retryable=False)
            return
        except Exception as exc:
            log.exception("effects failed", job_id=job.id)
            self._finish_failed([job], f"{type(exc).__name__}: {exc}", retryable=True)
            return
        finally:
            halt_heartbeat()
        outcome = "lost"
        with self.db.session() as s:
            row = queue.held_job(s, self.worker_id, job.id)
            asset = s.get(Asset, asset_id)
            if row is not None and row.cancel_requested:
                queue.mark_cancelled(s, row)
                outcome = "cancelled"
            elif row is not None and asset is None:
                queue.mark_failed(s, row, f"asset {asset_id} was deleted", self.policy, retryable=False)
                outcome = "dead"
            elif row is not None and asset is not None:
                self.store.add_version(
                    s,
                    asset,
                    data=rendered.png,
                    content_type="image/png",
                    width=rendered.width,
                    height=rendered.height,
                    operation={"op": "effects", "job_id": job.id, "chain": chain},
                    parent_number=number,
                )
                queue.mark_succeeded(s, row, asset_id)
                outcome = "succeeded"
        self.bus.publish(job.id)
        if self.metrics is not None:
            self.metrics.job_phase.labels("effects").observe(time.perf_counter() - started)
            self.metrics.jobs_finished.labels(outcome).inc()
        log.info("effects job finished", job_id=job.id, outcome=outcome)

    def _finish_cancelled(self, jobs: list[Claimed]) -> None:
        with self.db.session() as s:
            for job in jobs:
                row = queue.held_job(s, self.worker_id, job.id)
                if row is None:
                    continue
                if row.cancel_requested:
                    queue.mark_cancelled(s, row)
                else:  # a batch mate was cancelled: give this one back, no attempt counted
                    queue.release(s, row)
        for job in jobs:
            self.bus.publish(job.id)

    def _finish_failed(self, jobs: list[Claimed], error: str, *, retryable: bool) -> None:
        with self.db.session() as s:
            for job in jobs:
                row = queue.held_job(s, self.worker_id, job.id)
                if row is not None:
                    queue.mark_failed(s, row, error, self.policy, retryable=retryable)
        if self.metrics is not None:
            self.metrics.errors.labels("job_failed").inc(len(jobs))
        for job in jobs:
            self.bus.publish(job.id)


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
        self.preview_every = preview_every
        self.poll_seconds = poll_seconds
        self.deliverer = deliverer
        self.warm_model = warm_model
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
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
            engine_factory=lambda: PipelineEngine(settings.checkpoint, settings.device, compile=settings.compile_model),
            count=count,
            metrics=platform.metrics,
            preview_every=settings.preview_every_steps,
            deliverer=Deliverer(
                platform.db,
                max_attempts=settings.webhook_max_attempts,
                backoff_seconds=settings.webhook_backoff_seconds,
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
        for i in range(self.count):
            self._threads.append(threading.Thread(target=self._loop, args=(i,), name=f"worker-{i}", daemon=True))
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
        while not self._stop.is_set():
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

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
