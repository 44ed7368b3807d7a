"""Training examples of the judges, cut from a render exactly as :mod:`.views` cuts judged images.

:func:`scene_labels` is what a render teaches (per subject its kind, box, material, colour and, for
a person, 2-D joints); :func:`cut_examples` turns one render's image and label maps into the
examples of each net:

- material: square crops of object boxes (jittered) and of floor and wall patches, with materials;
- segmenter: the image on the segmenter's grid with per-pixel kind, colour, border and box targets;
- keypoints: square person crops with joints in crop units;
- subject: each subject's zoomed crop and box mask (box jittered, as a detector's would be) with
  its kind, colour and material, and a box on no subject per scene (background).

:func:`render_examples` renders the scenes of a task and cuts them (the live data source of
:mod:`.sources`); pre-rendered chunks are cut by the same :func:`cut_examples`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from scenecraft.evaluate.light import requested_light_side
from scenecraft.evaluate.nets import EVALUATOR_NAMES, SEG_KINDS
from scenecraft.evaluate.views import (
    KEYPOINT_CROP,
    MATERIAL_CROP,
    SUBJECT_CROP,
    grid_image,
    iou,
    jitter_box,
    region_crop,
    square_box,
    subject_view,
    surface_boxes,
    surface_patch_sides,
)
from scenecraft.world.dataset import SamplerConfig, WorldSampler
from scenecraft.world.render import Render
from scenecraft.world.spec import COLOUR_NAMES, MATERIALS, OBJECT_MATERIALS, ObjectSubject

PERSON_HEAVY = SamplerConfig(person_probability=0.75, max_people=3)
GENERAL_SEED, PEOPLE_SEED = 3000, 4000  # never used by the held-out reports (7, 8, 11, 12, 10007)
SMALL_SIZE = 64  # every fourth scene is rendered this small, like the generator's images

Examples = dict[str, dict[str, np.ndarray]]
Targets = tuple[np.ndarray, np.ndarray, np.ndarray]


def scene_labels(r: Render) -> dict[str, Any]:
    """The labels the judges learn from, per scene."""
    subjects = []
    for k, s in enumerate(r.spec.subjects):
        entry: dict[str, Any] = {"kind": s.kind, "box": r.boxes[k]}
        if isinstance(s, ObjectSubject):
            entry.update(shape=s.shape, material=s.material, colour=s.colour)
        else:
            entry.update(
                shape="person",
                colour=s.top_colour,
                joints2d=r.joints2d[k].tolist(),
                visible=r.joints_visible[k].tolist(),
            )
        subjects.append(entry)
    return {
        "ground": r.spec.ground.material,
        "wall": r.spec.background.material,
        "subjects": subjects,
        "light": requested_light_side(r.spec),
    }


def material_examples(
    image: np.ndarray,
    material: np.ndarray,
    instance: np.ndarray,
    lab: dict[str, Any],
    rng: np.random.Generator,
    copies: int = 2,
    surfaces: bool = True,
) -> tuple[list[np.ndarray], list[int]]:
    """Crops (32, 32, 3) uint8 of one scene's object boxes and floor/wall patches, and material ids.

    Objects under 36 pixels of a 128 px image (scaled with the image) are too small to judge.
    """
    size = image.shape[0]
    min_area = 36 * (size / 128) ** 2
    regions = [
        (s["box"], s["material"])
        for s in lab["subjects"]
        if s["kind"] == "object" and s["box"] and (s["box"][2] - s["box"][0]) * (s["box"][3] - s["box"][1]) >= min_area
    ]
    if surfaces:
        for key in ("ground", "wall"):
            mid = MATERIALS.index(lab[key])
            patches = surface_boxes(material, instance, mid, rng, 1, *surface_patch_sides(size))
            regions += [(b, lab[key]) for b in patches]
    xs, ys = [], []
    for box, mat in regions:
        for _ in range(copies):
            xs.append(region_crop(image, square_box(jitter_box(box, rng, 0.08) if copies > 1 else box), MATERIAL_CROP))
            ys.append(OBJECT_MATERIALS.index(mat))
    return xs, ys


def grid_instances(instance: np.ndarray, size: int) -> np.ndarray:
    """An instance map of any side resampled to (size, size) by nearest pixel: every ``step``-th
    pixel when shrinking by an integer ``step``, each pixel repeated when growing."""
    pick = np.arange(size) * instance.shape[0] // size
    return instance[pick][:, pick].astype(np.int64)


def segment_targets(instance: np.ndarray, lab: dict[str, Any], size: int) -> Targets:
    """Kind, colour (-1 off subjects) and border targets (size, size) from an instance map of any
    side, on the grid of :func:`grid_instances`."""
    inst = grid_instances(instance, size)
    kinds = np.array([SEG_KINDS.index(s["shape"]) for s in lab["subjects"]] + [0], np.int64)
    colours = np.array([COLOUR_NAMES.index(s["colour"]) for s in lab["subjects"]] + [-1], np.int64)
    kind, colour = kinds[inst], colours[inst]  # inst == -1 picks the trailing background entry
    border = np.zeros(inst.shape, bool)
    for a, b in ((inst[1:], inst[:-1]), (inst[:, 1:], inst[:, :-1])):
        edge = (a != b) & (a >= 0) & (b >= 0)
        if a.shape[0] != inst.shape[0]:
            border[1:] |= edge
            border[:-1] |= edge
        else:
            border[:, 1:] |= edge
            border[:, :-1] |= edge
    return kind, colour, border


def box_targets(instance: np.ndarray, lab: dict[str, Any], size: int) -> np.ndarray:
    """Each pixel's distances to the sides of its subject's box, (4, size, size) float16 in grid pixels
    (left, top, right, bottom; 0 off subjects), on the grid :func:`segment_targets` samples.

    The boxes are the labels' (the visible extent at the render's resolution, end exclusive),
    scaled to the grid, so a perfect prediction gives back exactly the boxes the metrics score.
    """
    inst = grid_instances(instance, size)
    scale = size / instance.shape[0]
    table = np.zeros((len(lab["subjects"]) + 1, 4))  # the trailing row: background
    for k, s in enumerate(lab["subjects"]):
        if s["box"] is not None:
            table[k] = np.asarray(s["box"], np.float64) * scale
    box = table[inst]  # (size, size, 4): x0, y0, x1, y1 of each pixel's subject
    centre = np.arange(size) + 0.5
    cx, cy = centre[None, :], centre[:, None]
    dist = np.stack([cx - box[..., 0], cy - box[..., 1], box[..., 2] - cx, box[..., 3] - cy])
    return np.where(inst[None] >= 0, np.clip(dist, 0, None), 0).astype(np.float16)


def keypoint_examples(
    image: np.ndarray, lab: dict[str, Any], rng: np.random.Generator, copies: int = 2, jitter: float = 0.06
) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """One scene's person crops (64, 64, 3), joints in crop units (24, 2), box side in crop units."""
    xs, js, sides = [], [], []
    for s in lab["subjects"]:
        if s["kind"] != "person" or not s["box"]:
            continue
        for _ in range(copies):
            box = jitter_box(s["box"], rng, jitter) if copies > 1 else tuple(s["box"])
            sq = square_box(box)
            side = sq[2] - sq[0]
            xs.append(region_crop(image, sq, KEYPOINT_CROP))
            js.append(((np.asarray(s["joints2d"]) - np.array(sq[:2])) / side).astype(np.float32))
            b = s["box"]
            sides.append(max(b[2] - b[0], b[3] - b[1]) / side)
    return xs, js, sides


SUBJECT_JITTER = 0.12  # a subject box's sides move by up to this share of its width or height


def subject_examples(
    image: np.ndarray, lab: dict[str, Any], rng: np.random.Generator, copies: int = 2, negatives: int = 1
) -> dict[str, np.ndarray]:
    """One scene's subject-net examples: ``copies`` jittered views of each visible subject and
    ``negatives`` boxes of a subject's size that overlap no subject (IoU < 0.2; kind 0, background).

    Arrays: image (N, 32, 32, 3) uint8, mask (N, 32, 32) bool, kind, colour, material, light (N,)
    int64 (light: the side the scene's light comes from as the caption names it, + 1: 0 left, 1
    neither, 2 right; -1 where there is none to learn: colour, material and light of background,
    a person's material, the light of labels made before it was recorded).
    """
    light = lab["light"] + 1 if "light" in lab else -1
    views, labels = [], []
    boxes = [s["box"] for s in lab["subjects"] if s["box"]]
    for s in lab["subjects"]:
        if not s["box"]:
            continue
        material = OBJECT_MATERIALS.index(s["material"]) if s["kind"] == "object" else -1
        for _ in range(copies):
            views.append(subject_view(image, jitter_box(s["box"], rng, SUBJECT_JITTER)))
            labels.append((SEG_KINDS.index(s["shape"]), COLOUR_NAMES.index(s["colour"]), material, light))
    size = image.shape[0]
    for _ in range(negatives if boxes else 0):
        b = boxes[int(rng.integers(len(boxes)))]
        w, h = b[2] - b[0], b[3] - b[1]
        for _ in range(8):
            x0, y0 = rng.uniform(0, max(size - w, 1)), rng.uniform(0, max(size - h, 1))
            cand = (x0, y0, x0 + w, y0 + h)
            if all(iou(cand, o) < 0.2 for o in boxes):
                views.append(subject_view(image, cand))
                labels.append((0, -1, -1, -1))
                break
    n = len(views)
    lab_arr = np.asarray(labels, np.int64).reshape(n, 4)
    return {
        "image": np.stack([v[0] for v in views]) if n else np.zeros((0, SUBJECT_CROP, SUBJECT_CROP, 3), np.uint8),
        "mask": np.stack([v[1] for v in views]) if n else np.zeros((0, SUBJECT_CROP, SUBJECT_CROP), bool),
        "kind": lab_arr[:, 0].copy(),
        "colour": lab_arr[:, 1].copy(),
        "material": lab_arr[:, 2].copy(),
        "light": lab_arr[:, 3].copy(),
    }


def cut_examples(
    image: np.ndarray,
    material: np.ndarray,
    instance: np.ndarray,
    lab: dict[str, Any],
    rng: np.random.Generator,
    grid: int,
    names: tuple[str, ...] = EVALUATOR_NAMES,
) -> Examples:
    """One render's examples for the nets ``names``; the segmenter's on a ``grid`` px grid."""
    out: Examples = {}
    if "segmenter" in names:
        kind, colour, border = segment_targets(instance, lab, grid)
        out["segmenter"] = {
            "image": grid_image(image, grid)[None],
            "kind": kind[None].astype(np.int8),
            "colour": colour[None].astype(np.int8),
            "border": border[None],
            "box": box_targets(instance, lab, grid)[None],
        }
    if "material" in names:
        x, y = material_examples(image, material, instance, lab, rng)
        out["material"] = {
            "image": np.stack(x) if x else np.zeros((0, MATERIAL_CROP, MATERIAL_CROP, 3), np.uint8),
            "label": np.asarray(y, np.int64),
        }
    if "keypoints" in names:
        xk, jk, _ = keypoint_examples(image, lab, rng)
        out["keypoints"] = {
            "image": np.stack(xk) if xk else np.zeros((0, KEYPOINT_CROP, KEYPOINT_CROP, 3), np.uint8),
            "joints": np.asarray(jk, np.float32).reshape(-1, 24, 2),
        }
    if "subject" in names:
        out["subject"] = subject_examples(image, lab, rng)
    return out


def concat_examples(parts: list[Examples]) -> Examples:
    """Examples of several renders joined net by net, array by array."""
    out: Examples = {}
    for name in {n for p in parts for n in p}:
        rows = [p[name] for p in parts if name in p]
        out[name] = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    return out


@functools.cache
def _sampler(people: bool) -> WorldSampler:
    return WorldSampler(PERSON_HEAVY, PEOPLE_SEED) if people else WorldSampler(seed=GENERAL_SEED)


def training_render(i: int, size: int) -> Render:
    """Training scene ``i``: of seed 4000 (person-heavy) when ``i % 4 == 3``, else of seed 3000;
    rendered at 64 px when ``i % 4 == 1`` and ``size`` is larger, else at ``size``."""
    return _sampler(i % 4 == 3).render(i, SMALL_SIZE if i % 4 == 1 and size > SMALL_SIZE else size)


def render_examples(task: tuple[int, int, int], names: tuple[str, ...] = EVALUATOR_NAMES) -> Examples:
    """Render training scenes ``first .. first + count - 1`` (:func:`training_render`) and cut them.

    ``task`` is (first, count, size); the segmenter's grid is ``size``, the crops come from the
    image as rendered.
    """
    first, count, size = task
    parts = []
    for i in range(first, first + count):
        r = training_render(i, size)
        rng = np.random.default_rng([GENERAL_SEED, i])
        parts.append(cut_examples(r.image, r.material, r.instance, scene_labels(r), rng, size, names))
    return concat_examples(parts)
