"""Liveness, readiness and metrics (no authentication: keep these off the public internet or
behind the IP allow list)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from scenecraft.api.deps import PlatformDep
from scenecraft.api.schemas import Health, Readiness

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive and serving."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(platform: PlatformDep) -> JSONResponse:
    """Database, storage and model (when this process runs workers) are ready."""
    checks: dict[str, str] = {}
    try:
        platform.db.ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        platform.store.backend.ping()
        checks["storage"] = "ok"
    except Exception as exc:
        checks["storage"] = f"error: {type(exc).__name__}"
    if platform.workers is None:
        checks["model"] = "ok (no workers in this process)"
    else:
        checks["model"] = platform.workers.model_status()
    ready = all(v.startswith("ok") for v in checks.values())
    return JSONResponse(Readiness(ready=ready, checks=checks).model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics(platform: PlatformDep) -> Response:
    """Prometheus text format: request latency, queue depth, job phase durations, errors."""
    return Response(platform.metrics.render(), media_type=CONTENT_TYPE_LATEST)
