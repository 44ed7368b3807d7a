"""The light judge: from which side (as the camera sees it) an image's subjects are lit.

A request's caption says "lit from the left" or "lit from the right" when the light's direction
projects more onto the camera's right axis than onto its view axis and it stands below 70 degrees
(:func:`scenecraft.world.captions.light_phrase`); :func:`requested_light_side` gives that side, or
0 for a front, back or overhead light. :func:`light_side` estimates the side from the image: a lit
subject is brighter on the side facing the light, so it compares the mean luminance of the right and
left halves of each subject's box (the requested boxes: where the subjects were asked to be) and
votes with the sign of the sum. :func:`light_agreement` is the share of side-lit requests whose
image is lit from the requested side — the ``context_light_agreement`` of ``benchmarks/quality.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scenecraft.world.render import View
from scenecraft.world.spec import SceneSpec

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
OVERHEAD_DEG = 70.0  # captions call a light this high "from above"


def requested_light_side(spec: SceneSpec) -> int:
    """+1 lit from the right, -1 from the left, 0 neither (front, back, above), as the caption says."""
    if spec.light.elevation_deg >= OVERHEAD_DEG:
        return 0
    d = np.asarray(spec.light.direction())
    view = View.from_camera(spec.camera, 64)  # the axes do not depend on the size
    x, z = float(d @ view.right), float(d @ -view.forward)
    if abs(x) < abs(z):
        return 0
    return 1 if x > 0 else -1


def box_shading(image: np.ndarray, box: Sequence[float]) -> float:
    """Mean luminance (0..1) of the right half of ``box`` minus its left half (pixel box, end exclusive)."""
    x0, y0, x1, y1 = (round(v) for v in box)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 1:
        return 0.0
    crop = image[y0:y1, x0:x1, :3].astype(np.float32) @ _LUMA / 255.0
    mid = crop.shape[1] / 2
    cols = np.arange(crop.shape[1]) + 0.5
    return float(crop[:, cols > mid].mean() - crop[:, cols < mid].mean())


def light_side(image: np.ndarray, boxes: Sequence[Sequence[float]]) -> int:
    """The side the subjects in ``boxes`` are lit from: +1 right, -1 left, 0 no subjects or a tie.

    Each box votes with its right-minus-left shading, weighted by the square root of its area (a
    large subject's shading is measured over more pixels)."""
    total = 0.0
    for b in boxes:
        area = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
        total += box_shading(image, b) * float(np.sqrt(area))
    return int(np.sign(total))


def light_agreement(
    requests: Sequence[SceneSpec], images: Sequence[np.ndarray], boxes: Sequence[Sequence[Sequence[float]]]
) -> tuple[float | None, int]:
    """Share of side-lit requests (:func:`requested_light_side`) whose image is lit from that side,
    judged on each request's subject boxes; and how many requests were side-lit with subjects."""
    hits = []
    for spec, image, bs in zip(requests, images, boxes, strict=True):
        want = requested_light_side(spec)
        if want == 0 or not bs:
            continue
        hits.append(light_side(image, bs) == want)
    return (float(np.mean(hits)) if hits else None), len(hits)
