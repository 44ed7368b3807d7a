"""The web studio (web/): its Vitest unit tests, and the end-to-end run in Debian's Chromium against a
real `scenecraft serve` (web/e2e/studio.e2e.mjs: log in, two subjects and a pose, the workbench in
view at 1280x800, generate, live previews, reload during a job and find it again, queue two jobs and
cancel them, the gallery's settings reused, an effect, version 2, a dropped PNG's settings loaded,
account with MFA recovery codes, admin, phone width with Generate in view, offline, recovery-code login).

Needs node, web/node_modules, the built app (web/dist) and Chromium: `scripts/setup-web` makes them
all, and .ci/run runs it first. Outside CI a missing piece skips these tests; in CI it fails them.
The screenshots go to web/test-results/e2e/ (their paths are printed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.utils.processes import free_port, scenecraft

WEB = Path(__file__).resolve().parents[2] / "web"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = WEB / "test-results" / "e2e"


def missing(*, browser: bool) -> str | None:
    """Why the web tests cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (WEB / "node_modules" / "vitest").exists():
        return "web/node_modules is missing (run scripts/setup-web)"
    if browser and not (WEB / "dist" / "index.html").exists():
        return "the studio is not built (run scripts/setup-web)"
    if browser and not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    return None


def require(*, browser: bool) -> None:
    reason = missing(browser=browser)
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the web tests must run in CI: {reason}")
        pytest.skip(reason)


def test_vitest_unit_tests_pass() -> None:
    """Box editing, skeleton maths (FK against smpl.py's numbers, IK), studio state, the draft store,
    SSE resume, field parsing, model choices, PNG text chunks, job views and estimates, effects controls."""
    require(browser=False)
    out = subprocess.run(["npx", "--no-install", "vitest", "run"], cwd=WEB, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)  # vitest colours its summary even in a pipe
    passed = re.search(r"Tests\s+(\d+) passed", plain)
    assert passed is not None and int(passed.group(1)) >= 70, out.stdout


def wait_ready(base: str, server: subprocess.Popen[str], log: Path) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/readyz").json().get("ready"):
                return
        except httpx.HTTPError:
            pass
        assert server.poll() is None, log.read_text()
        time.sleep(0.3)
    pytest.fail(f"server never became ready:\n{log.read_text()}")


@pytest.mark.slow
def test_studio_end_to_end_in_chromium(tmp_path: Path) -> None:
    require(browser=True)
    port = free_port()
    log = tmp_path / "serve.log"
    server = scenecraft(["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)], log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, log)
        password = re.search(r"password: (\S+)", log.read_text())
        assert password is not None, log.read_text()
        assert '<div id="root">' in httpx.get(base + "/").text  # the built app is served at /
        if SCREENSHOTS.exists():
            shutil.rmtree(SCREENSHOTS)
        env = {
            **os.environ,
            "SCENECRAFT_URL": base,
            "SCENECRAFT_PASSWORD": password.group(1),
            "E2E_OUT": str(SCREENSHOTS),
        }
        out = subprocess.run(
            ["node", "e2e/studio.e2e.mjs"], cwd=WEB, env=env, capture_output=True, text=True, timeout=540
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lines = out.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {"ok": False, "screenshots": []}
    print("e2e screenshots:\n  " + "\n  ".join(result["screenshots"]))
    assert out.returncode == 0 and result["ok"], out.stdout + out.stderr + "\n" + log.read_text()[-4000:]
    assert result["previewFrames"] >= 2
    steps = ("desktopInView", "reloadFound", "queuedTwo", "cancelled", "reused", "version2", "pngDropped")
    steps += ("phoneInView", "offline", "recoveryLogin", "mfaLogin")
    assert all(result.get(step) for step in steps), result
    assert len(result["request"]["subjects"]) == 2
