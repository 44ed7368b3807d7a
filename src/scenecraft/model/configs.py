"""Named DiT configurations, in one table.

The paper's models (Peebles & Xie, Table 1) at patch sizes 2, 4 and 8, and two of our own:

- ``seed-L``: the architecture the product's seed document describes (32 blocks, 1024 wide). The
  seed says 12 heads, but 12 does not divide 1024; we use 16 heads of 64 channels, as DiT-L does.
  About 600M parameters: the seed's "12 million parameters" cannot describe this shape.
- ``seed-12M``: the small model the seed's parameter count asks for, and the embedded default that
  runs on a laptop CPU: 8 blocks, 256 wide, 4 heads of 64, patch 2. The base DiT has 10.0M
  parameters; with its conditioning modules (``model.conditioning.SceneDiT``) 14.3M, which still
  ship in float16 under 30 MB.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scenecraft.model.dit import DiT, DiTConfig

# name -> (depth, hidden_size, num_heads, patch_size)
_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "DiT-XL/2": (28, 1152, 16, 2),
    "DiT-XL/4": (28, 1152, 16, 4),
    "DiT-XL/8": (28, 1152, 16, 8),
    "DiT-L/2": (24, 1024, 16, 2),
    "DiT-L/4": (24, 1024, 16, 4),
    "DiT-L/8": (24, 1024, 16, 8),
    "DiT-B/2": (12, 768, 12, 2),
    "DiT-B/4": (12, 768, 12, 4),
    "DiT-B/8": (12, 768, 12, 8),
    "DiT-S/2": (12, 384, 6, 2),
    "DiT-S/4": (12, 384, 6, 4),
    "DiT-S/8": (12, 384, 6, 8),
    "seed-L": (32, 1024, 16, 2),
    "seed-12M": (8, 256, 4, 2),
}

DIT_CONFIGS: dict[str, DiTConfig] = {
    name: DiTConfig(depth=d, hidden_size=h, num_heads=n, patch_size=p) for name, (d, h, n, p) in _SHAPES.items()
}


class UnknownModelError(KeyError):
    """A config name that is not in the table; the message lists the valid names."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_config(name: str, **overrides: Any) -> DiTConfig:
    """The named config with fields replaced by ``overrides`` (e.g. ``input_size=64`` for 512 px)."""
    try:
        config = DIT_CONFIGS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model config {name!r}; valid names: {', '.join(DIT_CONFIGS)}") from None
    fields = {f.name for f in dataclasses.fields(DiTConfig)}
    unknown = set(overrides) - fields
    if unknown:
        raise TypeError(f"unknown DiT config fields {sorted(unknown)}; valid fields: {sorted(fields)}")
    return dataclasses.replace(config, **overrides)


def build_dit(name: str, **overrides: Any) -> DiT:
    """Builds the named DiT, freshly initialised. ``overrides`` replace DiTConfig fields."""
    return DiT(get_config(name, **overrides))
