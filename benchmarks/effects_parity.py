"""WebGL vs torch parity of every effects op: PSNR of the browser renderer against the server's.

Renders the same chain on the same image (the procedural test image, 8-bit levels) with the torch
renderer and with the WebGL2 renderer in headless Chromium (web/tests/effects_parity.mjs, SwiftShader
when there is no GPU), and prints PSNR (dB, peak 1.0) and the largest absolute difference per case.
Writes benchmarks/results/effects_parity.json. Needs node, web/node_modules (`npm ci` in web/) and
Chromium at /usr/bin/chromium (or $CHROMIUM_PATH).

    .venv/bin/python benchmarks/effects_parity.py
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenecraft.effects import apply_chain, parse_chain
from scenecraft.effects.test_image import make_test_image, quantise

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
RESULTS = ROOT / "benchmarks" / "results" / "effects_parity.json"
HEIGHT, WIDTH = 160, 240
PARITY_DB = 40.0


@dataclass(frozen=True)
class Case:
    name: str
    chain: list[dict[str, Any]]
    time: float = 0.0
    bound_db: float = PARITY_DB  # the PSNR the case must reach
    scene: bool = False  # pass the scene's depth and normals (scene_maps) instead of estimating them


CASES: list[Case] = [
    Case("exposure", [{"op": "exposure", "stops": 0.7}]),
    Case("contrast", [{"op": "contrast", "amount": 1.4, "pivot": 0.45}]),
    Case("saturation", [{"op": "saturation", "amount": 1.6}]),
    Case("temperature", [{"op": "temperature", "warmth": 0.6, "tint": -0.3}]),
    Case("lut_preset", [{"op": "lut", "preset": "teal_orange", "strength": 0.8}]),
    Case(
        "lut_table",
        [
            {
                "op": "lut",
                "size": 2,
                "table": [
                    [0, 0, 0.1],
                    [0.9, 0.1, 0],
                    [0, 0.8, 0.2],
                    [1, 1, 0],
                    [0.1, 0, 0.9],
                    [1, 0, 1],
                    [0, 1, 1],
                    [1, 1, 0.9],
                ],
            }
        ],
    ),
    Case("vignette", [{"op": "vignette", "amount": 0.7, "radius": 0.3, "softness": 0.7}]),
    Case("grain", [{"op": "grain", "amount": 0.15, "size": 2.5, "seed": 7}]),
    Case("grain_animated", [{"op": "grain", "amount": 0.1, "size": 1.0, "seed": 3, "animated": True}], time=0.9),
    Case("chromatic_aberration", [{"op": "chromatic_aberration", "amount": 0.02}]),
    Case("bloom", [{"op": "bloom", "strength": 1.2, "threshold": 0.6, "radius": 0.05}]),
    Case("bloom_wide", [{"op": "bloom", "strength": 0.8, "threshold": 0.5, "radius": 0.2}]),
    Case("motion_blur", [{"op": "motion_blur", "angle": 30, "length": 0.06}]),
    Case(
        "depth_of_field",
        [{"op": "depth_of_field", "focus": 0.15, "range": 0.05, "transition": 0.3, "max_blur": 0.02}],
    ),
    Case("relight", [{"op": "relight", "azimuth": 150, "elevation": 30, "strength": 0.8, "normal_strength": 2}]),
    Case("fog", [{"op": "fog", "density": 2.5, "start": 0.3}]),
    Case("rain", [{"op": "particles", "kind": "rain", "density": 0.6, "seed": 1}], time=0.35),
    Case("snow", [{"op": "particles", "kind": "snow", "density": 0.7, "wind": 0.4, "seed": 2}], time=1.3),
    Case("sparks", [{"op": "particles", "kind": "sparks", "density": 0.5, "seed": 3}], time=0.8),
    Case("dust", [{"op": "particles", "kind": "dust", "density": 0.8, "size": 2, "seed": 4}], time=2.1),
    Case("fog_scene_depth", [{"op": "fog", "density": 3.0, "start": 0.1}], scene=True),
    Case("dof_scene_depth", [{"op": "depth_of_field", "focus": 0.2, "range": 0.05, "max_blur": 0.02}], scene=True),
    Case("relight_scene_normals", [{"op": "relight", "azimuth": 200, "elevation": 40, "strength": 1}], scene=True),
    Case(
        "chain_6",
        [
            {"op": "exposure", "stops": 0.3},
            {"op": "temperature", "warmth": 0.3},
            {"op": "bloom", "strength": 0.6},
            {"op": "relight", "azimuth": 60},
            {"op": "vignette", "amount": 0.4},
            {"op": "grain", "amount": 0.05},
        ],
    ),
]


def scene_maps(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stand-ins for a scene's maps, unlike the estimators' priors: depth (1, 1, H, W) rising left to
    right, normals (1, 3, H, W) of a rippled surface."""
    u = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    v = (torch.arange(height, dtype=torch.float32) + 0.5) / height
    depth = u.view(1, 1, 1, -1).expand(1, 1, height, width).contiguous()
    nx = (0.5 * torch.sin(2 * math.pi * 3 * u)).view(1, -1).expand(height, width)
    ny = (0.5 * torch.cos(2 * math.pi * 2 * v)).view(-1, 1).expand(height, width)
    normals = torch.stack([nx, ny, torch.ones(height, width)])[None]
    return depth, normals / normals.norm(dim=1, keepdim=True)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB with peak 1.0; inf for identical images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def webgl_available() -> str | None:
    """None when the WebGL harness can run here, else the reason it cannot."""
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(chromium).exists():
        return f"Chromium not found at {chromium} (apt-get install -y chromium)"
    if not (WEB / "node_modules" / "playwright-core").exists() or not (WEB / "node_modules" / "esbuild").exists():
        return "web/node_modules is missing (run `npm ci` in web/)"
    return None


def render_webgl(image: torch.Tensor, cases: list[Case], workdir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Render the cases in Chromium: name -> (H, W, 3) float32, plus webgl.json (renderer, ms)."""
    _, _, height, width = image.shape
    rgba = torch.cat([image[0], torch.ones(1, height, width)]).permute(1, 2, 0).contiguous()  # (H, W, 4)
    (workdir / "input.f32").write_bytes(rgba.numpy().astype(np.float32).tobytes())
    depth, normals = scene_maps(height, width)
    (workdir / "depth.f32").write_bytes(depth[0, 0].numpy().tobytes())  # (H, W)
    (workdir / "normals.f32").write_bytes(normals[0].permute(1, 2, 0).contiguous().numpy().tobytes())  # (H, W, 3)
    job = {
        "width": width,
        "height": height,
        "input": "input.f32",
        "depth": "depth.f32",
        "normals": "normals.f32",
        "cases": [
            {"name": c.name, "chain": parse_chain(c.chain).to_json(), "time": c.time, "scene": c.scene} for c in cases
        ],
    }
    (workdir / "job.json").write_text(json.dumps(job))
    subprocess.run(
        ["node", str(WEB / "tests" / "effects_parity.mjs"), str(workdir)],
        cwd=WEB,
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )
    out = {}
    for c in cases:
        data = np.frombuffer((workdir / f"{c.name}.f32").read_bytes(), dtype=np.float32)
        out[c.name] = data.reshape(height, width, 4)[..., :3]
    return out, json.loads((workdir / "webgl.json").read_text())


def render_torch(image: torch.Tensor, case: Case) -> np.ndarray:
    depth, normals = scene_maps(*image.shape[-2:]) if case.scene else (None, None)
    out = apply_chain(case.chain, image, depth=depth, normals=normals, time=case.time)
    return out[0].permute(1, 2, 0).numpy()


def measure(cases: list[Case] = CASES) -> tuple[list[dict[str, Any]], dict]:
    image = quantise(make_test_image(HEIGHT, WIDTH))
    with tempfile.TemporaryDirectory(prefix="effects-parity-") as tmp:
        webgl, info = render_webgl(image, cases, Path(tmp))
    rows = []
    for c in cases:
        ref = render_torch(image, c)
        rows.append(
            {
                "case": c.name,
                "ops": [op["op"] for op in c.chain],
                "time": c.time,
                "psnr_db": psnr(ref, webgl[c.name]),
                "max_abs_diff": float(np.abs(ref - webgl[c.name]).max()),
                "bound_db": c.bound_db,
                "webgl_ms": info["ms"][c.name],
            }
        )
    return rows, info


def main() -> int:
    reason = webgl_available()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    rows, info = measure()
    print(f"WebGL renderer: {info['renderer']}; image {WIDTH}x{HEIGHT}, 8-bit levels; PSNR peak 1.0")
    print(f"{'case':<22}{'PSNR dB':>10}{'max |diff|':>12}{'bound dB':>10}{'WebGL ms':>10}")
    for r in rows:
        shown = "inf" if math.isinf(r["psnr_db"]) else f"{r['psnr_db']:.1f}"
        print(f"{r['case']:<22}{shown:>10}{r['max_abs_diff']:>12.2e}{r['bound_db']:>10.0f}{r['webgl_ms']:>10.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "renderer": info["renderer"],
        "height": HEIGHT,
        "width": WIDTH,
        "rows": [{**r, "psnr_db": None if math.isinf(r["psnr_db"]) else r["psnr_db"]} for r in rows],
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if all(r["psnr_db"] >= r["bound_db"] for r in rows) else 1


if __name__ == "__main__":
    torch.set_num_threads(1)
    raise SystemExit(main())
