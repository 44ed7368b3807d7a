"""The official noise schedule and respacing against closed forms and diffusers' schedulers."""

import numpy as np
import pytest
from diffusers import DDPMScheduler

from scenecraft.sampling import GaussianDiffusion, linear_beta_schedule, space_timesteps


def test_linear_betas_closed_form() -> None:
    betas = linear_beta_schedule(1000)
    t = np.arange(1000)
    np.testing.assert_allclose(betas, 1e-4 + (0.02 - 1e-4) * t / 999, rtol=1e-12)


def test_alphas_cumprod_closed_form() -> None:
    d = GaussianDiffusion.official()
    t = np.arange(1000)
    betas = 1e-4 + (0.02 - 1e-4) * t / 999
    expected = np.exp(np.cumsum(np.log1p(-betas)))
    np.testing.assert_allclose(d.alphas_cumprod, expected, rtol=1e-10)
    # and as diffusers computes it
    ref = DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear")
    np.testing.assert_allclose(d.alphas_cumprod, ref.alphas_cumprod.double().numpy(), rtol=1e-5)


def test_posterior_closed_form() -> None:
    d = GaussianDiffusion.official()
    ab, abp, b = d.alphas_cumprod, d.alphas_cumprod_prev, d.betas
    t = 500
    assert d.posterior_variance[t] == pytest.approx((1 - abp[t]) / (1 - ab[t]) * b[t], rel=1e-12)
    # The posterior mean coefficients reproduce x_{t-1}'s mean: for x0 = 1, x_t = sqrt(ab) exactly.
    mean = d.posterior_mean_coef1[t] * 1.0 + d.posterior_mean_coef2[t] * np.sqrt(ab[t])
    assert mean == pytest.approx(np.sqrt(abp[t]), rel=1e-10)
    assert d.posterior_log_variance_clipped[0] == pytest.approx(np.log(d.posterior_variance[1]))


def test_ddim_spacing() -> None:
    assert space_timesteps(1000, "ddim50") == list(range(0, 1000, 20))
    assert space_timesteps(1000, "ddim250") == list(range(0, 1000, 4))
    with pytest.raises(ValueError, match="exactly 999 steps"):
        space_timesteps(1000, "ddim999")  # no integer stride gives 999 steps


def test_even_spacing_matches_linspace() -> None:
    # One section of N steps = the rounded linspace over [0, 999], both ends included.
    for n in (10, 50, 250):
        expected = sorted(set(np.round(np.linspace(0, 999, n)).astype(int).tolist()))
        assert space_timesteps(1000, str(n)) == expected
    assert space_timesteps(1000, [2, 2]) == [0, 499, 500, 999]


def test_respacing_keeps_alpha_bar() -> None:
    base = GaussianDiffusion.official()
    d = GaussianDiffusion.official(25)
    assert d.num_timesteps == 25
    np.testing.assert_allclose(d.alphas_cumprod, base.alphas_cumprod[d.timestep_map], rtol=1e-12)
    assert d.timestep_map[0] == 0 and d.timestep_map[-1] == 999


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="betas must be"):
        GaussianDiffusion(np.array([0.1, 1.5]), np.arange(2))
    with pytest.raises(ValueError, match="cannot divide"):
        space_timesteps(10, "20")
