"""Shared image building blocks, checked against closed forms and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scenecraft.effects.filters import (
    linear_to_srgb,
    pyramid_blur,
    pyramid_levels,
    separable_gaussian,
    shift_bilinear,
    srgb_to_linear,
)
from scenecraft.effects.noise import hash_cell, lowbias32, uniform


def test_srgb_transfer_matches_the_standard_values() -> None:
    x = torch.tensor([0.0, 0.04045, 0.5, 1.0])
    # IEC 61966-2-1: 0.5 encodes linear ((0.5 + 0.055) / 1.055) ** 2.4 = 0.21404
    expected = torch.tensor([0.0, 0.04045 / 12.92, 0.2140411, 1.0])
    assert torch.allclose(srgb_to_linear(x), expected, atol=1e-6)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-6)


def test_small_gaussian_equals_direct_convolution() -> None:
    """Below 3 px the pyramid is not used: compare with a float64 convolution done by hand (numpy)."""
    rng = np.random.default_rng(0)
    img = rng.random((20, 30))
    sigma = 1.7
    r = math.ceil(3 * sigma)
    k = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * sigma**2))
    k /= k.sum()
    padded = np.pad(img, r, mode="edge")
    rows = np.stack([np.convolve(row, k, mode="valid") for row in padded[r:-r]])  # along x
    padded = np.pad(rows, ((r, r), (0, 0)), mode="edge")
    ref = np.stack([np.convolve(col, k, mode="valid") for col in padded.T]).T  # along y
    out = pyramid_blur(torch.tensor(img, dtype=torch.float32)[None, None], sigma)[0, 0].numpy()
    assert np.abs(out - ref).max() < 1e-5


@pytest.mark.parametrize("sigma", [6.0, 20.0, 45.0])
def test_large_blur_of_a_step_follows_the_gaussian_edge(sigma: float) -> None:
    """A blurred step edge is 0.5 (1 + erf(x / (sigma sqrt 2))); the pyramid recipe stays within 2 %."""
    width = 512
    x = torch.arange(width, dtype=torch.float32) - (width / 2 - 0.5)  # edge between the two middle pixels
    step = (x > 0).float().expand(16, width)[None, None]
    out = pyramid_blur(step, sigma)[0, 0, 8]
    ref = torch.tensor([0.5 * (1 + math.erf(float(v) / (sigma * math.sqrt(2)))) for v in x])
    inner = slice(width // 2 - int(3 * sigma), width // 2 + int(3 * sigma))
    assert len(pyramid_levels(16, width, sigma)) == 1 + math.ceil(math.log2(sigma / 3))
    assert (out[inner] - ref[inner]).abs().max() < 0.02


def test_blur_preserves_a_constant_and_the_mean() -> None:
    img = torch.rand(1, 3, 64, 96)
    assert torch.allclose(pyramid_blur(torch.full_like(img, 0.3), 25.0), torch.full_like(img, 0.3), atol=1e-6)
    assert abs(float(separable_gaussian(img, 2.0, 2.0).mean() - img.mean())) < 0.01


def test_shift_matches_numpy_interp_with_clamped_edges() -> None:
    rng = np.random.default_rng(1)
    img = rng.random((7, 11)).astype(np.float32)
    dx, dy = 2.3, -1.6
    # numpy: interpolate along x then along y; np.interp clamps outside the sample range like ours.
    xs, ys = np.arange(11) + dx, np.arange(7) + dy
    rows = np.stack([np.interp(xs, np.arange(11), row) for row in img])
    ref = np.stack([np.interp(ys, np.arange(7), col) for col in rows.T]).T
    out = shift_bilinear(torch.from_numpy(img)[None, None], dx, dy)[0, 0].numpy()
    assert np.abs(out - ref).max() < 1e-6


def _lowbias32_reference(x: int) -> int:
    """Pure-Python lowbias32 on unbounded ints (the published constants)."""
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_hash_matches_pure_python_including_negative_cells() -> None:
    values = [0, 1, 2, 12345, 0x7FFFFFFF, 0xFFFFFFFF, 0xDEADBEEF]
    out = lowbias32(torch.tensor(values, dtype=torch.int64))
    assert out.tolist() == [_lowbias32_reference(v) for v in values]
    cx = torch.tensor([-3, 0, 5], dtype=torch.int64)
    cy = torch.tensor([7, -1, -(2**31)], dtype=torch.int64)
    seed = 99
    expected = [
        _lowbias32_reference(_lowbias32_reference(_lowbias32_reference(seed) + (a & 0xFFFFFFFF)) + (b & 0xFFFFFFFF))
        for a, b in zip(cx.tolist(), cy.tolist(), strict=True)
    ]
    assert hash_cell(seed, cx, cy).tolist() == expected


def test_uniform_is_uniform() -> None:
    h = hash_cell(5, torch.arange(200, dtype=torch.int64).view(1, -1), torch.arange(200, dtype=torch.int64).view(-1, 1))
    u = uniform(h, 0)
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.01
    assert abs(float(u.var()) - 1 / 12) < 0.003
    hist = torch.histc(u, bins=10, min=0, max=1) / u.numel()
    assert float((hist - 0.1).abs().max()) < 0.01


@pytest.mark.parametrize(("dx", "dy"), [(50.0, 0.0), (-30.5, 0.0), (0.0, -9.25), (3.0, 40.0), (-1.0, 0.5)])
def test_shift_far_past_the_edges_clamps_like_numpy(dx: float, dy: float) -> None:
    rng = np.random.default_rng(2)
    img = rng.random((7, 11)).astype(np.float32)
    rows = np.stack([np.interp(np.arange(11) + dx, np.arange(11), row) for row in img])
    ref = np.stack([np.interp(np.arange(7) + dy, np.arange(7), col) for col in rows.T]).T
    out = shift_bilinear(torch.from_numpy(img)[None, None], dx, dy)[0, 0].numpy()
    assert np.abs(out - ref).max() < 1e-6


@pytest.mark.parametrize(
    ("src", "dst"),
    [((37, 50), (19, 25)), ((40, 64), (20, 32)), ((9, 13), (70, 41)), ((16, 16), (16, 64)), ((5, 7), (5, 7))],
)
def test_resize_fast_paths_equal_torch_interpolate(src: tuple[int, int], dst: tuple[int, int]) -> None:
    """Halving by 2x2 averages and separable upsampling give interpolate's values (an independent code path)."""
    from scenecraft.effects.filters import resize_bilinear

    img = torch.rand(2, 3, *src)
    ref = torch.nn.functional.interpolate(img, size=dst, mode="bilinear", align_corners=False)
    assert torch.allclose(resize_bilinear(img, *dst), ref, atol=2e-6)
