"""Browser sessions: an opaque random cookie, stored hashed, with idle and absolute timeouts.

Login always makes a new session (and drops the one the browser came with), so a session id
planted before login is worthless (session fixation). Each session has a CSRF token, returned once
in the login JSON; cookie-authenticated writes must echo it in X-CSRF-Token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from scenecraft.auth.devices import MAX_USER_AGENT
from scenecraft.db.models import User, UserSession, utcnow


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str  # goes in the cookie
    csrf_token: str  # goes in the login response body
    row: UserSession


def start_session(session: Session, user: User, previous_token: str | None = None, user_agent: str = "") -> NewSession:
    if previous_token:
        session.execute(delete(UserSession).where(UserSession.id == _digest(previous_token)))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    row = UserSession(
        id=_digest(token), user_id=user.id, csrf_hash=_digest(csrf), user_agent=user_agent[:MAX_USER_AGENT]
    )
    session.add(row)
    session.flush()
    return NewSession(token, csrf, row)


def resolve_session(
    session: Session, token: str, *, idle: timedelta, absolute: timedelta, now: datetime | None = None
) -> UserSession | None:
    """The live session for `token`, touching its last-seen time; expired ones are deleted."""
    now = now or utcnow()
    row = session.get(UserSession, _digest(token))
    if row is None:
        return None
    if now - row.last_seen_at > idle or now - row.created_at > absolute:
        session.delete(row)
        return None
    if now - row.last_seen_at > timedelta(seconds=30):  # don't write on every request
        row.last_seen_at = now
    return row


def check_csrf(row: UserSession, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(row.csrf_hash, _digest(token))


def end_session(session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.id == _digest(token)))


def end_all_sessions(session: Session, user_id: str) -> None:
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))


def end_other_sessions(session: Session, user_id: str, keep_id: str) -> int:
    """Signs the user out everywhere but the session `keep_id`; returns how many ended."""
    result = session.execute(delete(UserSession).where(UserSession.user_id == user_id, UserSession.id != keep_id))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Session, *, idle: timedelta, absolute: timedelta, now: datetime | None = None) -> int:
    """Deletes sessions past their idle or absolute timeout; returns how many."""
    now = now or utcnow()
    result = session.execute(
        delete(UserSession).where((UserSession.last_seen_at < now - idle) | (UserSession.created_at < now - absolute))
    )
    return int(getattr(result, "rowcount", 0) or 0)
