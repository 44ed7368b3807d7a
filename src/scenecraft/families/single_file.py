"""Single-file transformer checkpoints (`flux1-dev.safetensors`, `sd3.5_medium.safetensors`, a
fine-tune's one file) run with the rest of a diffusers folder of the same family, no torch here.

A single file holds the DiT alone (or the DiT plus encoders in the original layout, which diffusers'
converter ignores but the transformer's). diffusers' `from_single_file` reads it — in the original
(BFL / Stability) layout, converted by diffusers' own converters, or already in diffusers' layout —
but it needs a transformer config, and the pipeline needs text encoders, tokenizers, a VAE and a
scheduler. The library takes all of those from a diffusers folder of the same family in models_dir
whose transformer has the same shape (width, block counts, FLUX's guidance embedding), the "base".
Where there is none, or where diffusers has no single-file loader for the family (PixArt, SANA),
the entry is listed as not runnable with the reason (`scenecraft models list`).
"""

from __future__ import annotations

import re
from typing import Any

# families whose transformer diffusers can load with `from_single_file`
SINGLE_FILE_CLASSES = {"sd3": "SD3Transformer2DModel", "flux": "FluxTransformer2DModel"}

# (tensor whose first dimension is the width, block-counting patterns, guidance marker) per layout
_LAYOUTS: dict[str, tuple[tuple[str, tuple[str, ...], str | None], ...]] = {
    "flux": (
        ("img_in.weight", (r"double_blocks\.(\d+)\.", r"single_blocks\.(\d+)\."), "guidance_in.in_layer.weight"),
        (
            "x_embedder.weight",
            (r"(?<!single_)transformer_blocks\.(\d+)\.", r"single_transformer_blocks\.(\d+)\."),
            "time_text_embed.guidance_embedder.linear_1.weight",
        ),
    ),
    "sd3": (
        ("x_embedder.proj.weight", (r"joint_blocks\.(\d+)\.",), None),
        ("pos_embed.proj.weight", (r"transformer_blocks\.(\d+)\.",), None),
    ),
}


def transformer_shape(header: dict[str, Any], family: str) -> tuple[int, tuple[int, ...], bool] | None:
    """(width, blocks of each kind, has a guidance embedding) of a transformer's tensors in either
    layout and under any key prefix (`model.diffusion_model.` in original files); None if unknown."""
    for width_key, block_patterns, guidance_key in _LAYOUTS.get(family, ()):
        width_name = next((k for k in header if k == width_key or k.endswith("." + width_key)), None)
        if width_name is None:
            continue
        blocks = []
        for pattern in block_patterns:
            found = {int(m.group(1)) for k in header if (m := re.search(r"(?:^|\.)" + pattern, k))}
            blocks.append(max(found) + 1 if found else 0)
        guidance = guidance_key is not None and any(k.endswith(guidance_key) for k in header)
        return int(header[width_name]["shape"][0]), tuple(blocks), guidance
    return None


def describe(shape: tuple[int, tuple[int, ...], bool]) -> str:
    width, blocks, guidance = shape
    text = f"width {width}, blocks {'+'.join(str(b) for b in blocks)}"
    return text + (", guidance embedding" if guidance else "")
