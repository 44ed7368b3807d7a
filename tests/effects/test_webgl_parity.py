"""The WebGL2 renderer (web/src/effects/) against the torch renderer, in headless Chromium.

Each op's chain is rendered by both on the same 8-bit test image; they must agree to the case's
PSNR bound (40 dB for every op: the random ops share the integer hash, so they match too). Three
cases pass scene depth and normals instead of estimating them. A control case renders grain with the
wrong seed, to show the comparison can fail. Needs node,
web/node_modules and Chromium (.ci/run installs them); outside CI a missing tool skips the test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from benchmarks.effects_parity import (
    CASES,
    HEIGHT,
    WIDTH,
    Case,
    psnr,
    render_torch,
    render_webgl,
    webgl_available,
)

from scenecraft.effects.chain import OPS
from scenecraft.effects.test_image import make_test_image, quantise

pytestmark = pytest.mark.slow


def test_webgl_matches_torch_for_every_op(tmp_path: Path) -> None:
    reason = webgl_available()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the parity test must run in CI: {reason}")
        pytest.skip(reason)
    image = quantise(make_test_image(HEIGHT, WIDTH))
    control = Case("control_wrong_seed", [{"op": "grain", "amount": 0.15, "size": 2.5, "seed": 8}])
    webgl, info = render_webgl(image, [*CASES, control], tmp_path)
    assert "SwiftShader" in info["renderer"] or info["renderer"]  # reported in the parity table

    results = {c.name: psnr(render_torch(image, c), webgl[c.name]) for c in CASES}
    failing = {c.name: round(results[c.name], 1) for c in CASES if not results[c.name] >= c.bound_db}
    assert not failing, f"WebGL differs from torch (PSNR dB below the bound): {failing}"
    assert {op["op"] for c in CASES for op in c.chain} == set(OPS)  # every op is covered

    # The scene cases matched torch given the maps, which change the picture: the maps were used.
    for case in (c for c in CASES if c.scene):
        estimated = Case(case.name, case.chain, case.time)
        assert psnr(render_torch(image, estimated), webgl[case.name]) < 40.0, case.name

    grain_seed_7 = next(c for c in CASES if c.name == "grain")
    assert psnr(render_torch(image, grain_seed_7), webgl["control_wrong_seed"]) < 30.0


def test_webgl_sources_typecheck() -> None:
    """web/src/effects is strict TypeScript (tsc --noEmit, web/tsconfig.json)."""
    reason = webgl_available()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the TypeScript check must run in CI: {reason}")
        pytest.skip(reason)
    web = Path(__file__).resolve().parents[2] / "web"
    out = subprocess.run(
        ["npx", "--no-install", "tsc", "--noEmit", "-p", "."],
        cwd=web,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
