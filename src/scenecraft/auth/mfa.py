"""TOTP (RFC 6238) second factor: enrol, confirm, verify; each code is accepted once.

The last accepted time step is kept per user; a code whose step is not newer is refused, so a
code seen over a shoulder or in a log cannot be reused within its 30 s window (RFC 6238 §5.2).
A step is taken by one compare-and-set UPDATE (`claim_step`), never by read-then-write, so of two
concurrent logins with one code exactly one wins, on SQLite and on PostgreSQL alike.
Attempts are rate-limited by the caller (api/routes/auth.py).
"""

from __future__ import annotations

import time

import pyotp
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from scenecraft.auth.secretbox import SecretBox
from scenecraft.db.models import User

ISSUER = "scenecraft"
PURPOSE = "totp"


def begin_enrolment(user: User, box: SecretBox) -> str:
    """Stores a pending secret and returns its otpauth:// provisioning URI."""
    secret = pyotp.random_base32()
    user.mfa_pending_secret = box.seal(secret, PURPOSE)
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def claim_step(session: Session, user: User, step: int) -> bool:
    """Marks TOTP time step `step` as used by `user` unless it (or a later one) already is.

    One `UPDATE ... WHERE mfa_last_step < step`: a concurrent claim of the same step waits for the
    row lock (PostgreSQL) or the write lock (SQLite), then matches no row. True for the one winner.
    Any single-use check on TOTP steps (login, enrolment, turning MFA off) goes through here.
    """
    done = session.execute(
        update(User).where(User.id == user.id, User.mfa_last_step < step).values(mfa_last_step=step)
    )
    if getattr(done, "rowcount", 0) != 1:
        return False
    set_committed_value(user, "mfa_last_step", step)
    return True


def matching_step(secret: str, code: str, now: float, after: int = 0) -> int | None:
    """The time step within one step of `now` whose code is `code` and that is later than `after`."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    for offset in (-1, 0, 1):  # one step of clock drift either way
        step = int(now // totp.interval) + offset
        if step > after and pyotp.utils.strings_equal(totp.at(step * totp.interval), code):
            return step
    return None


def _accept(session: Session, user: User, secret: str, code: str, now: float | None) -> bool:
    step = matching_step(secret, code, time.time() if now is None else now, after=user.mfa_last_step)
    return step is not None and claim_step(session, user, step)


def confirm_enrolment(session: Session, user: User, box: SecretBox, code: str, now: float | None = None) -> bool:
    if user.mfa_pending_secret is None:
        return False
    if not _accept(session, user, box.open(user.mfa_pending_secret, PURPOSE), code, now):
        return False
    user.mfa_secret, user.mfa_pending_secret = user.mfa_pending_secret, None
    return True


def verify(session: Session, user: User, box: SecretBox, code: str, now: float | None = None) -> bool:
    """True once per time step for the right code: the step is claimed in `session`'s transaction."""
    if user.mfa_secret is None:
        return False
    return _accept(session, user, box.open(user.mfa_secret, PURPOSE), code, now)
