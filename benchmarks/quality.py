"""Quality of the bundled scene model on held-out scene-world requests, scored by the frozen judges.

    python benchmarks/quality.py [--n 64] [--steps 20] [--checkpoint PATH] [--images DIR]

Requests are world scenes of seed 10007 (training used seeds 0..9999), asked for the way a person
would: the caption as the prompt, each visible subject's phrase and box, each person's SMPL pose.
Modes:

- ``full``: prompt + subjects + poses;
- ``context``: the same plus the scene without its subjects as the context scene (materials and
  light to respect);
- ``prompt``: the caption alone, with subjects planned from it (what `scenecraft generate "..."` does);
- ``paraphrase``: ``full`` with the prompt and every subject phrase in other words
  (:mod:`scenecraft.evaluate.paraphrase`: synonyms the training captions never use);
- ``ceiling``: the real renders of the requests, scored the same way (what a perfect model would
  get from these judges).

Metrics (:func:`scenecraft.evaluate.metrics.score_images`): material fidelity, layout recall, mean
IoU, attribute binding, count accuracy, pose PCK@0.1 and light agreement (the side the subjects are
lit from, against the side the request's light names; :mod:`scenecraft.evaluate.light`). The result
names the judges' version. ``--images DIR`` keeps every generated image under
``DIR/<mode>/<checkpoint>-steps<N>/`` as it is made and reuses it on the next run (a run cut short
resumes where it stopped; rescoring with other judges needs no generation). ``--merge FILE`` adds
the rows of the modes not run here from an earlier results file of the same weights, steps, requests
and judges (a mode run here replaces its old row), so modes made in separate runs form one table.
Writes benchmarks/results/quality.json and docs/images/quality_grid.png.
"""

from __future__ import annotations

import argparse
import dataclasses
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
TARGETS = {
    "material_fidelity": 0.98,
    "layout_recall": 0.9,
    "binding": 0.9,
    "pose_pck": 0.8,
    "count_accuracy": 0.8,
    "context_light_agreement": 0.9,
}
MODES = ("full", "context", "prompt", "paraphrase", "ceiling")
KEYS = ("material_fidelity", "layout_recall", "binding", "pose_pck", "count_accuracy", "light_agreement")


def score_mode(name: str, held: Any, images: list[np.ndarray], size: int, seconds: float | None) -> dict[str, Any]:
    """One mode's row: the judges' scores of ``images`` against ``held.specs``."""
    from scenecraft.evaluate.judges import Evaluators
    from scenecraft.evaluate.metrics import score_images

    judges = Evaluators.load()
    scores = score_images(held.specs, images, judges)
    return {
        "mode": name,
        "images": len(images),
        "material_fidelity": scores["material_fidelity"],
        "layout_recall": scores["layout_recall"],
        "mean_iou": scores["mean_iou"],
        "binding": scores["attribute_binding"],
        "pose_pck": scores["pose_pck"],
        "count_accuracy": scores["count_accuracy"],
        "light_agreement": scores["light_agreement"],
        "context_light_agreement": scores["light_agreement"],  # the name earlier results used
        "seconds_per_image": seconds,  # batched; the full mode reports single-image latency (--timing)
        "support": scores["support"],
        "judges_version": judges.version,
        "per_image": scores["per_image"],  # [hits, judged] of each metric, image by image
    }


def generate(
    pipe: Any, requests: list[Any], size: int, steps: int, batch: int, seed0: int, store: Path | None = None
) -> tuple[list[np.ndarray], float]:
    """Images of ``requests`` (euler, ``steps`` steps, guidance 3), request i with seed ``seed0 + i``;
    and the seconds per image generated. With ``store``, each image is kept there as it is made
    (``img_XXXXX.png``) and images already there are not made again: a run cut short resumes."""
    from scenecraft.pipeline import SampleSpec

    out: dict[int, np.ndarray] = {}
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)
        for i in range(len(requests)):
            if (store / f"img_{i:05d}.png").is_file():
                out[i] = np.asarray(Image.open(store / f"img_{i:05d}.png").convert("RGB"))
    todo = [i for i in range(len(requests)) if i not in out]
    start, made = time.perf_counter(), 0
    for j in range(0, len(todo), batch):
        idx = todo[j : j + batch]
        specs = [SampleSpec(seed=seed0 + i, request=requests[i]) for i in idx]
        images = pipe.generate(specs, size=size, steps=steps, sampler="euler", guidance=3.0)
        for i, im in zip(idx, images, strict=True):
            out[i] = np.asarray(im)
            if store is not None:
                from scenecraft.atomic_write import atomic_path

                with atomic_path(store / f"img_{i:05d}.png") as tmp:
                    im.save(tmp, format="PNG")
        made += len(idx)
        print(f"  {len(out)}/{len(requests)} images, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    seconds = (time.perf_counter() - start) / made if made else float("nan")
    return [out[i] for i in range(len(requests))], seconds


def mode_requests(mode: str, held: Any, n: int, size: int) -> list[Any]:
    """The requests a generating mode sends (see the module doc)."""
    from scenecraft.evaluate.paraphrase import paraphrase
    from scenecraft.planner import plan_subjects
    from scenecraft.scene_conditions import SceneRequest
    from scenecraft.train.validation import held_out_requests

    if mode == "full":
        return list(held.requests)
    if mode == "context":
        return list(held_out_requests(n, size, with_scene=True).requests)
    if mode == "prompt":
        return [SceneRequest(r.prompt, plan_subjects(r.prompt)) for r in held.requests]
    if mode == "paraphrase":
        return [
            SceneRequest(
                paraphrase(r.prompt),
                tuple(dataclasses.replace(s, prompt=paraphrase(s.prompt)) for s in r.subjects),
                r.scene,
                inpaint=r.inpaint,
            )
            for r in held.requests
        ]
    raise SystemExit(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")


def mode_images(
    mode: str, held: Any, pipe: Any, args: argparse.Namespace, size: int
) -> tuple[list[np.ndarray], float | None]:
    """A mode's images: the real renders (ceiling), or generated (and kept under ``--images``)."""
    if mode == "ceiling":
        from scenecraft.world.dataset import WorldSampler

        sampler = WorldSampler(seed=held.seed)
        return [sampler.render(i, size).image for i in range(args.n)], None
    tag = f"{Path(args.checkpoint).stem}-steps{args.steps}"
    store = args.images / mode / tag if args.images else None
    requests = mode_requests(mode, held, args.n, size)
    if store is not None and all((store / f"img_{i:05d}.png").is_file() for i in range(args.n)):
        return generate(None, requests, size, args.steps, args.batch, 1_000, store)[0], None  # all stored
    images, seconds = generate(pipe(), requests, size, args.steps, args.batch, 1_000, store)
    return images, seconds


def summary(rows: list[dict[str, Any]], args: argparse.Namespace, held: Any, size: int) -> dict[str, Any]:
    """quality.json: the rows, the full mode's metrics at the top level, and the named extras."""
    by_mode = {r["mode"]: r for r in rows}
    result: dict[str, Any] = {
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
        "judges_version": rows[0]["judges_version"] if rows else None,
        "rows": rows,
    }
    full = by_mode.get("full", rows[0])
    for key in ("material_fidelity", "layout_recall", "binding", "pose_pck", "count_accuracy", "seconds_per_image"):
        result[key] = full[key]
    result["context_light_agreement"] = by_mode["context"]["light_agreement"] if "context" in by_mode else None
    result["ceiling"] = {k: by_mode["ceiling"][k] for k in KEYS} if "ceiling" in by_mode else None
    if "paraphrase" in by_mode and "full" in by_mode:
        para, plain = by_mode["paraphrase"], by_mode["full"]
        result["paraphrase"] = {
            **{k: para[k] for k in KEYS},
            "relative_to_full": {k: (para[k] / plain[k] if para[k] is not None and plain[k] else None) for k in KEYS},
        }
    else:
        result["paraphrase"] = None
    return result


def merged_rows(path: Path, rows: list[dict[str, Any]], args: argparse.Namespace, seed: int) -> list[dict[str, Any]]:
    """``rows`` plus the rows of ``path`` for modes not in ``rows``, in ``MODES`` order.

    The earlier file must hold the same weights, steps, requests (``n``, held-out seed) and judges, or
    the table would mix two experiments: anything else is refused with what differs."""
    if not path.is_file():
        raise SystemExit(f"--merge: {path} does not exist")
    try:
        old = json.loads(path.read_text())
        old_rows = list(old["rows"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"--merge: {path} is not a quality.py results file ({exc})") from None
    want = {"checkpoint": args.checkpoint, "n": args.n, "steps": args.steps, "held_out_seed": seed}
    differ = [f"{k} {old.get(k)!r} there, {v!r} here" for k, v in want.items() if old.get(k) != v]
    if differ:
        raise SystemExit(f"--merge: {path} is another experiment: " + "; ".join(differ))
    version = rows[0]["judges_version"] if rows else None
    ran = {r["mode"] for r in rows}
    kept = [r for r in old_rows if r.get("mode") not in ran]
    stale = sorted(r["mode"] for r in kept if version is not None and r.get("judges_version") != version)
    if stale:
        raise SystemExit(
            f"--merge: the {', '.join(stale)} row(s) of {path} were scored by other judges than {version}: "
            f"run those modes again (their stored --images are rescored without generating)"
        )
    order = {m: i for i, m in enumerate(MODES)}
    return sorted([*rows, *kept], key=lambda r: order.get(r["mode"], len(MODES)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64, help="held-out requests per mode")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--checkpoint", default="bundled")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--timing", type=int, default=4, help="single-image generations timed for seconds_per_image")
    parser.add_argument("--images", type=Path, default=None, help="keep and reuse each mode's images here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--grid", type=Path, default=GRID)
    parser.add_argument(
        "--merge", type=Path, default=None, help="keep the other modes' rows of this earlier results file"
    )
    args = parser.parse_args()
    if args.n < 1 or args.steps < 1:
        raise SystemExit(f"--n and --steps must be >= 1, got {args.n} and {args.steps}")

    from scenecraft.pipeline import GenerationPipeline
    from scenecraft.train.validation import held_out_requests, image_grid

    size = 64
    loaded: list[Any] = []

    def pipe() -> Any:  # loaded on first use: rescoring stored images needs no model
        if not loaded:
            loaded.append(GenerationPipeline.from_settings("seed-12M", checkpoint=args.checkpoint))
        return loaded[0]

    rows, grids = [], {}
    held = held_out_requests(args.n, size)
    latency = None
    if args.timing and "full" in args.modes:
        generate(pipe(), held.requests[:1], size, args.steps, 1, seed0=0)  # one at a time, after a warm-up
        latency = generate(pipe(), held.requests[: args.timing], size, args.steps, 1, seed0=0)[1]
    for mode in args.modes:
        print(f"mode {mode}", file=sys.stderr)
        images, seconds = mode_images(mode, held, pipe, args, size)
        rows.append(score_mode(mode, held, images, size, seconds))
        if mode == "full" and latency is not None:
            rows[-1]["seconds_per_image"] = latency
        grids[mode] = images[:16]
        print(json.dumps(rows[-1]), file=sys.stderr)

    if args.merge is not None:
        rows = merged_rows(args.merge, rows, args, held.seed)
    result = summary(rows, args, held, size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if grids:
        tiles = [Image.fromarray(im) for mode in grids for im in grids[mode]]
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        image_grid(tiles, columns=16, scale=2).save(args.grid)
    print_table(rows, args, size, result["judges_version"])


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace, size: int, version: str | None) -> None:
    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    keys = [*KEYS, "seconds_per_image"]
    print(
        f"seed-12M ({args.checkpoint}), {args.n} held-out requests per mode, {size} px, euler {args.steps} steps, "
        f"CPU; judges {version}"
    )
    print("| mode | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for r in rows:
        print(f"| {r['mode']} | " + " | ".join(fmt(r[k]) for k in keys) + " |")
    targets = {**TARGETS, "light_agreement": TARGETS["context_light_agreement"]}
    print("| target | " + " | ".join(fmt(targets.get(k)) for k in keys) + " |")


if __name__ == "__main__":
    main()
