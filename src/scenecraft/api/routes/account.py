"""Account safety: password change, MFA status, recovery codes, turning MFA off; and the one
second-factor check that login and these routes share.

The MFA attempt limit (settings.rate_limit_mfa) counts failed codes only: the limit is checked
before a code is tried and hit only when the code is wrong, so logging in many times with good
codes never locks anyone out, while guessing is still capped.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from scenecraft import audit
from scenecraft.api.deps import ClientIP, PlatformDep, SessionDep, SessionPrincipal, too_many
from scenecraft.api.schemas import (
    MfaDisable,
    MfaStatus,
    PasswordChange,
    PasswordChanged,
    PasswordCurrent,
    RecoveryCodes,
)
from scenecraft.auth import accounts, mfa, recovery, sessions
from scenecraft.db.models import User

router = APIRouter(tags=["account"])


def second_factor_matches(
    session: SessionDep, user: User, platform: PlatformDep, *, totp: str | None, recovery_code: str | None
) -> bool:
    """A TOTP code (its step claimed once, auth.mfa) or a recovery code (used up); no throttle."""
    if totp is not None and mfa.verify(session, user, platform.box, totp):
        return True
    if recovery_code is not None and recovery.redeem(session, user, recovery_code):
        audit.append(
            session, "auth.recovery_code_used", actor_id=user.id, detail={"left": recovery.remaining(session, user)}
        )
        return True
    return False


def second_factor_ok(
    platform: PlatformDep, session: SessionDep, user: User, *, totp: str | None, recovery_code: str | None
) -> bool:
    """second_factor_matches behind the MFA failure limit: 429 past it; only failures count."""
    rule = platform.settings.rate_limit_mfa
    verdict = platform.limiter.check(rule, "mfa", user.id)
    if not verdict.allowed:
        raise too_many(verdict, "wrong TOTP or recovery codes")
    if second_factor_matches(session, user, platform, totp=totp, recovery_code=recovery_code):
        return True
    platform.limiter.hit(rule, "mfa", user.id)
    return False


def _current_user(principal: SessionPrincipal, session: SessionDep) -> User:
    user = session.get(User, principal.user.id)
    assert user is not None
    return user


def _check_password(platform: PlatformDep, user: User, password: str) -> None:
    verdict = platform.limiter.hit(platform.settings.rate_limit_login, "password", user.id)
    if not verdict.allowed:
        raise too_many(verdict, "password attempts")
    if not accounts.verify_password(user.password_hash, password):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the current password is wrong")


@router.post(
    "/v1/auth/password",
    response_model=PasswordChanged,
    responses={403: {"description": "wrong current password"}, 429: {"description": "slow down"}},
)
def change_password(
    body: PasswordChange, principal: SessionPrincipal, platform: PlatformDep, session: SessionDep, ip: ClientIP
) -> PasswordChanged:
    """Sets a new password and signs out every other session of yours (this one stays)."""
    user = _current_user(principal, session)
    _check_password(platform, user, body.current_password)
    if body.new_password == body.current_password:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", "new_password"], "type": "value_error", "msg": "the new password is the current one"}],
        )
    user.password_hash = accounts.hash_password(body.new_password)
    assert principal.session_row is not None
    ended = sessions.end_other_sessions(session, user.id, principal.session_row.id)
    audit.append(session, "auth.password_changed", actor_id=user.id, detail={"sessions_ended": ended}, ip=ip)
    session.commit()
    return PasswordChanged(sessions_ended=ended)


@router.get("/v1/auth/mfa", response_model=MfaStatus)
def mfa_status(principal: SessionPrincipal, session: SessionDep) -> MfaStatus:
    user = _current_user(principal, session)
    return MfaStatus(enabled=user.mfa_secret is not None, recovery_codes_left=recovery.remaining(session, user))


@router.post(
    "/v1/auth/mfa/recovery-codes",
    response_model=RecoveryCodes,
    responses={403: {"description": "wrong password"}, 409: {"description": "MFA is off"}},
)
def new_recovery_codes(
    body: PasswordCurrent, principal: SessionPrincipal, platform: PlatformDep, session: SessionDep, ip: ClientIP
) -> RecoveryCodes:
    """Replaces your recovery codes with ten new ones (shown once; the old ones stop working)."""
    user = _current_user(principal, session)
    if user.mfa_secret is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "MFA is off: turn it on first, that gives you codes")
    _check_password(platform, user, body.password)
    codes = recovery.issue(session, user)
    audit.append(session, "auth.recovery_codes_issued", actor_id=user.id, ip=ip)
    session.commit()
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/v1/auth/mfa/disable",
    status_code=204,
    responses={
        400: {"description": "wrong code"},
        403: {"description": "wrong password"},
        409: {"description": "MFA is already off"},
    },
)
def mfa_disable(
    body: MfaDisable, principal: SessionPrincipal, platform: PlatformDep, session: SessionDep, ip: ClientIP
) -> None:
    """Turns MFA off; needs your password and a TOTP code (or a recovery code)."""
    user = _current_user(principal, session)
    if user.mfa_secret is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "MFA is already off")
    _check_password(platform, user, body.password)
    code = body.code.strip()
    is_totp = len(code) == 6 and code.isdigit()
    if not second_factor_ok(
        platform, session, user, totp=code if is_totp else None, recovery_code=None if is_totp else code
    ):
        session.commit()  # a used-up recovery code stays used
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "wrong or already used code")
    user.mfa_secret = user.mfa_pending_secret = None
    recovery.revoke_all(session, user)
    audit.append(session, "auth.mfa_disabled", actor_id=user.id, ip=ip)
    session.commit()
