"""Makes docs/images/effects/<op>.png: the procedural test image before and after each op,
and particles.webp: an animated chain (rain, then snow) as the CLI's --frames renders it.

    .venv/bin/python scripts/effects_strips.py

Uses the settings of benchmarks/effects_speed.py (one per op) plus the other particle kinds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.effects_speed import CHAIN_6, OPS  # noqa: E402

from scenecraft.effects import apply_chain, render_frames  # noqa: E402
from scenecraft.effects.render import tensor_to_image  # noqa: E402
from scenecraft.effects.test_image import make_test_image  # noqa: E402

OUT = ROOT / "docs" / "images" / "effects"
HEIGHT, WIDTH, GAP = 192, 288, 6

STRIPS = {
    **{name.split(" ")[0]: [op] for name, op in OPS.items()},
    "particles_snow": [{"op": "particles", "kind": "snow", "density": 0.7, "wind": 0.4}],
    "particles_sparks": [{"op": "particles", "kind": "sparks", "density": 0.6}],
    "particles_dust": [{"op": "particles", "kind": "dust", "density": 0.8, "size": 2}],
    "chain_6": CHAIN_6,
}


def main() -> int:
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    image = make_test_image(HEIGHT, WIDTH)
    before = tensor_to_image(image)
    for name, chain in STRIPS.items():
        after = tensor_to_image(apply_chain(chain, image, time=0.5))
        strip = Image.new("RGB", (2 * WIDTH + GAP, HEIGHT), (255, 255, 255))
        strip.paste(before, (0, 0))
        strip.paste(after, (WIDTH + GAP, 0))
        strip.save(OUT / f"{name}.png", optimize=True)
        print(f"wrote {(OUT / f'{name}.png').relative_to(ROOT)}: {chain}")
    chain = [{"op": "particles", "kind": "rain", "density": 0.5}, {"op": "particles", "kind": "snow", "wind": 0.5}]
    frames = render_frames(chain, before, frames=24, fps=12)
    # Lossy for the docs page (the renderer's own animations are lossless).
    frames[0].save(OUT / "particles.webp", save_all=True, append_images=frames[1:], duration=83, loop=0, quality=80)
    print(f"wrote {(OUT / 'particles.webp').relative_to(ROOT)}: {chain}, 24 frames at 12 fps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
