"""The worker's side of effects: decode a stored version, render a validated chain on it, encode PNG.

`scenecraft.effects.render` (and so torch) is imported on first use, like the generation pipeline
in engine.py, so the API process, which only validates chains (effects/chain.py), never imports it.
Effects jobs are never batched (queue.batch_key gives each its own key): one job, one image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image

from scenecraft.effects.chain import ChainError


class EffectsRejected(ValueError):
    """The chain cannot be rendered on this image (retrying will not help); the message says why."""


@dataclass(frozen=True)
class Rendered:
    png: bytes
    width: int
    height: int


def decode(data: bytes) -> Image.Image:
    """A stored version's bytes as RGB, or RGBA when it has transparency (kept through the chain)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    if image.mode in ("RGB", "RGBA"):
        return image
    transparent = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if transparent else "RGB")


def render_png(chain: list[dict[str, Any]], image: Image.Image) -> Rendered:
    """Render `chain` (already validated at submission; checked again here) on `image` -> PNG."""
    from scenecraft.effects.render import RenderError, render_image

    try:
        out = render_image(chain, image)
    except (ChainError, RenderError) as exc:
        raise EffectsRejected(str(exc)) from None
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return Rendered(buf.getvalue(), out.width, out.height)
