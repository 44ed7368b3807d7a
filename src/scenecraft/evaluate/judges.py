"""The frozen judges: networks and measurements that read images of world-like scenes.

Use::

    ev = Evaluators.load()                           # the shipped, versioned weights
    ev.version                                       # e.g. "judges-4", what every score names
    detections = ev.detect(image)                    # list[Detection]: box, kind, colour, mask
    materials, _ = ev.classify_materials(image, [d.box for d in detections])
    joints = ev.keypoints(image, [person_box])       # (n, 24, 2) pixel (x, y)

A weights folder holds ``material``, ``segmenter`` and ``keypoints`` ``.safetensors`` (each names
its architecture in its metadata), optionally ``colour.safetensors`` (:mod:`.colour`; without it
colours are named by the segmenter's colour head) and ``subject.safetensors`` (:class:`SubjectNet`:
each detection's kind, colour, material and light side read again from its zoomed crop), and
``judges.json``: the version and the SHA-256 of every file.
:meth:`Evaluators.load` refuses files that do not match their manifest, so a score that names a
version was made by exactly those weights. A folder without a manifest (a fresh training run)
loads as ``unversioned-<hash>``; :func:`freeze` writes the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from scenecraft.atomic_write import write_text
from scenecraft.evaluate import light
from scenecraft.evaluate.colour import ColourReader
from scenecraft.evaluate.detection import BOX_GROUPING, Detection, Found, box_groups, components
from scenecraft.evaluate.nets import (
    ARCHITECTURES,
    EVALUATOR_NAMES,
    SEG_KINDS,
    KeypointNet,
    MaterialNet,
    SegmenterNet,
    SubjectNet,
    build,
    soft_argmax,
)
from scenecraft.evaluate.views import (
    KEYPOINT_CROP,
    MATERIAL_CROP,
    crops,
    grid_image,
    region_crop,
    square_box,
    subject_crops,
    to_input,
)
from scenecraft.world.smpl import FLIP_PAIRS
from scenecraft.world.spec import COLOUR_NAMES, OBJECT_MATERIALS

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = "judges.json"
COLOUR_FILE = "colour.safetensors"
SUBJECT_FILE = "subject.safetensors"
OPTIONAL_FILES = (COLOUR_FILE, SUBJECT_FILE)  # what a weights folder may hold beside the three nets
# Each detection's kind is read again from a square crop this many times its longer side, resized to
# the segmenter's grid, and averaged with the whole image's: kind accuracy of matched subjects
# 0.910 -> 0.938 on 200 validation renders of seed 12 at 64 px (1.5x: 0.901, 4x: 0.932).
KIND_ZOOM = 2.5


# How the judges use the subject net, chosen on 200 validation renders of seed 12 at 64 px
# (benchmarks/subject_settings.py, docs/world.md): its kind's weight against the segmenter's
# (0.5: layout recall 0.905 -> 0.956; 0.3: 0.947, 0.7: 0.949, 1: 0.947), its material's against the
# material net's on subjects' boxes (material fidelity 0.955 -> 0.962; 1: 0.920), and the
# background probability above which a detection is dropped (count accuracy 0.895 -> 0.915; 0.3:
# 0.920, one scene, within noise; 0.8: 0.885). Its colour names are not used: 0.740 binding
# against the colour reader's 0.761.
SUBJECT_KIND, SUBJECT_MATERIAL, REJECT = 0.5, 0.5, 0.5


class SubjectRead(NamedTuple):
    """The subject net's probabilities per box (:meth:`Evaluators.read_subjects`)."""

    kind: np.ndarray  # (N, 8), background first
    colour: np.ndarray  # (N, 12)
    material: np.ndarray  # (N, 11)
    light: np.ndarray  # (N, 3): lit from the left, neither, the right


class JudgesError(ValueError):
    """Judge weights that are missing, or do not match their manifest."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def freeze(weights_dir: str | Path, version: str, notes: str = "") -> dict[str, Any]:
    """Write ``judges.json`` for the weights in ``weights_dir``: ``version`` and each file's SHA-256."""
    d = Path(weights_dir)
    files = {}
    for name in EVALUATOR_NAMES:
        path = d / f"{name}.safetensors"
        if not path.is_file():
            raise JudgesError(f"cannot freeze {d}: {path.name} is missing")
        files[path.name] = _sha256(path)
    for name in OPTIONAL_FILES:
        if (d / name).is_file():
            files[name] = _sha256(d / name)
    manifest = {"version": version, "files": files, "notes": notes}
    write_text(d / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_version(weights_dir: str | Path) -> str:
    """The version of the weights in ``weights_dir``, checked against its manifest."""
    d = Path(weights_dir)
    manifest_path = d / MANIFEST
    if not manifest_path.is_file():
        names = [f"{n}.safetensors" for n in EVALUATOR_NAMES] + [f for f in OPTIONAL_FILES if (d / f).is_file()]
        digest = hashlib.sha256(b"".join(_sha256(d / n).encode() for n in names)).hexdigest()
        return f"unversioned-{digest[:12]}"
    manifest = json.loads(manifest_path.read_text())
    extra = {p.name for p in d.glob("*.safetensors")} - set(manifest["files"])
    if extra:
        raise JudgesError(f"{d} holds {sorted(extra)}, which {manifest_path} does not list; freeze a new version")
    for file, want in manifest["files"].items():
        got = _sha256(d / file)
        if got != want:
            raise JudgesError(
                f"{d / file} does not match {manifest_path} (sha256 {got[:12]}, manifest {want[:12]}); "
                f"weights of version {manifest['version']} were changed: freeze them under a new version"
            )
    return str(manifest["version"])


def load_net(path: Path, name: str) -> nn.Module:
    """One judge network (``name`` of EVALUATOR_NAMES) from its weights file, built with the
    architecture its metadata names, in float32."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    config = json.loads(meta["config"]) if "config" in meta else ARCHITECTURES["v1"][name]
    net = build(name, config)
    net.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return net


class Evaluators:
    """The frozen judges with image-in, labels-out methods. Thread count is the caller's."""

    def __init__(
        self,
        material: MaterialNet,
        segmenter: SegmenterNet,
        keypoints: KeypointNet,
        mirror_average: bool = True,
        mirror_segment: bool = True,
        version: str = "unversioned",
        colour: ColourReader | None = None,
        kind_zoom: float | None = KIND_ZOOM,
        subject: SubjectNet | None = None,
        subject_kind: float = SUBJECT_KIND,
        subject_colour: bool = False,
        subject_material: float = SUBJECT_MATERIAL,
        reject: float | None = REJECT,
        subject_light: bool = True,
        mirror_keypoints: bool = True,
    ) -> None:
        self.material, self.segmenter, self.keypoint = material.eval(), segmenter.eval(), keypoints.eval()
        # Average each crop's material logits, and the segmenter's maps, with those of the mirror image
        # (the nets were trained on mirrored images too): held-out material accuracy 0.942 -> 0.947
        # with the v1 weights; the segmenter's: layout recall 0.852 -> 0.877 on validation renders
        # at 64 px (docs/world.md).
        self.mirror_average, self.mirror_segment = mirror_average, mirror_segment
        # Average each person crop's joint heatmaps with its mirror's (flipped back, left and right
        # joints swapped back; the keypoint net was trained on mirrors so): pose PCK 0.903 -> 0.909 on
        # 200 validation renders of seed 12 at 64 px (benchmarks/subject_settings.py; docs/world.md).
        self.mirror_keypoints = mirror_keypoints
        # Name a subject's colour from its own pixels (:mod:`.colour`) where a reader is given,
        # else by the segmenter's colour head; docs/world.md has the measurement that chose it.
        self.colour = colour
        if colour is not None and colour.subject and subject is None:
            raise JudgesError(
                "this colour reader reads the subject net's colours too: give the subject net "
                "(subject.safetensors) or leave the reader out (colour=None: the segmenter's colour head)"
            )
        # Read kinds again from a zoomed crop of each detection (:meth:`zoomed_kinds`); None: not.
        self.kind_zoom = kind_zoom
        # The subject net, where given (:meth:`read_subjects`): the weight of its kind against the
        # segmenter's, whether it names colours (instead of the reader or head), the weight of its
        # material against the material net's on subjects' boxes, the background probability
        # above which a detection is dropped (None: never), and whether it judges the light's side.
        self.subject = subject.eval() if subject is not None else None
        self.subject_kind, self.subject_colour = subject_kind, subject_colour
        self.subject_material, self.reject, self.subject_light = subject_material, reject, subject_light
        self.version = version

    @classmethod
    def load(cls, weights_dir: str | Path = WEIGHTS_DIR, **options: Any) -> Evaluators:
        """The networks from ``weights_dir``, each built with the config its file names, and the
        colour reader where the folder has one (``colour=None`` in ``options`` leaves it out)."""
        d = Path(weights_dir)
        nets: list[nn.Module] = []
        for name in EVALUATOR_NAMES:
            path = d / f"{name}.safetensors"
            if not path.is_file():
                raise FileNotFoundError(
                    f"evaluator weights missing: {path} (train them with `scenecraft eval train --out DIR`)"
                )
            nets.append(load_net(path, name))
        if "colour" not in options:
            options["colour"] = ColourReader.load(d / COLOUR_FILE) if (d / COLOUR_FILE).is_file() else None
        if "subject" not in options:
            options["subject"] = load_net(d / SUBJECT_FILE, "subject") if (d / SUBJECT_FILE).is_file() else None
        options["version"] = read_version(d)
        return cls(*nets, **options)  # type: ignore[arg-type]

    @torch.no_grad()
    def classify_materials(
        self, image: np.ndarray, boxes: Sequence[tuple[float, float, float, float]], subjects: int = 0
    ) -> tuple[list[str], np.ndarray]:
        """Material name per box and the probabilities (N, 11). The first ``subjects`` boxes are
        subjects' (not floor or wall patches): with a subject net, their probabilities are the
        material net's and the subject net's mixed by ``subject_material``."""
        if not boxes:
            return [], np.zeros((0, len(OBJECT_MATERIALS)), np.float32)
        x = crops(image, list(boxes), MATERIAL_CROP)
        logits = self.material(x)
        if self.mirror_average:
            logits = (logits + self.material(x.flip(-1))) / 2
        prob = logits.softmax(-1).numpy()
        if self.subject is not None and subjects and self.subject_material > 0:
            w = self.subject_material
            prob[:subjects] = (1 - w) * prob[:subjects] + w * self.read_subjects(image, boxes[:subjects]).material
        return [OBJECT_MATERIALS[i] for i in prob.argmax(1)], prob

    @torch.no_grad()
    def read_subjects(self, image: np.ndarray, boxes: Sequence[tuple[float, float, float, float]]) -> SubjectRead:
        """The subject net's probabilities for the subject in each box (its crop and mask, with their
        mirror, averaged): kind (N, 8; background first), colour (N, 12), material (N, 11) and light
        side (N, 3: left, neither, right; the mirror's left and right swapped back)."""
        if self.subject is None:
            raise JudgesError("these judges have no subject net (subject.safetensors)")
        x = subject_crops(image, list(boxes))
        if not len(x):
            widths = (len(SEG_KINDS), len(COLOUR_NAMES), len(OBJECT_MATERIALS), 3)
            return SubjectRead(*(np.zeros((0, n), np.float32) for n in widths))
        out = self.subject(torch.cat([x, x.flip(-1)]))
        n = len(x)
        mirrored = out._replace(light=out.light[:, [2, 1, 0]])
        probs = [(t[:n].softmax(-1) + m[n:].softmax(-1)).numpy() / 2 for t, m in zip(out, mirrored, strict=True)]
        return SubjectRead(*probs)

    def light_side(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> int:
        """The side the subjects in ``boxes`` are lit from: +1 right, -1 left, 0 no subjects or a tie.

        With a subject net (and ``subject_light``), each box votes with its probability of light
        from the right minus from the left, weighted by the square root of its area; without one,
        by its shading (:func:`scenecraft.evaluate.light.light_side`)."""
        if self.subject is None or not self.subject_light or not boxes:
            return light.light_side(image, boxes)
        prob = self.read_subjects(image, [(b[0], b[1], b[2], b[3]) for b in boxes]).light
        area = np.array([max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0) for b in boxes])
        return int(np.sign(float(((prob[:, 2] - prob[:, 0]) * np.sqrt(area)).sum())))

    @torch.no_grad()
    def segment(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Per-pixel kind probabilities (8, S, S), colour probabilities (12, S, S), border (S, S) and,
        for a segmenter with a box head, box distances (4, S, S) on its grid (S = ``segmenter.size``)."""
        x = to_input(grid_image(image, self.segmenter.size)[None])
        if not self.mirror_segment:
            out = self.segmenter(x)
            box = None if out.box is None else out.box[0].numpy()
            return out.kind[0].softmax(0).numpy(), out.colour[0].softmax(0).numpy(), (out.border[0, 0] > 0).numpy(), box
        # The image and its mirror in one batch; the mirror's maps flipped back (and its boxes' left
        # and right sides swapped) and averaged with the image's.
        out = self.segmenter(torch.cat([x, x.flip(-1)]))
        kind = _mirror_mean(out.kind.softmax(1))[0]
        colour = (out.colour[0].softmax(0) + out.colour[1].softmax(0).flip(-1)) / 2
        border = (out.border[0, 0] + out.border[1, 0].flip(-1)) / 2 > 0
        box = None if out.box is None else ((out.box[0] + out.box[1].flip(-1)[[2, 1, 0, 3]]) / 2).numpy()
        return kind.numpy(), colour.numpy(), border.numpy(), box

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Subjects in an image: box in the image's pixels, kind, colour, confidence and pixel mask.

        With a box head the pixels' box votes are grouped (:func:`box_groups`); without one, the
        foreground is split at the predicted borders (:func:`components`).
        """
        h, w = image.shape[:2]
        grid = self.segmenter.size
        sx, sy = w / grid, h / grid
        # v1's 64 px grid dropped components under 5 pixels and joined limbs within 2; scale both.
        min_area = round(5 * (grid / 64) ** 2)
        kind, colour, border, box = self.segment(image)
        found: Sequence[Found]
        if box is not None:
            found = box_groups(kind, colour, box, min_area=min_area, **BOX_GROUPING)
        else:
            found = components(kind, colour, border, min_area=min_area, gap=round(2 * grid / 64))
        boxes = [(f.box[0] * sx, f.box[1] * sy, f.box[2] * sx, f.box[3] * sy) for f in found]
        read = self.read_subjects(image, boxes) if self.subject is not None and found else None
        if read is not None and self.reject is not None:
            keep = read.kind[:, 0] <= self.reject  # the subject net sees no subject in the box
            found = [f for f, k in zip(found, keep, strict=True) if k]
            boxes = [b for b, k in zip(boxes, keep, strict=True) if k]
            read = SubjectRead(*(p[keep] for p in read))
        if (self.kind_zoom is not None or read is not None) and found:
            # The kind from the whole image and from each subject's zoomed crop, averaged; then mixed
            # with the subject net's.
            prob = np.stack([kind[:, f.pixels[:, 0], f.pixels[:, 1]].mean(1) for f in found])
            if self.kind_zoom is not None:
                prob = (prob + self.zoomed_kinds(image, found, self.kind_zoom)) / 2
            if read is not None:
                prob = (1 - self.subject_kind) * prob + self.subject_kind * read.kind
            prob[:, 0] = 0.0  # a detection is a subject: never background
            found = [f._replace(kind=int(p.argmax()), score=float(p.max())) for f, p in zip(found, prob, strict=True)]
        materials: Sequence[np.ndarray | None] = [None] * len(found)
        if self.colour is not None and self.colour.materials and not (read is not None and self.subject_colour):
            materials = list(self.classify_materials(image, boxes)[1])
        out = []
        for k, (f, b, material) in enumerate(zip(found, boxes, materials, strict=True)):
            mask = _grid_mask(f.pixels, grid, h, w)
            name = COLOUR_NAMES[f.colour]
            if read is not None and self.subject_colour:
                name = COLOUR_NAMES[int(read.colour[k].argmax())]
            elif self.colour is not None:
                subject_colour = read.colour[k] if read is not None and self.colour.subject else None
                name = self.colour.name(image, mask, SEG_KINDS[f.kind] == "person", material, subject_colour) or name
            out.append(
                Detection(
                    box=b,
                    kind=SEG_KINDS[f.kind],
                    colour=name,
                    score=f.score,
                    area=f.area * sx * sy,
                    mask=mask,
                )
            )
        return out

    @torch.no_grad()
    def zoomed_kinds(self, image: np.ndarray, found: Sequence[Found], grow: float) -> np.ndarray:
        """Kind probabilities (N, 8) of each subject read from its own crop: the square ``grow`` times
        its box's longer side, resized to the segmenter's grid and segmented (with its mirror, where
        the segmenter is mirror-averaged); the crop's kind map averaged over the subject's pixels."""
        h, w = image.shape[:2]
        grid = self.segmenter.size
        sx, sy = w / grid, h / grid
        sides = []
        for f in found:
            b = f.box
            sides.append(square_box((b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy), grow))  # image pixels
        x = to_input(np.stack([region_crop(image, c, grid) for c in sides]))
        if self.mirror_segment:
            kind = _mirror_mean(self.segmenter(torch.cat([x, x.flip(-1)])).kind.softmax(1))
        else:
            kind = self.segmenter(x).kind.softmax(1)
        out = []
        for f, (x0, y0, x1, y1), k in zip(found, sides, kind.numpy(), strict=True):
            # Centres of the subject's grid pixels, in image pixels, then on the crop's grid.
            py, px = (f.pixels[:, 0] + 0.5) * sy, (f.pixels[:, 1] + 0.5) * sx
            rows = np.clip(((py - y0) / (y1 - y0) * grid).astype(int), 0, grid - 1)
            cols = np.clip(((px - x0) / (x1 - x0) * grid).astype(int), 0, grid - 1)
            out.append(k[:, rows, cols].mean(1))
        return np.stack(out)

    @torch.no_grad()
    def keypoints(self, image: np.ndarray, boxes: Sequence[tuple[float, float, float, float]]) -> np.ndarray:
        """24 joints per person box, in image pixels (x, y). -> (N, 24, 2)."""
        if not boxes:
            return np.zeros((0, 24, 2), np.float32)
        x = crops(image, list(boxes), KEYPOINT_CROP)
        if self.mirror_keypoints:
            _, logits = self.keypoint(torch.cat([x, x.flip(-1)]))  # (2N, 24, S, S)
            n = len(x)
            uv = soft_argmax((logits[:n] + logits[n:].flip(-1)[:, list(FLIP_PAIRS)]) / 2)
        else:
            uv, _ = self.keypoint(x)
        out = []
        for b, pts in zip(boxes, uv.numpy(), strict=True):
            x0, y0, x1, y1 = square_box(b)
            out.append(np.stack([x0 + pts[:, 0] * (x1 - x0), y0 + pts[:, 1] * (y1 - y0)], 1))
        return np.asarray(out, np.float32)


def _mirror_mean(maps: torch.Tensor) -> torch.Tensor:
    """(2N, C, S, S) maps of N images followed by their mirrors -> (N, C, S, S): each image's map
    averaged with its mirror's, flipped back."""
    n = len(maps) // 2
    return (maps[:n] + maps[n:].flip(-1)) / 2


def _grid_mask(pixels: np.ndarray, grid: int, h: int, w: int) -> np.ndarray:
    """Grid pixels (n, 2) (row, column) -> (h, w) bool mask of the image pixels whose centres fall in them."""
    on_grid = np.zeros((grid, grid), bool)
    on_grid[pixels[:, 0], pixels[:, 1]] = True
    rows = np.minimum(((np.arange(h) + 0.5) * grid / h).astype(int), grid - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * grid / w).astype(int), grid - 1)
    return on_grid[rows][:, cols]
