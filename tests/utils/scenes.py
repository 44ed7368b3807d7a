"""Scenes the world and evaluator tests share, as fixtures (registered in tests/world and
tests/evaluate's conftest files)."""

from __future__ import annotations

import pytest

from scenecraft.world.spec import Background, Camera, Light, ObjectSubject, PersonSubject, SceneSpec, Surface


@pytest.fixture
def two_objects() -> SceneSpec:
    """A red rubber cube on the left, a blue glass sphere on the right, camera straight on."""
    return SceneSpec(
        ground=Surface(material="marble"),
        background=Background(material="brick", distance=4.0),
        light=Light(azimuth_deg=0.0, elevation_deg=45.0),
        camera=Camera(position=(0.0, 1.0, 5.0), look_at=(0.0, 0.5, 0.0), fov_deg=40.0),
        subjects=[
            ObjectSubject(shape="cube", material="rubber", colour="red", position=(-1.0, 0.0, 0.0), size=0.8),
            ObjectSubject(shape="sphere", material="glass", colour="blue", position=(1.0, 0.0, 0.0), size=0.8),
        ],
    )


@pytest.fixture
def person_scene() -> SceneSpec:
    return SceneSpec(
        camera=Camera(position=(0.0, 1.2, 4.5), look_at=(0.0, 0.9, 0.0), fov_deg=40.0),
        subjects=[PersonSubject.from_preset("wave", position=(0.0, 0.0, 0.0), top_colour="green")],
    )
