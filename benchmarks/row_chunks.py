"""Rows per forward pass: the bundled teacher's guided steps on a batch of requests, run as one pass
or in chunks of at most N rows (``GenerationPipeline.max_rows``), in turns in one process.

    .venv/bin/python benchmarks/row_chunks.py [--chunks none 16 8] [--batch 8] [--steps 2] [--rounds 3]

A teacher step on B requests runs B x (guidance levels) rows, up to 5 levels: 40 rows for the 8
requests of a trajectory shard (`scenecraft distill`) or a batch-8 job. Each round times every
setting once, in order, on the same requests and seeds (a trajectory shard's: the full mode's world
scenes); the median of the rounds is quoted. Also reports the largest difference of each setting's
samples from the one-pass samples, which is float rounding only (samples do not depend on their
batch). Writes benchmarks/results/row_chunks.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "row_chunks.json"


def main() -> None:
    from scenecraft.pipeline import DEFAULT_SCALES, GenerationPipeline, SampleSpec
    from scenecraft.train.trajectories import shard_requests

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", nargs="+", default=["none", "16", "8"], help="max rows per pass ('none': one pass)")
    ap.add_argument("--batch", type=int, default=8, help="requests per batch")
    ap.add_argument("--steps", type=int, default=2, help="euler steps per timed run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    settings = [None if c == "none" else int(c) for c in args.chunks]
    if any(s is not None and s < 1 for s in settings) or args.rounds < 1 or args.steps < 1:
        raise SystemExit("chunks must be 'none' or >= 1; rounds and steps >= 1")
    pipe = GenerationPipeline.from_settings("seed-12M")
    _, requests = shard_requests(0, args.batch, 64)  # shard 0 is a full-mode shard: every condition but the scene
    specs = [SampleSpec(seed=k, request=r) for k, r in enumerate(requests)]
    scales = dict(DEFAULT_SCALES)
    text = scales.pop("text")

    def run(rows: int | None) -> tuple[float, torch.Tensor]:
        pipe.max_rows = rows
        t0 = time.perf_counter()
        z = pipe.sample(specs, size=64, steps=args.steps, sampler="euler", guidance=text, condition_scales=scales)
        return time.perf_counter() - t0, z

    run(settings[0])  # warm-up
    times: dict[str, list[float]] = {str(s): [] for s in settings}
    samples: dict[str, torch.Tensor] = {}
    for _ in range(args.rounds):
        for s in settings:
            seconds, z = run(s)
            times[str(s)].append(seconds)
            samples[str(s)] = z
    reference = samples.get("None", samples[str(settings[0])])
    rows = []
    for s in settings:
        median = statistics.median(times[str(s)])
        rows.append(
            {
                "max_rows": s,
                "s_per_step": median / args.steps,
                "s_per_step_all": [t / args.steps for t in times[str(s)]],
                "max_abs_diff_vs_one_pass": float((samples[str(s)] - reference).abs().max()),
            }
        )
    base = rows[0]["s_per_step"]
    for r in rows:
        r["speedup_vs_first"] = base / r["s_per_step"]
    result = {
        "benchmark": "row_chunks",
        "batch": args.batch,
        "steps": args.steps,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"seed-12M teacher, {args.batch} requests, euler, {torch.get_num_threads()} threads, median of {args.rounds}")
    print("| max rows per pass | s / step | x the first | max abs diff vs one pass |")
    print("|---|---:|---:|---:|")
    for r in rows:
        label = "one pass" if r["max_rows"] is None else str(r["max_rows"])
        diff = r["max_abs_diff_vs_one_pass"]
        print(f"| {label} | {r['s_per_step']:.2f} | {r['speedup_vs_first']:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
