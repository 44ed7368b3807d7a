"""Generate jobs: one forward pass for a batch of compatible jobs, then one stored asset per job.

    engine.generate(samples, callback, should_stop)
        callback: progress + preview events per job (each write guarded by the lease)
        should_stop: reads cancel flags and lease ownership from the DB every step
    per job, one transaction: PNG -> encrypted blob -> asset v1 -> job succeeded (+ webhook row)
    (a job with an `effects` chain: the chain is rendered first, then v1 raw + v2 effects, parent 1)

A job whose scene asset is gone fails alone; its batch mates go on.
"""

from __future__ import annotations

import base64
import io
import time

import structlog
from PIL import Image
from sqlalchemy import select

from scenecraft.db.models import AssetVersion
from scenecraft.jobs import png_metadata, queue
from scenecraft.jobs.effects_render import EffectsRejected, Rendered, render_png
from scenecraft.jobs.engine import Cancelled, RequestRejected, Sample
from scenecraft.jobs.lease import Claimed, Lease
from scenecraft.jobs.params import GenerateParams, to_row

log = structlog.get_logger("scenecraft.worker")
PREVIEW_QUALITY = 70


def encode_preview(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=PREVIEW_QUALITY)
    return base64.b64encode(buf.getvalue()).decode()


def params_of(job: Claimed) -> GenerateParams:
    assert isinstance(job.params, GenerateParams), f"job {job.id} is not a generate job"
    return job.params


def run(lease: Lease) -> None:
    ctx = lease.ctx
    halt_heartbeat = lease.start_heartbeat()

    def on_step(step: int, total: int, previews: list[Image.Image]) -> None:
        due = step % ctx.preview_every == 0 or step == total
        lease.progress(step, total, [encode_preview(p) if due else None for p in previews])

    started = time.perf_counter()
    samples = []
    for job in list(lease.jobs):
        try:
            samples.append(sample_of(lease, job))
        except LookupError as exc:
            lease.finish_failed([job], str(exc), retryable=False)
            lease.drop(job)
    if not lease.jobs:
        halt_heartbeat()
        return
    first = params_of(lease.jobs[0])
    try:
        images = ctx.engine.generate(
            samples,
            model=first.model,
            variant=first.variant,
            size=first.width if first.width == first.height else (first.height, first.width),
            steps=first.steps,
            sampler=first.sampler,
            guidance=first.guidance,
            callback=on_step,
            should_stop=lease.should_stop,
        )
    except Cancelled:
        lease.finish_cancelled()
        return
    except RequestRejected as exc:
        lease.finish_failed(None, f"rejected by the engine: {exc}", retryable=False)
        return
    except Exception as exc:
        log.exception("generation failed", worker=ctx.worker_id)
        lease.finish_failed(None, f"{type(exc).__name__}: {exc}", retryable=True)
        return
    finally:
        halt_heartbeat()
    if ctx.metrics is not None:
        ctx.metrics.job_phase.labels("generate").observe(time.perf_counter() - started)
    for job, image in zip(list(lease.jobs), images, strict=True):
        store_result(lease, job, image)


def sample_of(lease: Lease, job: Claimed) -> Sample:
    """A job's params as the engine's Sample; the scene asset's latest version is read here."""
    params = params_of(job)
    scene = None
    if params.scene_asset_id:
        with lease.ctx.db.session() as s:
            version = s.scalar(
                select(AssetVersion)
                .where(AssetVersion.asset_id == params.scene_asset_id)
                .order_by(AssetVersion.number.desc())
                .limit(1)
            )
            if version is None:
                raise LookupError(f"scene asset {params.scene_asset_id} no longer exists")
            scene = lease.ctx.store.read_version(s, version).data
    return Sample(
        seed=params.seed,
        class_label=params.class_label,
        prompt=params.prompt,
        negative_prompt=params.negative_prompt,
        subjects=tuple(params.subjects),
        scene=scene,
        inpaint=params.inpaint,
    )


def store_result(lease: Lease, job: Claimed, image: Image.Image) -> None:
    ctx = lease.ctx
    params = params_of(job)
    started = time.perf_counter()
    data = png_metadata.encode(image, job_id=job.id, request=to_row(params))  # the full request in its text chunks
    effects: Rendered | None = None
    if params.effects:
        try:  # rendered before the transaction: a failure stores nothing
            effects = render_png(params.effects, image)
        except EffectsRejected as exc:
            lease.finish_failed([job], f"effects rejected: {exc}", retryable=False)
            return
        except Exception as exc:
            log.exception("effects failed", job_id=job.id)
            lease.finish_failed([job], f"effects: {type(exc).__name__}: {exc}", retryable=True)
            return
    effects_png = png_metadata.carry(effects.png, data) if effects is not None else b""
    outcome = "lost"
    stored = params.model_dump(mode="json")
    with ctx.db.session() as s:
        row = queue.held_job(s, ctx.worker_id, job.id)
        if row is not None and row.cancel_requested:
            queue.mark_cancelled(s, row)
            outcome = "cancelled"
        elif row is not None:
            asset = ctx.store.create_asset(
                s,
                user_id=job.user_id,
                kind="generated",
                data=data,
                content_type="image/png",
                width=image.width,
                height=image.height,
                source_job_id=job.id,
                name=f"job-{job.id}",
                operation={"op": "generate", "job_id": job.id, "params": stored},
            )
            if effects is not None:
                ctx.store.add_version(
                    s,
                    asset,
                    data=effects_png,  # its request already names the effects
                    content_type="image/png",
                    width=effects.width,
                    height=effects.height,
                    operation={"op": "effects", "job_id": job.id, "chain": params.effects},
                    parent_number=1,
                )
            queue.mark_succeeded(s, row, asset.id)
            outcome = "succeeded"
    lease.finished(job, outcome, "store", time.perf_counter() - started)
    log.info("job finished", job_id=job.id, outcome=outcome)
