"""Train and score the learned x2 upsampler of the bundled model (64 px -> 128 px).

    scenecraft upsampler train --out runs/upsampler --seconds 2400        # resumes if OUT has state.pt
    scenecraft upsampler score --weights runs/upsampler/upsampler.safetensors --n 100

``train`` renders ``--scenes`` world scenes at 64 and 128 px once (cached in OUT), then trains on
random crops of them, the inputs degraded like generated images (blur, noise); it writes
OUT/upsampler.safetensors (float16; ship it as src/scenecraft/weights/seed-12M-x2.safetensors) and
OUT/state.pt. ``score`` prints the PSNR of the net against bilinear and bicubic upsampling on
held-out scenes (world seed 10007), clean and blurred.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scenecraft.cli import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train (or resume) an upsampler on scene-world render pairs")
    train.add_argument("--out", type=Path, required=True, help="run folder (resumed when it holds state.pt)")
    train.add_argument("--seconds", type=float, default=None, help="stop after this many seconds of this run")
    train.add_argument("--steps", type=int, default=None, help="stop at this step (resumed steps count)")
    train.add_argument(
        "--cooldown", type=float, default=0.0, help="the last seconds of --seconds in which the rate falls to a tenth"
    )
    train.add_argument("--scenes", type=int, default=4000, help="distinct training scenes (default 4000)")
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--crop", type=int, default=32, help="crop side at 64 px (default 32)")
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--fft-weight", type=float, default=0.0, help="weight of the Fourier-amplitude L1 term")
    train.add_argument("--channels", type=int, default=48)
    train.add_argument("--blocks", type=int, default=8)
    train.add_argument("--workers", type=int, default=2, help="rendering processes (default 2)")
    train.add_argument("--save-every", type=float, default=300.0, help="seconds between checkpoints")
    train.add_argument("--device", default="cpu")
    score = sub.add_parser("score", help="PSNR of an upsampler against bilinear and bicubic on held-out scenes")
    score.add_argument("--weights", type=Path, required=True, help="an upsampler .safetensors file")
    score.add_argument("--n", type=int, default=100, help="held-out scenes (default 100)")
    score.add_argument("--blur", type=float, default=0.8, help="sigma in px of the blurred-input row (default 0.8)")


def run(args: argparse.Namespace) -> int:
    if args.action == "train":
        return _train(args)
    return _score(args)


def _train(args: argparse.Namespace) -> int:
    from scenecraft.train.upsampler import UpsamplerTrainConfig, UpsamplerTrainer

    if args.seconds is None and args.steps is None:
        raise UsageError("give --seconds or --steps: training needs an end")
    try:
        cfg = UpsamplerTrainConfig(
            out=args.out,
            seconds=args.seconds,
            steps=args.steps,
            cooldown=args.cooldown,
            scenes=args.scenes,
            batch=args.batch,
            crop=args.crop,
            lr=args.lr,
            fft_weight=args.fft_weight,
            channels=args.channels,
            blocks=args.blocks,
            workers=args.workers,
            save_every=args.save_every,
            device=args.device,
        )
        result = UpsamplerTrainer(cfg).train()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result))
    return 0


def _score(args: argparse.Namespace) -> int:
    from scenecraft.model.checkpoints import CheckpointError
    from scenecraft.model.upsampler import load_upsampler
    from scenecraft.train.upsampler import score

    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    try:
        model = load_upsampler(args.weights)
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None
    result = score(model, n=args.n, blur=args.blur)
    print(f"PSNR (dB) on {result['n']} held-out scenes of seed {result['seed']}, 64 -> 128 px")
    modes = ("nearest", "bilinear", "bicubic", "learned")
    print(f"{'input':14}" + "".join(f"{m:>10}" for m in modes))
    for name, row in result["psnr_db"].items():
        print(f"{name:14}" + "".join(f"{row[m]:10.2f}" for m in modes))
    return 0
