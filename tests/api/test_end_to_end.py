"""From a fresh data directory to a downloaded image, through `scenecraft serve` as a real process
running the real generation pipeline (a random-initialised seed-12M: plumbing, not quality)."""

from __future__ import annotations

import base64
import io
import re
import signal
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from tests.utils.processes import free_port, reference_image, scenecraft
from tests.utils.sse import parse


@pytest.mark.slow
def test_login_key_job_sse_previews_and_png_download(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    server = scenecraft(["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)], log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/readyz").json().get("ready"):
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, log.read_text()
            time.sleep(0.3)
        else:
            pytest.fail(f"server never became ready:\n{log.read_text()}")
        password = re.search(r"password: (\S+)", log.read_text())
        assert password is not None, log.read_text()

        with httpx.Client(base_url=base, timeout=60) as browser:
            r = browser.post("/v1/auth/login", json={"username": "admin", "password": password.group(1)})
            assert r.status_code == 200
            csrf = r.json()["csrf_token"]
            r = browser.post("/v1/keys", json={"name": "e2e"}, headers={"X-CSRF-Token": csrf})
            assert r.status_code == 201
            key = r.json()["key"]

        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, timeout=120, headers=auth) as program:
            job = {"prompt": "a chair in a sunlit room", "width": 32, "height": 32, "steps": 4, "seed": 123}
            r = program.post("/v1/jobs", json=job, headers={"Idempotency-Key": "e2e-1"})
            assert r.status_code == 202
            job_id = r.json()["id"]
            with program.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                events = parse(stream.iter_lines())
            previews = [e for e in events if e.event == "preview"]
            assert [e.data["step"] for e in previews] == [1, 2, 3, 4]
            for e in previews:
                assert Image.open(io.BytesIO(base64.b64decode(e.data["jpeg"]))).format == "JPEG"
            assert events[-1].event == "done"
            asset_id = events[-1].data["asset_id"]
            r = program.get(f"/v1/assets/{asset_id}/versions/1/content")
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
            got = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"), dtype=np.int16)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    expected = np.asarray(reference_image(123, 32, 4, prompt="a chair in a sunlit room", guidance=3.0), dtype=np.int16)
    assert got.shape == (32, 32, 3)
    assert np.abs(got - expected).max() <= 1  # the pipeline run directly gives the same image
