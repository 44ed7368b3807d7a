"""Generate images with a DiT, e.g. from the official ImageNet checkpoint:

    scenecraft generate --model DiT-XL/2 --checkpoint DiT-XL-2-256x256.pt \\
        --vae sd-vae-ft-ema/ --class-label 207 --steps 50 --sampler ddim --guidance 4 \\
        --seed 0 --size 256 --out out.png

Nothing is downloaded: the checkpoint and the VAE are local paths. Without --vae the model works
in pixel space (3-channel models).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scenecraft.cli import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--model", default="DiT-XL/2", help="named config (default DiT-XL/2); see --list-models")
    parser.add_argument("--list-models", action="store_true", help="print the named configs and exit")
    parser.add_argument("--checkpoint", type=Path, help="model weights: .pt (official or training) or .safetensors")
    parser.add_argument("--vae", type=Path, help="AutoencoderKL: a diffusers folder or a single weights file")
    parser.add_argument(
        "--class-label",
        type=int,
        action="append",
        dest="class_labels",
        metavar="N",
        help="class to generate (repeat for a batch); omit for unconditional",
    )
    parser.add_argument("--steps", type=int, default=50, help="sampling steps (default 50)")
    parser.add_argument("--sampler", default="ddim", help="ddim or ddpm (epsilon models); euler or heun (flow models)")
    parser.add_argument("--guidance", type=float, default=4.0, help="classifier-free guidance scale (1 = off)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; image i of a batch uses seed + i")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda when available)")
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default="float32",
        help="compute precision (default float32)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out.png"), help="output PNG; a batch writes out-0.png, out-1.png, ..."
    )


def _list_models() -> int:
    import torch

    from scenecraft.model import DIT_CONFIGS, build_dit

    print(f"{'name':10} {'depth':>5} {'width':>5} {'heads':>5} {'patch':>5} {'params':>8}")
    for name, c in DIT_CONFIGS.items():
        with torch.device("meta"):  # shapes only, no memory
            n = sum(p.numel() for p in build_dit(name).parameters())
        print(f"{name:10} {c.depth:5d} {c.hidden_size:5d} {c.num_heads:5d} {c.patch_size:5d} {n / 1e6:7.1f}M")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_models:
        return _list_models()

    import torch
    from tqdm import tqdm

    from scenecraft.model import DIT_CONFIGS
    from scenecraft.model.autoencoder import VAELoadError
    from scenecraft.model.checkpoints import CheckpointError
    from scenecraft.pipeline import GenerationError, GenerationPipeline, SampleSpec, to_pil

    if args.model not in DIT_CONFIGS:
        raise UsageError(f"unknown model {args.model!r}; valid names: {', '.join(DIT_CONFIGS)}")
    if args.checkpoint is None:
        raise UsageError("--checkpoint is required (no bundled weights for this model)")
    if not args.checkpoint.is_file():
        raise UsageError(f"checkpoint not found: {args.checkpoint}")
    if args.vae is not None and not args.vae.exists():
        raise UsageError(f"VAE not found: {args.vae}")
    downsample = 8 if args.vae is not None else 1
    unit = downsample * DIT_CONFIGS[args.model].patch_size
    if args.size <= 0 or args.size % unit:
        raise UsageError(
            f"--size {args.size} is not divisible by the patch grid: {args.model} "
            f"{'on VAE latents (8x downsampling)' if args.vae else 'in pixel space'} needs a multiple of {unit}"
        )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype)

    try:
        pipe = GenerationPipeline.from_settings(args.model, args.checkpoint, args.vae, device=device, dtype=dtype)
    except (CheckpointError, VAELoadError) as exc:
        raise UsageError(str(exc)) from None
    native = pipe.model.config.input_size * downsample
    if native != args.size:
        print(f"warning: the checkpoint was trained at {native} px; generating at {args.size} px", file=sys.stderr)

    labels = args.class_labels or [None]
    specs = [SampleSpec(seed=args.seed + i, class_label=label) for i, label in enumerate(labels)]
    start = time.perf_counter()
    bar = tqdm(total=args.steps, desc="sampling", unit="step", file=sys.stderr)
    try:
        z = pipe.sample(
            specs,
            size=args.size,
            steps=args.steps,
            sampler=args.sampler,
            guidance=args.guidance,
            callback=lambda info: bar.update(1),
        )
        images = to_pil(pipe.decoder.decode(z))
    except GenerationError as exc:
        raise UsageError(str(exc)) from None
    finally:
        bar.close()
    elapsed = time.perf_counter() - start

    outputs = (
        [args.out]
        if len(images) == 1
        else [args.out.with_name(f"{args.out.stem}-{i}{args.out.suffix}") for i in range(len(images))]
    )
    for image, path in zip(images, outputs, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        image.save(tmp, format="PNG")
        tmp.replace(path)
        print(f"wrote {path}")
    print(f"{len(images)} image(s) in {elapsed:.1f} s on {device}", file=sys.stderr)
    return 0
