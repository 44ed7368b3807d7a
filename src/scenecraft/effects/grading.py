"""Colour grading kernels: exposure, contrast, saturation, temperature, and 3-D colour LUTs.

All are pointwise. Images are sRGB-encoded values in [0, 1]; exposure and temperature work in linear
light (they model light: a stop doubles the photons, white balance scales the sensor channels), the
others on the encoded values, as grading tools do. Parameters: chain.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from scenecraft.effects.chain import Contrast, Exposure, Lut, Saturation, Temperature
from scenecraft.effects.context import Kernel, RenderContext
from scenecraft.effects.filters import LUMA, linear_to_srgb, luma, srgb_to_linear


def exposure(op: Exposure, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """linear light x 2^stops."""
    return linear_to_srgb(srgb_to_linear(image) * (2.0**op.stops))


def contrast(op: Contrast, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """(x - pivot) * amount + pivot."""
    return ((image - op.pivot) * op.amount + op.pivot).clamp(0.0, 1.0)


def saturation(op: Saturation, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """luma + (x - luma) * amount."""
    y = luma(image)
    return (y + (image - y) * op.amount).clamp(0.0, 1.0)


def temperature(op: Temperature, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """Linear light x per-channel gains (Temperature.gains: luma-normalised, so grey keeps its level)."""
    gains = torch.tensor(op.gains(), device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    return linear_to_srgb(srgb_to_linear(image) * gains)


# ---- LUTs -------------------------------------------------------------------------------------

def _smoothstep(x: torch.Tensor) -> torch.Tensor:
    return x * x * (3.0 - 2.0 * x)


def _teal_orange(r: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
    shift = (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b - 0.5) * 0.25  # + in highlights, - in shadows
    return r + shift, g + 0.1 * shift, b - 0.9 * shift


def _sepia(r: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return (
        0.393 * r + 0.769 * g + 0.189 * b,
        0.349 * r + 0.686 * g + 0.168 * b,
        0.272 * r + 0.534 * g + 0.131 * b,
    )


def _bleach_bypass(r: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
    y = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
    return tuple((c + (y - c) * 0.6 - 0.5) * 1.2 + 0.5 for c in (r, g, b))


def _cross_process(r: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return _smoothstep(r), g * 0.9 + 0.1 * _smoothstep(g), 0.1 + 0.8 * b


LUT_PRESETS: dict[str, Callable[..., tuple[torch.Tensor, ...]]] = {
    "teal_orange": _teal_orange,
    "sepia": _sepia,
    "bleach_bypass": _bleach_bypass,
    "cross_process": _cross_process,
}
PRESET_LUT_SIZE = 17


def preset_table(name: str, size: int = PRESET_LUT_SIZE) -> torch.Tensor:
    """A preset's LUT as (3, N, N, N) indexed [channel, b, g, r], lattice values clamped to [0, 1]."""
    axis = torch.linspace(0.0, 1.0, size, dtype=torch.float32)
    b, g, r = torch.meshgrid(axis, axis, axis, indexing="ij")
    out = LUT_PRESETS[name](r, g, b)
    return torch.stack(list(out)).clamp(0.0, 1.0)


def lut_lattice(op: Lut) -> torch.Tensor:
    """The LUT as (3, N, N, N) float32 indexed [channel, b, g, r]."""
    if op.preset is not None:
        return preset_table(op.preset)
    n = int(op.size or 0)
    table = torch.tensor(op.table, dtype=torch.float32)  # (N³, 3), red fastest
    return table.view(n, n, n, 3).permute(3, 0, 1, 2).contiguous()


def lut(op: Lut, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """Trilinear look-up in the lattice, blended over the input by ``strength``."""
    lattice = lut_lattice(op).to(image.device)[None]  # (1, 3, N_b, N_g, N_r)
    batch, _, height, width = image.shape
    # grid_sample's 5-D grid is (x, y, z) = (W, H, D) = (r, g, b);
    # align_corners=True maps 0 and 1 to the end lattice points.
    grid = (image.clamp(0.0, 1.0) * 2.0 - 1.0).permute(0, 2, 3, 1).reshape(1, 1, batch * height, width, 3)
    graded = F.grid_sample(lattice, grid, mode="bilinear", align_corners=True)  # (1, 3, 1, B*h, W)
    graded = graded.view(3, batch, height, width).permute(1, 0, 2, 3)
    if math.isclose(op.strength, 1.0):
        return graded
    return torch.lerp(image, graded, op.strength)


KERNELS: dict[str, Kernel] = {
    "exposure": exposure,
    "contrast": contrast,
    "saturation": saturation,
    "temperature": temperature,
    "lut": lut,
}
