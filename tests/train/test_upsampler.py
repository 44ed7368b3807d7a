"""Training the x2 upsampler: its data, its degradation, a short run, resuming, scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from scenecraft.model.upsampler import Upsampler, UpsamplerConfig, load_upsampler
from scenecraft.train.upsampler import (
    UpsamplerTrainConfig,
    UpsamplerTrainer,
    crops,
    degrade,
    gaussian_blur,
    psnr,
    render_pairs,
    score,
    to_unit,
    upsampler_loss,
)


def test_blur_matches_scipy() -> None:
    x = torch.rand(2, 3, 20, 24)
    sigma = torch.tensor([0.7, 1.2])
    ours = gaussian_blur(x, sigma).numpy()
    for i, s in enumerate(sigma.tolist()):
        # the same 7-tap kernel: radius 3 = truncate * sigma; torch's reflect is scipy's mirror
        ref = gaussian_filter(x[i].numpy(), sigma=(0, s, s), truncate=3 / s, mode="mirror")
        np.testing.assert_allclose(ours[i], ref, atol=1e-5)
    assert torch.equal(gaussian_blur(x, torch.zeros(2)), x)


def test_pairs_are_one_scene_at_two_sides() -> None:
    small, large = render_pairs(3, range(2), side=32, scale=2)
    assert small.shape == (2, 32, 32, 3) and large.shape == (2, 64, 64, 3) and small.dtype == np.uint8
    x, y = to_unit(small), to_unit(large)
    aligned = psnr(F.avg_pool2d(y, 2), x).mean()
    assert aligned > psnr(F.avg_pool2d(y.roll(2, -1), 2), x).mean() + 1  # same geometry, not shifted
    assert aligned > psnr(F.avg_pool2d(y.flip(0), 2), x).mean() + 3  # and each its own scene


def test_crops_align_input_and_target(tmp_path: Path) -> None:
    g = np.random.default_rng(0)
    large = g.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    small = large.reshape(3, 16, 2, 16, 2, 3).mean((2, 4)).round().astype(np.uint8)  # 2x2 means
    cfg = UpsamplerTrainConfig(out=tmp_path, steps=1, side=16, crop=8, batch=32, blur_p=0.0, noise_p=0.0)
    x, y = crops(small, large, cfg, 2, torch.Generator().manual_seed(0))
    assert x.shape == (32, 3, 8, 8) and y.shape == (32, 3, 16, 16)
    assert (F.avg_pool2d(y, 2) - x).abs().max() <= 1 / 127.5 + 1e-6  # each input is its target, halved


def test_degradation_is_seeded_and_bounded(tmp_path: Path) -> None:
    cfg = UpsamplerTrainConfig(out=tmp_path, steps=1, blur_p=1.0, noise_p=1.0)
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    a = degrade(x, cfg, torch.Generator().manual_seed(1))
    b = degrade(x, cfg, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.abs().max() <= 1 and not torch.equal(a, x)
    none = UpsamplerTrainConfig(out=tmp_path, steps=1, blur_p=0.0, noise_p=0.0)
    assert torch.equal(degrade(x, none, torch.Generator().manual_seed(1)), x)


def _cfg(out: Path, **kw: object) -> UpsamplerTrainConfig:
    base: dict[str, object] = dict(out=out, scenes=6, side=32, crop=16, batch=4, channels=8, blocks=2, workers=1)
    return UpsamplerTrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_a_run_learns_saves_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = UpsamplerTrainer(_cfg(out, steps=150, lr=3e-3, warmup=1, blur_p=0.0, noise_p=0.0)).train()
    assert first["step"] == 150 and (out / "state.pt").is_file()
    assert len(list(out.glob("pairs-*.npz"))) == 1  # the renders are cached for the next run
    net = load_upsampler(out / "upsampler.safetensors")
    assert net.extra["steps"] == 150 and net.config == UpsamplerConfig(channels=8, blocks=2)
    # it learnt something: better than its own starting point (bilinear) on the training scenes
    small, large = render_pairs(0, range(6), side=32)
    x, y = to_unit(small), to_unit(large)
    bilinear = psnr(F.interpolate(x, scale_factor=2, mode="bilinear"), y).mean()
    assert psnr(net.upsample(x), y).mean() > bilinear + 0.2
    resumed = UpsamplerTrainer(_cfg(out, steps=155))
    assert resumed.step == 150
    assert resumed.train()["step"] == 155
    with pytest.raises(ValueError, match="use another --out"):
        UpsamplerTrainer(_cfg(out, steps=160, channels=16))


def test_config_needs_an_end_and_sane_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs an end"):
        UpsamplerTrainConfig(out=tmp_path).validate()
    with pytest.raises(ValueError, match="crop must be"):
        UpsamplerTrainConfig(out=tmp_path, steps=1, crop=128).validate()
    with pytest.raises(ValueError, match="blur_p must be a probability"):
        UpsamplerTrainConfig(out=tmp_path, steps=1, blur_p=2.0).validate()
    with pytest.raises(ValueError, match=r"cooldown must be in 0\.\.seconds"):
        UpsamplerTrainConfig(out=tmp_path, steps=10, cooldown=5.0).validate()


def test_the_rate_warms_up_then_cools_down_at_the_end_of_the_budget(tmp_path: Path) -> None:
    trainer = UpsamplerTrainer(_cfg(tmp_path, seconds=100.0, cooldown=40.0, lr=1e-3, warmup=10))
    assert trainer.lr_at(0) == pytest.approx(1e-4) and trainer.lr_at(9, 10.0) == pytest.approx(1e-3)
    assert trainer.lr_at(500, 60.0) == pytest.approx(1e-3)  # the cool-down starts 40 s before the end
    assert trainer.lr_at(500, 80.0) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert trainer.lr_at(500, 100.0) == pytest.approx(1e-4) and trainer.lr_at(500, 130.0) == pytest.approx(1e-4)


def test_score_of_an_untrained_net_is_bilinear() -> None:
    result = score(Upsampler(UpsamplerConfig(channels=4, blocks=1)), n=3)
    assert result["n"] == 3 and set(result["psnr_db"]) == {"clean", "blur 0.8px"}
    for row in result["psnr_db"].values():
        assert row["learned"] == pytest.approx(row["bilinear"], abs=1e-3)


def test_the_amplitude_term_asks_for_texture_energy_not_its_place() -> None:
    g = torch.Generator().manual_seed(0)
    texture = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    shifted = texture.roll((3, 5), (-2, -1))  # the same texture, moved (circularly): same amplitudes
    assert upsampler_loss(shifted, texture, fft_weight=1.0) == pytest.approx(F.l1_loss(shifted, texture).item())
    flat = texture.mean((-2, -1), keepdim=True).expand_as(texture)  # the texture smoothed away
    assert upsampler_loss(flat, texture, fft_weight=1.0) > upsampler_loss(flat, texture) + 0.1
    assert upsampler_loss(texture, texture, fft_weight=1.0) == 0
