"""Audit trail: append-only records chained by SHA-256, verified by `scenecraft admin verify-audit`.

    hash_n = SHA-256( hash_{n-1} || canonical JSON of record n )      hash_0 = 64 zeros

`canonical JSON` has sorted keys and no spaces, so anyone can recompute the chain with a few lines
of any language. Changing, deleting or reordering any record breaks every later link. Appending
first bumps the single `audit_head` row, which takes a row lock (PostgreSQL) or the write lock
(SQLite): concurrent appenders queue up and the chain never forks. Records are written in the
caller's transaction, so an action and its record commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from scenecraft.db.models import AuditHead, AuditRecord, utcnow

GENESIS = "0" * 64


def record_digest(
    prev_hash: str,
    seq: int,
    ts: datetime,
    actor_id: str | None,
    action: str,
    target: str,
    detail: str,
    ip: str,
) -> str:
    body = {
        "seq": seq,
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": actor_id,
        "action": action,
        "target": target,
        "detail": json.loads(detail),
        "ip": ip,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def append(
    session: Session,
    action: str,
    *,
    actor_id: str | None,
    target: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> AuditRecord:
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.execute(select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == 1)).one()
    ts = utcnow()
    detail_json = json.dumps(detail or {}, sort_keys=True, separators=(",", ":"))
    digest = record_digest(head.last_hash, head.seq, ts, actor_id, action, target, detail_json, ip)
    record = AuditRecord(
        seq=head.seq,
        ts=ts,
        actor_id=actor_id,
        action=action,
        target=target,
        detail=detail_json,
        ip=ip,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(record)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=digest))
    session.flush()
    return record


@dataclass(frozen=True)
class ChainReport:
    records: int
    ok: bool
    problem: str = ""


def verify(session: Session, batch: int = 1000) -> ChainReport:
    """Walks the chain from the start; reports the first broken link."""
    prev, expected_seq, count, last = GENESIS, 1, 0, 0
    while True:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.seq > last).order_by(AuditRecord.seq).limit(batch)
        ).all()
        if not rows:
            break
        for r in rows:
            if r.seq != expected_seq:
                return ChainReport(count, False, f"record {expected_seq} is missing (next is {r.seq})")
            if r.prev_hash != prev:
                return ChainReport(count, False, f"record {r.seq} does not link to record {r.seq - 1}")
            digest = record_digest(prev, r.seq, r.ts, r.actor_id, r.action, r.target, r.detail, r.ip)
            if digest != r.hash:
                return ChainReport(count, False, f"record {r.seq} was altered (hash mismatch)")
            prev, expected_seq, count, last = r.hash, r.seq + 1, count + 1, r.seq
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.last_hash != prev):
        return ChainReport(count, False, f"the chain ends at record {count} but the head says {head.seq}")
    return ChainReport(count, True)
