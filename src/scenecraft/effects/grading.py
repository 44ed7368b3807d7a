"""Colour grading ops: exposure, contrast, saturation, temperature, and 3-D colour LUTs.

All are pointwise. Images are sRGB-encoded values in [0, 1]; exposure and temperature work in linear
light (they model light: a stop doubles the photons, white balance scales the sensor channels), the
others on the encoded values, as grading tools do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from scenecraft.effects.filters import LUMA, linear_to_srgb, luma, srgb_to_linear
from scenecraft.effects.op import EffectOp, RenderContext


class Exposure(EffectOp):
    """Exposure in photographic stops: linear light x 2^stops."""

    op: Literal["exposure"] = "exposure"
    stops: float = Field(0.0, ge=-6.0, le=6.0, description="stops of exposure; +1 doubles the light")

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        return linear_to_srgb(srgb_to_linear(image) * (2.0**self.stops))


class Contrast(EffectOp):
    """Contrast about a pivot: (x - pivot) * amount + pivot; amount 1 is identity."""

    op: Literal["contrast"] = "contrast"
    amount: float = Field(1.0, ge=0.0, le=3.0, description="1 = unchanged, 0 = flat grey at the pivot")
    pivot: float = Field(0.5, ge=0.0, le=1.0, description="the level contrast turns around")

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        return ((image - self.pivot) * self.amount + self.pivot).clamp(0.0, 1.0)


class Saturation(EffectOp):
    """Saturation: luma + (x - luma) * amount; 0 is greyscale, 1 identity."""

    op: Literal["saturation"] = "saturation"
    amount: float = Field(1.0, ge=0.0, le=3.0, description="1 = unchanged, 0 = greyscale")

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        y = luma(image)
        return (y + (image - y) * self.amount).clamp(0.0, 1.0)


class Temperature(EffectOp):
    """White balance: warm/cool and green/magenta channel gains in linear light, luma kept.

    gains = (1 + 0.3 warmth, 1 - 0.2 tint, 1 - 0.3 warmth) / (their luma), so a grey stays as bright.
    """

    op: Literal["temperature"] = "temperature"
    warmth: float = Field(0.0, ge=-1.0, le=1.0, description="+ warmer (amber), - cooler (blue)")
    tint: float = Field(0.0, ge=-1.0, le=1.0, description="+ magenta, - green")

    def gains(self) -> tuple[float, float, float]:
        r, g, b = 1.0 + 0.3 * self.warmth, 1.0 - 0.2 * self.tint, 1.0 - 0.3 * self.warmth
        norm = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
        return r / norm, g / norm, b / norm

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        gains = torch.tensor(self.gains(), device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
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


class Lut(EffectOp):
    """A 3-D colour look-up table, trilinearly interpolated, blended by ``strength``.

    Give either ``preset`` (one of LUT_PRESETS, built at 17³) or ``size`` and ``table``: size³ RGB
    triples in [0, 1], red varying fastest, then green, then blue (the .cube file order).
    """

    op: Literal["lut"] = "lut"
    preset: Literal["teal_orange", "sepia", "bleach_bypass", "cross_process"] | None = None
    size: int | None = Field(None, ge=2, le=33, description="lattice points per axis (2-33)")
    table: (
        list[Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=3, max_length=3)]]
        | None
    ) = Field(None, max_length=33**3, description="size³ RGB triples, red fastest")
    strength: float = Field(1.0, ge=0.0, le=1.0, description="blend of the graded image over the input")

    @model_validator(mode="after")
    def _one_source(self) -> Lut:
        if (self.preset is None) == (self.table is None):
            raise ValueError("give exactly one of 'preset' or 'table' (with 'size')")
        if self.table is not None:
            if self.size is None:
                raise ValueError("'size' is required with 'table'")
            if len(self.table) != self.size**3:
                raise ValueError(
                    f"'table' must hold size³ = {self.size**3} RGB triples for size {self.size}, "
                    f"got {len(self.table)}"
                )
        return self

    def lattice(self) -> torch.Tensor:
        """The LUT as (3, N, N, N) float32 indexed [channel, b, g, r]."""
        if self.preset is not None:
            return preset_table(self.preset)
        n = int(self.size or 0)
        table = torch.tensor(self.table, dtype=torch.float32)  # (N³, 3), red fastest
        return table.view(n, n, n, 3).permute(3, 0, 1, 2).contiguous()

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        lattice = self.lattice().to(image.device)[None]  # (1, 3, N_b, N_g, N_r)
        batch, _, height, width = image.shape
        # grid_sample's 5-D grid is (x, y, z) = (W, H, D) = (r, g, b);
        # align_corners=True maps 0 and 1 to the end lattice points.
        grid = (image.clamp(0.0, 1.0) * 2.0 - 1.0).permute(0, 2, 3, 1).reshape(1, batch * height, width, 1, 3)
        graded = F.grid_sample(lattice, grid.permute(0, 3, 1, 2, 4), mode="bilinear", align_corners=True)
        # (1, 3, 1, B*h, W) -> (B, 3, h, W)
        graded = graded.view(3, batch, height, width).permute(1, 0, 2, 3)
        if math.isclose(self.strength, 1.0):
            return graded
        return torch.lerp(image, graded, self.strength)
