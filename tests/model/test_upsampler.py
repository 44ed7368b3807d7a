"""The learned x2 upsampler: its untrained form is bilinear, its layout, its weights files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from scenecraft.model.checkpoints import CheckpointError, save_weights
from scenecraft.model.upsampler import Upsampler, UpsamplerConfig, load_upsampler, save_upsampler


def _random(model: Upsampler, seed: int = 0) -> Upsampler:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def test_untrained_net_is_the_bilinear_upsample() -> None:
    x = torch.rand(2, 3, 16, 12) * 2 - 1
    out = Upsampler(UpsamplerConfig(channels=8, blocks=2))(x)
    assert out.shape == (2, 3, 32, 24)
    # an independent bilinear: PIL's, which samples pixel centres as align_corners=False does
    img = Image.fromarray(((x[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8))
    ref = np.asarray(img.resize((24, 32), Image.Resampling.BILINEAR), np.float32) / 127.5 - 1
    inner = (slice(1, -1), slice(1, -1))  # PIL clamps the border rows differently
    ours = out[0].permute(1, 2, 0).detach().numpy()
    assert np.abs(ours[inner] - ref[inner]).max() < 2.5 / 127.5  # PIL's rounding of the input and output


def test_detail_lands_on_the_sub_pixel_it_belongs_to() -> None:
    """The tail's 4 channels per colour are the 2x2 sub-pixels in row-major order (pixel shuffle)."""
    m = Upsampler(UpsamplerConfig(channels=4, blocks=0))
    with torch.no_grad():
        m.tail.bias.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0] * 3))  # colour c, sub-pixel k -> k
    out = m(torch.zeros(1, 3, 2, 2))
    assert out[0, 0].tolist() == [[0, 1, 0, 1], [2, 3, 2, 3], [0, 1, 0, 1], [2, 3, 2, 3]]


def test_save_and_load_keep_the_net(tmp_path: Path) -> None:
    cfg = UpsamplerConfig(channels=8, blocks=3)
    model = _random(Upsampler(cfg)).eval()
    path = tmp_path / "x2.safetensors"
    save_upsampler(model, path, extra={"steps": 7})
    loaded = load_upsampler(path)
    assert loaded.config == cfg and loaded.extra == {"steps": 7}
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=2e-3)  # stored in float16
    assert path.stat().st_size < 2 * sum(p.numel() for p in model.parameters()) + 4096


def test_upsample_clamps_and_batches() -> None:
    model = _random(Upsampler(UpsamplerConfig(channels=8, blocks=1)), seed=3)
    x = torch.rand(5, 3, 8, 8) * 2 - 1
    out = model.upsample(x, max_batch=2)
    assert out.shape == (5, 3, 16, 16) and out.abs().max() <= 1
    with torch.no_grad():
        assert torch.allclose(out, model(x).clamp(-1, 1), atol=1e-6)


def test_other_files_are_refused_by_name(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_weights(Upsampler(UpsamplerConfig(channels=4, blocks=1)), plain)
    with pytest.raises(CheckpointError, match="is not an upsampler"):
        load_upsampler(plain)
    with pytest.raises(CheckpointError, match="not found"):
        load_upsampler(tmp_path / "missing.safetensors")


def test_config_bounds() -> None:
    with pytest.raises(ValueError, match="scale must be 2, 3 or 4"):
        UpsamplerConfig(scale=5)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        UpsamplerConfig(channels=0)


def test_the_shipped_upsampler_beats_bilinear_on_held_out_renders() -> None:
    from scenecraft.pipeline import BUNDLED_DIR, BUNDLED_UPSAMPLER
    from scenecraft.train.upsampler import HELD_OUT_SEED, psnr, render_pairs, to_unit

    total = sum(p.stat().st_size for p in BUNDLED_DIR.glob("*.safetensors"))
    assert total <= 30e6, f"the shipped weights hold {total / 1e6:.1f} MB; the budget is 30 MB in all"
    net = load_upsampler(BUNDLED_UPSAMPLER)
    small, large = render_pairs(HELD_OUT_SEED, range(8), 64, 2)
    x, y = to_unit(small), to_unit(large)
    bilinear = psnr(F.interpolate(x, scale_factor=2, mode="bilinear"), y).mean()
    bicubic = psnr(F.interpolate(x, scale_factor=2, mode="bicubic").clamp(-1, 1), y).mean()
    learned = psnr(net.upsample(x), y).mean()
    assert learned > max(bilinear, bicubic) + 0.5, (float(learned), float(bilinear), float(bicubic))
