"""Ablation probes of the bundled model: each change trained on one fixed, short budget, then judged.

    python benchmarks/probe.py --device cuda [--seconds 120] [--arms base lr-2x ...] [--images 32]

Every arm starts from the same weights (the bundled seed-12M unless ``--init``), trains for the
same wall-time budget on the same world scenes (data seed 0, the trainer's default losses and
dropout) with its own change to the trainer's settings, and is then scored by the frozen judges on
the held-out requests (:func:`scenecraft.train.validation.score`, euler 20 steps, guidance 3). The
table is change -> each metric, beside ``base`` (the current recipe), so a change is kept only
where it beats the base on the same budget. Each arm's run folder (weights, ``metrics.jsonl``,
samples) stays under ``--runs``; the table goes to benchmarks/results/probe.json.

The budget is wall time, not steps, because what a change must win is quality per second of the
one GPU we get; ``--seconds 120`` is about 90k samples at batch 256 on an H200 (790 img/s measured,
benchmarks/results/gpu_session.md). On this project's 2-core CPU a probe is about one sample per
second — a check of the plumbing (``--seconds 20 --images 2 --batch 4``), not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "src" / "scenecraft" / "weights" / "seed-12M.safetensors"
# name -> TrainConfig fields the arm changes (the base recipe: lr 4e-4, EMA 0.999, batch as given)
ARMS: dict[str, dict[str, Any]] = {
    "base": {},
    "lr-2x": {"lr": 8e-4},
    "lr-0.5x": {"lr": 2e-4},
    "ema-0.9999": {"ema_decay": 0.9999},
    "ema-0.99": {"ema_decay": 0.99},
    "batch-0.5x": {"batch_scale": 0.5},
    "no-subject-dropout": {"drop": {"text": 0.1, "scene": 0.5, "subjects": 0.0, "pose": 0.4}},
    # dense layout conditioning: each subject's phrase painted over its box (grown from the init at zero)
    "dense-layout": {"dense_layout": True},
    # REPA: the tokens after block 3 aligned with the judges' segmenter features of the clean image
    "repa": {"repa_weight": 0.5},
}
KEYS = ("material_fidelity", "layout_recall", "attribute_binding", "count_accuracy", "pose_pck", "light_agreement")


def run_arm(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from scenecraft.train.trainer import TrainConfig, Trainer

    change = dict(ARMS[name])
    batch = max(1, round(args.batch * change.pop("batch_scale", 1.0)))
    out = args.runs / name
    if (out / "state.pt").exists():
        raise SystemExit(f"{out} holds an earlier probe; a probe starts fresh (remove it or pass another --runs)")
    cfg = TrainConfig(
        out=out,
        batch=batch,
        lr=4e-4,
        warmup=50,
        seconds=args.seconds,
        workers=args.workers,
        buffer=args.buffer,
        device=args.device,
        save_every=1e9,  # one save, at the end
        eval_images=args.images,
        init=args.init,
        text_encoder=args.text_encoder,
        **change,
    )
    t0 = time.perf_counter()
    result = Trainer(cfg).train()
    record = result["validation"] or {}
    return {
        "arm": name,
        "change": ARMS[name],
        "batch": batch,
        "steps": result["step"],
        "samples": result["step"] * batch,
        "seconds": round(time.perf_counter() - t0, 1),
        **{k: record.get(k) for k in KEYS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seconds", type=float, default=120.0, help="training budget of every arm")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers", type=int, default=14, help="rendering processes")
    parser.add_argument("--buffer", type=int, default=200_000)
    parser.add_argument("--images", type=int, default=32, help="held-out requests judged per arm")
    parser.add_argument("--init", type=Path, default=BUNDLED)
    parser.add_argument("--text-encoder", type=Path, default=None)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "probe")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "probe.json")
    args = parser.parse_args()
    if args.seconds <= 0 or args.images < 1:
        raise SystemExit("--seconds must be > 0 and --images >= 1")
    from scenecraft.atomic_write import write_text

    rows = [run_arm(name, args) for name in args.arms]
    result = {
        "benchmark": "probe",
        "budget_seconds": args.seconds,
        "device": args.device,
        "init": str(args.init),
        "images": args.images,
        "cpu_count": os.cpu_count(),
        "rows": rows,
    }
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"probes: {args.seconds:.0f} s each on {args.device} from {args.init.name}, {args.images} held-out requests")
    print("| arm | change | steps | samples | " + " | ".join(KEYS) + " |")
    print("|---|---|---|---|" + "---|" * len(KEYS))
    for r in rows:
        cells = " | ".join("-" if r[k] is None else f"{r[k]:.3f}" for k in KEYS)
        print(f"| {r['arm']} | {json.dumps(r['change'])} | {r['steps']} | {r['samples']} | {cells} |")


if __name__ == "__main__":
    main()
