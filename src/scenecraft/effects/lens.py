"""Lens and film kernels: vignette, film grain, chromatic aberration, bloom, motion blur, depth of field.

Pixel positions follow one convention everywhere: pixel (x, y) has its centre at index (x, y), y
counted from the top. Parameters and their bounds: chain.py.
"""

from __future__ import annotations

import math

import torch

from scenecraft.effects.chain import Bloom, ChromaticAberration, DepthOfField, Grain, MotionBlur, Vignette
from scenecraft.effects.context import Kernel, RenderContext
from scenecraft.effects.filters import pyramid_blur, sample_separable, shift_bilinear
from scenecraft.effects.noise import hash_cell, uniform


def smoothstep(edge0: float, edge1: float, x: torch.Tensor) -> torch.Tensor:
    """GLSL's smoothstep: Hermite step from edge0 to edge1."""
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def vignette(op: Vignette, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """x * (1 - amount * smoothstep(radius, radius + softness, d)).

    d: distance from the centre in an aspect-corrected frame, 0 at the centre and 1 at a corner.
    """
    xs, ys = ctx.pixel_grid(image.shape[-2], image.device)
    aspect = ctx.full_width / ctx.full_height
    u = ((xs + 0.5) / ctx.full_width - 0.5) * aspect  # (1, W)
    v = (ys + 0.5) / ctx.full_height - 0.5  # (h, 1)
    d = torch.sqrt(u * u + v * v) / (0.5 * math.sqrt(aspect * aspect + 1.0))  # (h, W)
    return image * (1.0 - op.amount * smoothstep(op.radius, op.radius + op.softness, d))


def grain(op: Grain, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """x + amount * n, n = value noise on a lattice of ``size`` px (same for every image of a batch).

    Lattice value at integer (i, j): u0 + u1 - 1 (triangular in [-1, 1]) from the integer hash of
    (frame seed, i, j) (noise.py); pixel (x, y) sits at lattice position (x / size, y / size) and
    interpolates its cell's corners with smoothstep weights. Computed on the lattice, then expanded.
    """
    height, width = image.shape[-2], ctx.full_width
    device = image.device
    gx = torch.arange(width, device=device, dtype=torch.float32) / op.size  # (W,)
    gy = torch.arange(ctx.row0, ctx.row0 + height, device=device, dtype=torch.float32) / op.size  # (h,)
    ix, iy = gx.floor(), gy.floor()
    wx, wy = smoothstep(0.0, 1.0, gx - ix), smoothstep(0.0, 1.0, gy - iy)
    x0, y0 = int(ix[0]), int(iy[0])
    cx = torch.arange(x0, int(ix[-1]) + 2, device=device, dtype=torch.int64).view(1, -1)
    cy = torch.arange(y0, int(iy[-1]) + 2, device=device, dtype=torch.int64).view(-1, 1)
    h = hash_cell(op.frame_seed(ctx.time), cx, cy)
    lattice = uniform(h, 0) + uniform(h, 1) - 1.0  # (Ly, Lx)
    jx, jy = ix.long() - x0, iy.long() - y0
    rows = torch.lerp(lattice[:, jx], lattice[:, jx + 1], wx)  # (Ly, W)
    noise = torch.lerp(rows[jy], rows[jy + 1], wy.view(-1, 1))  # (h, W)
    return (image + op.amount * noise).clamp(0.0, 1.0)


def chromatic_aberration(op: ChromaticAberration, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """Red sampled at c + (p - c) / (1 + amount) (magnified), blue at c + (p - c) / (1 - amount)."""
    height, width = image.shape[-2:]
    xs = torch.arange(width, device=image.device, dtype=torch.float32)
    ys = torch.arange(height, device=image.device, dtype=torch.float32)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    out = image.clone()
    for channel, scale in ((0, 1.0 + op.amount), (2, 1.0 - op.amount)):
        # The warp scales x and y separately about the centre: separable bilinear sampling.
        plane = image[:, channel : channel + 1]
        out[:, channel : channel + 1] = sample_separable(plane, cx + (xs - cx) / scale, cy + (ys - cy) / scale)
    return out


def bloom(op: Bloom, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """x + strength * blur(max(x - threshold, 0)), blur sigma = radius * max(H, W) (pyramid blur)."""
    bright = (image - op.threshold).clamp_(min=0.0)
    glow = pyramid_blur(bright, op.radius * max(image.shape[-2:]))
    return glow.mul_(op.strength).add_(image).clamp_(0.0, 1.0)


def motion_blur(op: MotionBlur, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """k passes, each averaging two shifted copies (MotionBlur.passes): 2^k taps for 2k samples."""
    passes = op.passes(*image.shape[-2:])
    if not passes:
        return image
    # Three rotating buffers and a scratch one, allocated once: never the input, never the current x.
    buffers = [torch.empty_like(image) for _ in range(3)]
    scratch = torch.empty_like(image)
    x = image
    for dx1, dy1, dx2, dy2 in passes:
        free = [b for b in buffers if b is not x]
        first = shift_bilinear(x, dx1, dy1, out=free[0], scratch=scratch)  # x itself for a zero shift
        second = shift_bilinear(x, dx2, dy2, out=free[1], scratch=scratch)
        x = (second.add_(first) if first is x else first.add_(second)).mul_(0.5)
    return x


def depth_of_field(op: DepthOfField, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
    """A blur stack (sigma 0, 1/3, 2/3, 1 of max_blur) mixed per pixel by the circle of confusion.

    c = clamp((|depth - focus| - range) / transition, 0, 1); the output interpolates the stack
    linearly at 3c. A gather-free "blur stack" DoF: no occlusion handling, which keeps it pointwise
    in the stack and identical in WebGL.
    """
    assert ctx.depth is not None, "the renderer supplies depth to ops with uses_depth"
    sigma = op.max_blur * max(image.shape[-2:])
    # In place where possible: at 4096² each fresh full-size tensor costs more than its arithmetic.
    coc = (ctx.depth - op.focus).abs_().sub_(op.range).div_(op.transition).clamp_(0.0, 1.0).mul_(3.0)
    out = image * (1.0 - coc).clamp_(min=0.0)
    levels = [image]  # the blurs share their halved images
    for level in (1, 2, 3):
        weight = (coc - level).abs_().neg_().add_(1.0).clamp_(min=0.0)  # hat function centred on the level
        out.addcmul_(weight, pyramid_blur(image, sigma * level / 3.0, levels))
    return out.clamp_(0.0, 1.0)


KERNELS: dict[str, Kernel] = {
    "vignette": vignette,
    "grain": grain,
    "chromatic_aberration": chromatic_aberration,
    "bloom": bloom,
    "motion_blur": motion_blur,
    "depth_of_field": depth_of_field,
}
