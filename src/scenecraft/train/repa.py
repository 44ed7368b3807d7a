"""REPA: align an early block's image tokens with a frozen encoder's features of the clean image
(representation alignment, Yu et al. 2024, https://arxiv.org/abs/2410.06940).

    align = - mean over tokens n of  cos( h(tokens_k[n]),  f(x_0)[n] )
    loss  = flow + parse_weight * parse + repa_weight * align

``tokens_k`` are the DiT's image tokens after block ``k`` on the *noisy* input; ``h`` is a small
MLP used only in training (it is not part of the saved model, whose shape REPA does not change);
``f`` is a frozen encoder of the *clean* image. The encoder here is the judges' segmenter
(:class:`scenecraft.evaluate.nets.SegmenterNet`, trained on world renders to tell kinds, colours
and subject borders): its encoder level whose grid is the DiT's token grid, area-pooled to it
where it is finer. It reads the image as the judges do, bilinear-resized to its grid in 0..1.

That the target comes from the judges is a choice to state with any result: the model's early
features learn what the judges see, so a gain in the judges' metrics from REPA is checked against
the images (the sample grids), not taken from the metrics alone.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scenecraft.evaluate.nets import SegmenterNet, normalise


def default_encoder() -> Path:
    from scenecraft.evaluate.judges import WEIGHTS_DIR

    return WEIGHTS_DIR / "segmenter.safetensors"


class SegmenterFeatures(nn.Module):
    """Clean images (B, 3, H, W) in [-1, 1] -> (B, grid * grid, C): a frozen segmenter's encoder
    features at its coarsest level still at least ``grid`` wide, area-pooled to ``grid``."""

    def __init__(self, segmenter: SegmenterNet, grid: int):
        super().__init__()
        sides = [segmenter.size // 2**i for i in range(segmenter.levels)]
        usable = [i for i, s in enumerate(sides) if s >= grid]
        if not usable:
            raise ValueError(
                f"the segmenter's {segmenter.size} px grid is coarser than the model's {grid} tokens a side"
            )
        self.level = usable[-1] + 1  # 1-based, as enc1..encN
        self.grid = grid
        self.segmenter = segmenter.requires_grad_(False).eval()
        self.channels = int(segmenter.config["widths"][self.level - 1])

    def train(self, mode: bool = True) -> SegmenterFeatures:  # frozen: BatchNorm keeps its statistics
        super().train(False)
        return self

    @torch.no_grad()
    def forward(self, x0: Tensor) -> Tensor:
        size = self.segmenter.size
        x = F.interpolate((x0.float() + 1) / 2, size=(size, size), mode="bilinear", align_corners=False)
        h = normalise(x.clamp(0, 1))
        for i in range(1, self.level + 1):
            h = getattr(self.segmenter, f"enc{i}")(F.max_pool2d(h, 2) if i > 1 else h)
        if h.shape[-1] != self.grid:
            h = F.adaptive_avg_pool2d(h, self.grid)
        return h.flatten(2).transpose(1, 2)  # (B, grid * grid, C)


class Repa(nn.Module):
    """The projection head and the frozen target; ``loss(tokens, x0)`` is ``align`` above."""

    def __init__(self, target: SegmenterFeatures, dim: int, block: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or 2 * max(dim, target.channels)
        self.block = block  # tokens after this block (1-based)
        self.target = target
        self.head = nn.Sequential(
            nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, target.channels)
        )

    def loss(self, tokens: Tensor, x0: Tensor) -> Tensor:
        want = self.target(x0)  # (B, T, C)
        if want.shape[1] != tokens.shape[1]:
            raise ValueError(f"{tokens.shape[1]} image tokens but {want.shape[1]} target features")
        got = self.head(tokens)
        return -F.cosine_similarity(got.float(), want.float(), dim=-1).mean()


def build_repa(encoder: Path | None, dim: int, grid: int, block: int, depth: int) -> Repa:
    """REPA for a DiT of width ``dim``, ``grid`` tokens a side and ``depth`` blocks, aligning the
    tokens after ``block`` with the segmenter in ``encoder`` (default: the bundled judges')."""
    from scenecraft.evaluate.judges import load_net

    if not 1 <= block <= depth:
        raise ValueError(f"repa_block must be in 1..{depth} (the model's blocks), got {block}")
    path = encoder or default_encoder()
    if not path.is_file():
        raise ValueError(f"REPA encoder weights not found: {path}")
    segmenter = load_net(path, "segmenter")
    assert isinstance(segmenter, SegmenterNet)
    return Repa(SegmenterFeatures(segmenter, grid), dim, block)


__all__ = ["Repa", "SegmenterFeatures", "build_repa", "default_encoder"]
