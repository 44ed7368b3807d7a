"""Detection: the segmenter's per-pixel maps turned into one box, kind and colour per subject.

- :func:`box_groups` (v3 segmenters, with a box head): every foreground pixel votes for the box of
  its subject (FCOS, Tian et al. 2019); votes are grouped greedily around the most confident one.
  Touching subjects vote for different boxes, and a subject cut in two by an occluder for one.
- :func:`components` (v1/v2): the foreground split at predicted borders into connected components;
  merged neighbours were 51 of its 57 misses on 120 scenes, which is why v3 votes.

Both return :class:`Found` tuples on the segmenter's grid; :class:`Detection` is one subject in the
judged image's pixels. :data:`BOX_GROUPING` holds the grouping settings chosen on validation scenes
(``benchmarks/detector_grouping.py``, seed 12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from scenecraft.evaluate.nets import SEG_KINDS

BOX_GROUPING: dict[str, float] = {"min_iou": 0.4, "min_fill": 0.1}


class Found(NamedTuple):
    """One subject on the segmenter's grid."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in grid pixels
    kind: int  # index into SEG_KINDS (never 0, background)
    colour: int  # index into COLOUR_NAMES, from the colour head
    score: float  # mean probability of the kind
    area: int  # pixels of the subject on the grid
    pixels: np.ndarray  # (area, 2) int (row, column) of its pixels on the grid


@dataclass(frozen=True)
class Detection:
    """One subject found in an image: box (x0, y0, x1, y1) in pixels, kind, colour, confidence."""

    box: tuple[float, float, float, float]
    kind: str
    colour: str
    score: float
    area: float  # pixels of the subject, in input-image pixels
    mask: np.ndarray | None = None  # (H, W) bool of its pixels in the image, where known


def components(
    kind_prob: np.ndarray, colour_prob: np.ndarray, border: np.ndarray, min_area: int = 5, gap: int = 2
) -> list[Found]:
    """Subjects from per-pixel predictions on the segmenter's grid.

    kind_prob (K, h, w), colour_prob (C, h, w) probabilities; border (h, w) bool.
    Returns a :class:`Found` per connected component of the foreground
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
        box = (float(sl[1].start), float(sl[0].start), float(sl[1].stop), float(sl[0].stop))
        py, px = np.nonzero(m)
        pixels = np.stack([py + sl[0].start, px + sl[1].start], 1)
        out.append(Found(box, int(kp.argmax()), int(cp.argmax()), float(kp.max()), area, pixels))
    return _merge_person_fragments(out, gap)


def box_groups(
    kind_prob: np.ndarray,
    colour_prob: np.ndarray,
    dist: np.ndarray,
    min_area: int = 5,
    min_iou: float = 0.5,
    min_fill: float = 0.0,
) -> list[Found]:
    """Subjects from per-pixel box predictions on the segmenter's grid (FCOS-style grouping).

    kind_prob (K, h, w), colour_prob (C, h, w) probabilities; dist (4, h, w) each pixel's distances
    to the left, top, right and bottom sides of its subject's box, in grid pixels. Every foreground
    pixel votes for a box. The most confident free vote (foreground probability times centredness,
    how near the pixel is to the middle of its box) gathers all free votes that overlap it at IoU
    >= ``min_iou``; the group's box is their median, its kind and colour their mean probabilities.
    Repeats until every vote is in a group; groups under ``min_area`` votes, or whose votes cover
    under ``min_fill`` of their box (stray votes, a second group on one subject), are dropped. Touching
    subjects and subjects cut in two by an occluder come out as one box each, as their pixels vote.
    Returns a :class:`Found` per group.
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
            Found(
                (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                int(kp.argmax()),
                int(cp.argmax()),
                float(kp.max()),
                len(members),
                np.stack([ys[members], xs[members]], 1),
            )
        )
    return out


def _merge_person_fragments(found: list[Found], gap: int = 2, share: float = 0.35) -> list[Found]:
    """Fold a small person component (a thin limb cut off at low resolution) into a larger person
    component whose box lies within ``gap`` pixels, when it has under ``share`` of that one's area."""
    person = SEG_KINDS.index("person")
    found = sorted(found, key=lambda f: -f.area)
    kept: list[Found] = []
    for f in found:
        box = f.box
        for i, k in enumerate(kept):
            kb = k.box
            near = box[0] <= kb[2] + gap and kb[0] <= box[2] + gap and box[1] <= kb[3] + gap and kb[1] <= box[3] + gap
            if f.kind == k.kind == person and f.area < share * k.area and near:
                union = (min(box[0], kb[0]), min(box[1], kb[1]), max(box[2], kb[2]), max(box[3], kb[3]))
                kept[i] = k._replace(box=union, area=k.area + f.area, pixels=np.concatenate([k.pixels, f.pixels]))
                break
        else:
            kept.append(f)
    return kept
