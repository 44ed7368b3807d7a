"""Held-out requests from the scene world, and scoring generations of them with the evaluators.

A request is built the way a person would ask: the scene's caption as the prompt, each visible
subject's phrase and box, each person's SMPL pose; ``with_scene`` adds the scene without its
subjects as the context. The world seed of held-out requests is never used for training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from scenecraft.scene_conditions import SceneRequest, SMPLPose, SubjectRequest
from scenecraft.world.captions import subject_phrase
from scenecraft.world.dataset import WorldSampler
from scenecraft.world.render import render
from scenecraft.world.spec import PersonSubject, SceneSpec

HELD_OUT_SEED = 10_007  # training uses seeds 0..9999


@dataclass
class HeldOut:
    specs: list[SceneSpec]
    requests: list[SceneRequest]
    scenes: list[np.ndarray | None]  # the context scene given, if any
    seed: int = HELD_OUT_SEED


def held_out_requests(
    n: int,
    size: int = 64,
    seed: int = HELD_OUT_SEED,
    with_scene: bool = False,
    inpaint: bool = False,
    text_only: bool = False,
) -> HeldOut:
    """``n`` requests of world scenes 0..n-1 of ``seed`` (see the module doc).

    ``text_only`` gives the caption alone; ``inpaint`` paints the subjects into the scene (the
    context scene is then the empty room, into which the subjects' boxes are painted).
    """
    sampler = WorldSampler(seed=seed)
    specs, requests, scenes = [], [], []
    for i in range(n):
        ref = sampler.render(i, size, noise=0.0)
        spec = ref.spec
        rng = np.random.default_rng([seed, i, 1])
        subjects = []
        for k, box in enumerate(ref.boxes):
            if box is None or text_only:
                continue
            s = spec.subjects[k]
            pose = (
                SMPLPose(tuple(s.body_pose), tuple(s.global_orient), tuple(s.betas))  # type: ignore[arg-type]
                if isinstance(s, PersonSubject)
                else None
            )
            b = tuple(float(v) / size for v in box)
            subjects.append(SubjectRequest(subject_phrase(s, rng), b, pose))  # type: ignore[arg-type]
        scene = None
        if with_scene or inpaint:
            scene = render(spec.model_copy(update={"subjects": []}), size=size, seed=i).image
        specs.append(spec)
        scenes.append(scene)
        requests.append(SceneRequest(ref.caption, tuple(subjects), scene, inpaint=inpaint and bool(subjects)))
    return HeldOut(specs, requests, scenes, seed)


def image_grid(images: list[Image.Image], columns: int = 8, scale: int = 2) -> Image.Image:
    """Images side by side, ``columns`` per row, each enlarged ``scale`` times (nearest)."""
    w, h = images[0].size
    rows = (len(images) + columns - 1) // columns
    grid = Image.new("RGB", (columns * w * scale, rows * h * scale), (255, 255, 255))
    for i, im in enumerate(images):
        at = ((i % columns) * w * scale, (i // columns) * h * scale)
        grid.paste(im.resize((w * scale, h * scale), Image.Resampling.NEAREST), at)
    return grid


def score(held: HeldOut, images: list[Image.Image]) -> dict[str, Any]:
    """The frozen judges' scores of ``images`` against the held-out specs."""
    from scenecraft.evaluate.judges import Evaluators
    from scenecraft.evaluate.metrics import score_images

    arrays = [np.asarray(im.convert("RGB")) for im in images]
    return score_images(held.specs, arrays, Evaluators.load())
