"""Animated particles: rain, snow, sparks, dust; deterministic in (seed, time), identical in WebGL.

Each kind is three parallax layers (far to near: smaller, slower, fainter). A layer is a lattice of
square cells that scrolls with the particles' velocity; each cell holds at most one particle, whose
existence (probability ``density``), position and phase come from the integer hash of (seed, layer,
cell) (noise.py). A particle's footprint is a Gaussian disc (snow, dust) or a streak along its
velocity (rain, sparks), at most half a cell across, so a pixel needs only its own cell and the
three neighbours on its side of the cell: pixel work is O(layers x 4), with no particle list.

Positions are in units of the image height, so a 512² preview and a 4096² render show the same
particles; footprints keep a minimum width in pixels so thin rain stays visible at small sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from scenecraft.effects.chain import Particles
from scenecraft.effects.context import Kernel, RenderContext
from scenecraft.effects.noise import MASK32, hash_cell, uniform

LAYERS = 3
MAX_SIGMA = 0.14  # cell units: a footprint fades to < 0.2 % at half a cell, see the module docstring


@dataclass(frozen=True)
class ParticleKind:
    """The look and motion of one kind of particle (sizes in cell units, speeds in image heights/s)."""

    kind_id: int
    cell: float  # cell side in image heights, at size 1, middle layer
    velocity: tuple[float, float]  # (vx, vy) image heights per second, +y down, at speed 1
    wind_gain: float  # vx added per unit of wind
    streak: bool  # streak along the velocity, else a round disc
    sigma_along: float  # Gaussian sigma along the velocity (the disc's sigma for discs)
    sigma_across: float  # Gaussian sigma across the velocity (streaks)
    min_width_px: float  # the across (or disc) sigma never goes below this many pixels
    sway: float  # sideways sway amplitude (cell units)
    sway_hz: float
    flicker: float  # brightness flicker depth in [0, 1]
    flicker_hz: float
    additive: bool  # light-emitting (added) rather than covering (mixed)
    alpha: float  # peak opacity at opacity 1, nearest layer
    colour: tuple[float, float, float]


KINDS: dict[str, ParticleKind] = {
    "rain": ParticleKind(0, 0.06, (0.0, 2.0), 0.5, True, 0.15, 0.012, 0.6, 0.0, 0.0, 0.0, 0.0, False, 0.6,
                         (0.75, 0.8, 0.9)),
    "snow": ParticleKind(1, 0.05, (0.0, 0.12), 0.3, False, 0.07, 0.07, 0.7, 0.12, 0.5, 0.0, 0.0, False, 0.9,
                         (1.0, 1.0, 1.0)),
    "sparks": ParticleKind(2, 0.07, (0.0, -0.35), 0.3, True, 0.1, 0.02, 0.6, 0.05, 2.0, 0.5, 3.0, True, 1.0,
                           (1.0, 0.6, 0.2)),
    "dust": ParticleKind(3, 0.04, (0.02, -0.01), 0.05, False, 0.04, 0.04, 0.6, 0.1, 0.2, 0.4, 0.7, True, 0.5,
                         (1.0, 0.95, 0.85)),
}


def layer_seed(seed: int, kind_id: int, layer: int) -> int:
    return (seed + 1013 * layer + 7919 * kind_id) & MASK32


def layer_alpha(
    op: Particles, layer: int, ctx: RenderContext, height: int, device: torch.device
) -> torch.Tensor:
    """Coverage of one layer over the band: (h, W) in [0, 1]."""
    spec = KINDS[op.kind]
    scale = 0.6 + 0.4 * layer
    cell = spec.cell * op.size * scale  # image heights
    vx = (spec.velocity[0] + spec.wind_gain * op.wind) * op.speed * scale
    vy = spec.velocity[1] * op.speed * scale
    cell_px = cell * ctx.full_height
    t = ctx.time
    # Cell coordinates of the pixel centres, separable: gx depends on the column, gy on the row.
    xs, ys = ctx.pixel_grid(height, device)
    gx = (((xs[0] + 0.5) / ctx.full_height - vx * t) / cell)  # (W,)
    gy = (((ys[:, 0] + 0.5) / ctx.full_height - vy * t) / cell)  # (h,)
    cx, cy = gx.floor(), gy.floor()
    fx, fy = gx - cx, gy - cy
    # Per-cell properties on the lattice the band touches (one row/column of margin each side).
    x0, y0 = int(cx.min()) - 1, int(cy.min()) - 1
    lat_x = torch.arange(x0, int(cx.max()) + 2, device=device, dtype=torch.int64).view(1, -1)
    lat_y = torch.arange(y0, int(cy.max()) + 2, device=device, dtype=torch.int64).view(-1, 1)
    h = hash_cell(layer_seed(op.seed, spec.kind_id, layer), lat_x, lat_y)  # (Ly, Lx)
    exists = (uniform(h, 0) < op.density).to(torch.float32)
    margin = spec.sway + 0.05
    phase = uniform(h, 3)
    px = margin + (1.0 - 2.0 * margin) * uniform(h, 1) + spec.sway * torch.sin(
        2.0 * math.pi * (spec.sway_hz * t + phase)
    )
    py = margin + (1.0 - 2.0 * margin) * uniform(h, 2)
    flicker = 0.5 + 0.5 * torch.sin(2.0 * math.pi * (spec.flicker_hz * t + phase))
    weight = exists * (1.0 - spec.flicker * flicker)
    # Footprint sigmas in cell units.
    s_along = min(MAX_SIGMA, max(spec.sigma_along, spec.min_width_px / cell_px))
    s_across = min(MAX_SIGMA, max(spec.sigma_across, spec.min_width_px / cell_px))
    norm = math.hypot(vx, vy)
    ux, uy = (vx / norm, vy / norm) if norm > 0 else (0.0, 1.0)
    ix, iy = cx.long() - x0, cy.long() - y0  # lattice indices of the pixel's own cell
    side_x = torch.where(fx < 0.5, -1, 1)  # (W,)
    side_y = torch.where(fy < 0.5, -1, 1)  # (h,)
    total = torch.zeros(height, gx.numel(), device=device)
    for ox_on, oy_on in ((0, 0), (1, 0), (0, 1), (1, 1)):
        ox, oy = side_x * ox_on, side_y * oy_on
        jx, jy = (ix + ox).view(1, -1), (iy + oy).view(-1, 1)
        dx = (fx - ox).view(1, -1) - px[jy, jx]  # (h, W) offset from the particle, cell units
        dy = (fy - oy).view(-1, 1) - py[jy, jx]
        if spec.streak:
            along, across = dx * ux + dy * uy, dy * ux - dx * uy
            e = (along / s_along) ** 2 + (across / s_across) ** 2
        else:
            e = (dx * dx + dy * dy) / (s_along * s_along)
        total = total + weight[jy, jx] * torch.exp(-0.5 * e)
    return total.clamp(max=1.0) * (spec.alpha * op.opacity * (0.5 + 0.25 * layer))


def particles(op: Particles, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """Composite the layers far to near: covering kinds mix towards the colour, light kinds add."""
    spec = KINDS[op.kind]
    colour = torch.tensor(op.colour or spec.colour, device=image.device, dtype=image.dtype)
    colour = colour.view(1, 3, 1, 1)
    out = image
    for layer in range(LAYERS):
        a = layer_alpha(op, layer, ctx, image.shape[-2], image.device)  # (h, W)
        out = out + a * colour if spec.additive else torch.lerp(out, colour.expand_as(out), a)
    return out.clamp(0.0, 1.0)


KERNELS: dict[str, Kernel] = {"particles": particles}
