"""The scene specification: validation messages and JSON round trips."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from scenecraft.world.spec import Camera, Light, ObjectSubject, PersonSubject, SceneSpec


def test_json_round_trip(two_objects: SceneSpec) -> None:
    scene = two_objects.model_copy(update={"subjects": [*two_objects.subjects, PersonSubject.from_preset("walk")]})
    again = SceneSpec.model_validate_json(scene.model_dump_json())
    assert again == scene
    assert again.subjects[2].kind == "person" and again.subjects[2].action == "walk"


def test_body_pose_length_is_named_in_the_error() -> None:
    with pytest.raises(ValidationError, match=r"body_pose must hold 69 numbers .* got 3"):
        PersonSubject(body_pose=(0.0, 0.0, 0.0))


def test_betas_bounds() -> None:
    with pytest.raises(ValidationError, match="betas must hold 10"):
        PersonSubject(betas=(0.0,) * 9)
    with pytest.raises(ValidationError, match=r"within \[-5, 5\]"):
        PersonSubject(betas=(9.0,) + (0.0,) * 9)


def test_unknown_material_lists_the_allowed_ones() -> None:
    with pytest.raises(ValidationError) as err:
        ObjectSubject(shape="cube", material="cheese", colour="red")  # type: ignore[arg-type]
    assert "material" in str(err.value) and "marble" in str(err.value)


def test_subject_behind_the_wall_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"subjects\[0\]\.position z=-9.0 is behind the background wall"):
        SceneSpec(subjects=[ObjectSubject(shape="cone", material="wood", colour="red", position=(0, 0, -9))])


def test_camera_needs_a_direction_and_extra_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        Camera(position=(1, 1, 1), look_at=(1, 1, 1))
    with pytest.raises(ValidationError, match="extra"):
        SceneSpec.model_validate({"subjects": [], "weather": "rain"})


def test_light_direction_from_angles() -> None:
    # Azimuth 0 and elevation 0+: light from +x. Elevation 90: straight above.
    d = Light(azimuth_deg=0.0, elevation_deg=30.0).direction()
    assert d == pytest.approx((math.cos(math.radians(30)), 0.5, 0.0))
    assert Light(azimuth_deg=123.0, elevation_deg=90.0).direction() == pytest.approx((0.0, 1.0, 0.0), abs=1e-12)
