"""Scene-light kernels: directional relight (uses normals) and depth fog (uses depth).

Both are pointwise once the renderer has the normals or depth: supplied by the scene, or estimated
from the chain's input image (estimate.py). Parameters and their bounds: chain.py.
"""

from __future__ import annotations

import torch

from scenecraft.effects.chain import Fog, Relight
from scenecraft.effects.context import Kernel, RenderContext


def relight(op: Relight, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """out = x * gain, gain = 1 + strength (colour (ambient + (1 - ambient) 2 lambert) - 1).

    lambert = max(n . L, 0) with L = Relight.light_direction() and n's x, y scaled by
    ``normal_strength`` and renormalised. A surface lit at 60° from its normal keeps its
    brightness, one facing the light gets up to 2x, one facing away falls to ``ambient``.
    """
    assert ctx.normals is not None, "the renderer supplies normals to ops with uses_normals"
    n, k = ctx.normals, op.normal_strength
    nx, ny, nz = n[:, 0:1], n[:, 1:2], n[:, 2:3]  # (B|1, 1, h, W) each
    lx, ly, lz = op.light_direction()
    # n' = (k nx, k ny, nz) / |.|, lambert = max(n' . L, 0), on single channels.
    length = torch.sqrt((nx * nx + ny * ny) * (k * k) + nz * nz).clamp_(min=1e-6)
    lambert = ((nx * lx + ny * ly) * k + nz * lz).div_(length).clamp_(min=0.0)
    # gain = 1 + s (c (a + (1 - a) 2 lambert) - 1) = base + slope * lambert, per channel.
    colour = torch.tensor(op.colour, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    base = 1.0 - op.strength + op.strength * op.ambient * colour
    slope = 2.0 * op.strength * (1.0 - op.ambient) * colour
    return torch.addcmul(base, slope, lambert).mul_(image).clamp_(0.0, 1.0)


def fog(op: Fog, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """t = 1 - exp(-density max(depth - start, 0)); out = mix(x, colour, t)."""
    assert ctx.depth is not None, "the renderer supplies depth to ops with uses_depth"
    t = 1.0 - torch.exp(-op.density * (ctx.depth - op.start).clamp(min=0.0))  # (B|1, 1, h, W)
    colour = torch.tensor(op.colour, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    return torch.lerp(image, colour.expand_as(image), t)


KERNELS: dict[str, Kernel] = {"relight": relight, "fog": fog}
