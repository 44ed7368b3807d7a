"""Seconds per denoising step of the bundled model by image size: what bounds the studio's sizes.

The worker checks for a cancel after every step, so the longest step is how long a cancel can take;
this table is why the bundled model (seed-12M, trained at 64x64) accepts sizes up to 128 only
(api/schemas.py BUNDLED_MAX_SIZE). Each size runs `--steps` steps `--repeats` times (the
prompt's guidance on, as the studio sends it); the fastest run counts. Loaded machines give slower
figures: the table prints the thread count and the machine.

    .venv/bin/python benchmarks/step_time.py [--sizes 32 64 128 256] [--steps 2] [--repeats 2]

Writes benchmarks/results/step_time.json.
"""

from __future__ import annotations

import argparse
import json
import platform as host
import time
from pathlib import Path

import torch

from scenecraft.pipeline import GenerationPipeline, SampleSpec

RESULTS = Path(__file__).resolve().parent / "results" / "step_time.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pipe = GenerationPipeline.from_settings(model="seed-12M")
    rows = []
    print(
        f"seed-12M, {args.steps} steps, euler, guidance 3, {args.threads} threads, {host.processor() or host.machine()}"
    )
    print(f"{'size':>6} {'s/step':>8} {'s/image (20 steps)':>20}")
    for size in args.sizes:
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            pipe.generate([SampleSpec(seed=1)], size=size, steps=args.steps, sampler="euler", guidance=3.0)
            best = min(best, (time.perf_counter() - t) / args.steps)
        rows.append({"size": size, "seconds_per_step": round(best, 3)})
        print(f"{size:>6} {best:>8.2f} {best * 20:>20.1f}", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"threads": args.threads, "steps": args.steps, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
