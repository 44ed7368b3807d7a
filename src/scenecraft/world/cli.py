"""Make world scenes with their labels (the judges that score images are `scenecraft eval`).

scenecraft world render --spec scene.json --size 512 --out img.png   # image + img.json annotations
scenecraft world sample --n 16 --seed 0 --size 128 --out DIR/        # PNG + JSON per scene, contact sheet
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from scenecraft.atomic_write import write_bytes


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="world_command", metavar="ACTION", required=True)
    r = sub.add_parser("render", help="render one scene spec (JSON) to a PNG and its annotations")
    r.add_argument("--spec", required=True, help="scene spec JSON file (see scenecraft.world.spec.SceneSpec)")
    r.add_argument("--size", type=int, default=512, help="image side in pixels, 32..1024 (default 512)")
    r.add_argument("--out", required=True, help="output PNG; annotations go next to it as .json")
    r.add_argument("--seed", type=int, default=0, help="seed for sensor noise and caption wording")
    r.add_argument("--noise", type=float, default=0.012, help="sensor noise standard deviation, 0..0.2")
    r.add_argument(
        "--supersample", type=int, default=2, choices=(1, 2, 3, 4), help="anti-aliasing rays per side"
    )
    r.add_argument(
        "--smpl-model", default=None, help="a SMPL .pkl to take people's joints from (needs smplx)"
    )
    s = sub.add_parser("sample", help="render N random scenes with annotations and a contact sheet")
    s.add_argument("--n", type=int, default=16, help="number of scenes (1..100000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=int, default=128, help="image side in pixels, 32..1024")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--config", default=None, help="SamplerConfig JSON file controlling the distributions")
    s.add_argument("--supersample", type=int, default=1, choices=(1, 2, 3, 4))



def _save_png(path: Path, image: Any) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    write_bytes(path, buf.getvalue())


def contact_sheet(images: list[Any], columns: int | None = None, gap: int = 2) -> Any:
    """Images (H, W, 3) uint8 of one size tiled on a grid with ``gap`` white pixels between them."""
    import numpy as np

    n = len(images)
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w = images[0].shape[:2]
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
    for k, im in enumerate(images):
        y, x = gap + (k // cols) * (h + gap), gap + (k % cols) * (w + gap)
        sheet[y : y + h, x : x + w] = im
    return sheet


def _usage(msg: str) -> Exception:
    from scenecraft.cli import UsageError

    return UsageError(msg)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from scenecraft.world.render import MAX_SIZE, MIN_SIZE

    if getattr(args, "size", MIN_SIZE) is not None and not MIN_SIZE <= args.size <= MAX_SIZE:
        raise _usage(f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {args.size}")
    try:
        if args.world_command == "render":
            return _render(args)
        return _sample(args)
    except ValidationError as exc:
        raise _usage(str(exc)) from exc


def _render(args: argparse.Namespace) -> int:
    from scenecraft.world.render import render
    from scenecraft.world.smpl import SMPLModel
    from scenecraft.world.spec import SceneSpec

    spec_path = Path(args.spec)
    if not spec_path.is_file():
        raise _usage(f"--spec file not found: {spec_path}")
    spec = SceneSpec.model_validate_json(spec_path.read_text())
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise _usage(f"--out must be a .png path, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    model = SMPLModel(args.smpl_model) if args.smpl_model else None
    r = render(
        spec, size=args.size, seed=args.seed, noise=args.noise, supersample=args.supersample, smpl_model=model
    )
    _save_png(out, r.image)
    write_bytes(out.with_suffix(".json"), json.dumps(r.annotations(), indent=1).encode())
    print(f"{out} ({args.size}x{args.size}): {r.caption}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from scenecraft.world.dataset import SamplerConfig, WorldSampler

    if not 1 <= args.n <= 100_000:
        raise _usage(f"--n must be between 1 and 100000, got {args.n}")
    if args.seed < 0:
        raise _usage(f"--seed must be >= 0, got {args.seed}")
    config = SamplerConfig.model_validate_json(Path(args.config).read_text()) if args.config else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sampler = WorldSampler(config, args.seed)
    thumbs = []
    for i in range(args.n):
        r = sampler.render(i, args.size, supersample=args.supersample)
        stem = out / f"scene_{i:05d}"
        _save_png(stem.with_suffix(".png"), r.image)
        write_bytes(stem.with_suffix(".json"), json.dumps(r.annotations()).encode())
        if i < 64:
            thumbs.append(r.image)
    _save_png(out / "contact_sheet.png", contact_sheet(thumbs))
    print(f"wrote {args.n} scenes and contact_sheet.png to {out}")
    return 0
