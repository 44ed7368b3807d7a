"""Users and passwords. Passwords are hashed with argon2id at OWASP's recommended parameters
(Password Storage Cheat Sheet: m=19 MiB, t=2, p=1)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from scenecraft.db.models import User

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
# Verified against when the user does not exist, so "no such user" costs as much as "wrong password".
_DUMMY_HASH = HASHER.hash(secrets.token_hex(16))
MIN_PASSWORD, MAX_PASSWORD = 8, 256
ROLES = ("user", "admin")


class AccountError(ValueError):
    pass


def hash_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters, got {len(password)}")
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(session: Session, username: str, password: str, role: str = "user") -> User:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not (3 <= len(username) <= 64 and username.replace("_", "").replace("-", "").replace(".", "").isalnum()):
        raise AccountError("username must be 3-64 characters of letters, digits, '.', '_' or '-'")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"username {username!r} is taken")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        webhook_secret="whsec_" + secrets.token_urlsafe(32),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user if the password matches (rehashing it if parameters changed), else None."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.disabled:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    return user


def set_password(session: Session, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user named {username!r}")
    user.password_hash = hash_password(password)
    return user
