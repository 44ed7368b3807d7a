"""Each op against a closed form or an independent computation (numbers worked out by hand)."""

from __future__ import annotations

import math

import pytest
import torch

from scenecraft.effects import apply_chain
from scenecraft.effects.chain import Particles, parse_chain
from scenecraft.effects.context import RenderContext
from scenecraft.effects.estimate import estimate_depth, estimate_normals
from scenecraft.effects.filters import pyramid_blur
from scenecraft.effects.particles import layer_alpha
from scenecraft.effects.test_image import make_test_image


def srgb_decode(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def srgb_encode(v: float) -> float:
    return v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055


def flat(colour: tuple[float, float, float], h: int = 8, w: int = 12) -> torch.Tensor:
    return torch.tensor(colour, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, h, w).clone()


def test_exposure_one_stop_doubles_linear_light() -> None:
    out = apply_chain([{"op": "exposure", "stops": 1}], flat((0.2, 0.5, 0.7)))
    expected = [srgb_encode(min(1.0, 2 * srgb_decode(v))) for v in (0.2, 0.5, 0.7)]
    assert torch.allclose(out[0, :, 0, 0], torch.tensor(expected), atol=1e-5)


def test_contrast_and_saturation_by_hand() -> None:
    out = apply_chain([{"op": "contrast", "amount": 2, "pivot": 0.5}], flat((0.2, 0.5, 0.9)))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.0, 0.5, 1.0]), atol=1e-6)  # 0.2 -> -0.1 clamped
    grey = apply_chain([{"op": "saturation", "amount": 0}], flat((0.2, 0.5, 0.9)))
    y = 0.2126 * 0.2 + 0.7152 * 0.5 + 0.0722 * 0.9
    assert torch.allclose(grey[0, :, 0, 0], torch.tensor([y, y, y]), atol=1e-6)


def test_temperature_keeps_linear_luma_and_warms() -> None:
    rgb = (0.4, 0.4, 0.4)
    out = apply_chain([{"op": "temperature", "warmth": 0.8, "tint": 0.2}], flat(rgb))[0, :, 0, 0].tolist()
    linear_in = srgb_decode(0.4)
    linear_out = [srgb_decode(v) for v in out]
    luma_out = 0.2126 * linear_out[0] + 0.7152 * linear_out[1] + 0.0722 * linear_out[2]
    assert luma_out == pytest.approx(linear_in, abs=1e-5)
    assert out[0] > 0.4 > out[2]


def test_identity_lut_is_identity_and_sepia_preset_is_the_sepia_matrix() -> None:
    corners = [[r, g, b] for b in (0, 1) for g in (0, 1) for r in (0, 1)]  # red fastest
    img = torch.rand(2, 3, 9, 13)
    out = apply_chain([{"op": "lut", "size": 2, "table": corners}], img)
    assert torch.allclose(out, img, atol=1e-5)
    # On a 17-point lattice, a colour that sits on lattice points maps exactly through the matrix.
    r, g, b = 4 / 16, 8 / 16, 2 / 16
    out = apply_chain([{"op": "lut", "preset": "sepia"}], flat((r, g, b)))[0, :, 0, 0]
    expected = [
        0.393 * r + 0.769 * g + 0.189 * b,
        0.349 * r + 0.686 * g + 0.168 * b,
        0.272 * r + 0.534 * g + 0.131 * b,
    ]
    assert torch.allclose(out, torch.tensor(expected), atol=1e-5)
    half = apply_chain([{"op": "lut", "preset": "sepia", "strength": 0.5}], flat((r, g, b)))[0, :, 0, 0]
    assert torch.allclose(half, 0.5 * (out + torch.tensor([r, g, b])), atol=1e-5)


def test_vignette_centre_and_corner() -> None:
    img = flat((0.8, 0.8, 0.8), 101, 151)
    out = apply_chain([{"op": "vignette", "amount": 0.6, "radius": 0.3, "softness": 0.5}], img)
    assert float(out[0, 0, 50, 75]) == pytest.approx(0.8, abs=1e-6)  # d ~ 0 < radius
    # The corner pixel's centre sits at d = 1 - tiny; smoothstep(0.3, 0.8, ~1) = 1, so 0.8 * (1 - 0.6).
    assert float(out[0, 0, 0, 0]) == pytest.approx(0.8 * 0.4, abs=1e-6)


def test_grain_statistics_and_determinism() -> None:
    img = flat((0.5, 0.5, 0.5), 256, 256)
    chain = [{"op": "grain", "amount": 0.1, "size": 1, "seed": 3}]
    out = apply_chain(chain, img)
    noise = out[0, 0] - 0.5
    # size 1: each pixel is one lattice value u0 + u1 - 1, triangular on [-1, 1]: mean 0, variance 1/6.
    assert abs(float(noise.mean())) < 0.002
    assert float(noise.var()) == pytest.approx(0.01 / 6, rel=0.05)
    assert torch.equal(out[0, 0], out[0, 2])  # monochrome
    assert torch.equal(out, apply_chain(chain, img))
    assert not torch.equal(out, apply_chain([{**chain[0], "seed": 4}], img))
    still = [{"op": "grain", "seed": 3}]
    assert torch.equal(apply_chain(still, img, time=0.0), apply_chain(still, img, time=1.0))
    moving = [{"op": "grain", "seed": 3, "animated": True}]
    assert not torch.equal(apply_chain(moving, img, time=0.0), apply_chain(moving, img, time=1.0))
    assert torch.equal(apply_chain(moving, img, time=0.0), apply_chain(moving, img, time=0.04))  # same 1/24 s


def test_chromatic_aberration_on_a_ramp_is_a_scaled_ramp() -> None:
    h, w = 21, 41
    ramp = (torch.arange(w, dtype=torch.float32) / (w - 1)).expand(1, 3, h, w).clone()
    a = 0.02
    out = apply_chain([{"op": "chromatic_aberration", "amount": a}], ramp)
    c = (w - 1) / 2
    x = torch.arange(w, dtype=torch.float32)
    red = (c + (x - c) / (1 + a)) / (w - 1)
    blue = ((c + (x - c) / (1 - a)).clamp(0, w - 1)) / (w - 1)
    assert torch.allclose(out[0, 0, 10], red, atol=1e-5)
    assert torch.allclose(out[0, 2, 10], blue, atol=1e-5)
    assert torch.equal(out[0, 1], ramp[0, 1])


def test_bloom_leaves_dark_images_alone_and_conserves_glow_mass() -> None:
    dark = torch.rand(1, 3, 32, 32) * 0.5
    assert torch.equal(apply_chain([{"op": "bloom", "threshold": 0.6}], dark), dark)
    img = torch.zeros(1, 3, 128, 128)
    img[..., 60:68, 60:68] = 0.8
    out = apply_chain([{"op": "bloom", "strength": 0.5, "threshold": 0.5, "radius": 0.05}], img)
    # Added light = strength * (0.8 - threshold) * 64 px, spread by a mass-preserving blur (edges far
    # away, nothing reaches the clamp at 1).
    assert float((out - img)[0, 0].sum()) == pytest.approx(0.5 * 0.3 * 64, rel=0.01)
    # 13 px right of the square, a true Gaussian (sigma 6.4 px) gives strength * 0.3 * (x mass) * (y mass):
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    s = 6.4
    expected = 0.5 * 0.3 * (phi(20.5 / s) - phi(12.5 / s)) * (phi(4.5 / s) - phi(-3.5 / s))
    assert float(out[0, 0, 64, 80]) == pytest.approx(expected, rel=0.2)


def test_motion_blur_keeps_a_ramp_and_spreads_a_line() -> None:
    h, w = 16, 200
    ramp = (torch.arange(w, dtype=torch.float32) / w).expand(1, 3, h, w).clone()
    out = apply_chain([{"op": "motion_blur", "angle": 0, "length": 0.1}], ramp)  # 20 px streak
    # The mean of taps placed symmetrically about a pixel on a linear function is the function itself.
    assert torch.allclose(out[..., 30:170], ramp[..., 30:170], atol=1e-5)
    line = torch.zeros(1, 3, h, w)
    line[..., 100] = 1.0
    out = apply_chain([{"op": "motion_blur", "angle": 0, "length": 0.1}], line)[0, 0, 8]
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)  # mass kept
    spread = (out > 1e-6).nonzero().flatten()
    assert 19 <= int(spread.max() - spread.min()) <= 23  # about the 20 px length
    assert float((out * torch.arange(w)).sum()) == pytest.approx(100.0, abs=0.1)  # centred
    vertical = apply_chain([{"op": "motion_blur", "angle": 90, "length": 0.1}], line)
    assert torch.allclose(vertical[..., 2:-2, :], line[..., 2:-2, :], atol=1e-6)  # along the line: no change


def test_depth_of_field_is_sharp_at_focus_and_fully_blurred_far_away() -> None:
    img = make_test_image(64, 96)
    op = {"op": "depth_of_field", "focus": 0.3, "range": 0.1, "transition": 0.2, "max_blur": 0.03}
    sharp = apply_chain([op], img, depth=torch.full((1, 1, 64, 96), 0.35))
    assert torch.allclose(sharp, img, atol=1e-6)
    far = apply_chain([op], img, depth=torch.full((1, 1, 64, 96), 0.9))
    assert torch.allclose(far, pyramid_blur(img, 0.03 * 96).clamp(0, 1), atol=1e-6)


def test_relight_head_on_light_on_flat_normals_is_the_closed_form_gain() -> None:
    img = flat((0.3, 0.4, 0.5))
    normals = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 8, 12)
    s, a, colour = 0.5, 0.2, (1.0, 0.9, 0.8)
    op = {"op": "relight", "elevation": 90, "strength": s, "ambient": a, "colour": colour}
    out = apply_chain([op], img, normals=normals)[0, :, 0, 0]
    gains = [1 + s * (c * (a + (1 - a) * 2 * 1.0) - 1) for c in colour]  # lambert = 1
    assert torch.allclose(out, torch.tensor([0.3 * gains[0], 0.4 * gains[1], 0.5 * gains[2]]), atol=1e-6)
    # A surface facing away from a light at azimuth 0, elevation 0 only gets the ambient term.
    away = torch.tensor([-1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 8, 12)
    op = {"op": "relight", "azimuth": 0, "elevation": 0, "strength": 1, "ambient": a, "colour": (1, 1, 1)}
    assert torch.allclose(apply_chain([op], img, normals=away)[0, :, 0, 0], torch.tensor([0.3, 0.4, 0.5]) * a)


def test_fog_closed_form() -> None:
    img = flat((0.1, 0.2, 0.3))
    depth = torch.full((1, 1, 8, 12), 0.7)
    out = apply_chain([{"op": "fog", "density": 2, "start": 0.2, "colour": (1, 1, 1)}], img, depth=depth)
    t = 1 - math.exp(-2 * 0.5)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.1, 0.2, 0.3]) * (1 - t) + t, atol=1e-6)


def test_particles_move_with_their_velocity() -> None:
    """Rain's middle layer falls 2 image heights per second: a frame dt later is the same picture shifted."""
    op = Particles(kind="rain", density=0.8, seed=5)
    h, w = 200, 120
    dt = 10 / (2.0 * h)  # 10 px
    a0 = layer_alpha(op, 1, RenderContext(h, w, 0, 1.0), h, torch.device("cpu"))
    a1 = layer_alpha(op, 1, RenderContext(h, w, 0, 1.0 + dt), h, torch.device("cpu"))
    assert float(a0.max()) > 0.3
    assert torch.allclose(a1[10:], a0[:-10], atol=2e-3)
    assert not torch.allclose(a1, a0, atol=2e-3)


def test_particles_are_deterministic_and_vanish_at_zero_density() -> None:
    img = make_test_image(48, 64)
    chain = [{"op": "particles", "kind": "snow", "seed": 1}]
    assert torch.equal(apply_chain(chain, img, time=0.5), apply_chain(chain, img, time=0.5))
    assert not torch.equal(apply_chain(chain, img, time=0.5), apply_chain(chain, img, time=0.6))
    assert torch.equal(apply_chain([{"op": "particles", "density": 0}], img), img)
    sparks = apply_chain([{"op": "particles", "kind": "sparks", "density": 1}], img, time=0.3)
    assert bool((sparks >= img - 1e-6).all())  # light-emitting particles only add


def test_estimates_follow_their_priors() -> None:
    depth = estimate_depth(make_test_image(96, 128))
    assert depth.shape == (1, 1, 96, 128)
    assert float(depth[0, 0, :10].mean()) > float(depth[0, 0, -10:].mean()) + 0.4  # sky far, ground near
    # A luma ramp rising to the right is a slope facing left: n_x < 0, n_y = 0, |n| = 1.
    h, w = 32, 64
    ramp = (torch.arange(w, dtype=torch.float32) / w * 0.5).expand(1, 3, h, w).clone()
    n = estimate_normals(ramp)
    k, g = w / 64, 0.5 / w  # the estimator's gain and the ramp's slope per pixel
    expected = torch.tensor([-k * g, 0.0, 1.0]) / math.hypot(k * g, 1.0)
    assert torch.allclose(n[0, :, 16, 32], expected, atol=1e-5)
    assert torch.allclose(n.norm(dim=1), torch.ones(1, h, w), atol=1e-5)


def test_every_op_keeps_range_and_shape() -> None:
    img = make_test_image(40, 56).expand(2, 3, 40, 56).contiguous()
    from scenecraft.effects.chain import OPS

    for name in OPS:
        op = {"op": name, "preset": "sepia"} if name == "lut" else {"op": name}
        out = apply_chain(parse_chain([op]), img, time=0.3)
        assert out.shape == img.shape, name
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0, name
