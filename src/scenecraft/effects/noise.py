"""Integer hash noise, bit-identical in torch and in GLSL ES 3.0.

Random-looking ops (film grain, particles) must be reproducible from a seed and the frame time, and
the browser preview must draw the same grains and the same raindrops as the server. So instead of a
random number generator they use a stateless 32-bit integer hash of (seed, coordinates), which
GLSL computes with ``uint`` arithmetic and torch with int64 tensors masked to 32 bits.

The hash is "lowbias32" (Chris Wellons' hash prospector: xorshift-multiply, two rounds). The
multiplications are split into 16-bit halves so no int64 product ever overflows.
"""

from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF
_M1 = 0x7FEB352D
_M2 = 0x846CA68B


def _mul32(x: torch.Tensor, constant: int) -> torch.Tensor:
    """(x * constant) mod 2^32 for x in [0, 2^32), without int64 overflow."""
    lo = x * (constant & 0xFFFF)
    hi = ((x * (constant >> 16)) & 0xFFFF) << 16
    return (lo + hi) & MASK32


def lowbias32(x: torch.Tensor) -> torch.Tensor:
    """The lowbias32 integer hash on int64 tensors holding uint32 values."""
    x = x & MASK32
    x = x ^ (x >> 16)
    x = _mul32(x, _M1)
    x = x ^ (x >> 15)
    x = _mul32(x, _M2)
    return x ^ (x >> 16)


def hash_cell(seed: int, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """Hash of an integer lattice cell under a seed: lowbias32(lowbias32(lowbias32(seed) + cx) + cy).

    cx, cy: int64 tensors (negative values wrap to uint32 as GLSL's uint(int) does).
    """
    h = lowbias32(torch.tensor(seed & MASK32, dtype=torch.int64, device=cx.device))
    h = lowbias32(h + (cx & MASK32))
    return lowbias32(h + (cy & MASK32))


def uniform(cell_hash: torch.Tensor, stream: int) -> torch.Tensor:
    """A uniform float32 in [0, 1) from a cell hash and a stream number (0, 1, 2, ...).

    Uses the top 24 bits so the float is exact: (lowbias32(h + stream) >> 8) / 2^24.
    """
    h = lowbias32(cell_hash + stream)
    return (h >> 8).to(torch.float32) * (1.0 / 16777216.0)
