"""Fitting the colour reader (:mod:`.colour`) on training renders, through the detector it reads.

Every training scene is rendered (at 64 px, the generator's size, or 128 px, alternately), the
detector runs on it exactly as on a judged image, and each detection matched to a true subject at
IoU >= 0.5 gives one example: the features of the detection's own pixels, the material net's
probabilities for its box, where the folder has a subject net its colour probabilities for the box,
and the subject's colour (for a person, the top garment's). The scenes are training scenes from
:data:`READER_FIRST` on, which the nets never trained on, so the subject net's colours are as sure
of themselves there as on a judged image. The reader is fitted to them and written to the weights
folder; the same is done on validation scenes (seed 12) to report its accuracy beside the colour
head's and that of the reader the folder held before, if any.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scenecraft.evaluate.colour import (
    COLOUR_NAMES,
    ColourReader,
    colour_features,
    fit_reader,
    reader_input,
    reader_width,
    subject_pixels,
)
from scenecraft.evaluate.examples import training_render
from scenecraft.evaluate.judges import COLOUR_FILE, Evaluators
from scenecraft.evaluate.metrics import iou, match_boxes
from scenecraft.world.dataset import WorldSampler
from scenecraft.world.render import Render
from scenecraft.world.spec import ObjectSubject

VALIDATION_SEED = 12
# The first training scene the reader is fitted on: the nets' live training renders count up from 0
# (a 45-minute CPU run reaches 16,000-32,000, a 270-s GPU run about 8,000), so these are scenes none
# of them has seen.
READER_FIRST = 500_000


def _examples(ev: Evaluators, renders: list[Render]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reader inputs with materials, and subject colours where ``ev`` has a subject net
    (N, :func:`reader_width`), true colour indices (N,) and the colour head's guesses (N,) of matched
    detections."""
    feats, labels, head = [], [], []
    for r in renders:
        dets = ev.detect(r.image)
        _, material = ev.classify_materials(r.image, [d.box for d in dets])
        subject = ev.read_subjects(r.image, [d.box for d in dets]).colour if ev.subject is not None else None
        truth = [(k, b) for k, b in enumerate(r.boxes) if b is not None]
        match = match_boxes([b for _, b in truth], [d.box for d in dets])
        for (k, b), j in zip(truth, match, strict=True):
            mask = None if j is None else dets[j].mask
            if j is None or mask is None or iou(b, dets[j].box) < 0.5:
                continue
            s = r.spec.subjects[k]
            f = colour_features(subject_pixels(r.image, mask, person=dets[j].kind == "person"))
            if f is None:
                continue
            feats.append(reader_input(f, material[j], None if subject is None else subject[j]))
            labels.append(COLOUR_NAMES.index(s.colour if isinstance(s, ObjectSubject) else s.top_colour))
            head.append(COLOUR_NAMES.index(dets[j].colour))
    return np.stack(feats), np.asarray(labels), np.asarray(head)


def fit_from_renders(weights_dir: str | Path, n: int, validation: int = 300) -> dict[str, Any]:
    """Fit on ``n`` training scenes, save to ``weights_dir/colour.safetensors``, report on validation.

    The reader reads materials, and the subject net's colours where the folder has a subject net."""
    import torch

    d = Path(weights_dir)
    ev = Evaluators.load(d, colour=None)  # the head's colours for the comparison; masks either way
    subject = ev.subject is not None
    first = READER_FIRST
    train = [training_render(i, 64 if i % 2 else 128) for i in range(first, first + n)]
    x, y, _ = _examples(ev, train)
    reader = fit_reader(x, y, materials=True, subject=subject)
    sampler = WorldSampler(seed=VALIDATION_SEED)
    val = [sampler.render(i, 64 if i % 2 else 128) for i in range(validation)]
    vx, vy, vhead = _examples(ev, val)

    def accuracy(r: ColourReader) -> float:
        with torch.no_grad():
            if r.subject and not subject:
                raise ValueError(f"the reader in {d} reads subject colours, but {d} has no subject net")
            # inputs are features, materials, subject colours: a reader without some reads fewer
            cols = np.r_[: reader_width(r.materials, False), reader_width(True, False) : reader_width(True, r.subject)]
            return float((r(torch.from_numpy(vx[:, cols])).argmax(1).numpy() == vy).mean())

    before = ColourReader.load(d / COLOUR_FILE) if (d / COLOUR_FILE).is_file() else None
    report = {
        "train_scenes": n,
        "first_train_scene": first,
        "train_subjects": len(y),
        "reads_subject_colours": subject,
        "validation_seed": VALIDATION_SEED,
        "validation_subjects": len(vy),
        "reader_accuracy": accuracy(reader),
        "head_accuracy": float((vhead == vy).mean()),
        "previous_reader_accuracy": None if before is None else accuracy(before),
    }
    reader.save(d / COLOUR_FILE)
    return report
