"""A procedural test image that exercises every op: sky, sun, ground, spheres, colour patches, ramp.

Used by the docs' before/after strips, the parity test and the benchmark, so no image file has to be
shipped. It has highlights above 0.9 (bloom), hard colour edges (aberration, motion blur), smooth
shading and texture (relight), a horizon (fog, depth of field), saturated patches (grading, LUTs)
and a grey ramp (contrast, exposure).
"""

from __future__ import annotations

import torch


def _smooth(edge0: float, edge1: float, x: torch.Tensor) -> torch.Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def make_test_image(height: int = 256, width: int = 384) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1]; depends only on the size (the same picture at any resolution)."""
    v = (torch.arange(height, dtype=torch.float32).view(-1, 1) + 0.5) / height  # (H, 1), 0 top
    u = (torch.arange(width, dtype=torch.float32).view(1, -1) + 0.5) / width  # (1, W)
    aspect = width / height
    horizon = 0.55
    # Sky: deep blue at the top to pale at the horizon.
    t = (v / horizon).clamp(0, 1)
    img = torch.stack([0.25 + 0.5 * t, 0.45 + 0.4 * t, 0.85 + 0.1 * t]).expand(3, height, width).clone()
    # Sun: a bright disc with a soft halo.
    d_sun = torch.sqrt(((u - 0.78) * aspect) ** 2 + (v - 0.2) ** 2)
    sun = 1.0 - _smooth(0.05, 0.07, d_sun)
    img = torch.lerp(img, torch.tensor([1.0, 0.97, 0.9]).view(3, 1, 1), sun)
    # Ground: a green-brown field with a perspective checkerboard.
    ground = v > horizon
    depth = (v - horizon).clamp(min=1e-3)
    gx, gy = (u - 0.5) * aspect / depth * 0.6, 1.0 / depth * 0.15
    checker = ((torch.floor(gx * 2) + torch.floor(gy * 2)) % 2).float()
    soil = torch.stack([0.35 + 0.15 * checker, 0.45 + 0.15 * checker, 0.2 + 0.05 * checker])
    img = torch.where(ground, soil, img)
    # Three shaded spheres (a red, a white, a blue) standing on the ground.
    for cx, cy, r, colour in ((0.22, 0.62, 0.14, (0.85, 0.2, 0.15)), (0.5, 0.7, 0.11, (0.92, 0.92, 0.9)),
                              (0.74, 0.66, 0.09, (0.2, 0.35, 0.85))):
        dx, dy = (u - cx) * aspect / r, (v - cy) / r
        rr = dx * dx + dy * dy
        nz = torch.sqrt((1.0 - rr).clamp(min=0.0))
        shade = (0.15 + 0.85 * (-0.5 * dx - 0.5 * dy + 0.7 * nz).clamp(min=0.0)).clamp(max=1.0)
        spec = ((-0.5 * dx - 0.5 * dy + 0.7 * nz).clamp(min=0.0) ** 40) * 0.8
        ball = torch.tensor(colour).view(3, 1, 1) * shade + spec
        inside = 1.0 - _smooth(0.96, 1.0, rr)
        img = torch.lerp(img, ball.clamp(0, 1), inside)
    # Colour patches along the top left, a grey ramp along the bottom.
    patches = [(1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1), (1, 0, 1)]
    for i, colour in enumerate(patches):
        box = (u >= 0.03 + 0.07 * i) & (u < 0.09 + 0.07 * i) & (v >= 0.05) & (v < 0.15)
        img = torch.where(box, torch.tensor(colour, dtype=torch.float32).view(3, 1, 1), img)
    ramp = (v >= 0.92) & (u >= 0.05) & (u < 0.95)
    img = torch.where(ramp, ((u - 0.05) / 0.9).expand(3, height, width), img)
    return img.clamp(0.0, 1.0)[None]


def quantise(image: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels, as a PNG stores it (what both renderers of the parity test read)."""
    return torch.round(image * 255.0) / 255.0
