"""Quality of the bundled scene model on held-out scene-world requests, judged by the world evaluators.

    python benchmarks/quality.py [--n 48] [--steps 20] [--checkpoint PATH]

Requests are world scenes of seed 10007 (training used seed 0), asked for the way a person would:
the caption as the prompt, each visible subject's phrase and box, each person's SMPL pose. Modes:

- ``full``: prompt + subjects + poses;
- ``context``: the same plus the scene without its subjects as the context scene (materials and
  light to respect);
- ``prompt``: the caption alone, with subjects planned from it (what `scenecraft generate "..."` does);
- ``ceiling``: the real renders of the requests, scored the same way (what a perfect model would get
  from these evaluators).

Metrics (scenecraft.world.metrics.score_images): material fidelity (object regions and floor/wall
patches judged by the material classifier), layout recall (subjects found at IoU >= 0.5 with the
right kind), attribute binding (colour and material of each subject in multi-subject scenes),
pose PCK@0.1, count accuracy; plus ``context_light_agreement``: for every object lit from the side
in the reference, whether the generated object is brighter on the same side (the shading follows
the scene's light). Writes benchmarks/results/quality.json and docs/images/quality_grid.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
GRID = ROOT / "docs" / "images" / "quality_grid.png"
TARGETS = {"material_fidelity": 0.98, "layout_recall": 0.9, "binding": 0.9, "pose_pck": 0.8}
SIDE_LIGHT = 0.04  # |right - left| mean luminance (0..1) above which an object counts as side-lit


def _luma(image: np.ndarray) -> np.ndarray:
    return (image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255


def shading_side(image: np.ndarray, box: tuple[float, ...]) -> float:
    """Mean luminance of the right half of ``box`` minus the left half (pixel box, end exclusive)."""
    x0, y0, x1, y1 = (round(v) for v in box)
    if x1 - x0 < 4 or y1 - y0 < 2:
        return 0.0
    crop = _luma(image[y0:y1, x0:x1])
    mid = crop.shape[1] // 2
    return float(crop[:, mid:].mean() - crop[:, :mid].mean())


def light_agreement(specs: list[Any], images: list[np.ndarray], size: int) -> tuple[float | None, int]:
    """Share of side-lit objects whose generated shading is brighter on the reference's side."""
    from scenecraft.world.render import render
    from scenecraft.world.spec import ObjectSubject

    hits = []
    for spec, image in zip(specs, images, strict=True):
        ref = render(spec, size=size, noise=0.0)
        for k, box in enumerate(ref.boxes):
            if box is None or not isinstance(spec.subjects[k], ObjectSubject):
                continue
            want = shading_side(ref.image, box)
            if abs(want) < SIDE_LIGHT:
                continue
            hits.append(np.sign(shading_side(image, box)) == np.sign(want))
    return (float(np.mean(hits)) if hits else None), len(hits)


def score_mode(name: str, held: Any, images: list[np.ndarray], size: int, seconds: float | None) -> dict[str, Any]:
    from scenecraft.evaluate.judges import Evaluators
    from scenecraft.evaluate.metrics import score_images

    scores = score_images(held.specs, images, Evaluators.load())
    light, light_n = light_agreement(held.specs, images, size)
    return {
        "mode": name,
        "images": len(images),
        "material_fidelity": scores["material_fidelity"],
        "layout_recall": scores["layout_recall"],
        "mean_iou": scores["mean_iou"],
        "binding": scores["attribute_binding"],
        "pose_pck": scores["pose_pck"],
        "count_accuracy": scores["count_accuracy"],
        "context_light_agreement": light,
        "seconds_per_image": seconds,  # batched; the full mode reports single-image latency (--timing)
        "support": {**scores["support"], "side_lit_objects": light_n},
        "seconds_per_image_batched": seconds,
    }


def generate(
    pipe: Any, requests: list[Any], size: int, steps: int, batch: int, seed0: int
) -> tuple[list[np.ndarray], float]:
    from scenecraft.pipeline import SampleSpec

    out: list[np.ndarray] = []
    start = time.perf_counter()
    for i in range(0, len(requests), batch):
        specs = [SampleSpec(seed=seed0 + i + k, request=r) for k, r in enumerate(requests[i : i + batch])]
        images = pipe.generate(specs, size=size, steps=steps, sampler="euler", guidance=3.0)
        out += [np.asarray(im) for im in images]
        print(f"  {len(out)}/{len(requests)} images, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return out, (time.perf_counter() - start) / len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=48, help="held-out requests per mode")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--checkpoint", default="bundled")
    parser.add_argument("--modes", nargs="+", default=["full", "context", "prompt", "ceiling"])
    parser.add_argument("--timing", type=int, default=4, help="single-image generations timed for seconds_per_image")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--grid", type=Path, default=GRID)
    args = parser.parse_args()

    from scenecraft.pipeline import GenerationPipeline
    from scenecraft.planner import plan_subjects
    from scenecraft.scene_conditions import SceneRequest
    from scenecraft.train.validation import held_out_requests, image_grid

    size = 64
    pipe = GenerationPipeline.from_settings("seed-12M", checkpoint=args.checkpoint)
    rows, grids = [], {}
    held = held_out_requests(args.n, size)
    latency = None
    if args.timing:  # one image at a time, as `scenecraft generate` makes it (after one warm-up)
        generate(pipe, held.requests[:1], size, args.steps, 1, seed0=0)
        latency = generate(pipe, held.requests[: args.timing], size, args.steps, 1, seed0=0)[1]
    for mode in args.modes:
        print(f"mode {mode}", file=sys.stderr)
        if mode == "ceiling":
            from scenecraft.world.dataset import WorldSampler

            sampler = WorldSampler(seed=held.seed)
            images = [sampler.render(i, size).image for i in range(args.n)]
            rows.append(score_mode(mode, held, images, size, None))
        else:
            if mode == "full":
                requests = held.requests
            elif mode == "context":
                requests = held_out_requests(args.n, size, with_scene=True).requests
            elif mode == "prompt":
                requests = [SceneRequest(r.prompt, plan_subjects(r.prompt)) for r in held.requests]
            else:
                raise SystemExit(f"unknown mode {mode!r}")
            images, seconds = generate(pipe, requests, size, args.steps, args.batch, seed0=1_000)
            rows.append(score_mode(mode, held, images, size, seconds))
            if mode == "full" and latency is not None:
                rows[-1]["seconds_per_image"] = latency
        grids[mode] = images[:16]
        print(json.dumps(rows[-1]), file=sys.stderr)

    result = {
        "benchmark": "quality",
        "checkpoint": args.checkpoint,
        "held_out_seed": held.seed,
        "n": args.n,
        "size": size,
        "steps": args.steps,
        "sampler": "euler",
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "targets": TARGETS,
        "rows": rows,
    }
    full = next((r for r in rows if r["mode"] == "full"), rows[0])
    for key in ("material_fidelity", "layout_recall", "binding", "pose_pck", "count_accuracy", "seconds_per_image"):
        result[key] = full[key]
    ctx = next((r for r in rows if r["mode"] == "context"), None)
    result["context_light_agreement"] = ctx["context_light_agreement"] if ctx else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if grids:
        tiles = [Image.fromarray(im) for mode in grids for im in grids[mode]]
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        image_grid(tiles, columns=16, scale=2).save(args.grid)

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    keys = [
        "material_fidelity",
        "layout_recall",
        "binding",
        "pose_pck",
        "count_accuracy",
        "context_light_agreement",
        "seconds_per_image",
    ]
    print(
        f"seed-12M ({args.checkpoint}), {args.n} held-out requests per mode, {size} px, euler {args.steps} steps, CPU"
    )
    print("| mode | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for r in rows:
        print(f"| {r['mode']} | " + " | ".join(fmt(r[k]) for k in keys) + " |")
    print("| target | " + " | ".join(fmt(TARGETS.get(k)) for k in keys) + " |")


if __name__ == "__main__":
    main()
