"""Speed of the torch effects renderer: milliseconds per megapixel for each op and a 6-op chain.

Renders the procedural test image at 1024² and 4096² on the CPU (and on CUDA when a GPU is present),
prints a table and writes benchmarks/results/effects_speed.json. Each timing is the median of
--repeats runs after one warm-up run (at 4096², one run: --repeats-large). Threads: --threads
(default 1, the figure the docs quote; other work shares this machine's 2 cores).

    .venv/bin/python benchmarks/effects_speed.py [--sizes 1024 4096] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from scenecraft.effects import apply_chain, parse_chain
from scenecraft.effects.test_image import make_test_image

RESULTS = Path(__file__).resolve().parent / "results" / "effects_speed.json"

# One representative setting per op (the docs' strips use the same ones).
OPS: dict[str, dict[str, Any]] = {
    "exposure": {"op": "exposure", "stops": 0.7},
    "contrast": {"op": "contrast", "amount": 1.4},
    "saturation": {"op": "saturation", "amount": 1.6},
    "temperature": {"op": "temperature", "warmth": 0.6},
    "lut": {"op": "lut", "preset": "teal_orange"},
    "vignette": {"op": "vignette", "amount": 0.6},
    "grain": {"op": "grain", "amount": 0.1, "size": 1.5},
    "chromatic_aberration": {"op": "chromatic_aberration", "amount": 0.01},
    "bloom": {"op": "bloom", "strength": 1.0, "threshold": 0.6, "radius": 0.05},
    "motion_blur": {"op": "motion_blur", "angle": 30, "length": 0.03},
    "depth_of_field": {"op": "depth_of_field", "focus": 0.15, "max_blur": 0.02},
    "relight": {"op": "relight", "azimuth": 150, "strength": 0.8},
    "fog": {"op": "fog", "density": 2.5},
    "particles (rain)": {"op": "particles", "kind": "rain", "density": 0.6},
}
CHAIN_6 = [
    {"op": "exposure", "stops": 0.3},
    {"op": "temperature", "warmth": 0.3},
    {"op": "bloom", "strength": 0.6},
    {"op": "relight", "azimuth": 60},
    {"op": "vignette", "amount": 0.4},
    {"op": "grain", "amount": 0.05},
]


def time_chain(chain: list[dict[str, Any]], image: torch.Tensor, repeats: int) -> float:
    """Median seconds of apply_chain (after a warm-up), synchronising CUDA around each run."""
    parsed = parse_chain(chain)
    samples = []
    for i in range(repeats + 1):
        if image.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        apply_chain(parsed, image, time=0.5)
        if image.is_cuda:
            torch.cuda.synchronize()
        if i > 0 or repeats == 0:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs below 4096² (median)")
    parser.add_argument("--repeats-large", type=int, default=1, help="timed runs at 4096²")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    cases = [(name, [op]) for name, op in OPS.items()] + [("chain of 6 ops", CHAIN_6)]
    rows = []
    for device in devices:
        for size in args.sizes:
            image = make_test_image(size, size).to(device)
            megapixels = size * size / 1e6
            repeats = args.repeats_large if size >= 4096 else args.repeats
            for name, chain in cases:
                seconds = time_chain(chain, image, repeats)
                rows.append(
                    {
                        "device": device,
                        "size": size,
                        "case": name,
                        "ops": len(chain),
                        "seconds": seconds,
                        "ms_per_megapixel": seconds * 1000 / megapixels,
                    }
                )
                print(f"  {device} {size}² {name}: {seconds * 1000:.0f} ms", flush=True)
    names = [name for name, _ in cases]
    columns = [(d, s) for d in devices for s in args.sizes]
    print(f"\nms per megapixel (torch {torch.__version__}, {args.threads} thread(s), {platform.machine()})")
    print(f"{'case':<24}" + "".join(f"{f'{d} {s}²':>14}" for d, s in columns))
    for name in names:
        cells = [
            next(r["ms_per_megapixel"] for r in rows if (r["device"], r["size"], r["case"]) == (d, s, name))
            for d, s in columns
        ]
        print(f"{name:<24}" + "".join(f"{c:>14.1f}" for c in cells))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": args.threads,
                "machine": platform.machine(),
                "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                "chain_6": CHAIN_6,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
