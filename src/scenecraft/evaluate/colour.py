"""The colour judge: a subject's colour name read from its own pixels.

The segmenter's colour head names 71 % of matched subjects' colours right on held-out renders:
it averages per-pixel guesses of a net that also has to find kinds and boxes. Here the colour is
read from the subject's pixels in the judged image (its detection mask):

1. :func:`colour_features` — the pixels, linearised (the renderer's film applies ``x ** (1 / 1.1)``),
   without the darkest 15 % (shadow) and the brightest 8 % (highlights); for a person only the
   torso band (the top garment, the colour a request names). From them: mean and median
   chromaticity, a saturation-weighted hue histogram, brightness percentiles and mean colour.
2. :class:`ColourReader` — a small classifier (features -> 12 names), fitted on training renders'
   detections (:func:`fit_reader`, ``scenecraft eval fit-colour``), shipped as ``colour.safetensors``
   beside the nets; a weights folder without it names colours by the head. A reader fitted with
   ``materials`` also reads the material net's probabilities for the detection's box: how much of a
   colour shows depends on the material (chrome and brushed metal mirror their surroundings, sand
   and grass keep most of their own colour; :data:`~scenecraft.world.materials.RESPONSES` ``tint``).
   A reader fitted with ``subject`` also reads the subject net's colour probabilities for the
   detection (:meth:`~scenecraft.evaluate.judges.Evaluators.read_subjects`): the net sees the
   subject's shape and surroundings at a zoom, the features its exact pixels, and the two err on
   different subjects (validation colour accuracy 0.824 -> 0.894, judges-7; docs/world.md).
"""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scenecraft.atomic_write import atomic_path
from scenecraft.world.spec import COLOUR_NAMES, OBJECT_MATERIALS

FEATURES = 31
HUE_BINS = 12
TORSO = (0.18, 0.5)  # rows of a person's box (share of its height from the top) the top garment fills
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def subject_pixels(image: np.ndarray, mask: np.ndarray, person: bool) -> np.ndarray:
    """(n, 3) float 0..1 pixels of a subject (a person: its torso band); n may be 0."""
    ys, xs = np.nonzero(mask)
    if len(ys) and person:
        y0, y1 = ys.min(), ys.max() + 1
        lo, hi = y0 + TORSO[0] * (y1 - y0), y0 + TORSO[1] * (y1 - y0)
        band = (ys >= lo) & (ys < hi)
        if band.sum() >= 3:
            ys, xs = ys[band], xs[band]
    return image[ys, xs, :3].astype(np.float32) / 255.0


def colour_features(pixels: np.ndarray) -> np.ndarray | None:
    """(n, 3) pixels in 0..1 -> (FEATURES,) float32, or None for fewer than 3 pixels."""
    if len(pixels) < 3:
        return None
    lin = pixels**1.1
    y = lin @ _LUMA
    lo, hi = np.quantile(y, [0.15, 0.92])
    keep = (y >= lo) & (y <= hi)
    if keep.sum() >= 3:
        lin, y, pixels = lin[keep], y[keep], pixels[keep]
    chroma = lin / (lin.sum(1, keepdims=True) + 1e-3)
    hsv = np.array([colorsys.rgb_to_hsv(*p) for p in pixels], np.float32)  # (n, 3)
    hue_bin = np.minimum((hsv[:, 0] * HUE_BINS).astype(int), HUE_BINS - 1)
    hist = np.bincount(hue_bin, weights=hsv[:, 1], minlength=HUE_BINS).astype(np.float32)
    hist /= max(len(pixels), 1)
    return np.concatenate(
        [
            chroma.mean(0),
            np.median(chroma, 0),
            hist,
            [hsv[:, 1].mean(), np.median(hsv[:, 1]), hsv[:, 2].mean()],
            np.quantile(y, [0.1, 0.25, 0.5, 0.75, 0.9]),
            lin.mean(0),
            [lin.std(0).mean(), np.log(y.mean() + 1e-3)],
        ]
    ).astype(np.float32)


def reader_input(
    features: np.ndarray, material_prob: np.ndarray | None, subject_colour: np.ndarray | None = None
) -> np.ndarray:
    """A reader's input: colour features (..., FEATURES), then, for a reader with ``materials``, the
    log of the material probabilities (..., 11), then, for a reader with ``subject``, the log of the
    subject net's colour probabilities (..., 12) -> (..., FEATURES [+ 11] [+ 12]) float32."""
    parts = [features] + [np.log(p + 1e-4) for p in (material_prob, subject_colour) if p is not None]
    return np.concatenate(parts, -1).astype(np.float32)


def reader_width(materials: bool, subject: bool) -> int:
    """The number of inputs of a reader: its features, in :func:`reader_input`'s order."""
    return FEATURES + len(OBJECT_MATERIALS) * materials + len(COLOUR_NAMES) * subject


class ColourReader(nn.Module):
    """Colour features (standardised), with ``materials`` the log material probabilities of the
    subject's box, with ``subject`` the subject net's log colour probabilities -> 12 colour-name
    logits: one hidden layer of 64."""

    def __init__(self, hidden: int = 64, materials: bool = False, subject: bool = False) -> None:
        super().__init__()
        inputs = reader_width(materials, subject)
        self.register_buffer("mean", torch.zeros(inputs))
        self.register_buffer("std", torch.ones(inputs))
        self.net = nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, len(COLOUR_NAMES)))
        self.hidden, self.materials, self.subject = hidden, materials, subject

    mean: torch.Tensor
    std: torch.Tensor

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net((feats - self.mean) / self.std)

    @torch.no_grad()
    def name(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        person: bool,
        material_prob: np.ndarray | None = None,
        subject_colour: np.ndarray | None = None,
    ) -> str | None:
        """The colour name of the subject in ``mask``, or None when it has too few pixels.
        ``material_prob`` (11,): the material net's probabilities for its box (a ``materials`` reader);
        ``subject_colour`` (12,): the subject net's colour probabilities for it (a ``subject`` reader)."""
        if self.materials and material_prob is None:
            raise ValueError("this colour reader reads materials too: pass the material probabilities of the box")
        if self.subject and subject_colour is None:
            raise ValueError("this colour reader reads the subject net's colours too: pass them for the box")
        f = colour_features(subject_pixels(image, mask, person))
        if f is None:
            return None
        x = reader_input(f, material_prob if self.materials else None, subject_colour if self.subject else None)
        return COLOUR_NAMES[int(self(torch.from_numpy(x)[None]).argmax())]

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().float().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata={"judge": "colour", "config": json.dumps(self.config)})

    @property
    def config(self) -> dict[str, int | bool]:
        """Constructor arguments, as saved in the weights file's metadata."""
        return {"hidden": self.hidden, "materials": self.materials, "subject": self.subject}

    @classmethod
    def load(cls, path: str | Path) -> ColourReader:
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), "pt") as f:
            config = json.loads((f.metadata() or {}).get("config", "{}"))
        reader = cls(**config)
        reader.load_state_dict(load_file(str(path)))
        return reader.eval()


def fit_reader(
    features: np.ndarray,
    labels: np.ndarray,
    epochs: int = 400,
    seed: int = 0,
    materials: bool = False,
    subject: bool = False,
) -> ColourReader:
    """Fit a :class:`ColourReader` to (N, F) inputs (:func:`reader_input`, F = :func:`reader_width`)
    and (N,) colour indices (full-batch Adam, weight decay, cosine rate)."""
    if len(features) != len(labels) or len(features) < len(COLOUR_NAMES):
        raise ValueError(f"need matching features and labels, at least {len(COLOUR_NAMES)}; got {len(features)}")
    width = reader_width(materials, subject)
    if features.shape[1] != width:
        raise ValueError(
            f"a reader with materials={materials}, subject={subject} reads {width} inputs, got {features.shape[1]}"
        )
    torch.manual_seed(seed)
    reader = ColourReader(materials=materials, subject=subject)
    x, y = torch.from_numpy(features).float(), torch.from_numpy(labels).long()
    reader.mean.copy_(x.mean(0))
    reader.std.copy_(x.std(0).clamp_min(1e-4))
    opt = torch.optim.AdamW(reader.net.parameters(), lr=1e-2, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        loss = nn.functional.cross_entropy(reader(x), y, label_smoothing=0.02)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return reader.eval()
