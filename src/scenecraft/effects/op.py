"""The base of every effect op, and the context an op renders in.

An op is a pydantic model (its typed, bounded parameters) with one method, ``apply``, that maps an
image batch ``(B, 3, H, W)`` in [0, 1] to another. Class attributes say what the renderer must know:

- ``pointwise``: the output pixel depends only on the input pixel at the same place (and on the
  pixel's coordinates, the depth/normals there and the time). Runs of pointwise ops are rendered
  band by band, so a 4096² batch never holds more than a band's temporaries.
- ``animated_op``: the op changes with ``time`` (an animated chain renders to WebP/GIF frames).
- ``uses_depth`` / ``uses_normals``: the renderer estimates these from the chain's input image when
  the caller does not supply them (see ``estimate.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field

# An RGB colour, each channel in [0, 1].
Colour = Annotated[
    tuple[
        Annotated[float, Field(ge=0.0, le=1.0)],
        Annotated[float, Field(ge=0.0, le=1.0)],
        Annotated[float, Field(ge=0.0, le=1.0)],
    ],
    Field(description="RGB colour, three numbers in [0, 1]"),
]


@dataclass(frozen=True)
class RenderContext:
    """Where an op is rendering: the full frame's size, the band's first row, per-pixel scene data.

    ``depth`` (B|1, 1, h, W) and ``normals`` (B|1, 3, h, W) cover the same rows as the image the op
    receives (h = band height); they are None when the chain does not use them.
    """

    full_height: int
    full_width: int
    row0: int = 0
    time: float = 0.0
    depth: torch.Tensor | None = None  # (B|1, 1, h, W), 0 = near, 1 = far
    normals: torch.Tensor | None = None  # (B|1, 3, h, W), unit vectors, x right, y up, z to the viewer

    def pixel_grid(self, height: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer pixel coordinates of the band as float32: x (1, W) and y (h, 1), y counted from the top."""
        xs = torch.arange(self.full_width, device=device, dtype=torch.float32).view(1, -1)
        ys = torch.arange(self.row0, self.row0 + height, device=device, dtype=torch.float32).view(-1, 1)
        return xs, ys


class EffectOp(BaseModel):
    """Base class of all ops; ``op`` (a Literal in each subclass) is the chain's discriminator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pointwise: ClassVar[bool] = True
    animated_op: ClassVar[bool] = False
    uses_depth: ClassVar[bool] = False
    uses_normals: ClassVar[bool] = False

    @property
    def is_animated(self) -> bool:
        """True when the op's output changes with time (some ops, e.g. grain, make this a parameter)."""
        return self.animated_op

    def apply(self, image: torch.Tensor, ctx: RenderContext) -> torch.Tensor:
        """(B, 3, h, W) in [0, 1] -> (B, 3, h, W) in [0, 1]."""
        raise NotImplementedError
