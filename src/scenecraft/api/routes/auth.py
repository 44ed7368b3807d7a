"""Log in and out, TOTP MFA, the caller's account, and the admin's user management."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from sqlalchemy import select

from scenecraft import audit
from scenecraft.api.deps import (
    SESSION_COOKIE,
    AdminPrincipal,
    ClientIP,
    CurrentPrincipal,
    PlatformDep,
    SessionDep,
    SessionPrincipal,
    not_found,
    too_many,
)
from scenecraft.api.errors import ApiError
from scenecraft.api.routes.account import second_factor_matches
from scenecraft.api.schemas import (
    LoginRequest,
    LoginResponse,
    MfaConfirm,
    MfaConfirmed,
    MfaEnrollResponse,
    QueueStatus,
    SessionPublic,
    UserCreate,
    UserPublic,
    WebhookSecret,
)
from scenecraft.auth import accounts, enrolment_pass, mfa, recovery, sessions
from scenecraft.auth.devices import device_name
from scenecraft.db.models import User, UserSession
from scenecraft.jobs.queue import queue_depth

router = APIRouter(tags=["auth"])
LOGIN_FAILED = "wrong username, password or TOTP code (send `totp` when the account uses MFA)"


def user_public(user: User) -> UserPublic:
    return UserPublic(
        id=user.id,
        username=user.username,
        role=user.role,  # type: ignore[arg-type]
        mfa_enabled=user.mfa_secret is not None,
        created_at=user.created_at,
    )


@router.post(
    "/v1/auth/login",
    response_model=LoginResponse,
    responses={401: {"description": "wrong credentials or TOTP code"}, 429: {"description": "slow down"}},
)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    platform: PlatformDep,
    session: SessionDep,
    ip: ClientIP,
) -> LoginResponse:
    """Every failure gets the same 401 (`login_failed`), whether the username exists, the password
    was right, or the account's TOTP code was missing, wrong or already used: the reply never tells
    which part was wrong, so it cannot confirm a password. Throttles: attempts per (address,
    username), and failures per username and per address (settings.rate_limit_login*)."""
    limiter, settings = platform.limiter, platform.settings
    username = body.username.lower()
    verdict = limiter.hit(settings.rate_limit_login, "login", ip, username)
    if not verdict.allowed:
        raise too_many(verdict, "login attempts")
    failure_limits = (
        (settings.rate_limit_login_account, "login-failed-account", username, "failed logins to this account"),
        (settings.rate_limit_login_ip, "login-failed-ip", ip, "failed logins from this address"),
    )
    for rule, scope, ident, what in failure_limits:
        verdict = limiter.check(rule, scope, ident)
        if not verdict.allowed:
            raise too_many(verdict, what)
    user = accounts.authenticate(session, body.username, body.password)
    fresh_pass = False  # the browser that just confirmed enrolment, within the same TOTP step
    passed = user is not None
    if user is not None and user.mfa_secret is not None:
        fresh_pass = (
            body.totp is None
            and body.recovery_code is None
            and enrolment_pass.accepts(
                settings.secret_key.get_secret_value(), user.id, request.cookies.get(enrolment_pass.COOKIE)
            )
        )
        # MFA failures count toward the login failure throttles above (not a limit of their own,
        # whose 429 would come only after a right password and so confirm it).
        passed = fresh_pass or second_factor_matches(
            session, user, platform, totp=body.totp, recovery_code=body.recovery_code
        )
    if user is None or not passed:
        for rule, scope, ident, _ in failure_limits:
            limiter.hit(rule, scope, ident)
        audit.append(
            session,
            "auth.login_failed",
            actor_id=user.id if user is not None else None,
            target=body.username[:128],
            detail={"reason": "password" if user is None else "totp"},
            ip=ip,
        )
        session.commit()
        raise ApiError(status.HTTP_401_UNAUTHORIZED, LOGIN_FAILED, code="login_failed")
    new = sessions.start_session(
        session,
        user,
        previous_token=request.cookies.get(SESSION_COOKIE),
        user_agent=request.headers.get("user-agent", ""),
    )
    audit.append(
        session,
        "auth.login",
        actor_id=user.id,
        detail={"second_factor": "enrolment cookie"} if fresh_pass else None,
        ip=ip,
    )
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        httponly=True,
        samesite="lax",
        secure=platform.settings.secure_cookies,
        max_age=platform.settings.session_absolute_hours * 3600,
        path="/",
    )
    if fresh_pass:
        response.delete_cookie(enrolment_pass.COOKIE, path="/v1/auth/login")
    return LoginResponse(csrf_token=new.csrf_token, user=user_public(user))


@router.post("/v1/auth/logout", status_code=204, responses={401: {"description": "not signed in"}})
def logout(
    request: Request, response: Response, principal: SessionPrincipal, session: SessionDep, ip: ClientIP
) -> Response:
    sessions.end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    audit.append(session, "auth.logout", actor_id=principal.user.id, ip=ip)
    session.commit()
    out = Response(status_code=204)
    out.delete_cookie(SESSION_COOKIE, path="/")
    return out


@router.post("/v1/auth/mfa/enroll", response_model=MfaEnrollResponse)
def mfa_enroll(principal: SessionPrincipal, platform: PlatformDep, session: SessionDep) -> MfaEnrollResponse:
    user = session.get(User, principal.user.id)
    assert user is not None
    if user.mfa_secret is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "MFA is already enabled on this account")
    uri = mfa.begin_enrolment(user, platform.box)
    session.commit()
    return MfaEnrollResponse(provisioning_uri=uri)


@router.post(
    "/v1/auth/mfa/confirm",
    response_model=MfaConfirmed,
    responses={400: {"description": "wrong code or nothing to confirm"}, 429: {"description": "slow down"}},
)
def mfa_confirm(
    body: MfaConfirm,
    response: Response,
    principal: SessionPrincipal,
    platform: PlatformDep,
    session: SessionDep,
    ip: ClientIP,
) -> MfaConfirmed:
    """Turns MFA on with a code from the app; returns ten recovery codes, shown this once."""
    user = session.get(User, principal.user.id)
    assert user is not None
    if user.mfa_pending_secret is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "no MFA enrolment pending: POST /v1/auth/mfa/enroll first")
    verdict = platform.limiter.check(platform.settings.rate_limit_mfa, "mfa", user.id)
    if not verdict.allowed:
        raise too_many(verdict, "wrong TOTP codes")
    if not mfa.confirm_enrolment(session, user, platform.box, body.code):
        platform.limiter.hit(platform.settings.rate_limit_mfa, "mfa", user.id)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "wrong or already used TOTP code")
    codes = recovery.issue(session, user)
    audit.append(session, "auth.mfa_enabled", actor_id=user.id, ip=ip)
    session.commit()
    response.set_cookie(
        enrolment_pass.COOKIE,
        enrolment_pass.issue(platform.settings.secret_key.get_secret_value(), user.id, user.mfa_last_step),
        max_age=enrolment_pass.MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=platform.settings.secure_cookies,
        path="/v1/auth/login",
    )
    return MfaConfirmed(user=user_public(user), recovery_codes=codes)


@router.get("/v1/auth/sessions", response_model=list[SessionPublic], tags=["account"])
def list_sessions(principal: SessionPrincipal, session: SessionDep) -> list[SessionPublic]:
    """Your live browser sessions, newest first; `current` marks the one this request came with."""
    assert principal.session_row is not None
    rows = session.scalars(
        select(UserSession)
        .where(UserSession.user_id == principal.user.id)
        .order_by(UserSession.created_at.desc(), UserSession.id)
        .limit(100)
    )
    return [
        SessionPublic(
            id=r.id,
            created_at=r.created_at,
            last_seen_at=r.last_seen_at,
            current=r.id == principal.session_row.id,
            device=device_name(r.user_agent),
        )
        for r in rows
    ]


@router.delete(
    "/v1/auth/sessions/{session_id}",
    status_code=204,
    tags=["account"],
    responses={404: {"description": "no such session of yours"}},
)
def end_session(
    session_id: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    principal: SessionPrincipal,
    session: SessionDep,
    ip: ClientIP,
) -> Response:
    """Log out one of your sessions (on another device, or this one)."""
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != principal.user.id:
        raise not_found("session", session_id)
    session.delete(row)
    audit.append(session, "auth.session_ended", actor_id=principal.user.id, ip=ip)
    session.commit()
    return Response(status_code=204)


@router.get("/v1/me", response_model=UserPublic, tags=["account"])
def me(principal: CurrentPrincipal) -> UserPublic:
    return user_public(principal.user)


@router.get("/v1/me/webhook-secret", response_model=WebhookSecret, tags=["account"])
def webhook_secret(principal: SessionPrincipal) -> WebhookSecret:
    return WebhookSecret(secret=principal.user.webhook_secret)


@router.post(
    "/v1/admin/users",
    response_model=UserPublic,
    status_code=201,
    tags=["admin"],
    responses={403: {"description": "not an admin"}, 409: {"description": "username taken"}},
)
def create_user(body: UserCreate, principal: AdminPrincipal, session: SessionDep, ip: ClientIP) -> UserPublic:
    try:
        user = accounts.create_user(session, body.username, body.password, body.role)
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    audit.append(
        session,
        "admin.user_created",
        actor_id=principal.user.id,
        target=user.id,
        detail={"username": user.username, "role": user.role},
        ip=ip,
    )
    session.commit()
    return user_public(user)


@router.get("/v1/admin/users", response_model=list[UserPublic], tags=["admin"])
def list_users(principal: AdminPrincipal, session: SessionDep) -> list[UserPublic]:
    return [user_public(u) for u in session.scalars(select(User).order_by(User.created_at).limit(1000))]


@router.get("/v1/admin/queue", response_model=QueueStatus, tags=["admin"])
def queue_status(principal: AdminPrincipal, platform: PlatformDep, session: SessionDep) -> QueueStatus:
    """Jobs per status across all users, and this process's worker count."""
    depth = {s: 0 for s in ("queued", "running", "succeeded", "dead", "cancelled")}
    depth.update(queue_depth(session))
    workers = platform.workers
    return QueueStatus(depth=depth, workers=int(workers.count) if workers is not None else 0)
