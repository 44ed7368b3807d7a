"""Effects jobs: render a chain on a stored version and append the result as the asset's next
version (parent = the source), finishing the job in the same transaction. Never batched."""

from __future__ import annotations

import time
from dataclasses import replace

import structlog
from sqlalchemy import select

from scenecraft.db.models import Asset, AssetVersion
from scenecraft.jobs import png_metadata, queue
from scenecraft.jobs.effects_render import EffectsRejected, Rendered, decode, render_png
from scenecraft.jobs.lease import Lease
from scenecraft.jobs.params import EffectsParams

log = structlog.get_logger("scenecraft.worker")


def run(lease: Lease) -> None:
    assert len(lease.jobs) == 1, "effects jobs have batch keys of their own"
    (job,) = lease.jobs
    params = job.params
    assert isinstance(params, EffectsParams)
    ctx = lease.ctx
    halt_heartbeat = lease.start_heartbeat()
    started = time.perf_counter()
    try:
        rendered = _render(lease, params)
        if rendered is None:
            return
    except EffectsRejected as exc:
        lease.finish_failed(None, f"effects rejected: {exc}", retryable=False)
        return
    except Exception as exc:
        log.exception("effects failed", job_id=job.id)
        lease.finish_failed(None, f"{type(exc).__name__}: {exc}", retryable=True)
        return
    finally:
        halt_heartbeat()
    outcome = "lost"
    with ctx.db.session() as s:
        row = queue.held_job(s, ctx.worker_id, job.id)
        asset = s.get(Asset, params.asset_id)
        if row is not None and row.cancel_requested:
            queue.mark_cancelled(s, row)
            outcome = "cancelled"
        elif row is not None and asset is None:
            queue.mark_failed(s, row, f"asset {params.asset_id} was deleted", ctx.policy, retryable=False)
            outcome = "dead"
        elif row is not None and asset is not None:
            ctx.store.add_version(
                s,
                asset,
                data=rendered.png,
                content_type="image/png",
                width=rendered.width,
                height=rendered.height,
                operation={"op": "effects", "job_id": job.id, "chain": params.chain},
                parent_number=params.version,
            )
            queue.mark_succeeded(s, row, params.asset_id)
            outcome = "succeeded"
    lease.finished(job, outcome, "effects", time.perf_counter() - started)
    log.info("effects job finished", job_id=job.id, outcome=outcome)


def _render(lease: Lease, params: EffectsParams) -> Rendered | None:
    """The rendered chain, or None when the source version is gone (the job is then failed)."""
    with lease.ctx.db.session() as s:
        version = s.scalar(
            select(AssetVersion).where(AssetVersion.asset_id == params.asset_id, AssetVersion.number == params.version)
        )
        source = None if version is None else lease.ctx.store.read_version(s, version).data
    if source is None:
        lease.finish_failed(
            None, f"version {params.version} of asset {params.asset_id} no longer exists", retryable=False
        )
        return None
    rendered = render_png(params.chain, decode(source))
    # the new version's PNG carries its source's settings plus this chain (png_metadata.carry)
    return replace(rendered, png=png_metadata.carry(rendered.png, source, params.chain))
