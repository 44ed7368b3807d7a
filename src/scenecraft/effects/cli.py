"""Apply an effects chain to an image: `scenecraft effects apply --chain chain.json in.png out.png`.

The chain is a JSON list of ops (see docs/effects.md). With --frames N > 1 the chain is rendered at
times 0, 1/fps, 2/fps, ... into an animated WebP or GIF (out's extension picks which). The output
file is written only after the whole render succeeded, atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="effects_command", metavar="ACTION", required=True)
    apply = sub.add_parser("apply", help="render a chain on an image", description=__doc__)
    apply.add_argument("--chain", required=True, type=Path, help="JSON file holding the list of ops")
    apply.add_argument("input", type=Path, help="input image (PNG, JPEG, WebP, ...; at most 4096 px a side)")
    apply.add_argument("output", type=Path, help="output: .png/.jpg/.webp, or .webp/.gif with --frames > 1")
    apply.add_argument("--frames", type=int, default=1, help="frames to render (1..240; default 1, a still)")
    apply.add_argument("--fps", type=float, default=12.0, help="animation frame rate (1..60; default 12)")
    apply.add_argument("--time", type=float, default=0.0, help="frame time in seconds of a still (default 0)")
    apply.add_argument("--depth", type=Path, help="greyscale depth image (black near, white far), same size")
    apply.add_argument("--normals", type=Path, help="normal map image, RGB = (n + 1) / 2, same size")
    apply.add_argument("--device", default="cpu", help="torch device (default cpu), e.g. cuda")


def _load_map(path: Path, channels: int, size: tuple[int, int]):  # type: ignore[no-untyped-def]
    """A depth (1 channel) or normal (3 channels) map image as (1, C, H, W) float32."""
    import numpy as np
    import torch
    from PIL import Image

    from scenecraft.cli import UsageError

    try:
        image = Image.open(path)
        image.load()
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable image ({exc})") from None
    if image.size != size:
        got = f"{image.size[0]}x{image.size[1]}"
        raise UsageError(f"{path}: must be {size[0]}x{size[1]} like the input, got {got}")
    if channels == 1:
        wide = image.mode.startswith("I")  # 16-bit PNGs open as I;16 / I
        data = np.asarray(image.convert("I") if wide else image.convert("L"), np.float32)
        scale = 65535.0 if wide else 255.0
        return torch.from_numpy(data / scale)[None, None]
    data = np.asarray(image.convert("RGB"), np.float32) / 255.0 * 2.0 - 1.0
    normals = torch.from_numpy(data).permute(2, 0, 1)[None]
    return normals / normals.norm(dim=1, keepdim=True).clamp(min=1e-6)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from scenecraft.atomic_write import write_bytes
    from scenecraft.cli import UsageError
    from scenecraft.effects import ChainError, parse_chain
    from scenecraft.effects.render import (
        MAX_SIDE,
        RenderError,
        encode,
        format_for_path,
        render_frames,
        render_image,
    )

    try:
        chain = parse_chain(args.chain.read_bytes())
    except OSError as exc:
        raise UsageError(f"--chain {args.chain}: cannot read ({exc.strerror})") from None
    except ChainError as exc:
        raise UsageError(f"--chain {args.chain}: {exc}") from None
    try:
        image = Image.open(args.input)  # reads the header only
        if max(image.size) > MAX_SIDE:  # refuse before decoding the pixels
            raise UsageError(f"{args.input}: at most {MAX_SIDE} px a side, got {image.size[0]}x{image.size[1]}")
        image.load()
    except (OSError, ValueError) as exc:
        raise UsageError(f"{args.input}: not a readable image ({exc})") from None
    if not args.output.parent.is_dir():
        raise UsageError(f"{args.output}: folder {args.output.parent} does not exist")
    depth = _load_map(args.depth, 1, image.size) if args.depth else None
    normals = _load_map(args.normals, 3, image.size) if args.normals else None
    try:
        fmt = format_for_path(args.output, animated=args.frames > 1)
        if args.frames > 1:
            frames = render_frames(chain, image, frames=args.frames, fps=args.fps, depth=depth,
                                   normals=normals, device=args.device)
        else:
            frames = [render_image(chain, image, depth=depth, normals=normals, time=args.time,
                                   device=args.device)]
        data = encode(frames, fmt, args.fps)
    except RenderError as exc:
        raise UsageError(str(exc)) from None
    write_bytes(args.output, data)
    kind = f"{len(frames)} frames" if len(frames) > 1 else "1 image"
    size = f"{image.size[0]}x{image.size[1]}"
    print(f"wrote {args.output} ({kind}, {size}, {len(chain.ops)} ops, {len(data)} bytes)")
    return 0
