"""The judges' ceilings: real renders of held-out requests, scored exactly as generated images are.

    python benchmarks/judges_ceiling.py [--n 200] [--size 64] [--seed 10007] [--weights DIR ...]

Renders scenes 0..N-1 of the held-out seed (the requests of ``benchmarks/quality.py``) at the size the
model generates, and scores each render against its own request with
:func:`scenecraft.evaluate.metrics.score_images` — the same call that scores generated images —
for each judge configuration: the weights folder as frozen, and switched back step by step (the
segmenter's colour head instead of the colour reader; no subject net; no zoomed kind read; no
mirror averaging of the segmenter, then of the keypoint net) to show what each change gave;
``--quick`` scores only the first two. The bars are the issue's: what the judges must reach before
they judge the model. Writes benchmarks/results/judges_ceiling.json, keeping the rows of earlier
versions already in it (under ``earlier``) so each version's numbers stay beside the next one's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

BARS = {
    "material_fidelity": 0.99,
    "layout_recall": 0.97,
    "attribute_binding": 0.97,
    "count_accuracy": 0.95,
    "pose_pck": 0.95,
    "light_agreement": 0.97,
}


def configurations() -> list[tuple[str, dict[str, Any]]]:
    """(label, Evaluators.load options): as frozen, then each change undone in turn. The colour reader
    goes first: since judges-7 it reads the subject net's colours, so it cannot stay without it."""
    return [
        ("as frozen", {}),
        ("the colour head instead of the reader", {"colour": None}),
        ("... and no subject net", {"colour": None, "subject": None}),
        ("... and no zoomed kind read", {"colour": None, "subject": None, "kind_zoom": None}),
        (
            "... and no segmenter mirror",
            {"colour": None, "subject": None, "kind_zoom": None, "mirror_segment": False},
        ),
        (
            "... and no keypoint mirror",
            {"colour": None, "subject": None, "kind_zoom": None, "mirror_segment": False, "mirror_keypoints": False},
        ),
    ]


def earlier_rows(path: Path, versions: set[str], run: tuple[int, int, int]) -> list[dict[str, Any]]:
    """The rows of other judge versions in an earlier result at ``path`` (same seed, n and size)."""
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    if (old["seed"], old["n"], old["size"]) != run:
        return []
    rows = [*old["rows"], *old.get("earlier", [])]
    return [r for r in rows if r["version"] not in versions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=10_007)
    parser.add_argument("--weights", type=Path, default=None, help="weights folder (default: the shipped judges)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "judges_ceiling.json")
    parser.add_argument("--quick", action="store_true", help="only the frozen judges and the first change undone")
    args = parser.parse_args()
    if args.n < 1:
        raise SystemExit(f"--n must be >= 1, got {args.n}")
    import torch

    from scenecraft.atomic_write import write_text
    from scenecraft.evaluate.judges import WEIGHTS_DIR, Evaluators
    from scenecraft.evaluate.metrics import score_images
    from scenecraft.world.dataset import WorldSampler

    torch.set_num_threads(1)
    weights = args.weights or WEIGHTS_DIR
    sampler = WorldSampler(seed=args.seed)
    renders = [sampler.render(i, args.size) for i in range(args.n)]
    specs, images = [r.spec for r in renders], [r.image for r in renders]
    rows = []
    for label, options in configurations()[: 2 if args.quick else None]:
        judges = Evaluators.load(weights, **options)
        t0 = time.perf_counter()
        scores = score_images(specs, images, judges)
        rows.append(
            {
                "judges": label,
                "version": judges.version,
                **{k: scores[k] for k in BARS},
                "support": scores["support"],
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    result = {
        "benchmark": "judges_ceiling",
        "seed": args.seed,
        "n": args.n,
        "size": args.size,
        "bars": BARS,
        "rows": rows,
        "earlier": earlier_rows(args.out, {r["version"] for r in rows}, (args.seed, args.n, args.size)),
    }
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"{args.n} real renders of held-out seed {args.seed} at {args.size} px, scored as generated images")
    print("| judges | version | " + " | ".join(BARS) + " |")
    print("|---|---|" + "---|" * len(BARS))
    for r in rows:
        cells = " | ".join("-" if r[k] is None else f"{r[k]:.3f}" for k in BARS)
        print(f"| {r['judges']} | {r['version']} | {cells} |")
    print("| bar | | " + " | ".join(f">= {v}" for v in BARS.values()) + " |")
    print(f"support: {rows[0]['support']}")


if __name__ == "__main__":
    main()
