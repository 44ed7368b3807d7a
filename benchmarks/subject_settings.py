"""How the judges use the subject net, chosen on validation renders (not the held-out seed).

Renders scenes 0..N-1 of validation seed 12 at 64 px (the generator's size; training used seeds
3000 and 4000, the held-out requests are seed 10007) and scores each render against its own request
with :func:`scenecraft.evaluate.metrics.score_images`, once per setting of the subject net's use in
:class:`~scenecraft.evaluate.judges.Evaluators`: its kind's weight against the segmenter's, whether
it names colours, its material's weight against the material net's on subjects' boxes, and the
background probability above which a detection is dropped, and whether it judges the light's side
(else the shading does, :mod:`scenecraft.evaluate.light`). The first row is the same weights folder
without the subject net (the judges before it; where the colour reader reads the net's colours, with
the segmenter's colour head instead of the reader). The shipped defaults are ``SUBJECT_KIND``,
``SUBJECT_MATERIAL`` and ``REJECT`` in judges.py (the "shipped" row).

    python benchmarks/subject_settings.py --weights DIR [--n 200] [--seed 12] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

METRICS = ("material_fidelity", "layout_recall", "attribute_binding", "count_accuracy", "pose_pck", "light_agreement")
OFF = {"subject_kind": 0.0, "subject_colour": False, "subject_material": 0.0, "reject": None, "subject_light": False}
SHIPPED = {"subject_kind": 0.5, "subject_colour": False, "subject_material": 0.5, "reject": 0.5, "subject_light": True}
SETTINGS: list[tuple[str, dict[str, Any] | None]] = [
    ("no subject net", None),
    ("kind 1", {**OFF, "subject_kind": 1.0}),
    ("kind 0.5", {**OFF, "subject_kind": 0.5}),
    ("kind 1, colour", {**OFF, "subject_kind": 1.0, "subject_colour": True}),
    ("kind 1, colour, material 0.5", {**OFF, "subject_kind": 1.0, "subject_colour": True, "subject_material": 0.5}),
    ("kind 1, colour, material 1", {**OFF, "subject_kind": 1.0, "subject_colour": True, "subject_material": 1.0}),
    (
        "kind 1, colour, material 0.5, reject 0.5",
        {**OFF, "subject_kind": 1.0, "subject_colour": True, "subject_material": 0.5, "reject": 0.5},
    ),
    (
        "kind 1, colour, material 0.5, reject 0.8",
        {**OFF, "subject_kind": 1.0, "subject_colour": True, "subject_material": 0.5, "reject": 0.8},
    ),
    ("shipped: kind 0.5, material 0.5, reject 0.5, light", SHIPPED),
    ("shipped, kind 0.3", {**SHIPPED, "subject_kind": 0.3}),
    ("shipped, kind 0.7", {**SHIPPED, "subject_kind": 0.7}),
    ("shipped, material 0.3", {**SHIPPED, "subject_material": 0.3}),
    ("shipped, reject 0.3", {**SHIPPED, "reject": 0.3}),
    ("shipped, light by shading", {**SHIPPED, "subject_light": False}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="weights folder with subject.safetensors")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--rows", type=int, nargs="+", default=None, help="only these rows of SETTINGS (0-based)")
    args = parser.parse_args()
    if args.n < 1:
        raise SystemExit(f"--n must be >= 1, got {args.n}")
    if not (args.weights / "subject.safetensors").is_file():
        raise SystemExit(f"error: {args.weights} has no subject.safetensors (train it with --only subject --arch v4)")
    import torch

    from scenecraft.atomic_write import write_text
    from scenecraft.evaluate.colour import ColourReader
    from scenecraft.evaluate.judges import Evaluators
    from scenecraft.evaluate.metrics import score_images
    from scenecraft.world.dataset import WorldSampler

    torch.set_num_threads(1)
    sampler = WorldSampler(seed=args.seed)
    renders = [sampler.render(i, args.size) for i in range(args.n)]
    specs, images = [r.spec for r in renders], [r.image for r in renders]
    rows = []
    print(f"{args.n} renders of validation seed {args.seed} at {args.size} px, scored as generated images")
    print("| setting | " + " | ".join(METRICS) + " |")
    print("|---|" + "---:|" * len(METRICS))
    off: dict[str, Any] = {"subject": None}
    reader = args.weights / "colour.safetensors"
    if reader.is_file() and ColourReader.load(reader).subject:
        off["colour"] = None  # a reader of the subject net's colours cannot run without it: the head
    for label, options in [SETTINGS[i] for i in args.rows] if args.rows else SETTINGS:
        judges = Evaluators.load(args.weights, **(off if options is None else options))
        scores = score_images(specs, images, judges)
        rows.append({"setting": label, "options": options, **{k: scores[k] for k in METRICS}})
        print(f"| {label} | " + " | ".join(f"{scores[k]:.3f}" for k in METRICS) + " |", flush=True)
    if args.out:
        write_text(args.out, json.dumps({"seed": args.seed, "n": args.n, "size": args.size, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
