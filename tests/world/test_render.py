"""The renderer: sizes, depth and occlusion, labels, shadows and projection against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenecraft.world.render import View, person_joints, render
from scenecraft.world.spec import MATERIALS, Camera, Light, ObjectSubject, PersonSubject, SceneSpec, Surface


def test_size_bounds(two_objects: SceneSpec) -> None:
    for bad in (31, 1025):
        with pytest.raises(ValueError, match="size must be between 32 and 1024 pixels"):
            render(two_objects, bad)
    r = render(two_objects, 32)
    assert r.image.shape == (32, 32, 3) and r.image.dtype == np.uint8
    assert r.material.shape == r.instance.shape == r.depth.shape == (32, 32)


@pytest.mark.slow
def test_largest_size(two_objects: SceneSpec) -> None:
    r = render(two_objects, 1024, noise=0.0)
    small = render(two_objects, 128, noise=0.0)
    # The same scene: boxes scale with the image (within a pixel of quantisation per side).
    for big, sm in zip(r.boxes, small.boxes, strict=True):
        np.testing.assert_allclose(np.array(big) / 8, sm, atol=1.0)


def test_depth_at_the_centre_is_the_distance_to_the_sphere() -> None:
    # Camera at z=5 looking straight down -z at a sphere of radius 0.5 centred at height 1.
    spec = SceneSpec(
        camera=Camera(position=(0, 1, 5), look_at=(0, 1, 0), fov_deg=40),
        subjects=[ObjectSubject(shape="sphere", material="plastic", colour="red", position=(0, 0.5, 0), size=1.0)],
    )
    r = render(spec, 64, noise=0.0)
    # The optical axis passes between the four centre pixels (0.7 px off-axis: depth 4.5 + 1e-4).
    assert r.depth[31:33, 31:33] == pytest.approx(4.5, abs=0.01)
    assert (r.instance[31:33, 31:33] == 0).all()
    assert (r.material[r.instance == 0] == MATERIALS.index("plastic")).all()
    # The sphere's box: its silhouette radius on screen, by the pinhole formula.
    focal = 32 / math.tan(math.radians(20))
    radius_px = focal * 0.5 / math.sqrt(5**2 - 0.5**2)
    x0, _y0, x1, _y1 = r.boxes[0]
    assert (x1 - x0) == pytest.approx(2 * radius_px, abs=1.5)
    assert (x0 + x1) / 2 == pytest.approx(32, abs=0.6)


def test_nearer_subject_occludes_the_farther_one() -> None:
    spec = SceneSpec(
        camera=Camera(position=(0, 0.5, 5), look_at=(0, 0.5, 0), fov_deg=40),
        subjects=[
            ObjectSubject(shape="cube", material="wood", colour="red", position=(0, 0, -1), size=1.2),
            ObjectSubject(shape="sphere", material="chrome", colour="white", position=(0, 0, 1.5), size=0.6),
        ],
    )
    r = render(spec, 64, noise=0.0)
    cy, cx = np.argwhere(r.instance == 1).mean(0).round().astype(int)
    assert r.instance[cy, cx] == 1  # the sphere, in front, wins where both project
    assert r.depth[cy, cx] < 4.0
    masks = r.masks()
    assert masks.shape == (2, 64, 64) and not (masks[0] & masks[1]).any()
    for k in range(2):  # boxes enclose exactly the visible pixels
        ys, xs = np.nonzero(masks[k])
        assert r.boxes[k] == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_floor_is_darker_in_the_shadow_and_under_contact() -> None:
    spec = SceneSpec(
        ground=Surface(material="plastic", colour="white"),
        light=Light(azimuth_deg=0, elevation_deg=45, ambient=0.3),
        camera=Camera(position=(0, 3, 4), look_at=(0, 0, 0), fov_deg=50),
        subjects=[ObjectSubject(shape="sphere", material="rubber", colour="red", position=(0, 0, 0), size=0.8)],
    )
    r = render(spec, 96, noise=0.0)
    view = View.from_camera(spec.camera, 96)
    # Light from +x at 45 degrees: the shadow falls towards -x. Sample the floor there and far away.
    (shadow_xy, far_xy), _ = view.project(np.array([[-0.7, 0.0, 0.0], [1.6, 0.0, 1.0]]))
    lum = r.image.astype(float).mean(-1)
    sx, sy = shadow_xy.astype(int)
    fx, fy = far_xy.astype(int)
    assert r.instance[sy, sx] == -1 and r.instance[fy, fx] == -1
    assert lum[sy, sx] < 0.7 * lum[fy, fx]


def test_noise_is_seeded(two_objects: SceneSpec) -> None:
    a, b, c = (render(two_objects, 48, seed=s).image for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    clean = [render(two_objects, 48, seed=s, noise=0.0).image for s in (1, 2)]
    np.testing.assert_array_equal(*clean)
    assert 0.5 < np.abs(a.astype(float) - clean[0]).mean() < 6  # mild


def test_person_joints_project_by_the_pinhole_formula(person_scene: SceneSpec) -> None:
    r = render(person_scene, 128, noise=0.0)
    j3, j2 = r.joints3d[0], r.joints2d[0]
    cam = person_scene.camera
    f = np.subtract(cam.look_at, cam.position)
    f /= np.linalg.norm(f)
    right = np.cross(f, [0, 1, 0])
    right /= np.linalg.norm(right)
    up = np.cross(right, f)
    focal = 64 / math.tan(math.radians(cam.fov_deg / 2))
    v = j3 - np.asarray(cam.position)
    expect = np.stack([64 + focal * (v @ right) / (v @ f), 64 - focal * (v @ up) / (v @ f)], 1)
    np.testing.assert_allclose(j2, expect, atol=1e-3)
    j2_direct, j3_direct = person_joints(person_scene, 128)[0]
    np.testing.assert_allclose(j2_direct, j2, atol=1e-4)
    np.testing.assert_allclose(j3_direct, j3, atol=1e-5)
    # Facing the camera, most joints are visible, and they lie inside the person's box.
    assert r.joints_visible[0].mean() > 0.7
    x0, y0, x1, y1 = r.boxes[0]
    assert ((j2[:, 0] > x0 - 3) & (j2[:, 0] < x1 + 3) & (j2[:, 1] > y0 - 3) & (j2[:, 1] < y1 + 3)).all()
    mats = set(np.unique(r.material[r.instance == 0]).tolist())
    assert {MATERIALS.index("fabric"), MATERIALS.index("skin")} <= mats


def test_annotations_are_json_ready(two_objects: SceneSpec) -> None:
    import json

    spec = two_objects.model_copy(update={"subjects": [*two_objects.subjects, PersonSubject.from_preset("run")]})
    ann = json.loads(json.dumps(render(spec, 64).annotations()))
    assert [s["kind"] for s in ann["subjects"]] == ["object", "object", "person"]
    assert len(ann["subjects"][2]["joints2d"]) == 24
    assert SceneSpec.model_validate(ann["spec"]) == spec
    assert abs(sum(ann["material_fractions"].values()) - 1.0) < 1e-3
