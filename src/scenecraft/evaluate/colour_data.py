"""Fitting the colour reader (:mod:`.colour`) on training renders, through the detector it reads.

Every training scene is rendered (at 64 px, the generator's size, or 128 px, alternately), the
detector runs on it exactly as on a judged image, and each detection matched to a true subject at
IoU >= 0.5 gives one example: the features of the detection's own pixels (and the material net's
probabilities for its box) and the subject's colour (for a person, the top garment's). The reader is
fitted to them and written to the weights folder; the same is done on validation scenes (seed 12) to
report its accuracy beside the colour head's and that of the reader the folder held before, if any.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scenecraft.evaluate.colour import (
    COLOUR_NAMES,
    FEATURES,
    ColourReader,
    colour_features,
    fit_reader,
    reader_input,
    subject_pixels,
)
from scenecraft.evaluate.examples import training_render
from scenecraft.evaluate.judges import COLOUR_FILE, Evaluators
from scenecraft.evaluate.metrics import iou, match_boxes
from scenecraft.world.dataset import WorldSampler
from scenecraft.world.render import Render
from scenecraft.world.spec import ObjectSubject

VALIDATION_SEED = 12


def _examples(ev: Evaluators, renders: list[Render]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reader inputs with materials (N, FEATURES + 11), true colour indices (N,) and the colour head's
    guesses (N,) of matched detections."""
    feats, labels, head = [], [], []
    for r in renders:
        dets = ev.detect(r.image)
        _, material = ev.classify_materials(r.image, [d.box for d in dets])
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
            feats.append(reader_input(f, material[j]))
            labels.append(COLOUR_NAMES.index(s.colour if isinstance(s, ObjectSubject) else s.top_colour))
            head.append(COLOUR_NAMES.index(dets[j].colour))
    return np.stack(feats), np.asarray(labels), np.asarray(head)


def fit_from_renders(weights_dir: str | Path, n: int, validation: int = 300) -> dict[str, Any]:
    """Fit on ``n`` training scenes, save to ``weights_dir/colour.safetensors``, report on validation."""
    import torch

    d = Path(weights_dir)
    ev = Evaluators.load(d, colour=None)  # the head's colours for the comparison; masks either way
    train = [training_render(i, 64 if i % 2 else 128) for i in range(n)]
    x, y, _ = _examples(ev, train)
    reader = fit_reader(x, y, materials=True)
    sampler = WorldSampler(seed=VALIDATION_SEED)
    val = [sampler.render(i, 64 if i % 2 else 128) for i in range(validation)]
    vx, vy, vhead = _examples(ev, val)

    def accuracy(r: ColourReader) -> float:
        with torch.no_grad():
            inputs = vx if r.materials else vx[:, :FEATURES]
            return float((r(torch.from_numpy(inputs)).argmax(1).numpy() == vy).mean())

    before = ColourReader.load(d / COLOUR_FILE) if (d / COLOUR_FILE).is_file() else None
    report = {
        "train_scenes": n,
        "train_subjects": len(y),
        "validation_seed": VALIDATION_SEED,
        "validation_subjects": len(vy),
        "reader_accuracy": accuracy(reader),
        "head_accuracy": float((vhead == vy).mean()),
        "previous_reader_accuracy": None if before is None else accuracy(before),
    }
    reader.save(d / COLOUR_FILE)
    return report
