"""scenecraft.effects: a validated effects chain, rendered in torch (server) and WebGL2 (browser).

A chain is a JSON list of ops, applied first to last::

    [{"op": "exposure", "stops": 0.5}, {"op": "bloom", "strength": 0.6}, {"op": "vignette", "amount": 0.4}]

Ops (parameters, bounds and defaults: docs/effects.md, or each class's fields):

- grading (grading.py): ``exposure``, ``contrast``, ``saturation``, ``temperature``, ``lut``
- lens and film (lens.py): ``vignette``, ``grain``, ``chromatic_aberration``, ``bloom``,
  ``motion_blur``, ``depth_of_field`` (uses depth)
- light (light.py): ``relight`` (uses normals), ``fog`` (uses depth)
- ``particles`` (particles.py): animated rain, snow, sparks, dust, deterministic in (seed, time)

Python API (what the platform calls)::

    from scenecraft.effects import parse_chain, apply_chain, render_image, render_bytes, ChainError

    chain = parse_chain(json_list_or_text)      # -> Chain; raises ChainError naming op index, op, parameter
    out = apply_chain(chain, image, depth=None, normals=None, time=0.0)
    #   image (B, 3, H, W) float in [0, 1], H, W <= 4096, on CPU or GPU -> (B, 3, H, W) float32
    #   depth (B|1, 1, H, W) 0 near..1 far; normals (B|1, 3, H, W); estimated from the image when omitted
    pil_out = render_image(chain, pil_image, time=0.0)                 # PIL -> PIL, alpha kept
    data = render_bytes(chain, png_bytes, fmt="PNG")                   # bytes -> bytes (a still)
    data = render_bytes(chain, png_bytes, fmt="WEBP", frames=24, fps=12)  # animated WebP (or GIF)

``chain.is_animated`` says whether frames differ over time. Bad inputs raise ``RenderError``
(a ValueError) before anything is written; files are written all-or-nothing by :mod:`scenecraft.atomic_write`.

Command line: ``scenecraft effects apply --chain chain.json in.png out.png [--frames N --fps F]``.
Browser twin: ``web/src/effects/`` (WebGL2), held to the torch output by tests/effects/test_webgl_parity.py.
"""

from typing import TYPE_CHECKING, Any

# The schema imports no torch, so the API process can validate chains cheaply; the renderer's
# names load (with torch) on first use.
from scenecraft.effects.chain import MAX_OPS, OPS, Chain, ChainError, parse_chain

if TYPE_CHECKING:
    from scenecraft.effects.render import (
        MAX_SIDE,
        RenderError,
        apply_chain,
        encode,
        render_bytes,
        render_frames,
        render_image,
    )

_RENDER_NAMES = {
    "MAX_SIDE", "RenderError", "apply_chain", "encode", "render_bytes", "render_frames", "render_image",
}


def __getattr__(name: str) -> Any:
    if name in _RENDER_NAMES:
        from scenecraft.effects import render

        return getattr(render, name)
    raise AttributeError(f"module 'scenecraft.effects' has no attribute {name!r}")


__all__ = [
    "MAX_OPS",
    "MAX_SIDE",
    "OPS",
    "Chain",
    "ChainError",
    "RenderError",
    "apply_chain",
    "encode",
    "parse_chain",
    "render_bytes",
    "render_frames",
    "render_image",
]
