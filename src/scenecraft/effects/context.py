"""The context an op's kernel renders in: the full frame's size, the band's first row, scene data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class RenderContext:
    """Where a kernel is rendering.

    Pointwise ops are rendered in bands of rows: the kernel receives rows row0 .. row0 + h of a
    frame of full_height x full_width, and ``depth`` (B|1, 1, h, W) and ``normals`` (B|1, 3, h, W)
    cover the same rows (None when the chain does not use them).
    """

    full_height: int
    full_width: int
    row0: int = 0
    time: float = 0.0
    depth: torch.Tensor | None = None  # (B|1, 1, h, W), 0 = near, 1 = far
    normals: torch.Tensor | None = None  # (B|1, 3, h, W), unit vectors, x right, y up, z to the viewer

    def pixel_grid(self, height: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer pixel coordinates of the band as float32: x (1, W) and y (h, 1), y from the top."""
        xs = torch.arange(self.full_width, device=device, dtype=torch.float32).view(1, -1)
        ys = torch.arange(self.row0, self.row0 + height, device=device, dtype=torch.float32).view(-1, 1)
        return xs, ys


# A kernel renders one op: (op parameters, image (B, 3, h, W) in [0, 1], context) -> image.
Kernel = Callable[[Any, torch.Tensor, RenderContext], torch.Tensor]
