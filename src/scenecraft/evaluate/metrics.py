"""Scores for images against the scenes they were asked to show, judged by the frozen judges.

:func:`score_images` takes requests (:class:`SceneSpec`) and images (generated, or anything else)
and measures, with the reference labels from rendering each request:

- **material fidelity** — share of regions (each object's requested box, plus a floor and a wall
  patch) whose material, by :class:`MaterialNet`, is the one asked for;
- **layout recall** and **mean IoU** — requested subjects found by the detector at IoU >= 0.5 with
  the right kind (one-to-one Hungarian matching), and the mean IoU of those matches (0 if missed);
- **attribute binding** — in scenes with two or more subjects, share of subjects whose detected
  colour *and* classified material are their own (not a neighbour's);
- **count accuracy** — share of images where the detector counts every kind exactly as requested;
- **pose PCK@0.1** — share of requested person joints predicted within 0.1 x the person's box side.

``per_image`` keeps, for each image, ``[hits, judged]`` of every metric it adds to (mean IoU aside),
so two generators' scores of the same requests can be compared image by image (a paired bootstrap,
``benchmarks/speed.py``); each metric is the sum of its hits over the sum of what was judged.

:func:`held_out_report` scores the evaluators themselves on fresh renders of a seed (material
accuracy, detection recall at IoU 0.5, keypoint PCK@0.1), which is what
``scenecraft eval score`` prints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from scenecraft.evaluate.detection import Detection
from scenecraft.evaluate.judges import Evaluators
from scenecraft.evaluate.light import requested_light_side
from scenecraft.evaluate.views import iou, surface_boxes, surface_patch_sides
from scenecraft.world.dataset import SamplerConfig, WorldSampler
from scenecraft.world.render import Render, render
from scenecraft.world.spec import MATERIALS, OBJECT_MATERIALS, ObjectSubject, PersonSubject, SceneSpec

Box = tuple[float, float, float, float]
MIN_REGION_AREA = 36 / 128**2  # boxes smaller than this share of the image are too small to judge


def match_boxes(truth: list[Box], found: list[Box]) -> list[int | None]:
    """One-to-one matching maximising total IoU: for each true box, the index of its match or None."""
    from scipy.optimize import linear_sum_assignment

    if not truth or not found:
        return [None] * len(truth)
    m = np.array([[iou(t, f) for f in found] for t in truth])
    rows, cols = linear_sum_assignment(-m)
    out: list[int | None] = [None] * len(truth)
    for r, c in zip(rows, cols, strict=True):
        if m[r, c] > 0:
            out[r] = int(c)
    return out


def pck(pred: np.ndarray, truth: np.ndarray, box: Sequence[float], alpha: float = 0.1) -> np.ndarray:
    """Per-joint hits: distance <= alpha x the longer side of the person's box. (J, 2) x2 -> (J,) bool."""
    side = max(box[2] - box[0], box[3] - box[1])
    return np.linalg.norm(pred - truth, axis=1) <= alpha * side


def _large(box: Sequence[float] | None, size: int) -> bool:
    return box is not None and (box[2] - box[0]) * (box[3] - box[1]) >= MIN_REGION_AREA * size * size


def _box(b: Sequence[float]) -> Box:
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def _object_regions(r: Render) -> list[tuple[Box, str]]:
    """Each object's box (if large enough to judge) with its requested material."""
    size = r.image.shape[0]
    out = []
    for k, s in enumerate(r.spec.subjects):
        b = r.boxes[k]
        if isinstance(s, ObjectSubject) and b is not None and _large(b, size):
            out.append((_box(b), str(s.material)))
    return out


def _surface_regions(ref: Render, rng: np.random.Generator) -> list[tuple[Box, str]]:
    """One floor and one wall patch lying on those surfaces in the reference render."""
    side = surface_patch_sides(ref.image.shape[0])
    regions: list[tuple[Box, str]] = []
    for mat in (ref.spec.ground.material, ref.spec.background.material):
        boxes = surface_boxes(ref.material, ref.instance, MATERIALS.index(mat), rng, 1, *side)
        regions += [(_box(b), str(mat)) for b in boxes]
    return regions


def score_images(
    requests: Sequence[SceneSpec], images: Sequence[np.ndarray], evaluators: Evaluators, seed: int = 0
) -> dict[str, Any]:
    """Scores of ``images`` (each (H, W, 3) uint8, square) against ``requests``; see the module doc."""
    if len(requests) != len(images):
        raise ValueError(f"got {len(requests)} requests but {len(images)} images; they must pair up")
    rng = np.random.default_rng(seed)
    ious: list[float] = []
    mat_hits: list[bool] = []
    layout_hits: list[bool] = []
    bind_hits: list[bool] = []
    count_hits: list[bool] = []
    joint_hits: list[bool] = []
    light_hits: list[bool] = []
    lists = {
        "material_fidelity": mat_hits,
        "layout_recall": layout_hits,
        "attribute_binding": bind_hits,
        "count_accuracy": count_hits,
        "pose_pck": joint_hits,
        "light_agreement": light_hits,
    }
    per_image: list[dict[str, list[int]]] = []
    for spec, image in zip(requests, images, strict=True):
        before = {name: len(hits) for name, hits in lists.items()}
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
            raise ValueError(f"images must be square (H, W, 3) arrays, got shape {image.shape}")
        size = image.shape[0]
        ref = render(spec, size=size, noise=0.0)
        dets: list[Detection] = evaluators.detect(image)
        truth = [(i, b) for i, b in enumerate(ref.boxes) if b is not None]
        match = match_boxes([b for _, b in truth], [d.box for d in dets])
        # Materials: each object's requested region, plus floor and wall patches.
        regions = _object_regions(ref)
        objects = len(regions)
        regions += _surface_regions(ref, rng)
        predicted, _ = evaluators.classify_materials(image, [b for b, _ in regions], subjects=objects)
        mat_hits += [p == m for p, (_, m) in zip(predicted, regions, strict=True)]
        obj_material = dict(zip([b for b, _ in regions], predicted, strict=True))
        # Layout and binding.
        for (i, box), j in zip(truth, match, strict=True):
            s = spec.subjects[i]
            kind = s.shape if isinstance(s, ObjectSubject) else "person"
            d = dets[j] if j is not None else None
            overlap = iou(box, d.box) if d is not None else 0.0
            ious.append(overlap)
            layout_hits.append(d is not None and overlap >= 0.5 and d.kind == kind)
            if len(spec.subjects) >= 2 and (isinstance(s, PersonSubject) or _large(box, size)):
                colour = s.colour if isinstance(s, ObjectSubject) else s.top_colour
                ok_colour = d is not None and overlap >= 0.5 and d.colour == colour
                ok_mat = isinstance(s, PersonSubject) or obj_material.get(_box(box)) == s.material
                bind_hits.append(ok_colour and ok_mat)
        want = Counter(s.shape if isinstance(s, ObjectSubject) else "person" for s in spec.subjects)
        count_hits.append(Counter(d.kind for d in dets) == want)
        # Pose.
        people = [(i, b) for i, b in truth if isinstance(spec.subjects[i], PersonSubject)]
        if people:
            pred = evaluators.keypoints(image, [_box(b) for _, b in people])
            for (i, b), p in zip(people, pred, strict=True):
                joint_hits += pck(p, ref.joints2d[i], b).tolist()
        # Light: the side the requested subjects are lit from, where the request names one.
        want_side = requested_light_side(spec)
        if want_side and truth:
            light_hits.append(evaluators.light_side(image, [b for _, b in truth]) == want_side)
        per_image.append(
            {
                name: [int(sum(hits[before[name] :])), len(hits) - before[name]]
                for name, hits in lists.items()
                if len(hits) > before[name]
            }
        )

    def mean(x: list[Any]) -> float | None:
        return float(np.mean(x)) if x else None

    return {
        "images": len(images),
        "material_fidelity": mean(mat_hits),
        "layout_recall": mean(layout_hits),
        "mean_iou": mean(ious),
        "attribute_binding": mean(bind_hits),
        "count_accuracy": mean(count_hits),
        "pose_pck": mean(joint_hits),
        "light_agreement": mean(light_hits),
        "support": {
            "regions": len(mat_hits),
            "subjects": len(layout_hits),
            "bound_subjects": len(bind_hits),
            "joints": len(joint_hits),
            "side_lit_images": len(light_hits),
        },
        "per_image": per_image,
    }


def held_out_report(
    evaluators: Evaluators, n: int = 500, seed: int = 7, size: int = 128, config: SamplerConfig | None = None
) -> dict[str, Any]:
    """Accuracy of the evaluators on renders 0..n-1 of ``seed`` (a seed they were not trained on).

    material_accuracy: object boxes (large enough to judge) and one floor and one wall patch per
    scene; detection_recall: true subjects matched one-to-one by a detection at IoU >= 0.5 (any
    kind), with kind and colour accuracy of those matches; keypoint_pck: PCK@0.1 over all 24 joints
    of every visible person, given the person's true box.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    sampler = WorldSampler(config, seed)
    rng = np.random.default_rng(seed)
    mat_hits: list[bool] = []
    confusion = np.zeros((len(OBJECT_MATERIALS), len(OBJECT_MATERIALS)), int)
    recall, kind_ok, colour_ok, n_dets, joint_hits, vis_hits = [], [], [], 0, [], []
    for i in range(n):
        r = sampler.render(i, size)
        image = r.image
        regions = _object_regions(r)
        objects = len(regions)
        regions += _surface_regions(r, rng)
        predicted, _ = evaluators.classify_materials(image, [b for b, _ in regions], subjects=objects)
        for p, (_, m) in zip(predicted, regions, strict=True):
            mat_hits.append(p == m)
            confusion[OBJECT_MATERIALS.index(m), OBJECT_MATERIALS.index(p)] += 1
        dets = evaluators.detect(image)
        n_dets += len(dets)
        truth = [(k, b) for k, b in enumerate(r.boxes) if b is not None]
        match = match_boxes([b for _, b in truth], [d.box for d in dets])
        for (k, b), j in zip(truth, match, strict=True):
            s = r.spec.subjects[k]
            hit = j is not None and iou(b, dets[j].box) >= 0.5
            recall.append(hit)
            if hit and j is not None:
                kind_ok.append(dets[j].kind == (s.shape if isinstance(s, ObjectSubject) else "person"))
                colour_ok.append(
                    dets[j].colour == (s.colour if isinstance(s, ObjectSubject) else s.top_colour)
                )
        people = [(k, b) for k, b in truth if isinstance(r.spec.subjects[k], PersonSubject)]
        if people:
            pred = evaluators.keypoints(image, [_box(b) for _, b in people])
            for (k, b), p in zip(people, pred, strict=True):
                hits = pck(p, r.joints2d[k], b)
                joint_hits += hits.tolist()
                vis_hits += hits[r.joints_visible[k]].tolist()
    return {
        "n_scenes": n,
        "seed": seed,
        "size": size,
        "material_accuracy": float(np.mean(mat_hits)),
        "material_regions": len(mat_hits),
        "detection_recall": float(np.mean(recall)),
        "subjects": len(recall),
        "detection_precision": float(sum(recall) / max(n_dets, 1)),
        "kind_accuracy": float(np.mean(kind_ok)) if kind_ok else None,
        "colour_accuracy": float(np.mean(colour_ok)) if colour_ok else None,
        "keypoint_pck": float(np.mean(joint_hits)) if joint_hits else None,
        "keypoint_pck_visible": float(np.mean(vis_hits)) if vis_hits else None,
        "joints": len(joint_hits),
        "material_confusion": {"labels": list(OBJECT_MATERIALS), "matrix": confusion.tolist()},
    }
