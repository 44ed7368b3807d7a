"""Blob store and asset versions on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from scenecraft.db import Database
from scenecraft.db.models import AssetVersion, Blob, User
from scenecraft.storage.backends import LocalBlobBackend
from scenecraft.storage.crypto import Keyring
from scenecraft.storage.store import BlobStore

K1, K2 = bytes(range(32)), bytes(range(1, 33))


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(LocalBlobBackend(tmp_path / "blobs"), Keyring({"k1": K1}, "k1"))


@pytest.fixture
def user_id(db: Database) -> str:
    with db.session() as s:
        user = User(username="owner", password_hash="x", webhook_secret="w")
        s.add(user)
        s.flush()
        return user.id


def test_put_is_content_addressed_encrypted_and_deduplicated(db: Database, store: BlobStore) -> None:
    data = b"\x89PNG fake image bytes" * 50
    with db.session() as s:
        blob = store.put(s, data, "image/png")
        again = store.put(s, data, "image/png")
    assert blob.sha256 == again.sha256 == hashlib.sha256(data).hexdigest()
    on_disk = (store.backend.path(blob.sha256)).read_bytes()  # type: ignore[attr-defined]
    assert data not in on_disk and len(on_disk) == 4 + 12 + len(data) + 16
    with db.session() as s:
        row = s.get(Blob, blob.sha256)
        assert row is not None and store.read(row) == data
        assert s.scalar(select(Blob).where(Blob.sha256 != blob.sha256)) is None


def test_versions_are_numbered_from_one_with_parents(db: Database, store: BlobStore, user_id: str) -> None:
    with db.session() as s:
        asset = store.create_asset(
            s,
            user_id=user_id,
            kind="upload",
            data=b"v1",
            content_type="image/png",
            width=4,
            height=4,
            operation={"op": "upload"},
        )
        store.add_version(
            s,
            asset,
            data=b"v2",
            content_type="image/png",
            width=4,
            height=4,
            operation={"op": "effects"},
            parent_number=1,
        )
        store.add_version(
            s,
            asset,
            data=b"v3",
            content_type="image/png",
            width=4,
            height=4,
            operation={"op": "effects"},
            parent_number=1,
        )
        with pytest.raises(ValueError, match=r"parent version 7 does not exist \(versions 1..3\)"):
            store.add_version(
                s,
                asset,
                data=b"v4",
                content_type="image/png",
                width=4,
                height=4,
                operation={},
                parent_number=7,
            )
    with db.session() as s:
        versions = s.scalars(
            select(AssetVersion).where(AssetVersion.asset_id == asset.id).order_by(AssetVersion.number)
        ).all()
        assert [(v.number, v.parent_number) for v in versions] == [(1, None), (2, 1), (3, 1)]
        assert [store.read_version(s, v).data for v in versions] == [b"v1", b"v2", b"v3"]


def test_rotation_rewraps_every_key_and_old_key_can_be_dropped(db: Database, tmp_path: Path) -> None:
    backend = LocalBlobBackend(tmp_path / "blobs")
    old = BlobStore(backend, Keyring({"k1": K1}, "k1"))
    with db.session() as s:
        for i in range(5):
            old.put(s, f"blob {i}".encode(), "image/png")
    new = BlobStore(backend, Keyring({"k1": K1, "k2": K2}, "k2"))
    with db.session() as s:
        assert new.rotate(s, batch=2) == 5
        assert new.rotate(s) == 0
    only_k2 = BlobStore(backend, Keyring({"k2": K2}, "k2"))
    with db.session() as s:
        blobs = s.scalars(select(Blob)).all()
        assert {b.key_id for b in blobs} == {"k2"}
        assert sorted(only_k2.read(b) for b in blobs) == [f"blob {i}".encode() for i in range(5)]


def test_altered_blob_is_detected(db: Database, store: BlobStore) -> None:
    with db.session() as s:
        blob = store.put(s, b"original", "image/png")
    other = BlobStore(store.backend, store.keyring)
    with db.session() as s:
        fake = other.put(s, b"another", "image/png")
        path = store.backend.path(fake.sha256)  # type: ignore[attr-defined]
        path.write_bytes(store.backend.get(blob.sha256))  # swap ciphertexts
        with pytest.raises(Exception, match="does not authenticate"):
            store.read(fake)


def test_gc_removes_objects_without_rows(db: Database, store: BlobStore) -> None:
    store.backend.put("f" * 64, b"orphan left by a crash before commit")
    with db.session() as s:
        kept = store.put(s, b"kept", "image/png")
    with db.session() as s:
        assert store.gc(s) == 1
    assert store.backend.list() == [kept.sha256]


def test_an_object_left_by_a_crash_does_not_poison_the_retry(db: Database, store: BlobStore) -> None:
    """A crash between the write and the commit leaves an object sealed under a data key nobody
    kept; the retry of the same bytes must overwrite it, not trust it (found by the SIGKILL test,
    tests/api/test_server_process.py)."""
    data = b"\x89PNG the same upload twice" * 40
    sha = hashlib.sha256(data).hexdigest()
    lost = Keyring({"k1": K1}, "k1").seal(data, sha)  # what the crashed process wrote
    store.backend.put(sha, lost.ciphertext)
    with db.session() as s:
        blob = store.put(s, data, "image/png")
    with db.session() as s:
        row = s.get(Blob, sha)
        assert row is not None and store.read(row) == data
        assert blob.wrapped_key == row.wrapped_key
