"""`scenecraft admin ...` against a real data directory (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from scenecraft.api.serve_cli import first_run
from scenecraft.auth.accounts import authenticate
from scenecraft.cli import main
from scenecraft.config import load_settings
from scenecraft.db import Database
from scenecraft.db.models import AuditRecord, Blob
from scenecraft.storage.store import BlobStore


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SCENECRAFT_DATA_DIR", raising=False)
    d = tmp_path / "data"
    assert first_run(d) and not first_run(d)
    return d


def admin(argv: list[str], stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["admin", *argv])


def test_create_user_and_reset_password(
    data_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--data-dir", str(data_dir), "--database-url", database_url, "--username", "dana", "--password-stdin"]
    assert admin(["create-user", *base, "--admin"], "first password\n", monkeypatch) == 0
    assert "dana (admin) done" in capsys.readouterr().out
    assert admin(["reset-password", *base], "second password\n", monkeypatch) == 0
    db = Database(database_url)
    with db.session() as s:
        assert authenticate(s, "dana", "first password") is None
        user = authenticate(s, "dana", "second password")
        assert user is not None and user.role == "admin"
        actions = s.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)).all()
        assert actions == ["admin.user_created", "admin.password_reset"]
    db.dispose()
    with pytest.raises(SystemExit) as exit_info:  # duplicate: a usage error, status 2
        admin(["create-user", *base], "third password\n", monkeypatch)
    assert exit_info.value.code == 2 and "is taken" in capsys.readouterr().err


def test_rotate_keys_adds_a_key_and_rewraps_every_blob(
    data_dir: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(data_dir, database_url=database_url)
    db = Database(database_url)
    db.migrate()
    store = BlobStore.from_settings(settings)
    with db.session() as s:
        for i in range(3):
            store.put(s, f"image {i}".encode(), "image/png")
    assert main(["admin", "rotate-keys", "--data-dir", str(data_dir), "--database-url", database_url, "--new-key"]) == 0
    assert "re-wrapped 3 data keys under master key 'k2'" in capsys.readouterr().out
    values = tomllib.loads((data_dir / "scenecraft.toml").read_text())
    assert values["active_master_key_id"] == "k2" and set(values["master_keys"]) == {"k1", "k2"}
    assert (data_dir / "scenecraft.toml").stat().st_mode & 0o777 == 0o600
    new_store = BlobStore.from_settings(load_settings(data_dir, database_url=database_url))
    with db.session() as s:
        blobs = s.scalars(select(Blob)).all()
        assert {b.key_id for b in blobs} == {"k2"}
        assert sorted(new_store.read(b) for b in blobs) == [b"image 0", b"image 1", b"image 2"]
    db.dispose()


def test_verify_audit_exit_status(
    data_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--data-dir", str(data_dir), "--database-url", database_url]
    admin(["create-user", *base, "--username", "erin", "--password-stdin"], "long password\n", monkeypatch)
    capsys.readouterr()
    assert admin(["verify-audit", *base]) == 0
    assert "OK, 1 records" in capsys.readouterr().out
    db = Database(database_url)
    with db.session() as s:
        s.execute(update(AuditRecord).values(action="admin.nothing_to_see"))
    db.dispose()
    assert admin(["verify-audit", *base]) == 1
    assert "record 1 was altered" in capsys.readouterr().out


def test_migrate_brings_an_empty_database_to_head(
    data_dir: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from alembic.script import ScriptDirectory

    from scenecraft.db.engine import alembic_config

    assert admin(["migrate", "--data-dir", str(data_dir), "--database-url", database_url]) == 0
    db = Database(database_url)
    head = ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()
    db.dispose()
    assert capsys.readouterr().out.startswith(f"migrate: schema at revision {head} ")


def test_reset_password_ends_sessions_and_revokes_every_api_key(
    data_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever held the account may have made keys: after a reset none of them works."""
    from tests.utils.factories import UserClient
    from tests.utils.fixtures import make_settings

    from scenecraft.api.app import create_app
    from scenecraft.api.platform import Platform

    base = ["--data-dir", str(data_dir), "--database-url", database_url, "--username", "dana", "--password-stdin"]
    assert admin(["create-user", *base], "first password\n", monkeypatch) == 0
    platform = Platform.from_settings(make_settings(data_dir.parent, database_url))
    app = create_app(platform=platform)
    dana = UserClient(app, "dana", password="first password")
    keys = [dana.create_key(name=f"k{i}")["key"] for i in range(2)]
    bearer = TestClient(app)
    assert all(bearer.get("/v1/jobs", headers={"Authorization": f"Bearer {k}"}).status_code == 200 for k in keys)
    capsys.readouterr()
    assert admin(["reset-password", *base], "second password\n", monkeypatch) == 0
    assert "revoked 2 API keys of dana" in capsys.readouterr().out
    for key in keys:
        r = bearer.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert dana.get("/v1/me").status_code == 401  # the session went too
    with platform.db.session() as s:
        record = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert record is not None and record.action == "admin.password_reset"
        assert '"keys_revoked":2' in record.detail
    platform.close()
