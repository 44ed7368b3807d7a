"""The FastAPI application: `create_app(settings)` wires routes, the gateway middleware and, in
embedded mode, in-process workers (started in the lifespan, stopped on shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from scenecraft import __version__, audit
from scenecraft.api import contract, errors
from scenecraft.api.middleware import GatewayMiddleware
from scenecraft.api.platform import Platform
from scenecraft.api.routes import account, assets, auth, health, jobs, keys, models, scenes
from scenecraft.api.studio import mount_studio
from scenecraft.auth import api_keys, sessions
from scenecraft.config import Settings
from scenecraft.observability import log

HOUSEKEEPING_SECONDS = 300.0

DESCRIPTION = """Scene-aware image generation as a service.

Authenticate with a session (POST /v1/auth/login; cookie plus `X-CSRF-Token` on writes) or an API
key (`Authorization: Bearer sc_...`, or HMAC-signed requests for signing keys). Another user's
objects answer 404. Over a rate limit: 429 with `Retry-After`. See docs/api.md for a curl walk-through.
"""


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> FastAPI:
    platform = platform or Platform.from_settings(settings or Settings())

    def purge() -> None:
        with platform.db.session() as s:
            sessions.purge_expired(s, idle=platform.session_idle, absolute=platform.session_absolute)
            api_keys.purge_nonces(s)

    def check_audit_chain() -> None:
        """Walks the audit chain; a broken link counts as scenecraft_audit_chain_checks_total{result="broken"}
        (alerted on in deploy/k8s/monitoring) and is logged with the first bad record."""
        with platform.db.session() as s:
            report = audit.verify(s)
        platform.metrics.audit_checks.labels("ok" if report.ok else "broken").inc()
        if not report.ok:
            log.error("audit chain broken", problem=report.problem, records=report.records)

    async def housekeeping(stop: asyncio.Event) -> None:
        """Expired sessions and spent nonces go, and the audit chain is verified, every few minutes,
        until `stop` is set. It is stopped by the event, not by cancelling the task: a cancel ends the
        `await` on the worker thread at once but not the thread, whose query runs on with its pooled
        connection; the pool was then disposed under it, the connection went back into the disposed
        pool and was never closed (garbage-collected open). Stopped this way, the call in flight ends first."""
        while not stop.is_set():
            for task in (purge, check_audit_chain):
                if stop.is_set():
                    return
                try:
                    await run_in_threadpool(task)
                except Exception:
                    log.exception("housekeeping failed", task=task.__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HOUSEKEEPING_SECONDS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform.bus.start()
        stop_housekeeping = asyncio.Event()
        janitor = asyncio.create_task(housekeeping(stop_housekeeping))
        if platform.settings.embedded_workers > 0 and platform.workers is None:
            from scenecraft.jobs.worker import WorkerPool  # the engine itself loads lazily, in the workers

            platform.workers = WorkerPool.from_platform(platform, platform.settings.embedded_workers)
            platform.workers.start()
        try:
            yield
        finally:
            # Not janitor.cancel(): see housekeeping(). Its call in flight finishes (one short query),
            # then it returns, and only then is the pool closed.
            stop_housekeeping.set()
            await janitor
            if platform.workers is not None:
                platform.workers.stop()
            platform.close()

    app = FastAPI(title="scenecraft", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.platform = platform
    errors.install(app)
    for module in (auth, account, keys, jobs, models, assets, scenes, health):
        app.include_router(module.router)
    contract.install(app)
    mount_studio(app, platform.settings.web_dir)  # last: the routes above take precedence
    app.add_middleware(GatewayMiddleware, platform=platform)
    return app
