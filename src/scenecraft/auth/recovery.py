"""MFA recovery codes: ten random codes shown once, stored as SHA-256 digests, each good for one login.

A code is 10 characters of Crockford base32 (50 bits, ``xxxxx-xxxxx``), so a fast digest is enough:
guessing is bounded by the MFA attempt limit, not by the hash. Redeeming is one compare-and-set
``UPDATE ... SET used_at = now WHERE code_hash = ? AND used_at IS NULL``: of two requests racing
with the same code, exactly one sees a row changed (on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from scenecraft.db.models import RecoveryCode, User, utcnow

COUNT = 10
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
LENGTH = 10


def normalise(code: str) -> str:
    """What the user typed, as stored: lower case, no spaces or dashes, Crockford's look-alikes mapped."""
    table = str.maketrans({"i": "1", "l": "1", "o": "0"})
    return "".join(c for c in code.strip().lower() if c not in " -").translate(table)


def _digest(user_id: str, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{normalise(code)}".encode()).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def issue(session: Session, user: User) -> list[str]:
    """Replaces the user's codes with COUNT new ones; returns them (the only time they are seen)."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_code() for _ in range(COUNT)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_digest(user.id, c)) for c in codes)
    session.flush()
    return codes


def redeem(session: Session, user: User, code: str) -> bool:
    """Uses up `code` if it is one of the user's unused codes (atomically); True when it was."""
    if not 8 <= len(normalise(code)) <= 16:
        return False
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _digest(user.id, code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def remaining(session: Session, user: User) -> int:
    return int(
        session.scalar(select(func.count()).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0
    )


def revoke_all(session: Session, user: User) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
