"""API keys: random, shown once, stored hashed, prefixed, scoped, revocable, last-used time.

    key = "sc_" + 8 hex (public prefix, the lookup id) + "_" + 43 url-safe chars (256 random bits)

Only SHA-256(key) is stored: the key has 256 bits of entropy, so a slow hash adds nothing.

Request signing (optional per key, chosen at creation): such a key never travels. The client
sends its prefix and an HMAC-SHA256 of the request keyed by the key itself:

    X-Scenecraft-Key: sc_1a2b3c4d
    X-Scenecraft-Timestamp: 1767225600              (unix seconds, within the window)
    X-Scenecraft-Nonce: 16-64 chars of [A-Za-z0-9_-] (never reused)
    X-Scenecraft-Signature: v1=hex(HMAC-SHA256(key, canonical))
    canonical = timestamp + "\n" + nonce + "\n" + METHOD + "\n" + path?query + "\n" + hex(SHA256(body))

The server keeps that key encrypted (secretbox) to verify; each nonce is recorded until the
window passes, so a replayed request is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from scenecraft.auth.secretbox import SecretBox
from scenecraft.db.models import ApiKey, RequestNonce, User, utcnow

SCOPES = ("jobs:read", "jobs:write", "assets:read", "assets:write")
_KEY = re.compile(r"^(sc_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PURPOSE = "request-signing"


class KeyRejected(Exception):
    """Authentication with a key failed; the message is safe to show the caller."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    key: str  # shown once


def create_key(
    session: Session, user: User, name: str, scopes: list[str], *, signed: bool, box: SecretBox
) -> CreatedKey:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; allowed: {', '.join(SCOPES)}")
    while True:
        prefix = "sc_" + secrets.token_hex(4)
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        user_id=user.id,
        name=name,
        prefix=prefix,
        key_hash=_digest(key),
        scopes=sorted(set(scopes)),
        signing_secret=box.seal(key, PURPOSE) if signed else None,
    )
    session.add(row)
    session.flush()
    return CreatedKey(row, key)


def _touch(row: ApiKey, now: datetime) -> None:
    if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=60):
        row.last_used_at = now


def _live_key(session: Session, prefix: str) -> ApiKey:
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None:
        raise KeyRejected("API key is unknown or revoked")
    return row


def authenticate_bearer(session: Session, key: str) -> ApiKey:
    match = _KEY.match(key)
    if match is None:
        raise KeyRejected("malformed API key; expected sc_<8 hex>_<43 characters>")
    row = _live_key(session, match.group(1))
    if not hmac.compare_digest(row.key_hash, _digest(key)):
        raise KeyRejected("API key is unknown or revoked")
    if row.signing_secret is not None:
        raise KeyRejected("this API key must sign its requests (X-Scenecraft-Signature); it is not a bearer key")
    _touch(row, utcnow())
    return row


def canonical_request(timestamp: str, nonce: str, method: str, path_qs: str, body: bytes) -> bytes:
    return "\n".join([timestamp, nonce, method.upper(), path_qs, hashlib.sha256(body).hexdigest()]).encode()


def sign_request(key: str, timestamp: str, nonce: str, method: str, path_qs: str, body: bytes) -> str:
    """The X-Scenecraft-Signature value a client sends (also used by tests and docs)."""
    mac = hmac.new(key.encode(), canonical_request(timestamp, nonce, method, path_qs, body), hashlib.sha256)
    return "v1=" + mac.hexdigest()


def authenticate_signed(
    session: Session,
    box: SecretBox,
    *,
    prefix: str,
    timestamp: str,
    nonce: str,
    signature: str,
    method: str,
    path_qs: str,
    body: bytes,
    window: int,
    now: datetime | None = None,
) -> ApiKey:
    now = now or utcnow()
    if not timestamp.isdigit():
        raise KeyRejected("X-Scenecraft-Timestamp must be unix seconds")
    skew = abs(now.timestamp() - int(timestamp))
    if skew > window:
        raise KeyRejected(f"request timestamp is {int(skew)} s from server time; at most {window} s allowed")
    if not _NONCE.match(nonce):
        raise KeyRejected("X-Scenecraft-Nonce must be 16-64 characters of A-Z a-z 0-9 _ -")
    row = _live_key(session, prefix)
    if row.signing_secret is None:
        raise KeyRejected("this API key is not a signing key; send it as Authorization: Bearer")
    key = box.open(row.signing_secret, PURPOSE)
    expected = sign_request(key, timestamp, nonce, method, path_qs, body)
    if not hmac.compare_digest(expected, signature):
        raise KeyRejected("request signature does not match")
    # Record the nonce in its own savepoint: a duplicate means this exact request was seen.
    try:
        with session.begin_nested():
            session.add(RequestNonce(key_id=row.id, nonce=nonce, expires_at=now + timedelta(seconds=2 * window)))
    except IntegrityError:
        raise KeyRejected("replayed request: this nonce was already used") from None
    _touch(row, now)
    return row


def purge_nonces(session: Session, now: datetime | None = None) -> int:
    result = session.execute(delete(RequestNonce).where(RequestNonce.expires_at < (now or utcnow())))
    return int(getattr(result, "rowcount", 0) or 0)


def revoke(session: Session, row: ApiKey) -> bool:
    """Revokes one key; True if this call did it. One compare-and-set UPDATE, so of concurrent
    revokes exactly one wins (the others wait for its row lock, then match nothing)."""
    now = utcnow()
    done = session.execute(
        update(ApiKey).where(ApiKey.id == row.id, ApiKey.revoked_at.is_(None)).values(revoked_at=now)
    )
    if getattr(done, "rowcount", 0) != 1:
        return False
    set_committed_value(row, "revoked_at", now)
    return True


def revoke_all(session: Session, user_id: str) -> int:
    """Revokes every live key of a user (a password reset: whoever had the account may have made
    keys); returns how many."""
    done = session.execute(
        update(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return int(getattr(done, "rowcount", 0) or 0)
