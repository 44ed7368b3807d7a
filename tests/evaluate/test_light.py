"""The light judge against the renderer's physics and the caption's words."""

from __future__ import annotations

import numpy as np

from scenecraft.evaluate.light import box_shading, light_agreement, light_side, requested_light_side
from scenecraft.world.captions import caption
from scenecraft.world.render import View, render
from scenecraft.world.spec import Light, SceneSpec


def test_requested_side_is_the_one_the_caption_names() -> None:
    from scenecraft.world.dataset import WorldSampler

    sampler = WorldSampler(seed=10_007)
    rng = np.random.default_rng(0)
    sides = {1: "lit from the right", -1: "lit from the left"}
    counted = 0
    for i in range(80):
        spec = sampler.spec(i)
        text = caption(spec, rng, View.from_camera(spec.camera, 64))
        side = requested_light_side(spec)
        if side:
            assert sides[side] in text.lower()
            counted += 1
        else:
            assert not any(s in text.lower() for s in sides.values())
    assert counted >= 10


def test_a_sphere_lit_from_one_side_is_judged_lit_from_that_side(two_objects: SceneSpec) -> None:
    for azimuth, want in ((0.0, 1), (180.0, -1)):
        spec = two_objects.model_copy(update={"light": Light(azimuth_deg=azimuth, elevation_deg=30.0)})
        assert requested_light_side(spec) == want
        r = render(spec, size=64, noise=0.0)
        boxes = [b for b in r.boxes if b is not None]
        assert light_side(r.image, boxes) == want
        assert light_agreement([spec], [r.image], [boxes]) == (1.0, 1)
        assert light_agreement([spec], [r.image[:, ::-1].copy()], [boxes])[0] == 0.0  # mirrored: wrong side
    overhead = two_objects.model_copy(update={"light": Light(azimuth_deg=0.0, elevation_deg=80.0)})
    assert requested_light_side(overhead) == 0
    assert light_agreement([overhead], [render(overhead, size=64).image], [[(0, 0, 8, 8)]]) == (None, 0)


def test_box_shading_by_hand() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[:, 3:] = 255
    assert box_shading(image, (0, 0, 6, 4)) == 1.0
    assert box_shading(image, (1, 0, 5, 4)) == 1.0 and box_shading(image, (0, 0, 1, 4)) == 0.0
