"""Train, fit, freeze and score the frozen judges of scene-world images.

scenecraft eval train --out DIR --seconds 270 --workers 4 [--device cuda] [--init DIR]   # the nets
scenecraft eval chunks --out DIR --seed 1000 --n 3000                    # pre-render training chunks
scenecraft eval train --out DIR --seconds 600 --chunks DIR ...           # ... and train on them
scenecraft eval fit-colour --weights DIR --n 1500                        # the colour reader, into DIR
scenecraft eval freeze --weights DIR --version judges-4                  # write DIR/judges.json
scenecraft eval score --n 500 --seed 7 [--weights DIR] [--out report.json]   # held-out accuracy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from scenecraft.cli import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    from scenecraft.evaluate.nets import ARCHITECTURES, EVALUATOR_NAMES, TRAINABLE_NAMES

    sub = parser.add_subparsers(dest="eval_command", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train the judges' nets on world renders (live or stored chunks)")
    t.add_argument("--out", type=Path, required=True, help="folder for the nets' .safetensors files")
    t.add_argument("--seconds", type=float, required=True, help="wall-time budget of the whole run")
    t.add_argument("--workers", type=int, default=1, help="render processes (live renders)")
    t.add_argument("--chunks", type=Path, nargs="+", default=None, help="chunk folders to train on instead")
    t.add_argument("--size", type=int, default=128, help="render size and segmenter grid (64..256, /32)")
    t.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    t.add_argument("--render-share", type=float, default=0.6, help="share of the budget spent rendering")
    t.add_argument("--save-every", type=float, default=45.0, help="seconds between checkpoints")
    t.add_argument(
        "--batch-scale", type=float, default=None, help="multiplies the batch sizes (default 1 on CUDA, 0.05 on CPU)"
    )
    t.add_argument("--only", nargs="+", choices=TRAINABLE_NAMES, default=list(EVALUATOR_NAMES))
    t.add_argument("--arch", choices=sorted(ARCHITECTURES), default="v3", help="architecture of the nets")
    t.add_argument("--init", type=Path, default=None, help="weights folder to start from (matching tensors)")
    t.add_argument("--lr-scale", type=float, default=1.0, help="peak-rate factor of the tensors loaded by --init")
    c = sub.add_parser("chunks", help="pre-render training scenes into chunk files (resumable)")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--seed", type=int, required=True, help="world seed (not a held-out one: 7, 8, 11, 12, 10007)")
    c.add_argument("--n", type=int, required=True, help="scenes")
    c.add_argument("--size", type=int, default=128)
    c.add_argument("--people", action="store_true", help="the person-heavy sampler")
    f = sub.add_parser("fit-colour", help="fit the colour reader on training renders into a weights folder")
    f.add_argument("--weights", type=Path, required=True, help="weights folder (gets colour.safetensors)")
    f.add_argument("--n", type=int, default=1500, help="training scenes")
    z = sub.add_parser("freeze", help="write judges.json (version + SHA-256 of each file) for a weights folder")
    z.add_argument("--weights", type=Path, required=True)
    z.add_argument("--version", required=True)
    z.add_argument("--notes", default="")
    s = sub.add_parser("score", help="accuracy of the judges on fresh renders of a held-out seed")
    s.add_argument("--n", type=int, default=500, help="scenes")
    s.add_argument("--seed", type=int, default=7, help="scene seed (training used 3000 and 4000)")
    s.add_argument("--size", type=int, default=128, help="render size in pixels")
    s.add_argument("--weights", type=Path, default=None, help="weights folder (default: the shipped judges)")
    s.add_argument("--out", type=Path, default=None, help="also write the report as JSON here")


def run(args: argparse.Namespace) -> int:
    actions = {"train": _train, "chunks": _chunks, "fit-colour": _fit_colour, "freeze": _freeze, "score": _score}
    return actions[args.eval_command](args)


def _train(args: argparse.Namespace) -> int:
    from scenecraft.evaluate.sources import chunk_files
    from scenecraft.evaluate.trainer import TrainSettings, train

    try:
        chunks = chunk_files(args.chunks) if args.chunks else None
        settings = TrainSettings(
            out=args.out,
            seconds=args.seconds,
            workers=args.workers,
            chunks=chunks,
            size=args.size,
            device=args.device,
            render_share=args.render_share,
            save_every=args.save_every,
            batch_scale=args.batch_scale or (0.05 if args.device == "cpu" else 1.0),  # CPU steps stay short
            names=tuple(args.only),
            arch=args.arch,
            init=args.init,
            lr_scale=args.lr_scale,
        )
        train(settings)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    return 0


def _chunks(args: argparse.Namespace) -> int:
    from scenecraft.evaluate.examples import PERSON_HEAVY
    from scenecraft.evaluate.sources import build_chunks

    try:
        build_chunks(args.out, args.seed, args.n, args.size, config=PERSON_HEAVY if args.people else None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _fit_colour(args: argparse.Namespace) -> int:
    from scenecraft.evaluate.colour_data import fit_from_renders

    if args.n < 20:
        raise UsageError(f"--n must be >= 20, got {args.n}")
    report = fit_from_renders(args.weights, args.n)
    print(json.dumps(report))
    return 0


def _freeze(args: argparse.Namespace) -> int:
    from scenecraft.evaluate.judges import JudgesError, freeze

    try:
        print(json.dumps(freeze(args.weights, args.version, args.notes), indent=1))
    except JudgesError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _score(args: argparse.Namespace) -> int:
    import torch

    from scenecraft.atomic_write import write_text
    from scenecraft.evaluate.judges import WEIGHTS_DIR, Evaluators
    from scenecraft.evaluate.metrics import held_out_report

    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    try:
        ev = Evaluators.load(args.weights or WEIGHTS_DIR)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    report = held_out_report(ev, n=args.n, seed=args.seed, size=args.size)
    if args.out is not None:
        write_text(args.out, json.dumps(report, indent=1) + "\n")
    print(f"judges {ev.version}: {args.n} scenes of seed {args.seed} at {args.size} px")
    rows = [
        ("material accuracy", report["material_accuracy"], report["material_regions"]),
        ("detection recall@IoU0.5", report["detection_recall"], report["subjects"]),
        ("keypoint PCK@0.1", report["keypoint_pck"], report["joints"]),
    ]
    print(f"{'metric':<26}{'value':>8}{'support':>9}")
    for name, value, support in rows:
        print(f"{name:<26}{value if value is not None else float('nan'):>8.3f}{support:>9}")
    for key in ("detection_precision", "kind_accuracy", "colour_accuracy", "keypoint_pck_visible"):
        v = report[key]
        print(f"{key.replace('_', ' '):<26}{v if v is not None else float('nan'):>8.3f}")
    sys.stdout.flush()
    return 0
