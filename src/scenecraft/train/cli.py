"""Train a scene-aware DiT on the scene world.

    scenecraft train --out runs/seed-12M --seconds 3600                 # CPU, resumes if runs/... has a state
    scenecraft train --out runs/gpu --device cuda --batch 256 --workers 12 --seconds 600
    torchrun --nproc_per_node 8 -m scenecraft train --out runs/ddp --device cuda --seconds 3600

Every ``--save-every`` seconds and at the end it writes OUT/model.safetensors (EMA weights; load
it with ``scenecraft generate --checkpoint``) and OUT/state.pt (everything needed to resume).
Samples of held-out requests go to OUT/samples/, the evaluators' scores of them to OUT/metrics.jsonl.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scenecraft.cli import UsageError


def _rate(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=RATE (e.g. text=0.1), got {text!r}") from None


def register(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumed when it holds state.pt)")
    parser.add_argument("--model", default="seed-12M", help="named DiT shape (default seed-12M)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--batch", type=int, default=64, help="batch per process (default 64)")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    parser.add_argument("--steps", type=int, default=None, help="stop at this step (resumed steps count)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this many seconds of this run")
    parser.add_argument("--ema", type=float, default=0.999, help="EMA decay")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    parser.add_argument(
        "--drop",
        type=_rate,
        action="append",
        default=[],
        metavar="NAME=RATE",
        help="condition dropout (text, scene, subjects, pose); repeatable",
    )
    parser.add_argument("--inpaint", type=float, default=None, help="share of samples with an inpainting mask")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes per rank")
    parser.add_argument("--buffer", type=int, default=20_000, help="examples kept in memory")
    parser.add_argument("--data-seed", type=int, default=0, help="world seed of the training scenes")
    parser.add_argument("--data-limit", type=int, default=None, help="render at most this many scenes per rank")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda (default cpu)")
    parser.add_argument("--no-bf16", action="store_true", help="full float32 on GPUs")
    parser.add_argument("--save-every", type=float, default=300.0, help="seconds between checkpoints")
    parser.add_argument("--sample-every", type=int, default=0, help="steps between sample grids (0: at the end)")
    parser.add_argument("--eval-images", type=int, default=16, help="held-out requests per validation")
    parser.add_argument("--init", type=Path, default=None, help="start from these weights (model.safetensors)")
    parser.add_argument("--text-encoder", type=Path, default=None, help="local text encoder folder")
    parser.add_argument(
        "--dense-layout",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="paint each subject's phrase over its box as image-token input (default: as --init, else off)",
    )
    parser.add_argument(
        "--repa", type=float, default=0.0, help="weight of the REPA alignment loss (train.repa; default 0: off)"
    )
    parser.add_argument("--repa-block", type=int, default=3, help="REPA aligns the tokens after this block (1-based)")
    parser.add_argument(
        "--repa-encoder", type=Path, default=None, help="segmenter weights REPA aligns with (default: the judges')"
    )


def run(args: argparse.Namespace) -> int:
    from scenecraft.model.checkpoints import CheckpointError
    from scenecraft.train.trainer import DEFAULT_DROP, DEFAULT_INPAINT, TrainConfig, Trainer

    drop = dict(DEFAULT_DROP)
    drop.update(dict(args.drop))
    cfg = TrainConfig(
        out=args.out,
        model=args.model,
        size=args.size,
        batch=args.batch,
        lr=args.lr,
        warmup=args.warmup,
        max_steps=args.steps,
        seconds=args.seconds,
        ema_decay=args.ema,
        clip=args.clip,
        drop=drop,
        inpaint=DEFAULT_INPAINT if args.inpaint is None else args.inpaint,
        workers=args.workers,
        buffer=args.buffer,
        data_seed=args.data_seed,
        data_limit=args.data_limit,
        seed=args.seed,
        device=args.device,
        bf16=False if args.no_bf16 else None,
        save_every=args.save_every,
        sample_every=args.sample_every,
        eval_images=args.eval_images,
        init=args.init,
        text_encoder=args.text_encoder,
        dense_layout=args.dense_layout,
        repa_weight=args.repa,
        repa_block=args.repa_block,
        repa_encoder=args.repa_encoder,
    )
    try:
        result = Trainer(cfg).train()
    except (ValueError, CheckpointError) as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result))
    return 0
