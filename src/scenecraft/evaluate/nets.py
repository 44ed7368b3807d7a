"""The judges' networks: small convolutional nets trained on world renders and then frozen.

- :class:`MaterialNet` — the material in a region: a box cropped square and resized to
  ``MATERIAL_CROP`` (:mod:`.views`), classified into the 11 object materials.
- :class:`SegmenterNet` — a small U-Net on the image resized to a square grid that labels every
  pixel with a kind (background, 6 shapes, person), a colour (12 names) and whether it lies on a
  border between two subjects; from v3 on every pixel also votes for its subject's box (FCOS).
- :class:`KeypointNet` — 24 SMPL joints of a person crop, each the soft-argmax (integral
  regression, Sun et al. 2018) of its heatmap.
- :class:`SubjectNet` (optional, from judges-6) — one detected subject read from a zoomed crop
  around its box, with the box drawn in a fourth channel: its kind (or background: no subject),
  colour name, material and the side it is lit from.

The architectures are named in :data:`ARCHITECTURES` (constructor arguments per net); each weights
file names its own in its safetensors metadata (``config``), and a file without one is ``v1``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from scenecraft.world.spec import COLOUR_NAMES, KINDS, OBJECT_MATERIALS

SEGMENT_SIZE = 64  # the v1 segmenter's grid; later architectures name theirs
SEG_KINDS = ("background", *KINDS)  # class 0 is background
EVALUATOR_NAMES = ("material", "segmenter", "keypoints")  # every weights folder has these
OPTIONAL_NAMES = ("subject",)  # nets a weights folder may add (judges-6 on)
TRAINABLE_NAMES = EVALUATOR_NAMES + OPTIONAL_NAMES

# Constructor arguments of each network, by architecture. v1: the first weights, trained on one
# CPU thread (the default for weights files that carry no config). v2: for a GPU run — a wider
# material net, a wider five-level segmenter on a 128 px grid (boxes at the full resolution of a
# 128 px image; a perfect segmentation on v1's 64 px grid recovers only 97 % of the boxes at IoU
# 0.5) and a wider keypoint net; together 2.8 M parameters, 5.7 MB in float16.
ARCHITECTURES: dict[str, dict[str, dict[str, Any]]] = {
    "v1": {
        "material": {"width": 24},
        "segmenter": {"widths": [16, 32, 64, 96], "size": 64},
        "keypoints": {"widths": [24, 48, 96]},
    },
    "v2": {
        "material": {"width": 48},
        "segmenter": {"widths": [24, 48, 96, 128, 192], "size": 128},
        "keypoints": {"widths": [48, 96, 192]},
    },
    # v3: v2 with a box head on the segmenter (each pixel votes for its subject's box), which
    # separates touching and occluded subjects where v2's borders merged or split them.
    "v3": {
        "material": {"width": 48},
        "segmenter": {"widths": [24, 48, 96, 128, 192], "size": 128, "boxes": True},
        "keypoints": {"widths": [48, 96, 192]},
    },
    # v4: v3 and a subject reader (:class:`SubjectNet`), trained on renders at the generator's size.
    "v4": {
        "material": {"width": 48},
        "segmenter": {"widths": [24, 48, 96, 128, 192], "size": 128, "boxes": True},
        "keypoints": {"widths": [48, 96, 192]},
        "subject": {"width": 32},
    },
}


def _conv(cin: int, cout: int, dilation: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False)
    return [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _block(cin: int, cout: int, layers: int = 2) -> nn.Sequential:
    """``layers`` 3x3 conv + BatchNorm + ReLU layers."""
    return nn.Sequential(*_conv(cin, cout), *[m for _ in range(layers - 1) for m in _conv(cout, cout)])


def _pyramid(cin: int, widths: tuple[int, ...]) -> list[nn.Module]:
    """A :func:`_block` per width, each after a 2x max-pool but the first (module indices 0, 2, 4, ...
    are the blocks, as the shipped material weights name them)."""
    layers: list[nn.Module] = []
    for i, w in enumerate(widths):
        if i:
            layers.append(nn.MaxPool2d(2))
        layers.append(_block(widths[i - 1] if i else cin, w))
    return layers


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Images in 0..1 (B, 3, H, W) to the networks' input range."""
    return (x - 0.5) / 0.25


class MaterialNet(nn.Module):
    """(B, 3, 32, 32) crop -> (B, 11) material logits."""

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"width": width}
        w = width
        self.features = nn.Sequential(*_pyramid(3, (w, 2 * w, 4 * w)), nn.AdaptiveAvgPool2d(1))  # 32 -> 8 px
        self.head = nn.Linear(4 * w, len(OBJECT_MATERIALS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(normalise(x)).flatten(1))


class SegmentOutput(NamedTuple):
    """The segmenter's maps, each (B, channels, S, S): logits, and the boxes in grid pixels."""

    kind: torch.Tensor  # 8 kinds (background first)
    colour: torch.Tensor  # 12 colour names
    border: torch.Tensor  # 1: the pixel lies on a border between two subjects
    box: torch.Tensor | None  # 4: distances to its subject's box (left, top, right, bottom); None without the head


class SegmenterNet(nn.Module):
    """(B, 3, S, S) image -> :class:`SegmentOutput`: kind, colour and border logits per pixel and,
    with ``boxes``, each pixel's distances to the four sides of its subject's box (FCOS, Tian et al.
    2019), which :func:`box_groups` turns into one box per subject.

    A U-Net with ``len(widths)`` levels, each half the resolution of the one before; the input side
    ``size`` must be divisible by 2 ** (levels - 1).
    """

    def __init__(
        self, widths: tuple[int, ...] | list[int] = (16, 32, 64, 96), size: int = SEGMENT_SIZE, boxes: bool = False
    ) -> None:
        super().__init__()
        widths = tuple(widths)
        if len(widths) < 2 or size % 2 ** (len(widths) - 1):
            raise ValueError(f"size {size} must be divisible by 2 ** (levels - 1) with >= 2 levels, got {widths}")
        self.config: dict[str, Any] = {"widths": list(widths), "size": size}
        if boxes:
            self.config["boxes"] = True
        self.size, self.levels = size, len(widths)
        # Encoder enc1..encN (one conv at full resolution, two below); names match the v1 weights.
        for i, w in enumerate(widths, start=1):
            self.add_module(f"enc{i}", _block(3 if i == 1 else widths[i - 2], w, 1 if i == 1 else 2))
        # Decoder: project the coarser map (1x1), upsample, add the skip, one 3x3 conv.
        for i in range(len(widths) - 1, 0, -1):
            self.add_module(f"up{i}", nn.Conv2d(widths[i], widths[i - 1], 1))
            self.add_module(f"dec{i}", _block(widths[i - 1], widths[i - 1], 1))
        self.head = nn.Conv2d(widths[0], len(SEG_KINDS) + len(COLOUR_NAMES) + 1, 1)
        # The box head works on the second decoder level (half resolution: a box is a coarse property,
        # and a 3x3 conv there costs a quarter of one at full size); dilations 1, 2, 4 widen its view
        # to a subject's extent. Its maps are upsampled to the grid.
        self.box_head = (
            nn.Sequential(
                *[m for d in (1, 2, 4) for m in _conv(widths[1], widths[1], dilation=d)], nn.Conv2d(widths[1], 4, 1)
            )
            if boxes
            else None
        )

    def forward(self, x: torch.Tensor) -> SegmentOutput:
        h, skips = normalise(x), []
        for i in range(1, self.levels + 1):
            h = getattr(self, f"enc{i}")(F.max_pool2d(h, 2) if i > 1 else h)  # (B, w_i, S / 2^(i-1), ...)
            skips.append(h)
        for i in range(self.levels - 1, 0, -1):
            coarse = h
            up = F.interpolate(getattr(self, f"up{i}")(h), scale_factor=2.0)
            h = getattr(self, f"dec{i}")(up + skips[i - 1])  # (B, w_i, S / 2^(i-1), ...)
        out = self.head(h)  # (B, 8 + 12 + 1, S, S)
        nk, nc = len(SEG_KINDS), len(COLOUR_NAMES)
        box = None
        if self.box_head is not None:
            raw = F.interpolate(self.box_head(coarse), scale_factor=2.0, mode="bilinear", align_corners=False)
            # Softplus keeps distances positive; in grid pixels, a unit output is a sixteenth of the grid.
            box = F.softplus(raw.float()) * (self.size / 16)
        return SegmentOutput(out[:, :nk], out[:, nk : nk + nc], out[:, nk + nc :], box)


class KeypointNet(nn.Module):
    """(B, 3, 64, 64) person crop -> (B, 24, 2) joints in crop units 0..1 (x, y), and heatmap logits."""

    def __init__(self, widths: tuple[int, int, int] | list[int] = (24, 48, 96), joints: int = 24) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"widths": list(widths)}
        w1, w2, w3 = widths
        self.stem = nn.Sequential(
            nn.Conv2d(3, w1, 3, padding=1, stride=2, bias=False), nn.BatchNorm2d(w1), nn.ReLU(inplace=True)
        )
        self.enc32, self.enc16, self.enc8 = _block(w1, w1, 1), _block(w1, w2), _block(w2, w3)
        self.up16, self.up32 = nn.Conv2d(w3, w2, 1), nn.Conv2d(w2, w1, 1)
        self.dec16, self.dec32 = _block(w2, w2), _block(w1, w1, 1)
        self.head = nn.Conv2d(w1, joints, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e32 = self.enc32(self.stem(normalise(x)))  # (B, w1, 32, 32)
        e16 = self.enc16(F.max_pool2d(e32, 2))  # (B, w2, 16, 16)
        e8 = self.enc8(F.max_pool2d(e16, 2))  # (B, w3, 8, 8)
        d16 = self.dec16(F.interpolate(self.up16(e8), scale_factor=2.0) + e16)  # (B, w2, 16, 16)
        d32 = self.dec32(F.interpolate(self.up32(d16), scale_factor=2.0) + e32)  # (B, w1, 32, 32)
        logits = self.head(d32)  # (B, 24, 32, 32)
        return soft_argmax(logits), logits


class SubjectOutput(NamedTuple):
    """What :class:`SubjectNet` reads of each crop, as logits (B, classes)."""

    kind: torch.Tensor  # 8: background (no subject in the box) and the 7 kinds, as SEG_KINDS
    colour: torch.Tensor  # 12 colour names (a person's: the top garment's)
    material: torch.Tensor  # 11 object materials (not trained on people or background)
    light: torch.Tensor  # 3: the subject lit from the left, neither (front, back, above), the right


class SubjectNet(nn.Module):
    """(B, 4, 32, 32) subject crop (RGB in 0..1 and the box's mask, :func:`~.views.subject_crops`)
    -> :class:`SubjectOutput`.

    The mask says which subject of the crop is meant, so a neighbour in its context is not read
    instead; four levels of two 3x3 convs (32 -> 4 px), then mean and max pooling and four heads.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"width": width}
        w = width
        self.features = nn.Sequential(*_pyramid(4, (w, 2 * w, 4 * w, 4 * w)))  # 32 -> 4 px
        self.kind = nn.Linear(8 * w, len(SEG_KINDS))
        self.colour = nn.Linear(8 * w, len(COLOUR_NAMES))
        self.material = nn.Linear(8 * w, len(OBJECT_MATERIALS))
        self.light = nn.Linear(8 * w, 3)

    def forward(self, x: torch.Tensor) -> SubjectOutput:
        h = torch.cat([normalise(x[:, :3]), x[:, 3:] * 2.0 - 1.0], 1)
        h = self.features(h)
        pooled = torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)
        return SubjectOutput(self.kind(pooled), self.colour(pooled), self.material(pooled), self.light(pooled))


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Expected (x, y) of softmax heatmaps, in 0..1 of the map. (B, J, H, W) -> (B, J, 2)."""
    b, j, h, w = logits.shape
    prob = logits.float().flatten(2).softmax(-1).view(b, j, h, w)  # float32 under autocast too
    xs = (torch.arange(w, dtype=prob.dtype, device=prob.device) + 0.5) / w
    ys = (torch.arange(h, dtype=prob.dtype, device=prob.device) + 0.5) / h
    return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], -1)


NETS: dict[str, type[nn.Module]] = {
    "material": MaterialNet,
    "segmenter": SegmenterNet,
    "keypoints": KeypointNet,
    "subject": SubjectNet,
}


def build(name: str, config: dict[str, Any]) -> nn.Module:
    """The evaluator ``name`` (material, segmenter, keypoints, subject) with constructor arguments ``config``."""
    if name not in NETS:
        raise ValueError(f"unknown evaluator {name!r}; choose one of {', '.join(TRAINABLE_NAMES)}")
    try:
        return NETS[name](**config)
    except TypeError as e:
        raise ValueError(f"bad config for the {name} evaluator: {config} ({e})") from None
