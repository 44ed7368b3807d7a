"""Frozen evaluators that judge images of world-like scenes.

Three small networks, trained on world renders with blur, noise and colour-jitter augmentation
(:mod:`scenecraft.world.evaluator_training`), shipped as safetensors in ``world/weights/``:

- :class:`MaterialNet` — the material in a region: a box is cropped square, resized to 32 x 32
  and classified into one of the 11 object materials (``spec.OBJECT_MATERIALS``).
- :class:`SegmenterNet` — a small U-Net on the image resized to a square grid (64 or 128 px, by
  architecture) that labels every pixel with a kind (background, 6 shapes, person), a colour
  (12 names) and whether it lies on a border between two subjects; from v3 on, every pixel also
  votes for its subject's box. :meth:`Evaluators.detect` groups the votes (:func:`box_groups`), or
  for v1/v2 splits the foreground at the borders into connected components (:func:`components`),
  giving each subject a box, a kind and a colour.
- :class:`KeypointNet` — 24 SMPL joints of a person: the box is cropped square, resized to
  64 x 64, and each joint is the soft-argmax (integral regression, Sun et al. 2018) of its heatmap.

Use::

    ev = Evaluators.load()
    detections = ev.detect(image)                  # list[Detection]
    materials = ev.classify_materials(image, [d.box for d in detections])
    joints = ev.keypoints(image, [person_box])     # (n, 24, 2) pixel (x, y)

The architectures are named in :data:`ARCHITECTURES`; each weights file names its own in the
safetensors metadata (``config``), and a file without one is the first version, ``v1``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from scenecraft.world.spec import COLOUR_NAMES, KINDS, OBJECT_MATERIALS

WEIGHTS_DIR = Path(__file__).parent / "weights"
MATERIAL_CROP, SEGMENT_SIZE, KEYPOINT_CROP = 32, 64, 64
CROP_GROW = 1.15  # square crops are this much larger than the box's longer side
# box_groups settings of Evaluators.detect, chosen on validation scenes (benchmarks/detector_grouping.py)
BOX_GROUPING: dict[str, float] = {"min_iou": 0.4, "min_fill": 0.1}
SEG_KINDS = ("background", *KINDS)  # class 0 is background
EVALUATOR_NAMES = ("material", "segmenter", "keypoints")

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
}


def _conv(cin: int, cout: int, dilation: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False)
    return [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _block(cin: int, cout: int, layers: int = 2) -> nn.Sequential:
    """``layers`` 3x3 conv + BatchNorm + ReLU layers."""
    return nn.Sequential(*_conv(cin, cout), *[m for _ in range(layers - 1) for m in _conv(cout, cout)])


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Images in 0..1 (B, 3, H, W) to the networks' input range."""
    return (x - 0.5) / 0.25


class MaterialNet(nn.Module):
    """(B, 3, 32, 32) crop -> (B, 11) material logits."""

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"width": width}
        w = width
        self.features = nn.Sequential(
            _block(3, w),
            nn.MaxPool2d(2),  # 16
            _block(w, 2 * w),
            nn.MaxPool2d(2),  # 8
            _block(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
        )
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


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Expected (x, y) of softmax heatmaps, in 0..1 of the map. (B, J, H, W) -> (B, J, 2)."""
    b, j, h, w = logits.shape
    prob = logits.float().flatten(2).softmax(-1).view(b, j, h, w)  # float32 under autocast too
    xs = (torch.arange(w, dtype=prob.dtype, device=prob.device) + 0.5) / w
    ys = (torch.arange(h, dtype=prob.dtype, device=prob.device) + 0.5) / h
    return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], -1)


def build(name: str, config: dict[str, Any]) -> nn.Module:
    """The evaluator ``name`` (material, segmenter, keypoints) with constructor arguments ``config``."""
    nets: dict[str, type[nn.Module]] = {"material": MaterialNet, "segmenter": SegmenterNet, "keypoints": KeypointNet}
    if name not in nets:
        raise ValueError(f"unknown evaluator {name!r}; choose one of {', '.join(EVALUATOR_NAMES)}")
    try:
        return nets[name](**config)
    except TypeError as e:
        raise ValueError(f"bad config for the {name} evaluator: {config} ({e})") from None


@dataclass(frozen=True)
class Detection:
    """One subject found in an image: box (x0, y0, x1, y1) in pixels, kind, colour, confidence."""

    box: tuple[float, float, float, float]
    kind: str
    colour: str
    score: float
    area: float  # pixels of the subject, in input-image pixels


def _square(box: tuple[float, float, float, float], grow: float = CROP_GROW) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0, 1.0) * grow / 2
    return cx - half, cy - half, cx + half, cy + half


def crops(image: np.ndarray, boxes: list[tuple[float, float, float, float]], out: int) -> torch.Tensor:
    """Square crops around boxes, resized: (H, W, 3) uint8 -> (N, 3, out, out) float 0..1."""
    from scenecraft.world.evaluator_data import region_crop

    if not boxes:
        return torch.zeros(0, 3, out, out)
    arr = np.stack([region_crop(image, _square(b), out) for b in boxes])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0


def resize_image(image: np.ndarray, size: int) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, size, size) float 0..1, area-averaged when shrinking."""
    from PIL import Image

    img = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255.0


def components(
    kind_prob: np.ndarray, colour_prob: np.ndarray, border: np.ndarray, min_area: int = 5, gap: int = 2
) -> list[tuple[tuple[int, int, int, int], int, int, float, int]]:
    """Subjects from per-pixel predictions on the segmenter's grid.

    kind_prob (K, h, w), colour_prob (C, h, w) probabilities; border (h, w) bool.
    Returns (box, kind index, colour index, score, area) per connected component of the foreground
    with the borders removed; border pixels are given back to their nearest component. Components
    under ``min_area`` pixels are dropped; ``gap`` is how near a cut-off limb must be to join its person.
    """
    from scipy import ndimage

    kind = kind_prob.argmax(0)
    fg = kind > 0
    labels, n = ndimage.label(fg & ~border, structure=np.ones((3, 3)))
    if n == 0:
        return []
    # Give the border pixels of the foreground to the nearest component.
    _, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    full = np.where(fg, labels[iy, ix], 0)
    out = []
    for c, sl in enumerate(ndimage.find_objects(full), start=1):
        if sl is None:
            continue
        m = full[sl] == c
        area = int(m.sum())
        if area < min_area:
            continue
        kp = kind_prob[:, sl[0], sl[1]][:, m].mean(1)
        kp[0] = 0.0
        cp = colour_prob[:, sl[0], sl[1]][:, m].mean(1)
        box = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
        out.append((box, int(kp.argmax()), int(cp.argmax()), float(kp.max()), area))
    return _merge_person_fragments(out, gap)


def box_groups(
    kind_prob: np.ndarray,
    colour_prob: np.ndarray,
    dist: np.ndarray,
    min_area: int = 5,
    min_iou: float = 0.5,
    min_fill: float = 0.0,
) -> list[tuple[tuple[float, float, float, float], int, int, float, int]]:
    """Subjects from per-pixel box predictions on the segmenter's grid (FCOS-style grouping).

    kind_prob (K, h, w), colour_prob (C, h, w) probabilities; dist (4, h, w) each pixel's distances
    to the left, top, right and bottom sides of its subject's box, in grid pixels. Every foreground
    pixel votes for a box. The most confident free vote (foreground probability times centredness,
    how near the pixel is to the middle of its box) gathers all free votes that overlap it at IoU
    >= ``min_iou``; the group's box is their median, its kind and colour their mean probabilities.
    Repeats until every vote is in a group; groups under ``min_area`` votes, or whose votes cover
    under ``min_fill`` of their box (stray votes, a second group on one subject), are dropped. Touching
    subjects and subjects cut in two by an occluder come out as one box each, as their pixels vote.
    Returns (box, kind index, colour index, score, area) per group, as :func:`components` does.
    """
    fg = kind_prob.argmax(0) > 0
    ys, xs = np.nonzero(fg)
    if len(ys) == 0:
        return []
    left, top, right, bottom = dist[:, ys, xs].astype(np.float64)
    cx, cy = xs + 0.5, ys + 0.5
    boxes = np.stack([cx - left, cy - top, cx + right, cy + bottom], 1)  # (n, 4)
    eps = 1e-6
    centred = np.sqrt(
        (np.minimum(left, right) + eps)
        / (np.maximum(left, right) + eps)
        * (np.minimum(top, bottom) + eps)
        / (np.maximum(top, bottom) + eps)
    )
    score = (1.0 - kind_prob[0, ys, xs]) * centred
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    free = np.ones(len(ys), bool)
    out = []
    while free.any():
        seed = int(np.argmax(np.where(free, score, -1.0)))
        cand = np.nonzero(free)[0]
        b = boxes[seed]
        iw = np.clip(np.minimum(b[2], boxes[cand, 2]) - np.maximum(b[0], boxes[cand, 0]), 0, None)
        ih = np.clip(np.minimum(b[3], boxes[cand, 3]) - np.maximum(b[1], boxes[cand, 1]), 0, None)
        inter = iw * ih
        overlap = inter / np.maximum(areas[seed] + areas[cand] - inter, eps)
        members = cand[overlap >= min_iou]
        members = members if len(members) else np.array([seed])
        free[members] = False
        if len(members) < min_area:
            continue
        box = np.clip(np.median(boxes[members], 0), 0, [fg.shape[1], fg.shape[0]] * 2)  # inside the grid
        if len(members) < min_fill * (box[2] - box[0]) * (box[3] - box[1]):
            continue
        kp = kind_prob[:, ys[members], xs[members]].mean(1)
        kp[0] = 0.0
        cp = colour_prob[:, ys[members], xs[members]].mean(1)
        out.append(
            (
                (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                int(kp.argmax()),
                int(cp.argmax()),
                float(kp.max()),
                len(members),
            )
        )
    return out


def _merge_person_fragments(
    found: list[tuple[tuple[int, int, int, int], int, int, float, int]], gap: int = 2, share: float = 0.35
) -> list[tuple[tuple[int, int, int, int], int, int, float, int]]:
    """Fold a small person component (a thin limb cut off at low resolution) into a larger person
    component whose box lies within ``gap`` pixels, when it has under ``share`` of that one's area."""
    person = SEG_KINDS.index("person")
    found = sorted(found, key=lambda f: -f[4])
    kept: list[tuple[tuple[int, int, int, int], int, int, float, int]] = []
    for box, kind, colour, score, area in found:
        for i, (kb, kk, kc, ks, ka) in enumerate(kept):
            near = box[0] <= kb[2] + gap and kb[0] <= box[2] + gap and box[1] <= kb[3] + gap and kb[1] <= box[3] + gap
            if kind == kk == person and area < share * ka and near:
                union = (min(box[0], kb[0]), min(box[1], kb[1]), max(box[2], kb[2]), max(box[3], kb[3]))
                kept[i] = (union, kk, kc, ks, ka + area)
                break
        else:
            kept.append((box, kind, colour, score, area))
    return kept


class Evaluators:
    """The three frozen networks with image-in, labels-out methods. Thread count is the caller's."""

    def __init__(
        self, material: MaterialNet, segmenter: SegmenterNet, keypoints: KeypointNet, mirror_average: bool = True
    ) -> None:
        self.material, self.segmenter, self.keypoint = material.eval(), segmenter.eval(), keypoints.eval()
        # Average each crop's material logits with its mirror image's (the net was trained on mirrored
        # crops too): held-out material accuracy 0.942 -> 0.947 with the v1 weights (benchmarks/
        # evaluators.py). For joints it changed nothing (PCK 0.850 either way on 150 scenes).
        self.mirror_average = mirror_average

    @classmethod
    def load(cls, weights_dir: str | Path = WEIGHTS_DIR) -> Evaluators:
        """The three networks from ``weights_dir``, each built with the config its file names."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        d = Path(weights_dir)
        nets: list[nn.Module] = []
        for name in EVALUATOR_NAMES:
            path = d / f"{name}.safetensors"
            if not path.is_file():
                raise FileNotFoundError(
                    f"evaluator weights missing: {path} (train them with "
                    f"`python -m scenecraft.world.evaluator_training`)"
                )
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            config = json.loads(meta["config"]) if "config" in meta else ARCHITECTURES["v1"][name]
            net = build(name, config)
            net.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
            nets.append(net)
        return cls(*nets)  # type: ignore[arg-type]

    @torch.no_grad()
    def classify_materials(
        self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]
    ) -> tuple[list[str], np.ndarray]:
        """Material name per box and the probabilities (N, 11)."""
        if not boxes:
            return [], np.zeros((0, len(OBJECT_MATERIALS)), np.float32)
        x = crops(image, boxes, MATERIAL_CROP)
        logits = self.material(x)
        if self.mirror_average:
            logits = (logits + self.material(x.flip(-1))) / 2
        prob = logits.softmax(-1).numpy()
        return [OBJECT_MATERIALS[i] for i in prob.argmax(1)], prob

    @torch.no_grad()
    def segment(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Per-pixel kind probabilities (8, S, S), colour probabilities (12, S, S), border (S, S) and,
        for a segmenter with a box head, box distances (4, S, S) on its grid (S = ``segmenter.size``)."""
        out = self.segmenter(resize_image(image, self.segmenter.size))
        box = None if out.box is None else out.box[0].numpy()
        return out.kind[0].softmax(0).numpy(), out.colour[0].softmax(0).numpy(), (out.border[0, 0] > 0).numpy(), box

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Subjects in an image: box in the image's pixels, kind, colour and confidence.

        With a box head the pixels' box votes are grouped (:func:`box_groups`); without one, the
        foreground is split at the predicted borders (:func:`components`).
        """
        h, w = image.shape[:2]
        grid = self.segmenter.size
        sx, sy = w / grid, h / grid
        # v1's 64 px grid dropped components under 5 pixels and joined limbs within 2; scale both.
        min_area = round(5 * (grid / 64) ** 2)
        kind, colour, border, box = self.segment(image)
        found: Sequence[tuple[tuple[float, float, float, float], int, int, float, int]]
        if box is not None:
            found = box_groups(kind, colour, box, min_area=min_area, **BOX_GROUPING)
        else:
            found = components(kind, colour, border, min_area=min_area, gap=round(2 * grid / 64))
        return [
            Detection(
                box=(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy),
                kind=SEG_KINDS[k],
                colour=COLOUR_NAMES[c],
                score=s,
                area=a * sx * sy,
            )
            for b, k, c, s, a in found
        ]

    @torch.no_grad()
    def keypoints(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
        """24 joints per person box, in image pixels (x, y). -> (N, 24, 2)."""
        if not boxes:
            return np.zeros((0, 24, 2), np.float32)
        uv, _ = self.keypoint(crops(image, boxes, KEYPOINT_CROP))
        out = []
        for b, pts in zip(boxes, uv.numpy(), strict=True):
            x0, y0, x1, y1 = _square(b)
            out.append(np.stack([x0 + pts[:, 0] * (x1 - x0), y0 + pts[:, 1] * (y1 - y0)], 1))
        return np.asarray(out, np.float32)
