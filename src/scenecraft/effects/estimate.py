"""Depth and normals estimated from the image alone, for chains rendered without scene data.

These are cheap, explainable priors, not learned monocular estimators: a generated scene normally
supplies its true depth and normals (``apply_chain(..., depth=, normals=)``), and these stand in
when it does not (an uploaded photo). Both are computed once per chain from the chain's *input*
image, so every op of a chain sees the same scene.

- depth: an outdoor ground-plane prior (the top of the frame is far, the bottom near) mixed with
  aerial perspective (hazy, desaturated regions are far): 0.7 (1 - v) + 0.3 blur(1 - chroma).
- normals: the image's blurred luma read as a height field (shape from shading's crude first
  guess): n = normalize(-k dh/dx, -k dh/dy_up, 1), k = max(H, W) / 64, after a blur of
  max(H, W) / 256 px (so the relief is the same at any resolution, and edges become slopes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scenecraft.effects.filters import luma, pyramid_blur


def estimate_depth(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 1, H, W) depth in [0, 1], 0 near, 1 far."""
    height, width = image.shape[-2:]
    chroma = image.amax(dim=1, keepdim=True) - image.amin(dim=1, keepdim=True)
    haze = pyramid_blur(1.0 - chroma, max(height, width) / 64.0)
    v = (torch.arange(height, device=image.device, dtype=torch.float32).view(-1, 1) + 0.5) / height  # (H, 1)
    return (0.7 * (1.0 - v) + 0.3 * haze).clamp(0.0, 1.0)


def estimate_normals(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 3, H, W) unit normals (x right, y up, z towards the viewer)."""
    height, width = image.shape[-2:]
    h = pyramid_blur(luma(image), max(1.0, max(height, width) / 256.0))  # (B, 1, H, W)
    half_k = 0.5 * max(height, width) / 64.0
    hp = F.pad(h, (1, 1, 1, 1), mode="replicate")  # clamped neighbours at the borders
    gx = (hp[..., 1:-1, 2:] - hp[..., 1:-1, :-2]) * half_k  # k dh/dx, x right
    gy = (hp[..., 2:, 1:-1] - hp[..., :-2, 1:-1]) * half_k  # k dh/d(row) = -k dh/dy_up
    inv = torch.rsqrt(gx * gx + gy * gy + 1.0)
    return torch.cat([-gx * inv, gy * inv, inv], dim=1)  # normalize(-k dh/dx, -k dh/dy_up, 1)
