"""Dependencies, injected as `Annotated` aliases (PlatformDep, SessionDep, CurrentUser, ...).

Dependencies that do no I/O are `async def`: FastAPI runs sync ones in a worker thread, and a
thread hop per trivial dependency costs more than the dependency itself.

Who is calling, in this order:
1. a signed request (X-Scenecraft-Key + timestamp + nonce + signature): an API key that signs;
2. `Authorization: Bearer sc_...`: an API key;
3. the session cookie; then unsafe methods (POST, PUT, PATCH, DELETE) need X-CSRF-Token.
Each principal is rate-limited per user and per key (the IP limit runs in the middleware).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from scenecraft.api.errors import ApiError
from scenecraft.api.middleware import RAW_BODY
from scenecraft.api.platform import Platform
from scenecraft.auth import api_keys, sessions
from scenecraft.auth.gateway import Verdict
from scenecraft.db.models import ApiKey, User, UserSession

SESSION_COOKIE = "scenecraft_session"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def get_session(platform: PlatformDep) -> AsyncIterator[Session]:
    """A DB session; handlers commit what they write (`session.commit()`), the rest rolls back.

    It is closed in the event loop right after the handler returns (scope="function"), never in a
    worker thread: if the release of a transaction waited for a thread while every thread waited
    for that transaction's lock (SQLite's write lock), requests would deadlock under load.
    At most MAX_SESSIONS requests hold a session at once; the rest wait without using a thread.
    """
    session = platform.db.sessions()
    try:
        yield session
    finally:
        session.close()


MAX_SESSIONS = 16
SessionDep = Annotated[Session, Depends(get_session, scope="function", max_concurrency=MAX_SESSIONS)]


async def get_body(request: Request) -> bytes:
    """The raw body of a signed request, buffered by the gateway middleware (b"" otherwise)."""
    body: bytes = request.scope.get(RAW_BODY, b"")
    return body


def too_many(verdict: Verdict, what: str) -> ApiError:
    return ApiError(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"rate limit for {what} exceeded ({verdict.limit}); retry in {verdict.retry_after} s",
        code="rate_limited",
        headers={"Retry-After": str(verdict.retry_after)},
    )


def quota_exceeded(exc: Exception) -> ApiError:
    return ApiError(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), code="quota_exceeded", headers={"Retry-After": "30"})


def field_error(field: str, kind: str, message: str, *, where: str = "body") -> ApiError:
    """A 422 naming one field, in the shape of a validation error."""
    return ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": [where, field], "msg": message, "type": kind}])


def charge_generation(platform: Platform, user_id: str, cost: int, what: str) -> None:
    """Takes `cost` units from the user's generation budget: 429 while the window is full, and 422
    up front for a request that costs more than the whole window holds (it could never run)."""
    rule = platform.settings.rate_limit_generation
    capacity = platform.limiter.capacity(rule)
    if cost > capacity:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"this request costs {cost} generation units, more than rate_limit_generation ({rule}) ever "
            f"allows at once; ask for fewer pixels or steps (at most {capacity} units)",
            code="cost_exceeds_limit",
        )
    verdict = platform.limiter.hit(rule, "gen", user_id, cost=cost)
    if not verdict.allowed:
        raise too_many(verdict, what)


@dataclass(frozen=True)
class Principal:
    user: User
    via: str  # "session" | "key"
    key: ApiKey | None = None
    session_row: UserSession | None = None

    @property
    def scopes(self) -> set[str]:
        return set(api_keys.SCOPES) if self.key is None else set(self.key.scopes)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    request: Request, platform: PlatformDep, session: SessionDep, body: Annotated[bytes, Depends(get_body)]
) -> Principal:
    headers = request.headers
    principal: Principal
    try:
        if "x-scenecraft-signature" in headers:
            path_qs = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            key = api_keys.authenticate_signed(
                session,
                platform.box,
                prefix=headers.get("x-scenecraft-key", ""),
                timestamp=headers.get("x-scenecraft-timestamp", ""),
                nonce=headers.get("x-scenecraft-nonce", ""),
                signature=headers["x-scenecraft-signature"],
                method=request.method,
                path_qs=path_qs,
                body=body,
                window=platform.settings.signature_window_seconds,
            )
            principal = Principal(_live_user(session, key.user_id), "key", key=key)
        elif headers.get("authorization", "").lower().startswith("bearer "):
            key = api_keys.authenticate_bearer(session, headers["authorization"][7:].strip())
            principal = Principal(_live_user(session, key.user_id), "key", key=key)
        else:
            token = request.cookies.get(SESSION_COOKIE)
            row = (
                sessions.resolve_session(session, token, idle=platform.session_idle, absolute=platform.session_absolute)
                if token
                else None
            )
            if row is None:
                session.commit()  # persist deletion of an expired session
                raise _unauthorized("not signed in: log in (POST /v1/auth/login) or send an API key")
            if request.method in UNSAFE and not sessions.check_csrf(row, headers.get("x-csrf-token")):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    "missing or wrong X-CSRF-Token (the csrf_token from the login response)",
                )
            principal = Principal(_live_user(session, row.user_id), "session", session_row=row)
    except api_keys.KeyRejected as exc:
        session.commit()
        raise _unauthorized(str(exc)) from None
    session.commit()  # last-used / last-seen times, nonce records
    limits = platform.limiter
    verdict = limits.hit(platform.settings.rate_limit_user, "user", principal.user.id)
    if not verdict.allowed:
        raise too_many(verdict, "this user")
    if principal.key is not None:
        verdict = limits.hit(platform.settings.rate_limit_key, "key", principal.key.id)
        if not verdict.allowed:
            raise too_many(verdict, "this API key")
    return principal


def _live_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.disabled:
        raise api_keys.KeyRejected("this account is disabled")
    return user


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def scoped(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        if scope not in principal.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks the {scope!r} scope")
        return principal

    return check


async def session_only(principal: CurrentPrincipal) -> Principal:
    if principal.via != "session":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs a logged-in session, not an API key")
    return principal


async def admin_only(principal: CurrentPrincipal) -> Principal:
    if principal.user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs the admin role")
    return principal


JobsRead = Annotated[Principal, Depends(scoped("jobs:read"))]
JobsWrite = Annotated[Principal, Depends(scoped("jobs:write"))]
AssetsRead = Annotated[Principal, Depends(scoped("assets:read"))]
AssetsWrite = Annotated[Principal, Depends(scoped("assets:write"))]
SessionPrincipal = Annotated[Principal, Depends(session_only)]
AdminPrincipal = Annotated[Principal, Depends(admin_only)]


async def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


ClientIP = Annotated[str, Depends(client_ip)]


def not_found(what: str, ident: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} {ident} not found")
