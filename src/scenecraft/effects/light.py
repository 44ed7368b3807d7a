"""Scene-light ops: directional relight (uses normals) and depth fog (uses depth).

Both are pointwise once the renderer has the normals or depth: supplied by the scene, or estimated
from the chain's input image (estimate.py).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field

from scenecraft.effects.op import Colour, EffectOp, RenderContext


class Relight(EffectOp):
    """A directional light added to the scene, shaded with the surface normals.

    light L = (cos e cos a, cos e sin a, sin e) for azimuth a (counter-clockwise from +x) and
    elevation e (0 grazing, 90 from the viewer); lambert = max(n . L, 0) with n's x, y scaled by
    ``normal_strength`` and renormalised;
    gain = 1 + strength (colour (ambient + (1 - ambient) 2 lambert) - 1); out = x gain.
    A surface lit at 60° from its normal keeps its brightness, one facing the light gets up to 2x,
    one facing away falls to ``ambient``.
    """

    op: Literal["relight"] = "relight"
    uses_normals = True
    azimuth: float = Field(45.0, ge=0.0, le=360.0, description="light direction in the image plane, degrees")
    elevation: float = Field(35.0, ge=0.0, le=90.0, description="light height above the image plane, degrees")
    strength: float = Field(0.6, ge=0.0, le=1.0, description="0 = unchanged, 1 = fully relit")
    ambient: float = Field(0.3, ge=0.0, le=1.0, description="light reaching surfaces facing away")
    colour: Colour = (1.0, 0.95, 0.85)
    normal_strength: float = Field(
        1.0, ge=0.0, le=4.0, description="exaggerates (>1) or flattens (<1) the normals"
    )

    def light_direction(self) -> tuple[float, float, float]:
        a, e = math.radians(self.azimuth), math.radians(self.elevation)
        return math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        assert ctx.normals is not None, "the renderer supplies normals to ops with uses_normals"
        n = ctx.normals
        n = torch.cat([n[:, :2] * self.normal_strength, n[:, 2:3]], dim=1)
        n = n / n.norm(dim=1, keepdim=True).clamp(min=1e-6)
        lx, ly, lz = self.light_direction()
        lambert = (n[:, 0:1] * lx + n[:, 1:2] * ly + n[:, 2:3] * lz).clamp(min=0.0)  # (B, 1, h, W)
        colour = torch.tensor(self.colour, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
        gain = 1.0 + self.strength * (colour * (self.ambient + (1.0 - self.ambient) * 2.0 * lambert) - 1.0)
        return (image * gain).clamp(0.0, 1.0)


class Fog(EffectOp):
    """Exponential depth fog: t = 1 - exp(-density max(depth - start, 0)); out = mix(x, colour, t)."""

    op: Literal["fog"] = "fog"
    uses_depth = True
    density: float = Field(1.5, ge=0.0, le=10.0, description="fog thickness per unit of depth")
    start: float = Field(0.2, ge=0.0, le=1.0, description="depth where the fog begins (0 near, 1 far)")
    colour: Colour = (0.8, 0.84, 0.9)

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        assert ctx.depth is not None, "the renderer supplies depth to ops with uses_depth"
        t = 1.0 - torch.exp(-self.density * (ctx.depth - self.start).clamp(min=0.0))  # (B|1, 1, h, W)
        colour = torch.tensor(self.colour, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
        return torch.lerp(image, colour.expand_as(image), t)
