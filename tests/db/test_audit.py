"""The audit chain: hand-computed first link, tamper/deletion detection, concurrent appends."""

from __future__ import annotations

import hashlib
import threading

from sqlalchemy import delete, select, update

from scenecraft import audit
from scenecraft.db import Database
from scenecraft.db.models import AuditRecord


def test_first_record_hash_matches_a_hand_computation(db: Database) -> None:
    with db.session() as s:
        rec = audit.append(s, "auth.login", actor_id="u" * 32, target="", detail={"b": 1, "a": "x"}, ip="10.0.0.1")
    canonical = (
        '{"action":"auth.login","actor_id":"' + "u" * 32 + '","detail":{"a":"x","b":1},"ip":"10.0.0.1",'
        '"seq":1,"target":"","ts":"' + rec.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + '"}'
    )
    assert rec.prev_hash == "0" * 64
    assert rec.hash == hashlib.sha256(("0" * 64 + canonical).encode()).hexdigest()


def fill(db: Database, n: int) -> None:
    with db.session() as s:
        for i in range(n):
            audit.append(s, "job.submitted", actor_id=None, target=f"job{i}", detail={"i": i})


def test_an_intact_chain_verifies(db: Database) -> None:
    fill(db, 7)
    with db.session() as s:
        report = audit.verify(s, batch=3)
    assert report.ok and report.records == 7


def test_an_altered_record_is_found(db: Database) -> None:
    fill(db, 5)
    with db.session() as s:
        s.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(detail='{"i":99}'))
    with db.session() as s:
        report = audit.verify(s)
    assert not report.ok and report.problem == "record 3 was altered (hash mismatch)"


def test_a_deleted_record_is_found(db: Database) -> None:
    fill(db, 5)
    with db.session() as s:
        s.execute(delete(AuditRecord).where(AuditRecord.seq == 2))
    with db.session() as s:
        assert audit.verify(s).problem == "record 2 is missing (next is 3)"
    with db.session() as s:  # truncating the tail is caught by the head row
        s.execute(delete(AuditRecord).where(AuditRecord.seq >= 2))
    with db.session() as s:
        assert audit.verify(s).problem == "the chain ends at record 1 but the head says 5"


def test_concurrent_appends_never_fork_the_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(10):
                with db.session() as s:
                    audit.append(s, "job.submitted", actor_id=None, target=f"w{k}-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.session() as s:
        assert audit.verify(s).ok
        assert s.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)).all() == list(range(1, 41))
