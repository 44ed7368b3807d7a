"""FORA step caching: exact when every call is full, the schedule of full calls, reuse equal to a
full call on an unchanged input, a bounded error along a real sampling run, and clean removal."""

from __future__ import annotations

import pytest
import torch

from scenecraft.model import DiT, DiTConfig
from scenecraft.model.step_cache import StepCache
from scenecraft.sampling import GaussianDiffusion, guided_denoiser, sample_ddim


def small_dit():
    torch.manual_seed(0)
    model = DiT(DiTConfig(depth=3, hidden_size=64, num_heads=2, patch_size=2, input_size=8, num_classes=10)).eval()
    with torch.no_grad():  # the zero-initialised layers get weights, so every block does something
        for layer in [model.final_layer.linear, *model.modulation_layers()]:
            layer.weight.normal_(0, 0.02)
            layer.bias.normal_(0, 0.02)
    return model


def inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 4, 8, 8, generator=g), torch.tensor([500, 500]), torch.tensor([3, 10])


def test_interval_one_is_exact() -> None:
    model = small_dit()
    x, t, y = inputs()
    with torch.no_grad():
        expected = [model(x, t - 100 * k, y) for k in range(3)]
        with StepCache(model, interval=1) as cache:
            got = [model(x, t - 100 * k, y) for k in range(3)]
    assert cache.full_calls == 3
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_reuse_on_an_unchanged_input_equals_a_full_call() -> None:
    model = small_dit()
    x, t, y = inputs()
    with torch.no_grad():
        expected = model(x, t, y)
        with StepCache(model, interval=2, warmup=0) as cache:
            model(x, t, y)  # full
            reused = model(x, t, y)  # cached branches of the same input
            model(x, t - 10, y)  # full again
    assert cache.calls == 3 and cache.full_calls == 2
    torch.testing.assert_close(reused, expected, rtol=1e-6, atol=1e-6)


def test_reuse_differs_when_the_input_moves_and_the_hook_is_removed() -> None:
    model = small_dit()
    x, t, y = inputs()
    x2 = inputs(seed=1)[0]
    with torch.no_grad():
        exact = model(x2, t - 20, y)
        with StepCache(model, interval=3, warmup=0):
            model(x, t, y)
            cached = model(x2, t - 20, y)
        after = model(x2, t - 20, y)
    assert (cached - exact).abs().max() > 1e-4  # the branches really were reused
    torch.testing.assert_close(after, exact, rtol=0, atol=0)  # and nothing is left installed


def test_sampling_error_is_small_and_shrinks_with_the_interval() -> None:
    model = small_dit()
    labels = torch.tensor([3])

    def run(interval: int | None) -> torch.Tensor:
        x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))

        def net(x, t, y):
            return model(x, t, y)

        denoise = guided_denoiser(net, labels, torch.tensor([10]), 4.0, 3)
        with torch.no_grad():
            if interval is None:
                return sample_ddim(denoise, x, GaussianDiffusion.official("ddim25"))
            with StepCache(model, interval=interval):
                return sample_ddim(denoise, x, GaussianDiffusion.official("ddim25"))

    exact = run(None)
    errors = [float((run(k) - exact).abs().max() / exact.abs().max()) for k in (2, 3)]
    assert 0 < errors[0] < errors[1] < 0.2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="interval"):
        StepCache(small_dit(), interval=0)
    with pytest.raises(ValueError, match="no DiT blocks"):
        StepCache(torch.nn.Linear(2, 2))
