"""TOTP (RFC 6238) second factor: enrol, confirm, verify; each code is accepted once.

The last accepted time step is kept per user; a code whose step is not newer is refused, so a
code seen over a shoulder or in a log cannot be reused within its 30 s window (RFC 6238 §5.2).
Attempts are rate-limited by the caller (api/routes/auth.py, settings.rate_limit_mfa).
"""

from __future__ import annotations

import time

import pyotp

from scenecraft.auth.secretbox import SecretBox
from scenecraft.db.models import User

ISSUER = "scenecraft"
PURPOSE = "totp"


def begin_enrolment(user: User, box: SecretBox) -> str:
    """Stores a pending secret and returns its otpauth:// provisioning URI."""
    secret = pyotp.random_base32()
    user.mfa_pending_secret = box.seal(secret, PURPOSE)
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def _accept(user: User, secret: str, code: str, now: float) -> bool:
    totp = pyotp.TOTP(secret)
    if not (len(code) == 6 and code.isdigit()):
        return False
    for offset in (-1, 0, 1):  # one step of clock drift either way
        step = int(now // totp.interval) + offset
        if step > user.mfa_last_step and pyotp.utils.strings_equal(totp.at(step * totp.interval), code):
            user.mfa_last_step = step
            return True
    return False


def confirm_enrolment(user: User, box: SecretBox, code: str, now: float | None = None) -> bool:
    if user.mfa_pending_secret is None:
        return False
    secret = box.open(user.mfa_pending_secret, PURPOSE)
    if not _accept(user, secret, code, time.time() if now is None else now):
        return False
    user.mfa_secret, user.mfa_pending_secret = user.mfa_pending_secret, None
    return True


def verify(user: User, box: SecretBox, code: str, now: float | None = None) -> bool:
    if user.mfa_secret is None:
        return False
    return _accept(user, box.open(user.mfa_secret, PURPOSE), code, time.time() if now is None else now)
