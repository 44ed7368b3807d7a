"""Materials look different from each other and answer light differently."""

from __future__ import annotations

import numpy as np
import pytest

from scenecraft.world.materials import RESPONSES, albedo, fbm, value_noise
from scenecraft.world.spec import MATERIALS


def _stats(m: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    p = rng.uniform(-1, 1, (4000, 3))
    n = np.tile([0.0, 1.0, 0.0], (4000, 1))
    a = albedo(m, p, n, None)
    # Mean colour, contrast, and contrast at a fine scale (neighbouring points 1 cm apart).
    fine = albedo(m, p + 0.01, n, None)
    return np.concatenate([a.mean(0), a.std(0), [np.abs(a - fine).mean()]])


def test_at_least_ten_materials_with_distinct_looks() -> None:
    assert len(MATERIALS) >= 10
    stats = {m: _stats(i) for i, m in enumerate(MATERIALS)}
    looks = {
        m: np.concatenate([s, [RESPONSES[m].specular, RESPONSES[m].reflect, RESPONSES[m].transparency]])
        for m, s in stats.items()
    }
    names = list(looks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(looks[a] - looks[b]).max() > 0.04, (a, b)


def test_responses_follow_physics_intuition() -> None:
    assert RESPONSES["chrome"].reflect > 0.8 and RESPONSES["chrome"].diffuse < 0.2
    assert RESPONSES["brushed_metal"].specular > RESPONSES["fabric"].specular
    assert RESPONSES["fabric"].specular == 0 and RESPONSES["glass"].transparency > 0.5
    assert RESPONSES["plastic"].shininess > RESPONSES["rubber"].shininess


def test_colour_tints_but_keeps_the_pattern() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(-1, 1, (2000, 3))
    n = np.tile([0.0, 0.0, 1.0], (2000, 1))
    marble = MATERIALS.index("marble")
    plain = albedo(marble, p, n, None)
    red = albedo(marble, p, n, np.array([0.8, 0.1, 0.1]))
    assert red[:, 0].mean() > red[:, 2].mean() + 0.1  # reddish
    assert np.corrcoef(plain.mean(1), red.mean(1))[0, 1] > 0.9  # same veins
    with pytest.raises(ValueError, match="material index 99 out of range"):
        albedo(99, p, n, None)


def test_noise_is_smooth_and_bounded() -> None:
    p = np.random.default_rng(2).uniform(0, 10, (5000, 3))
    v = value_noise(p)
    assert v.min() >= 0 and v.max() <= 1 and 0.3 < v.mean() < 0.7
    assert np.abs(value_noise(p + 1e-3) - v).max() < 0.01  # continuous
    assert fbm(p).min() >= 0 and fbm(p).max() <= 1
