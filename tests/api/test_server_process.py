"""Against a real `scenecraft serve` process (uvicorn, SQLite and PostgreSQL):

- a client on 127.0.0.1 cannot forge its address with X-Forwarded-For (uvicorn's own trust of
  proxy headers is off; only settings.trusted_proxies could turn reading them on);
- SIGKILL between a blob's write and the database commit (held open by the test-only
  `fault_pause_after_blob_write`) leaves nothing visible: no asset, version or blob row, an empty
  listing; after a restart the same upload succeeds and reads back byte for byte.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from tests.utils.factories import png_bytes
from tests.utils.processes import free_port, scenecraft

from scenecraft.db import Database
from scenecraft.db.models import Asset, AssetVersion, AuditRecord, Blob

pytestmark = pytest.mark.slow


class Serve:
    """One `scenecraft serve` on a data dir; start() may be called again after kill()."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.data_dir = tmp_path / "data"
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = ""
        self.proc: subprocess.Popen[str] | None = None
        self.runs = 0

    def start(self, **env: str) -> None:
        self.runs += 1
        self.log = self.data_dir.parent / f"serve-{self.runs}.log"
        self.proc = scenecraft(
            ["serve", "--data-dir", str(self.data_dir), "--port", str(self.port), "--workers", "0"],
            env={"SCENECRAFT_DATABASE_URL": self.database_url, **env},
            log=self.log,
        )
        deadline = time.time() + 90
        while "serving on" not in self.log.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                pytest.fail("scenecraft serve did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.2)
        found = re.search(r"password: (\S+)", self.log.read_text())
        self.password = found.group(1) if found else self.password

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def login(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=60)
        r = client.post("/v1/auth/login", json={"username": "admin", "password": self.password})
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client


@pytest.fixture
def serve(tmp_path: Path, database_url: str) -> Iterator[Serve]:
    server = Serve(tmp_path, database_url)
    yield server
    server.stop()


def test_a_local_client_cannot_forge_its_address(serve: Serve) -> None:
    serve.start()
    codes = []
    with httpx.Client(base_url=serve.url, timeout=30) as client:
        for i in range(11):  # 10 per minute per (address, username): the 11th is refused
            r = client.post(
                "/v1/auth/login",
                json={"username": "admin", "password": "wrong password"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            codes.append(r.status_code)
    assert codes == [401] * 10 + [429]
    db = Database(serve.database_url)
    try:
        with db.session() as s:
            ips = set(s.scalars(select(AuditRecord.ip).where(AuditRecord.action == "auth.login_failed")))
    finally:
        db.dispose()
    assert ips == {"127.0.0.1"}


def rows(database_url: str) -> dict[str, int]:
    db = Database(database_url)
    try:
        with db.session() as s:
            tables = (Asset, AssetVersion, Blob)
            return {t.__name__: int(s.scalar(select(func.count()).select_from(t)) or 0) for t in tables}
    finally:
        db.dispose()


def test_sigkill_between_blob_write_and_commit_leaves_no_orphan_and_the_retry_succeeds(serve: Serve) -> None:
    serve.start(SCENECRAFT_FAULT_PAUSE_AFTER_BLOB_WRITE="60")
    client = serve.login()
    image = png_bytes((24, 24), (200, 40, 90))
    outcome: dict[str, object] = {}

    def upload() -> None:
        try:
            outcome["response"] = client.post("/v1/assets", files={"file": ("kill.png", image, "image/png")})
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    uploading = threading.Thread(target=upload)
    uploading.start()
    blob_dir = serve.data_dir / "blobs"
    deadline = time.time() + 60
    while not list(blob_dir.glob("??/??/*")):  # the bytes are written; the server now waits to commit
        assert time.time() < deadline, serve.log.read_text()[-3000:]
        time.sleep(0.05)
    serve.kill()
    uploading.join(timeout=30)
    assert "error" in outcome and "response" not in outcome  # the client saw the connection die
    assert len(list(blob_dir.glob("??/??/*"))) == 1  # an unreferenced object: invisible, `gc` takes it
    assert rows(serve.database_url) == {"Asset": 0, "AssetVersion": 0, "Blob": 0}

    serve.start()  # no fault this time; the session survived the crash
    assert client.get("/v1/assets").json()["items"] == []
    r = client.post("/v1/assets", files={"file": ("kill.png", image, "image/png")})
    assert r.status_code == 201, r.text
    asset = r.json()
    content = client.get(f"/v1/assets/{asset['id']}/versions/1/content")
    assert content.status_code == 200 and content.content == image
    assert rows(serve.database_url) == {"Asset": 1, "AssetVersion": 1, "Blob": 1}
    client.close()
