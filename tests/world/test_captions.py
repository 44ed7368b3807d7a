"""Captions name what is in the scene, relate it correctly and vary in wording."""

from __future__ import annotations

import numpy as np

from scenecraft.world.captions import SHAPE_WORDS, caption, light_phrase
from scenecraft.world.render import View
from scenecraft.world.spec import Light, PersonSubject, SceneSpec


def test_caption_names_subjects_floor_and_relation(two_objects: SceneSpec) -> None:
    view = View.from_camera(two_objects.camera, 128)
    for seed in range(10):
        text = caption(two_objects, np.random.default_rng(seed), view).lower()
        assert "red" in text and "blue" in text and "rubber" in text and "glass" in text
        assert any(w in text for w in SHAPE_WORDS["cube"]) and any(w in text for w in SHAPE_WORDS["sphere"])
        assert "marble" in text
        # The sphere (second subject) is on the right of the cube.
        assert "to the right of the red cube" in text
        assert "lit from the right" in text  # azimuth 0 is +x, the camera's right


def test_captions_vary_with_the_seed(two_objects: SceneSpec) -> None:
    view = View.from_camera(two_objects.camera, 128)
    texts = {caption(two_objects, np.random.default_rng(s), view) for s in range(12)}
    assert len(texts) >= 5


def test_person_action_and_light_words() -> None:
    spec = SceneSpec(
        subjects=[PersonSubject.from_preset("wave", top_colour="yellow")],
        light=Light(elevation_deg=80, intensity=0.5, colour=(1.0, 0.8, 0.6)),
    )
    text = caption(spec, np.random.default_rng(0), View.from_camera(spec.camera, 64))
    assert "waving" in text and "yellow" in text
    assert light_phrase(spec, None) == "lit from above by dim warm light"
    back = spec.model_copy(update={"light": Light(azimuth_deg=270, elevation_deg=30)})
    assert light_phrase(back, View.from_camera(spec.camera, 64)) == "backlit"
