"""Animated particles: rain, snow, sparks, dust; deterministic in (seed, time), identical in WebGL.

Each kind is three parallax layers (far to near: smaller, slower, fainter). A layer is a lattice of
square cells that scrolls with the particles' velocity; each cell holds at most one particle, whose
existence (probability ``density``), position and phase come from the integer hash of (seed, layer,
cell) (noise.py). A particle's footprint is a Gaussian disc (snow, dust) or a streak along its
velocity (rain, sparks), cut off outside a box of 3.5 sigma (at most 0.49 cell) around its centre.

Two ways to render the same sum, one per renderer. The shader, per pixel, visits its own cell and
the three neighbours on its side of the cell: every particle whose box can reach the pixel lives
there. Torch splats instead: it lists the particles of the band's cells and adds each footprint on
its box only, a few percent of the pixels for thin rain, so the work is about the covered area,
not 12 evaluations per pixel.

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
MAX_SIGMA = 0.14  # cell units: 3.5 sigma stays inside half a cell
BOX_SIGMAS = 3.5  # footprints are cut off beyond 3.5 sigma (exp(-6.1) = 0.2 % of the peak)
MAX_BOX = 0.49  # cell units


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
    "rain": ParticleKind(
        kind_id=0, cell=0.06, velocity=(0.0, 2.0), wind_gain=0.5,
        streak=True, sigma_along=0.15, sigma_across=0.012, min_width_px=0.6,
        sway=0.0, sway_hz=0.0, flicker=0.0, flicker_hz=0.0,
        additive=False, alpha=0.6, colour=(0.75, 0.8, 0.9),
    ),
    "snow": ParticleKind(
        kind_id=1, cell=0.05, velocity=(0.0, 0.12), wind_gain=0.3,
        streak=False, sigma_along=0.07, sigma_across=0.07, min_width_px=0.7,
        sway=0.12, sway_hz=0.5, flicker=0.0, flicker_hz=0.0,
        additive=False, alpha=0.9, colour=(1.0, 1.0, 1.0),
    ),
    "sparks": ParticleKind(
        kind_id=2, cell=0.07, velocity=(0.0, -0.35), wind_gain=0.3,
        streak=True, sigma_along=0.1, sigma_across=0.02, min_width_px=0.6,
        sway=0.05, sway_hz=2.0, flicker=0.5, flicker_hz=3.0,
        additive=True, alpha=1.0, colour=(1.0, 0.6, 0.2),
    ),
    "dust": ParticleKind(
        kind_id=3, cell=0.04, velocity=(0.02, -0.01), wind_gain=0.05,
        streak=False, sigma_along=0.04, sigma_across=0.04, min_width_px=0.6,
        sway=0.1, sway_hz=0.2, flicker=0.4, flicker_hz=0.7,
        additive=True, alpha=0.5, colour=(1.0, 0.95, 0.85),
    ),
}


def layer_seed(seed: int, kind_id: int, layer: int) -> int:
    """The hash seed of one layer of one kind (so kinds and layers draw independent particles)."""
    return (seed + 1013 * layer + 7919 * kind_id) & MASK32


@dataclass(frozen=True)
class LayerGeometry:
    """One layer's lattice, motion and footprint, in the units both renderers use."""

    cell: float  # cell side in image heights
    shift: tuple[float, float]  # (vx t, vy t): how far the lattice has scrolled, image heights
    sigma_along: float  # cell units
    sigma_across: float  # cell units
    direction: tuple[float, float]  # unit velocity (+y down), (0, 1) when still
    box: tuple[float, float]  # footprint half-extent in x and y, cell units
    alpha: float  # peak opacity


def layer_geometry(op: Particles, layer: int, full_height: int, time: float) -> LayerGeometry:
    spec = KINDS[op.kind]
    scale = 0.6 + 0.4 * layer
    cell = spec.cell * op.size * scale
    vx = (spec.velocity[0] + spec.wind_gain * op.wind) * op.speed * scale
    vy = spec.velocity[1] * op.speed * scale
    cell_px = cell * full_height
    s_along = min(MAX_SIGMA, max(spec.sigma_along, spec.min_width_px / cell_px))
    s_across = min(MAX_SIGMA, max(spec.sigma_across, spec.min_width_px / cell_px))
    norm = math.hypot(vx, vy)
    ux, uy = (vx / norm, vy / norm) if norm > 0 else (0.0, 1.0)
    if spec.streak:  # the 3.5-sigma box around the rotated ellipse
        bx = BOX_SIGMAS * math.hypot(s_along * ux, s_across * uy)
        by = BOX_SIGMAS * math.hypot(s_along * uy, s_across * ux)
    else:
        bx = by = BOX_SIGMAS * s_along
    return LayerGeometry(
        cell, (vx * time, vy * time), s_along, s_across, (ux, uy), (min(MAX_BOX, bx), min(MAX_BOX, by)),
        spec.alpha * op.opacity * (0.5 + 0.25 * layer),
    )


def _windows(lo: torch.Tensor, count: int, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index windows lo + 0..count-1 (N, count), clamped into [0, limit), and their validity mask."""
    idx = lo.view(-1, 1) + torch.arange(count, device=lo.device).view(1, -1)
    valid = (idx >= 0) & (idx < limit)
    return idx.clamp(0, limit - 1), valid


def layer_alpha(
    op: Particles, layer: int, ctx: RenderContext, height: int, device: torch.device
) -> torch.Tensor:
    """Coverage of one layer over the band (rows row0 .. row0 + height): (h, W) in [0, 1]."""
    spec = KINDS[op.kind]
    geo = layer_geometry(op, layer, ctx.full_height, ctx.time)
    full_h, width, t = ctx.full_height, ctx.full_width, ctx.time
    # Pixel (x, y) sits at lattice position g = ((x + 0.5) / H - shift) / cell.
    bx, by = geo.box
    # The cells whose particle boxes can reach the band.
    gx0, gx1 = (0.5 / full_h - geo.shift[0]) / geo.cell, ((width - 0.5) / full_h - geo.shift[0]) / geo.cell
    gy0 = ((ctx.row0 + 0.5) / full_h - geo.shift[1]) / geo.cell
    gy1 = ((ctx.row0 + height - 0.5) / full_h - geo.shift[1]) / geo.cell
    cx = torch.arange(math.floor(gx0) - 1, math.floor(gx1) + 2, device=device, dtype=torch.int64)
    cy = torch.arange(math.floor(gy0) - 1, math.floor(gy1) + 2, device=device, dtype=torch.int64)
    h = hash_cell(layer_seed(op.seed, spec.kind_id, layer), cx.view(1, -1), cy.view(-1, 1))  # (Ly, Lx)
    margin = spec.sway + 0.05
    phase = uniform(h, 3)
    px = margin + (1.0 - 2.0 * margin) * uniform(h, 1) + spec.sway * torch.sin(
        2.0 * math.pi * (spec.sway_hz * t + phase)
    )
    py = margin + (1.0 - 2.0 * margin) * uniform(h, 2)
    flicker = 0.5 + 0.5 * torch.sin(2.0 * math.pi * (spec.flicker_hz * t + phase))
    weight = (uniform(h, 0) < op.density).to(torch.float32) * (1.0 - spec.flicker * flicker)
    # The particles: centres in lattice units, (N,).
    keep = weight > 0
    iy, ix = keep.nonzero(as_tuple=True)
    centre_x = cx[ix].to(torch.float32) + px[iy, ix]
    centre_y = cy[iy].to(torch.float32) + py[iy, ix]
    w = weight[iy, ix]
    total = torch.zeros(height, width, device=device)
    if w.numel() == 0:
        return total
    # Pixel windows covering each box, one pixel wider each side; the exact box test comes below.
    span_x = math.ceil(2 * bx * geo.cell * full_h) + 3
    span_y = math.ceil(2 * by * geo.cell * full_h) + 3
    x_lo = torch.floor((centre_x - bx) * geo.cell * full_h + geo.shift[0] * full_h - 0.5).long() - 1
    y_lo = torch.floor((centre_y - by) * geo.cell * full_h + geo.shift[1] * full_h - 0.5).long() - 1 - ctx.row0
    cols, col_ok = _windows(x_lo, span_x, width)  # (N, span_x)
    rows, row_ok = _windows(y_lo, span_y, height)  # (N, span_y)
    # Offsets from the centre in cell units, computed from the pixels as the shader does.
    gx = ((cols.to(torch.float32) + 0.5) / full_h - geo.shift[0]) / geo.cell  # (N, span_x)
    gy = ((rows.to(torch.float32) + ctx.row0 + 0.5) / full_h - geo.shift[1]) / geo.cell  # (N, span_y)
    dx = (gx - centre_x.view(-1, 1)).unsqueeze(1)  # (N, 1, span_x)
    dy = (gy - centre_y.view(-1, 1)).unsqueeze(2)  # (N, span_y, 1)
    inside = (col_ok & (dx[:, 0].abs() <= bx)).unsqueeze(1) & (row_ok & (dy[:, :, 0].abs() <= by)).unsqueeze(2)
    if spec.streak:
        ux, uy = geo.direction
        along, across = dx * ux + dy * uy, dy * ux - dx * uy
        e = (along / geo.sigma_along) ** 2 + (across / geo.sigma_across) ** 2
    else:
        e = (dx * dx + dy * dy) / (geo.sigma_along * geo.sigma_along)
    alpha = torch.exp(-0.5 * e) * w.view(-1, 1, 1) * inside  # (N, span_y, span_x)
    index = (rows.unsqueeze(2).expand_as(alpha), cols.unsqueeze(1).expand_as(alpha))
    total.index_put_(index, alpha, accumulate=True)
    return total.clamp_(max=1.0).mul_(geo.alpha)


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
