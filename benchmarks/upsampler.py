"""The learned x2 upsampler against bicubic: PSNR on held-out renders, the judges on 128-px output, speed.

    python benchmarks/upsampler.py [--weights W] [--n 100] [--generated DIR --requests 32] [--compare NAME=W ...]

1. *PSNR* (dB, images in [-1, 1]): scenes 0..n-1 of the held-out world seed 10007 rendered at 64 px,
   upsampled to 128 (nearest, bilinear, bicubic, learned) and compared with the same scenes rendered
   at 128 px; once as rendered, once blurred by 0.8 px (generated images are softer than renders).
2. *The judges on renders* (:func:`scenecraft.evaluate.metrics.score_images`, every metric of
   ``benchmarks/quality.py``): the 64-px renders as they are, their bicubic and learned x2, and the
   true 128-px renders (the ceiling at 128).
3. *The judges on generated images*: the bundled model's 64-px images of the first ``--requests``
   held-out requests (full mode, as ``benchmarks/quality.py --images DIR`` stores them under
   ``DIR/full/<checkpoint>-steps20``), as they are, bicubic x2 and learned x2 — the same samples,
   so each difference is the upsampler's alone.
4. *Speed*: milliseconds per image of the learned x2 on this CPU at batch 1 and 8 (median of 20).
5. *Ablation* (``--compare NAME=WEIGHTS``, repeatable): other upsamplers scored the same way in the
   same run (PSNR, and the judges on the learned x2 of the renders and of the generated images),
   one row each beside the shipped one.

Writes benchmarks/results/upsampler.json and docs/images/upsampler_grid.png (rows: generated at
64 px shown at 128 by nearest, bicubic, learned; then the 64-px render, learned, the 128-px render).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "upsampler.json"
GRID = ROOT / "docs" / "images" / "upsampler_grid.png"
WEIGHTS = ROOT / "src" / "scenecraft" / "weights" / "seed-12M-x2.safetensors"
KEYS = ("material_fidelity", "layout_recall", "attribute_binding", "count_accuracy", "pose_pck", "light_agreement")


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_arrays(x: torch.Tensor) -> list[np.ndarray]:
    u8 = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return list(u8)


def upscaled(images: list[np.ndarray], net: Any, first: str) -> dict[str, list[np.ndarray]]:
    """The 64-px images as they are (named ``first``), bicubic x2 and learned x2 (uint8 arrays)."""
    from scenecraft.train.upsampler import classic

    x = to_tensor(images)
    return {first: images, "bicubic x2": to_arrays(classic(x, 2, "bicubic")), "learned x2": to_arrays(net.upsample(x))}


def judged(specs: list[Any], images: list[np.ndarray]) -> dict[str, Any]:
    from scenecraft.evaluate.judges import Evaluators
    from scenecraft.evaluate.metrics import score_images

    scores = score_images(specs, images, Evaluators.load())
    return {**{k: scores[k] for k in KEYS}, "size": int(images[0].shape[0])}


def speed(net: Any, batch: int, repeats: int = 20) -> float:
    x = torch.rand(batch, 3, 64, 64) * 2 - 1
    net.upsample(x)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        net.upsample(x)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times) / batch


def ablation_row(
    name: str, net: Any, n: int, specs: list[Any], small: np.ndarray, generated: dict[str, Any], requests: int
) -> dict[str, Any]:
    """One upsampler's PSNR and the judges' scores of its x2 of the renders and the generated images."""
    from scenecraft.train.upsampler import score
    from scenecraft.train.validation import held_out_requests

    row: dict[str, Any] = {"name": name, "steps": net.extra.get("steps"), "train": net.extra.get("train", {})}
    row["psnr"] = score(net, n=n)["psnr_db"]
    row["renders"] = judged(specs, to_arrays(net.upsample(to_tensor(list(small)))))
    if generated:
        x = to_tensor(generated["64 px as generated"])
        row["generated"] = judged(held_out_requests(requests).specs, to_arrays(net.upsample(x)))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--n", type=int, default=100, help="held-out renders for PSNR and the judges")
    parser.add_argument("--generated", type=Path, default=None, help="benchmarks/quality.py's --images folder")
    parser.add_argument("--checkpoint-tag", default="bundled-steps20", help="the subfolder of DIR/full to read")
    parser.add_argument("--requests", type=int, default=32, help="generated images to judge")
    parser.add_argument(
        "--compare", nargs="+", default=[], metavar="NAME=WEIGHTS", help="other upsamplers to score alike"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--grid", type=Path, default=GRID)
    args = parser.parse_args()
    if args.n < 1 or args.requests < 1:
        raise SystemExit(f"--n and --requests must be >= 1, got {args.n} and {args.requests}")

    from scenecraft.model.upsampler import load_upsampler
    from scenecraft.train.upsampler import HELD_OUT_SEED, render_pairs, score
    from scenecraft.train.validation import held_out_requests, image_grid

    torch.set_num_threads(2)
    net = load_upsampler(args.weights)
    result: dict[str, Any] = {
        "benchmark": "upsampler",
        "weights": str(args.weights.relative_to(ROOT) if args.weights.is_relative_to(ROOT) else args.weights),
        "trained": net.extra,
        "params": sum(p.numel() for p in net.parameters()),
        "bytes": args.weights.stat().st_size,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    t0 = time.perf_counter()
    result["psnr"] = score(net, n=args.n)
    print(f"PSNR done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    held = held_out_requests(args.n)
    small, large = render_pairs(HELD_OUT_SEED, range(args.n), 64, 2)
    renders = upscaled(list(small), net, "64 px render")
    renders["128 px render"] = list(large)
    result["renders"] = {name: judged(held.specs, ims) for name, ims in renders.items()}
    print(f"renders judged in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    generated: dict[str, list[np.ndarray]] = {}
    if args.generated is not None:
        store = args.generated / "full" / args.checkpoint_tag
        paths = [store / f"img_{i:05d}.png" for i in range(args.requests)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise SystemExit(
                f"{store} lacks {len(missing)} of {args.requests} images (first: {missing[0]}); "
                f"run benchmarks/quality.py --modes full --n {args.requests} --images {args.generated}"
            )
        images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
        generated = upscaled(images, net, "64 px as generated")
        specs = held_out_requests(args.requests).specs
        result["generated"] = {
            "store": str(store),
            "requests": args.requests,
            **{name: judged(specs, ims) for name, ims in generated.items()},
        }
        print(f"generated judged in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    result["ms_per_image"] = {"batch 1": round(speed(net, 1), 2), "batch 8": round(speed(net, 8), 2)}
    # the shipped net's row is what was scored above (its learned x2), not scored again
    shipped: dict[str, Any] = {"name": "shipped", "steps": net.extra.get("steps"), "train": net.extra.get("train", {})}
    shipped["psnr"] = result["psnr"]["psnr_db"]
    shipped["renders"] = result["renders"]["learned x2"]
    if "generated" in result:
        shipped["generated"] = result["generated"]["learned x2"]
    result["ablation"] = [shipped]
    for item in args.compare:
        name, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"--compare takes NAME=WEIGHTS, got {item!r}")
        other = load_upsampler(Path(path))
        result["ablation"].append(ablation_row(name, other, args.n, held.specs, small, generated, args.requests))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    tiles: list[Image.Image] = []
    if generated:
        tiles += [
            Image.fromarray(a).resize((128, 128), Image.Resampling.NEAREST) for a in generated["64 px as generated"][:8]
        ]
        tiles += [Image.fromarray(a) for name in ("bicubic x2", "learned x2") for a in generated[name][:8]]
    tiles += [Image.fromarray(a).resize((128, 128), Image.Resampling.NEAREST) for a in renders["64 px render"][:8]]
    tiles += [Image.fromarray(a) for name in ("learned x2", "128 px render") for a in renders[name][:8]]
    args.grid.parent.mkdir(parents=True, exist_ok=True)
    image_grid(tiles, columns=8, scale=1).save(args.grid)
    print_tables(result)


def print_tables(result: dict[str, Any]) -> None:
    psnr = result["psnr"]
    modes = ("nearest", "bilinear", "bicubic", "learned")
    print(f"\nPSNR (dB), {psnr['n']} held-out scenes of seed {psnr['seed']}, 64 -> 128 px")
    print("| input | " + " | ".join(modes) + " |")
    print("|---|" + "---:|" * len(modes))
    for name, row in psnr["psnr_db"].items():
        print(f"| {name} | " + " | ".join(f"{row[m]:.2f}" for m in modes) + " |")
    for section in ("renders", "generated"):
        if section not in result:
            continue
        rows = {k: v for k, v in result[section].items() if isinstance(v, dict)}
        print(f"\nThe judges on {section} ({result[section].get('requests', result['psnr']['n'])} held-out requests)")
        print("| images | side | " + " | ".join(KEYS) + " |")
        print("|---|---:|" + "---:|" * len(KEYS))
        for name, row in rows.items():
            cells = " | ".join("—" if row[k] is None else f"{row[k]:.3f}" for k in KEYS)
            print(f"| {name} | {row['size']} | {cells} |")
    rows = result.get("ablation", [])
    if len(rows) > 1:
        print("\nAblation: each upsampler's PSNR (dB: clean | blurred)")
        print("| upsampler | steps | PSNR clean | PSNR blur |")
        print("|---|---:|---:|---:|")
        for r in rows:
            clean, blur = (v["learned"] for v in r["psnr"].values())
            print(f"| {r['name']} | {r['steps']} | {clean:.2f} | {blur:.2f} |")
        for section in [name for name in ("renders", "generated") if any(name in r for r in rows)]:
            print(f"\nAblation: the judges on each upsampler's x2 of the {section}")
            print("| upsampler | " + " | ".join(KEYS) + " |")
            print("|---|" + "---:|" * len(KEYS))
            for r in rows:
                if section in r:
                    cells = " | ".join("—" if r[section][k] is None else f"{r[section][k]:.3f}" for k in KEYS)
                    print(f"| {r['name']} | {cells} |")
    print(
        f"\nlearned x2 on this CPU: {result['ms_per_image']['batch 1']} ms per image at batch 1, "
        f"{result['ms_per_image']['batch 8']} at batch 8; {result['params']:,} parameters, {result['bytes']:,} bytes"
    )


if __name__ == "__main__":
    main()
