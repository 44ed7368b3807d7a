"""The FastAPI application: `create_app(settings)` wires routes, the gateway middleware and, in
embedded mode, in-process workers (started in the lifespan, stopped on shutdown)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from scenecraft import __version__
from scenecraft.api.middleware import GatewayMiddleware
from scenecraft.api.platform import Platform
from scenecraft.api.routes import account, assets, auth, health, jobs, keys, scenes
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


def _where(loc: tuple[object, ...] | list[object]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with FastAPI's usual `detail` list plus one readable `message` naming each bad field."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    message = "; ".join(f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors)
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
    return JSONResponse({"detail": detail, "message": message}, status_code=422)


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> FastAPI:
    platform = platform or Platform.from_settings(settings or Settings())

    def purge() -> None:
        with platform.db.session() as s:
            sessions.purge_expired(s, idle=platform.session_idle, absolute=platform.session_absolute)
            api_keys.purge_nonces(s)

    async def housekeeping() -> None:
        """Expired sessions and spent nonces go every few minutes."""
        while True:
            try:
                await run_in_threadpool(purge)
            except Exception:
                log.exception("housekeeping failed")
            await asyncio.sleep(HOUSEKEEPING_SECONDS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform.bus.start()
        janitor = asyncio.create_task(housekeeping())
        if platform.settings.embedded_workers > 0 and platform.workers is None:
            from scenecraft.jobs.worker import WorkerPool  # the engine itself loads lazily, in the workers

            platform.workers = WorkerPool.from_platform(platform, platform.settings.embedded_workers)
            platform.workers.start()
        try:
            yield
        finally:
            janitor.cancel()
            if platform.workers is not None:
                platform.workers.stop()
            platform.bus.close()
            platform.db.dispose()

    app = FastAPI(title="scenecraft", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.platform = platform
    app.add_exception_handler(RequestValidationError, validation_error)
    for module in (auth, account, keys, jobs, assets, scenes, health):
        app.include_router(module.router)
    mount_studio(app, platform.settings.web_dir)  # last: the routes above take precedence
    app.add_middleware(GatewayMiddleware, platform=platform)
    return app
