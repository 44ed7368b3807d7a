"""Distil a one-pass, few-step student from a scene model (the teacher), in one command.

    scenecraft distill --teacher src/scenecraft/weights/seed-12M.safetensors --out runs/student \\
        --shards 60 --seconds 3600
    scenecraft distill --teacher T --out runs/pruned --init runs/student/student.safetensors \\
        --keep-blocks 0,1,2,3,5,7 --seconds 1800          # depth pruning, recovered by distillation
    scenecraft distill --teacher T --out runs/adapter --lora-rank 2 --seconds 1800   # an adapter student
    scenecraft distill --install runs/adapter/student.safetensors   # ship it with the bundled weights

Stage 1 caches the teacher's 20-step guided Euler trajectories of ``--shards`` x ``--batch``
world requests in OUT/trajectories (or ``--trajectories``; shards present are kept, so a stopped
run resumes). Stage 2 trains the student on them (resuming from OUT/state.pt) and writes
OUT/student.safetensors. ``--cache-seconds`` bounds stage 1; stage 2 runs on whatever is cached.
Rerun it with the final teacher's weights to distil the final model.

``--install FILE`` copies a trained student into the bundled weights (``--weights-dir``), as the
file the variants load (a depth-pruned student as the pruned one): an adapter only beside the very
teacher it was distilled from, without the training machine's path to it, and only once the copy
loads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scenecraft.cli import UsageError


def _blocks(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected block indices like 0,1,2,4, got {text!r}") from None


def _counts(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected step counts like 1,2,4,20, got {text!r}") from None


def register(parser: argparse.ArgumentParser) -> None:
    from scenecraft.config import QUANT_MODES

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--teacher", type=Path, default=None, help="the teacher scene model (.safetensors)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (resumed when it holds state.pt)")
    parser.add_argument(
        "--install", type=Path, default=None, metavar="FILE", help="install this trained student instead of training"
    )
    parser.add_argument(
        "--weights-dir", type=Path, default=None, help="with --install: where (default: the bundled weights)"
    )
    parser.add_argument("--trajectories", type=Path, default=None, help="trajectory cache (default OUT/trajectories)")
    parser.add_argument("--shards", type=int, default=60, help="trajectory shards to cache (the first is held out)")
    parser.add_argument("--batch", type=int, default=8, help="requests per shard, and the teacher's batch")
    parser.add_argument("--cache-seconds", type=float, default=None, help="stop caching after this long")
    parser.add_argument("--init", type=Path, default=None, help="start from this student (default: the teacher)")
    parser.add_argument("--keep-blocks", type=_blocks, default=None, help="depth pruning: blocks kept, e.g. 0,1,3,5")
    parser.add_argument("--step-counts", type=_counts, default=(1, 2, 4, 20), help="student step counts learnt")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--warmup", type=int, default=50, help="linear learning-rate warm-up steps")
    parser.add_argument("--steps", type=int, default=None, help="stop at this optimizer step (resumed ones count)")
    parser.add_argument("--seconds", type=float, default=None, help="stop training after this many seconds")
    parser.add_argument("--save-every", type=float, default=300.0, help="seconds between checkpoints")
    parser.add_argument("--device", default="cpu", help="cpu, cuda (both stages)")
    parser.add_argument(
        "--no-hold-out", action="store_true", help="train on every shard (the held-out loss is then in-sample)"
    )
    parser.add_argument(
        "--qat",
        choices=QUANT_MODES,
        default=None,
        help="quantization-aware: train the student fake-quantized for this int8 mode (needs torchao)",
    )
    parser.add_argument(
        "--drop-blocks", type=int, default=None, help="depth pruning: drop this many blocks, chosen by measurement"
    )
    parser.add_argument(
        "--lora-rank",
        type=int,
        default=None,
        help="train an adapter on the teacher (low-rank updates of this rank), saved without the teacher's weights",
    )
    parser.add_argument("--lora-alpha", type=float, default=None, help="the adapter's updates scale alpha / rank")
    parser.add_argument(
        "--off-grid",
        type=float,
        default=0.0,
        help="share of examples (0..1) whose jump starts anywhere on the teacher's trajectory, not on the grid",
    )


def _measured_keep(init: Path, shards: list[Path], drop: int, out: Path) -> list[int]:
    """The blocks to keep, chosen on the held-out shard (train.prune); the measurements go to OUT."""
    from scenecraft.train.distill import Examples, initial_student
    from scenecraft.train.prune import choose_blocks
    from scenecraft.train.trajectories import load_shard

    if (out / "pruning.json").is_file():  # a resumed run keeps its choice
        return list(json.loads((out / "pruning.json").read_text())["keep"])
    keep, log = choose_blocks(initial_student(init, None), Examples([load_shard(shards[0])]), drop)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pruning.json").write_text(json.dumps({"keep": keep, "measurements": log}, indent=2) + "\n")
    return keep


def install(args: argparse.Namespace) -> int:
    from scenecraft.model.checkpoints import CheckpointError, read_scene_metadata
    from scenecraft.model.student import install_student
    from scenecraft.variants import PRUNED_WEIGHTS, STUDENT_WEIGHTS, WEIGHTS_DIR, learnt_steps

    if args.teacher is not None or args.out is not None:
        raise UsageError("--install takes the student file alone: no --teacher or --out")
    if not args.install.is_file():
        raise UsageError(f"student weights not found: {args.install}")
    meta = read_scene_metadata(args.install)
    name = PRUNED_WEIGHTS if meta is not None and "kept_blocks" in meta["extra"] else STUDENT_WEIGHTS
    try:
        path = install_student(args.install, args.weights_dir or WEIGHTS_DIR, name)
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps({"installed": str(path), "bytes": path.stat().st_size, "step_counts": learnt_steps(path)}))
    return 0


def run(args: argparse.Namespace) -> int:
    from scenecraft.model.checkpoints import CheckpointError
    from scenecraft.train.distill import DistillConfig, Distiller
    from scenecraft.train.trajectories import cache_trajectories

    if args.install is not None:
        return install(args)
    if args.teacher is None or args.out is None:
        raise UsageError("give --teacher and --out to distil (or --install FILE to install a trained student)")
    if args.weights_dir is not None:
        raise UsageError("--weights-dir goes with --install")
    if not args.teacher.is_file():
        raise UsageError(f"teacher weights not found: {args.teacher}")
    if args.init is not None and not args.init.is_file():
        raise UsageError(f"--init weights not found: {args.init}")
    if args.shards < (1 if args.no_hold_out else 2) or args.batch < 1:
        raise UsageError("--shards must be >= 2 (one is held out; >= 1 with --no-hold-out) and --batch >= 1")
    if args.steps is None and args.seconds is None:
        raise UsageError("give --steps or --seconds: distillation needs an end")
    if args.qat is not None:
        from scenecraft.model.quantize import QuantizationError, ptq_config

        try:
            ptq_config(args.qat)  # torchao missing: say so before an hour of caching
        except QuantizationError as exc:
            raise UsageError(str(exc)) from None
    folder = args.trajectories or args.out / "trajectories"
    try:
        shards = cache_trajectories(
            args.teacher, folder, args.shards, batch=args.batch, seconds=args.cache_seconds, device=args.device
        )
        keep = args.keep_blocks
        if args.drop_blocks is not None and keep is None:
            keep = _measured_keep(args.init or args.teacher, shards, args.drop_blocks, args.out)
        cfg = DistillConfig(
            out=args.out,
            shards=shards,
            init=args.init or args.teacher,
            step_counts=args.step_counts,
            step_weights=tuple(2.0 if k == 4 else 1.0 for k in args.step_counts),
            batch=args.train_batch,
            lr=args.lr,
            warmup=args.warmup,
            max_steps=args.steps,
            seconds=args.seconds,
            save_every=args.save_every,
            keep_blocks=keep,
            device=args.device,
            hold_out=not args.no_hold_out,
            qat=args.qat,
            lora_rank=args.lora_rank,
            lora_alpha=args.lora_alpha,
            off_grid=args.off_grid,
            extra={"teacher": args.teacher.name},
        )
        result = Distiller(cfg).train()
    except (ValueError, CheckpointError) as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result))
    return 0
