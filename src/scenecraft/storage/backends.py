"""Where encrypted blob bytes live: a local directory (default) or an S3-compatible bucket.

Both are addressed by the SHA-256 of the plaintext. A write is all or nothing:
- local: write to ``tmp/<random>``, flush, fsync, ``os.replace`` onto the final name, fsync the
  directory. A process killed mid-write leaves only a temp file, which the next start sweeps;
  readers never see a partial blob because the final name appears atomically.
- S3: a single PUT is atomic by the service's contract (an object is visible whole or not at all).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Protocol

from scenecraft.atomic_write import atomic_open

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


def check_address(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"blob address must be 64 lowercase hex digits (SHA-256), got {sha256!r}")
    return sha256


class BlobNotFound(KeyError):
    pass


class BlobBackend(Protocol):
    def put(self, sha256: str, data: bytes) -> None: ...
    def get(self, sha256: str) -> bytes: ...
    def exists(self, sha256: str) -> bool: ...
    def delete(self, sha256: str) -> None: ...
    def list(self) -> list[str]: ...
    def ping(self) -> None: ...


class LocalBlobBackend:
    """Blobs under ``root/ab/cd/<sha256>``; in-flight writes under ``root/tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.sweep_temp()

    def sweep_temp(self) -> int:
        """Delete temp files left by a process killed mid-write; returns how many."""
        removed = 0
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def path(self, sha256: str) -> Path:
        check_address(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        """Writes (or atomically replaces) the object. An object already there is not skipped: the
        address is the plaintext's hash, but the bytes are sealed under a per-write data key, and an
        object left by a crash has a key no row remembers (BlobStore.put decides when to write)."""
        final = self.path(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(final, temp_dir=self.tmp) as f:
            for start in range(0, len(data), CHUNK):
                f.write(data[start : start + CHUNK])

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def list(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("??/??/*") if _SHA256.match(p.name))

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise OSError(f"blob directory {self.root} is not writable")


class S3BlobBackend:
    """Blobs as objects ``<prefix><sha256>`` in one bucket of any S3-compatible store."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "blobs/",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        client: Any = None,
        download_prefix: str = "downloads/",
    ) -> None:
        if client is None:
            import boto3  # imported here: only S3 deployments pay for it

            client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        if download_prefix == prefix:
            raise ValueError("the download prefix must differ from the blob prefix (it holds plaintext copies)")
        self.download_prefix = download_prefix

    def _key(self, sha256: str) -> str:
        return self.prefix + check_address(sha256)

    def put(self, sha256: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(sha256), Body=data)

    def get(self, sha256: str) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound(sha256) from None
        body: bytes = obj["Body"].read()
        return body

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))

    def list(self) -> list[str]:
        names: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            names.extend(o["Key"][len(self.prefix) :] for o in page.get("Contents", []))
        return sorted(names)

    def ping(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    # -- presigned downloads ----------------------------------------------------------------
    def _download_key(self, sha256: str) -> str:
        return self.download_prefix + check_address(sha256)

    def put_download(self, sha256: str, data: bytes, content_type: str) -> None:
        """The plaintext download copy of a blob, under `download_prefix`, encrypted by the store
        (SSE-S3, AES-256): a presigned GET can then be served by S3 (or a CDN in front of it)."""
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._download_key(sha256),
            Body=data,
            ContentType=content_type,
            CacheControl="private, max-age=31536000, immutable",
            ServerSideEncryption="AES256",
        )

    def has_download(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._download_key(sha256))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def presign_download(self, sha256: str, *, filename: str, expires_seconds: int) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._download_key(sha256),
                "ResponseContentDisposition": f'inline; filename="{filename}"',
            },
            ExpiresIn=expires_seconds,
        )
        return url
