"""The blob store and asset versions: what the API and workers call to keep and read images.

A blob row (SHA-256, size, wrapped data key) is written in the caller's DB transaction, the
encrypted bytes go to the backend *before* it commits: if the process dies in between, an
unreferenced object remains (invisible, collected by `gc`) but never a row that points at missing
or partial bytes. The row is inserted first, so the writer holds its lock (PostgreSQL's unique
index, SQLite's write lock) while it writes the bytes: a concurrent upload of the same content
waits and then reuses the row, and an object left by a crash (sealed under a key that died with
that process) is overwritten, not trusted.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError as SQLAlchemyIntegrityError
from sqlalchemy.orm import Session

from scenecraft.config import Settings
from scenecraft.db.models import Asset, AssetVersion, Blob, utcnow
from scenecraft.storage.backends import BlobBackend, LocalBlobBackend, S3BlobBackend
from scenecraft.storage.crypto import DecryptionError, Keyring


class IntegrityError(Exception):
    """Decrypted bytes do not hash to their address: storage was altered."""


@dataclass(frozen=True)
class StoredContent:
    data: bytes
    content_type: str


class BlobStore:
    def __init__(
        self, backend: BlobBackend, keyring: Keyring, *, after_put: Callable[[str], None] | None = None
    ) -> None:
        self.backend = backend
        self.keyring = keyring
        self.after_put = after_put  # a test's fault point: runs after the bytes are written, before commit

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        keyring = Keyring(settings.master_key_bytes(), settings.active_master_key_id)
        backend: BlobBackend
        if settings.storage_backend == "s3":
            backend = S3BlobBackend(
                settings.s3_bucket,
                prefix=settings.s3_prefix,
                endpoint_url=settings.s3_endpoint_url or None,
                region=settings.s3_region,
                download_prefix=settings.s3_download_prefix,
            )
        else:
            backend = LocalBlobBackend(settings.blob_dir)
        pause = settings.fault_pause_after_blob_write
        return cls(backend, keyring, after_put=(lambda sha: time.sleep(pause)) if pause else None)

    # -- blobs ----------------------------------------------------------------------------
    def put(self, session: Session, data: bytes, content_type: str) -> Blob:
        """Store `data` (deduplicated by SHA-256) and return its row, added to `session`."""
        sha = hashlib.sha256(data).hexdigest()
        existing = session.get(Blob, sha)
        if existing is not None and self.backend.exists(sha):
            return existing
        sealed = self.keyring.seal(data, sha)
        if existing is not None:  # row survived but bytes were lost: rewrite with the new key
            existing.key_id, existing.wrapped_key = sealed.key_id, sealed.wrapped_key
            blob = existing
        else:
            blob = Blob(
                sha256=sha,
                size=len(data),
                content_type=content_type,
                key_id=sealed.key_id,
                wrapped_key=sealed.wrapped_key,
            )
            try:
                with session.begin_nested():
                    session.add(blob)
                    session.flush()
            except SQLAlchemyIntegrityError:  # a concurrent upload of the same bytes committed first
                winner = session.get(Blob, sha, populate_existing=True)
                if winner is None or not self.backend.exists(sha):
                    raise
                return winner
        session.flush()
        self.backend.put(sha, sealed.ciphertext)
        if self.after_put is not None:
            self.after_put(sha)
        return blob

    def read(self, blob: Blob) -> bytes:
        ciphertext = self.backend.get(blob.sha256)
        data = self.keyring.open(ciphertext, blob.key_id, blob.wrapped_key, blob.sha256)
        if hashlib.sha256(data).hexdigest() != blob.sha256:
            raise IntegrityError(f"blob {blob.sha256} decrypted to bytes with another hash")
        return data

    def rotate(self, session: Session, batch: int = 500) -> int:
        """Re-wrap every data key not under the active master key; returns how many."""
        done = 0
        while True:
            rows = session.scalars(select(Blob).where(Blob.key_id != self.keyring.active_id).limit(batch)).all()
            if not rows:
                return done
            for blob in rows:
                try:
                    blob.key_id, blob.wrapped_key = self.keyring.rewrap(blob.key_id, blob.wrapped_key, blob.sha256)
                except DecryptionError as exc:
                    raise DecryptionError(f"rotation stopped, nothing after this was changed: {exc}") from exc
                done += 1
            session.flush()

    # -- assets ---------------------------------------------------------------------------
    def create_asset(
        self,
        session: Session,
        *,
        user_id: str,
        kind: str,
        data: bytes,
        content_type: str,
        width: int,
        height: int,
        operation: dict[str, Any],
        name: str = "",
        source_job_id: str | None = None,
    ) -> Asset:
        asset = Asset(user_id=user_id, kind=kind, name=name, source_job_id=source_job_id, latest_version=0)
        session.add(asset)
        session.flush()
        self.add_version(
            session,
            asset,
            data=data,
            content_type=content_type,
            width=width,
            height=height,
            operation=operation,
            parent_number=None,
        )
        return asset

    def add_version(
        self,
        session: Session,
        asset: Asset,
        *,
        data: bytes,
        content_type: str,
        width: int,
        height: int,
        operation: dict[str, Any],
        parent_number: int | None,
    ) -> AssetVersion:
        """Append version latest+1. The counter is bumped with one UPDATE, so two writers racing on
        the same asset get different numbers (the row lock / SQLite write lock orders them)."""
        blob = self.put(session, data, content_type)
        session.execute(update(Asset).where(Asset.id == asset.id).values(latest_version=Asset.latest_version + 1))
        number = session.scalar(select(Asset.latest_version).where(Asset.id == asset.id))
        assert number is not None
        asset.latest_version = number
        if parent_number is not None and not 1 <= parent_number < number:
            raise ValueError(f"parent version {parent_number} does not exist (versions 1..{number - 1})")
        version = AssetVersion(
            asset_id=asset.id,
            number=number,
            parent_number=parent_number,
            blob_sha256=blob.sha256,
            content_type=content_type,
            width=width,
            height=height,
            operation=operation,
        )
        session.add(version)
        session.flush()
        return version

    def read_version(self, session: Session, version: AssetVersion) -> StoredContent:
        blob = session.get(Blob, version.blob_sha256)
        if blob is None:
            raise IntegrityError(f"version {version.number} of asset {version.asset_id} has no blob row")
        return StoredContent(self.read(blob), version.content_type)

    def presigned_download(
        self, session: Session, version: AssetVersion, *, filename: str, expires_seconds: int
    ) -> str:
        """A short-lived S3 URL for a version's bytes. The first request writes the decrypted
        download copy (SSE-S3 at rest; see docs/deploy.md for what that trades away)."""
        if not isinstance(self.backend, S3BlobBackend):
            raise RuntimeError("presigned downloads need storage_backend = 's3'")
        sha = version.blob_sha256
        if not self.backend.has_download(sha):
            stored = self.read_version(session, version)
            self.backend.put_download(sha, stored.data, stored.content_type)
        return self.backend.presign_download(sha, filename=filename, expires_seconds=expires_seconds)

    def gc(self, session: Session, grace: timedelta = timedelta(hours=1)) -> int:
        """Delete blobs no version uses any more (deleted assets; older than `grace`), then backend
        objects no blob row refers to (left by a crash between PUT and commit). Returns objects deleted."""
        used = select(AssetVersion.blob_sha256)
        session.execute(delete(Blob).where(Blob.sha256.not_in(used), Blob.created_at < utcnow() - grace))
        known = set(session.scalars(select(Blob.sha256)).all())
        orphans = [sha for sha in self.backend.list() if sha not in known]
        for sha in orphans:
            self.backend.delete(sha)
        return len(orphans)
