"""Ray intersections against hand-computed distances and normals."""

from __future__ import annotations

import numpy as np
import pytest

from scenecraft.world.geometry import Primitive, object_primitive, rotation_y


def _ray(o: tuple[float, float, float], d: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    dv = np.asarray(d, float)
    return np.asarray([o], float), (dv / np.linalg.norm(dv))[None]


@pytest.mark.parametrize(
    ("prim", "origin", "direction", "expected"),
    [
        (Primitive("sphere", np.array([0.0, 0, 0]), radius=0.5), (0, 0, 5), (0, 0, -1), 4.5),
        (Primitive("box", np.array([0.0, 0, 0]), half=np.array([0.3, 0.3, 0.3])), (0, 0, 5), (0, 0, -1), 4.7),
        # Box turned 45 degrees: the ray meets its edge at sqrt(2) * 0.3.
        (
            Primitive("box", np.zeros(3), rotation_y(45), half=np.full(3, 0.3)),
            (0, 0, 5),
            (0, 0, -1),
            5 - 0.3 * 2**0.5,
        ),
        (Primitive("cylinder", np.zeros(3), radius=0.4, height=1.0), (0, 0, 5), (0, 0, -1), 4.6),
        (Primitive("cylinder", np.zeros(3), radius=0.4, height=1.0), (0, 5, 0), (0, -1, 0), 4.5),  # top cap
        # Cone, base radius 0.5 at y=-0.5, apex at y=0.5: at y=0 the radius is 0.25.
        (Primitive("cone", np.zeros(3), radius=0.5, height=1.0), (0, 0, 5), (0, 0, -1), 4.75),
        (
            Primitive("cone", np.zeros(3), radius=0.5, height=1.0),
            (0, -5, 0),
            (0, 1, 0),
            4.5,
        ),  # base from below
        # Torus in the xz-plane, major 0.4, tube 0.1: along x the outer rim is at 0.5.
        (Primitive("torus", np.zeros(3), radius=0.4, minor=0.1), (-5, 0, 0), (1, 0, 0), 4.5),
        (
            Primitive("torus", np.zeros(3), radius=0.4, minor=0.1),
            (0, 5, 0),
            (0, -1, 0),
            np.inf,
        ),  # through the hole
        (
            Primitive("torus", np.zeros(3), radius=0.4, minor=0.1),
            (0.4, 5, 0),
            (0, -1, 0),
            4.9,
        ),  # onto the tube
        (
            Primitive("capsule", np.zeros(3), radius=0.2, a=np.array([0, -0.5, 0]), b=np.array([0, 0.5, 0])),
            (0, 0, 5),
            (0, 0, -1),
            4.8,
        ),
        (
            Primitive("capsule", np.zeros(3), radius=0.2, a=np.array([0, -0.5, 0]), b=np.array([0, 0.5, 0])),
            (0, 5, 0),
            (0, -1, 0),
            4.3,
        ),  # the rounded end
        (Primitive("sphere", np.array([0.0, 0, 0]), radius=0.5), (0, 2, 5), (0, 0, -1), np.inf),  # miss
        (Primitive("sphere", np.array([0.0, 0, 0]), radius=0.5), (0, 0, 5), (0, 0, 1), np.inf),  # behind
    ],
)
def test_hit_distance(prim: Primitive, origin: tuple, direction: tuple, expected: float) -> None:
    o, d = _ray(origin, direction)
    t = prim.hit(o, d)[0]
    if np.isinf(expected):
        assert np.isinf(t)
    else:
        assert t == pytest.approx(expected, abs=2e-3)


def test_normals_are_unit_and_outward() -> None:
    rng = np.random.default_rng(0)
    for prim in [
        object_primitive(s, 1.0, (0.0, 0.0, 0.0), 30.0)
        for s in ("sphere", "cube", "cylinder", "cone", "torus", "capsule")
    ]:
        centre, radius = prim.bound()
        dirs = rng.normal(size=(400, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        origins = centre - dirs * (radius + 3.0)  # rays aimed at the centre from all around
        aim = (centre + rng.normal(0, 0.1, (400, 3))) - origins
        aim /= np.linalg.norm(aim, axis=1, keepdims=True)
        t = prim.hit(origins, aim)
        ok = np.isfinite(t)
        assert ok.mean() > 0.5, prim.kind
        n = prim.normal(origins[ok] + t[ok, None] * aim[ok])
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
        assert (np.einsum("ij,ij->i", n, aim[ok]) < 1e-3).mean() > 0.97, prim.kind  # facing the ray


def test_objects_rest_on_the_floor() -> None:
    # Rays straight down on a grid: the lowest point of each solid is at the floor (y = 0).
    xs = np.linspace(-1, 1, 201)
    origins = np.array([[x, -1.0, z] for x in xs for z in xs])
    up = np.tile([0.0, 1.0, 0.0], (len(origins), 1))
    for shape in ("sphere", "cube", "cylinder", "cone", "torus", "capsule"):
        prim = object_primitive(shape, 1.0, (0.0, 0.0, 0.0), 20.0)
        t = prim.hit(origins, up)
        assert np.nanmin(np.where(np.isfinite(t), t, np.nan)) - 1.0 == pytest.approx(0.0, abs=0.02), shape
    with pytest.raises(ValueError, match="unknown shape 'pyramid'"):
        object_primitive("pyramid", 1.0, (0, 0, 0), 0)
