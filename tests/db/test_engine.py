"""Migrations and connection settings on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from scenecraft.db import Database
from scenecraft.db.engine import make_engine
from scenecraft.db.models import AuditHead, User

EXPECTED_TABLES = {
    "users",
    "sessions",
    "recovery_codes",
    "api_keys",
    "request_nonces",
    "jobs",
    "job_events",
    "webhook_deliveries",
    "blobs",
    "assets",
    "asset_versions",
    "audit_records",
    "audit_head",
    "alembic_version",
}


def test_migrations_create_every_table_and_seed_the_audit_head(db: Database) -> None:
    assert set(inspect(db.engine).get_table_names()) == EXPECTED_TABLES
    with db.session() as s:
        head = s.get(AuditHead, 1)
        assert head is not None and head.seq == 0 and head.last_hash == "0" * 64


def test_migrate_twice_is_a_no_op(db: Database) -> None:
    from alembic.script import ScriptDirectory

    from scenecraft.db.engine import alembic_config

    db.migrate()
    head = ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head


def test_sqlite_runs_in_wal_mode_with_foreign_keys(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite pragmas")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_datetimes_round_trip_as_aware_utc(db: Database) -> None:
    # 12:00 at UTC+02:00 is 10:00 UTC; stored naive UTC, read back aware.
    created = datetime(2026, 1, 2, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with db.session() as s:
        s.add(User(id="a" * 32, username="alice", password_hash="x", webhook_secret="w", created_at=created))
    with db.session() as s:
        got = s.scalar(select(User.created_at).where(User.username == "alice"))
    assert got == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    assert got is not None and got.tzinfo is not None


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), db.session() as s:
        s.add(User(username="bob", password_hash="x", webhook_secret="w", created_at=datetime(2026, 1, 1)))
        s.flush()


def test_usernames_are_unique(db: Database) -> None:
    with db.session() as s:
        s.add(User(username="carol", password_hash="x", webhook_secret="w"))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(User(username="carol", password_hash="y", webhook_secret="w"))


def test_unsupported_database_urls_are_named_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"mysql.*not supported"):
        make_engine("mysql://u@h/db")


def test_migrations_match_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from scenecraft.db.models import Base

    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
