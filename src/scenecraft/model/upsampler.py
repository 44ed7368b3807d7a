"""A learned x2 upsampler for the bundled model's 64-px images (EDSR-style, residual over bilinear).

The bundled model generates at 64 px; users look at 128. This net turns an image of side s into
one of side 2s:

    x (N, 3, s, s) in [-1, 1]
      -> conv 3x3 (3 -> C)
      -> B residual blocks, each x + 0.2 * conv(relu(conv(x)))       (Lim et al. 2017, EDSR)
      -> conv 3x3 (C -> 3 * 4), pixel shuffle                        (Shi et al. 2016, ESPCN)
      -> + bilinear x2 of x                                           (it learns only the detail)

All convolutions run at the small side, so a 64 -> 128 image costs about 2 * params * 64^2 FLOPs
(2.8 GFLOP at the default size). The output layer starts at zero: an untrained net is exactly the
bilinear upsample, and training only adds what the renders say is missing.

It is trained on the scene world (:mod:`scenecraft.train.upsampler`): the 64-px render of a scene
as the generator was trained to make it, degraded the way generated images differ from renders
(blur, noise), against the same scene rendered at 128 px. Saved as float16 safetensors with its
config in the metadata, beside the bundled DiT (``weights/seed-12M-x2.safetensors``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scenecraft.atomic_write import atomic_path
from scenecraft.model.checkpoints import CheckpointError, load_weights, read_safetensors_metadata, read_state_dict

UPSAMPLER_FORMAT = "scenecraft.upsampler.v1"


@dataclass(frozen=True)
class UpsamplerConfig:
    channels: int = 48  # feature width C, at the small side
    blocks: int = 8  # residual blocks B
    scale: int = 2  # output side / input side
    residual_scale: float = 0.2  # each block adds 0.2 x its branch (EDSR: keeps deep stacks stable)

    def __post_init__(self) -> None:
        if self.channels < 1 or self.blocks < 0:
            raise ValueError(f"channels must be >= 1 and blocks >= 0, got {self.channels} and {self.blocks}")
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale}")


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, scale: float):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.scale * self.conv2(F.relu(self.conv1(x)))


class Upsampler(nn.Module):
    def __init__(self, config: UpsamplerConfig | None = None):
        super().__init__()
        self.config = c = config or UpsamplerConfig()
        self.extra: dict[str, Any] = {}  # how it was trained (from the weights file), see load_upsampler
        self.head = nn.Conv2d(3, c.channels, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(c.channels, c.residual_scale) for _ in range(c.blocks)))
        self.tail = nn.Conv2d(c.channels, 3 * c.scale**2, 3, padding=1)
        # Zero-out the output layer: the untrained net is the bilinear upsample exactly.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)  # type: ignore[arg-type]  # Conv2d has a bias: bias=True

    @property
    def scale(self) -> int:
        return self.config.scale

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, h, w) in [-1, 1] -> (N, 3, scale * h, scale * w), not clamped."""
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        f = self.head(x)  # (N, C, h, w)
        f = f + self.body(f)
        return base + F.pixel_shuffle(self.tail(f), self.scale)  # (N, 3, s*h, s*w)

    @torch.inference_mode()
    def upsample(self, images: Tensor, max_batch: int = 16) -> Tensor:
        """Inference in the net's own dtype and device, in batches; the result is clamped to [-1, 1]."""
        p = next(self.parameters())
        out = [self(chunk.to(p.device, p.dtype)).clamp(-1, 1) for chunk in images.split(max_batch)]
        return torch.cat(out).to(images.dtype)


def save_upsampler(
    model: Upsampler, path: str | Path, *, dtype: torch.dtype = torch.float16, extra: dict[str, Any] | None = None
) -> None:
    """Writes the net with its config (and ``extra``: how it was trained) in the metadata, atomically."""
    from safetensors.torch import save_file

    meta = {
        "format": UPSAMPLER_FORMAT,
        "config": json.dumps(dataclasses.asdict(model.config)),
        "extra": json.dumps(extra or {}),
    }
    tensors = {k: v.detach().cpu().to(dtype).contiguous() for k, v in model.state_dict().items()}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_upsampler_metadata(path: str | Path) -> dict[str, Any]:
    """The config and ``extra`` stored by :func:`save_upsampler`; a CheckpointError for other files."""
    p = Path(path)
    if p.suffix != ".safetensors" or not p.is_file():
        raise CheckpointError(f"upsampler weights not found (a .safetensors file): {p}")
    meta = read_safetensors_metadata(p, "upsampler weights")
    if meta.get("format") != UPSAMPLER_FORMAT:
        raise CheckpointError(f"{p} is not an upsampler (no {UPSAMPLER_FORMAT} metadata)")
    return {"config": json.loads(meta["config"]), "extra": json.loads(meta["extra"])}


def load_upsampler(path: str | Path) -> Upsampler:
    """The net saved at ``path``, in float32, in eval mode."""
    meta = read_upsampler_metadata(path)
    model = Upsampler(UpsamplerConfig(**meta["config"]))
    state = {k: v.float() for k, v in read_state_dict(path).items()}
    load_weights(model, state, source=f"upsampler {path}")
    model.extra = meta["extra"]
    return model.eval()
