"""Held-out accuracy of the frozen scene-world evaluators.

Renders scenes 0..N-1 of a seed the evaluators never trained on (training used seeds 1000 and
2000) at 128 px and scores: material accuracy (object boxes plus a floor and a wall patch per
scene), detection recall at IoU 0.5, and keypoint PCK@0.1 (all 24 joints, given the person's box).
Also scores generated-image metrics on the same renders (real pairs) and on shuffled pairs, the
sanity check of :mod:`scenecraft.evaluate.metrics`. Writes benchmarks/results/evaluators.json.

    python benchmarks/evaluators.py [--n 500] [--seed 7] [--weights DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

TARGETS = {"material_accuracy": 0.97, "detection_recall": 0.95, "keypoint_pck": 0.90}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=100, help="scenes for the real/shuffled metric check")
    parser.add_argument("--weights", default=None, help="weights directory (default: the shipped weights)")
    args = parser.parse_args()
    import numpy as np
    import torch

    from scenecraft.evaluate.judges import Evaluators
    from scenecraft.evaluate.metrics import held_out_report, score_images
    from scenecraft.world.dataset import WorldSampler

    torch.set_num_threads(1)
    ev = Evaluators.load(args.weights) if args.weights else Evaluators.load()
    t0 = time.perf_counter()
    report = held_out_report(ev, n=args.n, seed=args.seed, size=args.size)
    seconds = time.perf_counter() - t0
    print(f"held-out: {args.n} scenes of seed {args.seed} at {args.size} px ({seconds:.0f} s)")
    print(f"{'metric':<24}{'value':>8}{'target':>8}{'support':>9}")
    support = {
        "material_accuracy": "material_regions",
        "detection_recall": "subjects",
        "keypoint_pck": "joints",
    }
    for key, target in TARGETS.items():
        print(f"{key:<24}{report[key]:>8.3f}{target:>8.2f}{report[support[key]]:>9}")
    for key in ("detection_precision", "kind_accuracy", "colour_accuracy", "keypoint_pck_visible"):
        print(f"{key:<24}{report[key]:>8.3f}")

    sampler = WorldSampler(seed=args.seed + 1)
    renders = [sampler.render(i, args.size) for i in range(args.pairs)]
    specs, images = [r.spec for r in renders], [r.image for r in renders]
    real = score_images(specs, images, ev)
    perm = np.random.default_rng(0).permutation(len(specs))
    perm = np.where(perm == np.arange(len(specs)), (perm + 1) % len(specs), perm)  # no fixed points
    shuffled = score_images([specs[i] for i in perm], images, ev)
    print(f"\ngenerated-image metrics, {args.pairs} renders of seed {args.seed + 1}: real vs shuffled pairs")
    print(f"{'metric':<22}{'real':>8}{'shuffled':>10}")
    keys = ("material_fidelity", "layout_recall", "mean_iou", "attribute_binding", "count_accuracy")
    for key in (*keys, "pose_pck"):
        print(f"{key:<22}{real[key]:>8.3f}{shuffled[key]:>10.3f}")
    out = {
        "benchmark": "evaluators",
        "targets": TARGETS,
        "held_out": report,
        "seconds": round(seconds, 1),
        "metrics_real": real,
        "metrics_shuffled": shuffled,
        "pairs_seed": args.seed + 1,
        "weights": args.weights or "shipped",
    }
    path = Path(__file__).parent / "results" / "evaluators.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
