"""Blob backends: atomic local writes (a killed writer leaves nothing), S3 against moto's server."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenecraft.storage.backends import BlobNotFound, LocalBlobBackend, S3BlobBackend


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_local_put_get_list_delete(tmp_path: Path) -> None:
    be = LocalBlobBackend(tmp_path)
    be.put(sha(b"a"), b"A-cipher")
    assert be.get(sha(b"a")) == b"A-cipher"
    assert be.path(sha(b"a")).parent.parent.name == sha(b"a")[:2]
    assert be.list() == [sha(b"a")] and be.exists(sha(b"a"))
    be.delete(sha(b"a"))
    with pytest.raises(BlobNotFound):
        be.get(sha(b"a"))
    assert list(be.tmp.iterdir()) == []


def test_addresses_must_be_sha256(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        LocalBlobBackend(tmp_path).put("../../etc/passwd", b"x")


def test_writer_killed_mid_write_leaves_no_partial_blob(tmp_path: Path) -> None:
    # A child process starts writing an 8 MiB blob and SIGKILLs itself after the first chunk,
    # before fsync and rename: exactly a server dying mid-upload.
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        import scenecraft.storage.backends as b
        be = b.LocalBlobBackend(Path({str(tmp_path)!r}))
        real_fsync = os.fsync
        def die(fd):
            os.kill(os.getpid(), signal.SIGKILL)
        b.os.fsync = die
        be.put("{"e" * 64}", os.urandom(8 << 20))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    leftovers = list((tmp_path / "tmp").iterdir())
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # the write had begun
    be = LocalBlobBackend(tmp_path)  # the next start sweeps it
    assert be.list() == [] and not be.exists("e" * 64)
    assert list(be.tmp.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_backend(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3BlobBackend:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"b{_free_port()}"
    client.create_bucket(Bucket=bucket)
    return S3BlobBackend(bucket, prefix="blobs/", client=client)


def test_s3_backend_against_moto_server(s3_backend: S3BlobBackend) -> None:
    s3_backend.ping()
    a, b = sha(b"a"), sha(b"b")
    assert not s3_backend.exists(a)
    s3_backend.put(a, b"A" * 1000)
    s3_backend.put(b, b"B")
    assert s3_backend.get(a) == b"A" * 1000 and s3_backend.exists(a)
    assert s3_backend.list() == sorted([a, b])
    s3_backend.delete(a)
    with pytest.raises(BlobNotFound):
        s3_backend.get(a)
    # what moto holds is what we wrote, under the documented key
    raw = s3_backend.client.get_object(Bucket=s3_backend.bucket, Key=f"blobs/{b}")["Body"].read()
    assert raw == b"B"


def test_encrypted_store_on_s3(s3_backend: S3BlobBackend, db: object) -> None:
    from scenecraft.db import Database
    from scenecraft.storage.crypto import Keyring
    from scenecraft.storage.store import BlobStore

    assert isinstance(db, Database)
    store = BlobStore(s3_backend, Keyring({"k1": bytes(range(32))}, "k1"))
    with db.session() as s:
        blob = store.put(s, b"pixels" * 100, "image/png")
    raw = s3_backend.get(blob.sha256)
    assert b"pixels" not in raw and store.read(blob) == b"pixels" * 100
