"""Guidance against the two-pass computation written out by hand."""

import torch

from scenecraft.model import build_dit
from scenecraft.sampling import combine_guidance, guided_denoiser
from tests.model.test_dit import randomize


def two_pass(model, x, t, labels, scale: float, channels: int) -> torch.Tensor:
    cond = model(x, t, labels)
    uncond = model(x, t, torch.full_like(labels, 1000))
    out = cond.clone()
    out[:, :channels] = uncond[:, :channels] + scale * (cond[:, :channels] - uncond[:, :channels])
    return out


def test_forward_with_cfg_equals_two_passes() -> None:
    model = randomize(build_dit("DiT-S/8", input_size=16)).eval()
    x = torch.randn(2, 4, 16, 16)
    t = torch.tensor([300, 300])
    labels = torch.tensor([7, 42])
    with torch.no_grad():
        # The official calling convention: the batch doubled, labels then nulls.
        out = model.forward_with_cfg(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, labels * 0 + 1000]), 4.0)
        expected = two_pass(model, x, t, labels, 4.0, channels=3)
    torch.testing.assert_close(out[:2], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[2:, :3], expected[:, :3], atol=1e-5, rtol=1e-5)
    # Channel 3 of epsilon is not guided, exactly as the official code does.
    with torch.no_grad():
        cond = model(x, t, labels)
    torch.testing.assert_close(out[:2, 3:], cond[:, 3:], atol=1e-5, rtol=1e-5)


def test_guided_denoiser_equals_two_passes() -> None:
    model = randomize(build_dit("DiT-S/8", input_size=16)).eval()
    x = torch.randn(3, 4, 16, 16)
    t = torch.tensor([10, 500, 990])
    labels = torch.tensor([1, 2, 3])
    nulls = torch.full_like(labels, 1000)
    with torch.no_grad():
        for channels in (3, 8):
            denoise = guided_denoiser(model, labels, nulls, 2.5, guided_channels=channels)
            torch.testing.assert_close(
                denoise(x, t), two_pass(model, x, t, labels, 2.5, channels), atol=1e-5, rtol=1e-5
            )
        # A scale of 1 is the conditional model alone.
        torch.testing.assert_close(guided_denoiser(model, labels, nulls, 1.0)(x, t), model(x, t, labels))


def test_combine_guidance_dict_free_arithmetic() -> None:
    cond, uncond = torch.full((1, 4, 1, 1), 3.0), torch.full((1, 4, 1, 1), 1.0)
    out = combine_guidance(cond, uncond, 2.0, guided_channels=2)
    assert out.flatten().tolist() == [5.0, 5.0, 3.0, 3.0]
