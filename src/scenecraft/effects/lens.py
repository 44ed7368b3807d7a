"""Lens and film ops: vignette, film grain, chromatic aberration, bloom, motion blur, depth of field.

Sizes are fractions of the image (of max(H, W) for blurs), so a chain looks the same on a 512²
preview and a 4096² render. Pixel positions follow one convention everywhere: pixel (x, y) has its
centre at index (x, y), y counted from the top.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field

from scenecraft.effects.filters import pyramid_blur, sample_bilinear, shift_bilinear
from scenecraft.effects.noise import MASK32, hash_cell, uniform
from scenecraft.effects.op import EffectOp, RenderContext


def smoothstep(edge0: float, edge1: float, x: torch.Tensor) -> torch.Tensor:
    """GLSL's smoothstep: Hermite step from edge0 to edge1."""
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class Vignette(EffectOp):
    """Darkens towards the corners: x * (1 - amount * smoothstep(radius, radius + softness, d)).

    d is the distance from the centre in an aspect-corrected frame, 0 at the centre and 1 at a corner.
    """

    op: Literal["vignette"] = "vignette"
    amount: float = Field(0.5, ge=0.0, le=1.0, description="darkening at the corners, 1 = black")
    radius: float = Field(0.5, ge=0.0, le=1.5, description="distance (0 centre, 1 corner) where it starts")
    softness: float = Field(0.5, ge=0.05, le=1.5, description="width of the falloff")

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        xs, ys = ctx.pixel_grid(image.shape[-2], image.device)
        aspect = ctx.full_width / ctx.full_height
        u = ((xs + 0.5) / ctx.full_width - 0.5) * aspect  # (1, W)
        v = (ys + 0.5) / ctx.full_height - 0.5  # (h, 1)
        d = torch.sqrt(u * u + v * v) / (0.5 * math.sqrt(aspect * aspect + 1.0))  # (h, W)
        factor = 1.0 - self.amount * smoothstep(self.radius, self.radius + self.softness, d)
        return image * factor


class Grain(EffectOp):
    """Monochrome film grain: value noise on a lattice of ``size`` px, hashed from the seed.

    Lattice value = u1 + u2 - 1 (triangular in [-1, 1]) from the integer hash (noise.py); between
    lattice points it is interpolated with smoothstep weights. With ``animated`` the pattern changes
    every 1/24 s of frame time. Every image of a batch gets the same grain.
    """

    op: Literal["grain"] = "grain"
    amount: float = Field(0.08, ge=0.0, le=0.5, description="grain amplitude in [0, 1] units")
    size: float = Field(1.5, ge=1.0, le=8.0, description="grain size in pixels")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    animated: bool = Field(False, description="draw new grain every 1/24 s of frame time")

    @property
    def is_animated(self) -> bool:
        return self.animated

    def frame_seed(self, time: float) -> int:
        frame = math.floor(time * 24.0) if self.animated else 0
        return (self.seed + frame * 0x9E3779B9) & MASK32

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        height, width = image.shape[-2], ctx.full_width
        device = image.device
        gx = torch.arange(width, device=device, dtype=torch.float32) / self.size  # (W,)
        gy = torch.arange(ctx.row0, ctx.row0 + height, device=device, dtype=torch.float32) / self.size  # (h,)
        ix, iy = gx.floor(), gy.floor()
        wx, wy = smoothstep(0.0, 1.0, gx - ix), smoothstep(0.0, 1.0, gy - iy)
        # Lattice values over the cells this band touches: (Ly, Lx).
        x0, y0 = int(ix[0]), int(iy[0])
        cx = torch.arange(x0, int(ix[-1]) + 2, device=device, dtype=torch.int64).view(1, -1)
        cy = torch.arange(y0, int(iy[-1]) + 2, device=device, dtype=torch.int64).view(-1, 1)
        h = hash_cell(self.frame_seed(ctx.time), cx, cy)
        lattice = uniform(h, 0) + uniform(h, 1) - 1.0
        jx, jy = ix.long() - x0, iy.long() - y0
        rows = torch.lerp(lattice[:, jx], lattice[:, jx + 1], wx)  # (Ly, W)
        noise = torch.lerp(rows[jy], rows[jy + 1], wy.view(-1, 1))  # (h, W)
        return (image + self.amount * noise).clamp(0.0, 1.0)


class ChromaticAberration(EffectOp):
    """Lateral chromatic aberration: red magnified by (1 + amount) about the centre, blue by (1 - amount)."""

    op: Literal["chromatic_aberration"] = "chromatic_aberration"
    pointwise = False
    amount: float = Field(0.005, ge=0.0, le=0.03, description="relative magnification difference")

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        batch, _, height, width = image.shape
        xs = torch.arange(width, device=image.device, dtype=torch.float32).view(1, 1, -1)
        ys = torch.arange(height, device=image.device, dtype=torch.float32).view(1, -1, 1)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        out = image.clone()
        for channel, scale in ((0, 1.0 + self.amount), (2, 1.0 - self.amount)):
            px = (cx + (xs - cx) / scale).expand(batch, height, width)
            py = (cy + (ys - cy) / scale).expand(batch, height, width)
            out[:, channel : channel + 1] = sample_bilinear(image[:, channel : channel + 1], px, py)
        return out


class Bloom(EffectOp):
    """Glow around highlights: x + strength * blur(max(x - threshold, 0)), blur sigma = radius * max(H, W)."""

    op: Literal["bloom"] = "bloom"
    pointwise = False
    strength: float = Field(0.6, ge=0.0, le=3.0, description="how much glow is added")
    threshold: float = Field(0.7, ge=0.0, le=1.0, description="level above which a pixel glows")
    radius: float = Field(0.03, ge=0.002, le=0.25, description="glow sigma as a fraction of max(H, W)")

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        bright = (image - self.threshold).clamp(min=0.0)
        glow = pyramid_blur(bright, self.radius * max(image.shape[-2:]))
        return (image + self.strength * glow).clamp(0.0, 1.0)


class MotionBlur(EffectOp):
    """Directional motion blur: the mean of N = 2^k bilinear samples along a line of ``length``.

    Built as k passes that each average the image with a shifted copy of itself (shift d, 2d, 4d,
    ...), so N taps cost 2k samples; the first pass also centres the line on the pixel.
    """

    op: Literal["motion_blur"] = "motion_blur"
    pointwise = False
    angle: float = Field(0.0, ge=0.0, le=360.0, description="direction in degrees, counter-clockwise from +x")
    length: float = Field(0.02, ge=0.0, le=0.1, description="streak length as a fraction of max(H, W)")

    def passes(self, height: int, width: int) -> list[tuple[float, float, float, float]]:
        """The passes as (dx1, dy1, dx2, dy2): out = (sample at +d1 + sample at +d2) / 2, in px."""
        length = self.length * max(height, width)
        if length < 0.5:
            return []
        k = min(7, max(1, math.ceil(math.log2(length + 1.0))))
        step = length / (2**k - 1)
        ux, uy = math.cos(math.radians(self.angle)), -math.sin(math.radians(self.angle))  # image y is down
        start = -0.5 * length
        out = [(start * ux, start * uy, (start + step) * ux, (start + step) * uy)]
        out += [(0.0, 0.0, (2**j) * step * ux, (2**j) * step * uy) for j in range(1, k)]
        return out

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        x = image
        for dx1, dy1, dx2, dy2 in self.passes(*image.shape[-2:]):
            x = 0.5 * (shift_bilinear(x, dx1, dy1) + shift_bilinear(x, dx2, dy2))
        return x


class DepthOfField(EffectOp):
    """Depth of field from a depth map: a blur stack (0, 1/3, 2/3, 1 of max_blur) mixed per pixel.

    Circle of confusion c = clamp((|depth - focus| - range) / transition, 0, 1); the output is the
    stack interpolated at 3c. Depth: supplied by the scene, or estimated (estimate.py).
    """

    op: Literal["depth_of_field"] = "depth_of_field"
    pointwise = False
    uses_depth = True
    focus: float = Field(0.3, ge=0.0, le=1.0, description="depth in focus (0 near, 1 far)")
    range: float = Field(0.1, ge=0.0, le=1.0, description="half-width of the sharp depth band")
    transition: float = Field(0.3, ge=0.01, le=1.0, description="depth over which blur ramps to max")
    max_blur: float = Field(0.01, ge=0.0, le=0.05, description="largest blur sigma, fraction of max(H, W)")

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        assert ctx.depth is not None, "the renderer supplies depth to ops with uses_depth"
        sigma = self.max_blur * max(image.shape[-2:])
        coc = (((ctx.depth - self.focus).abs() - self.range) / self.transition).clamp(0.0, 1.0) * 3.0
        out = image * (1.0 - coc).clamp(min=0.0)
        for level in (1, 2, 3):
            weight = (1.0 - (coc - level).abs()).clamp(min=0.0)  # hat function centred on the level
            out = out + weight * pyramid_blur(image, sigma * level / 3.0)
        return out.clamp(0.0, 1.0)
