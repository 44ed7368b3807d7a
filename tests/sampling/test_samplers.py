"""Samplers against diffusers' schedulers (step by step) and against exact denoisers of Gaussian
data, where the distribution they must land on is known in closed form."""

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, FlowMatchEulerDiscreteScheduler

from scenecraft.sampling import (
    GaussianDiffusion,
    SamplerStep,
    flow_times,
    sample_ddim,
    sample_ddpm,
    sample_euler,
    sample_heun,
)

MU, S = 0.5, 0.3  # data: every coordinate ~ N(MU, S^2), independent


def toy_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """An arbitrary smooth epsilon model with learned-variance outputs, for step-by-step checks."""
    tt = (t.float() / 1000)[:, None, None, None]
    return torch.cat([torch.tanh(x) * tt + 0.1 * torch.sin(3 * x), torch.cos(x) * tt * 0.8], dim=1)


def exact_gaussian_eps(diffusion: GaussianDiffusion, var_value: float | None = None):
    """The exact epsilon-prediction E[eps | x_t] for N(MU, S^2) data on the base 1000-step process."""
    base = GaussianDiffusion.official()

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = torch.tensor(base.alphas_cumprod, dtype=torch.float64)[t][:, None, None, None]
        a, s1 = ab.sqrt(), (1 - ab).sqrt()
        # x_t = a x0 + s1 eps, x_t ~ N(a MU, a^2 S^2 + s1^2); E[eps | x_t] = s1 (x_t - a MU) / var
        eps = s1 * (x.double() - a * MU) / (a**2 * S**2 + s1**2)
        if var_value is None:
            return eps.float()
        return torch.cat([eps, torch.full_like(eps, var_value)], dim=1).float()

    return model


def test_ddim_matches_diffusers_ddim_scheduler() -> None:
    diffusion = GaussianDiffusion.official("ddim50")
    x = torch.randn(2, 4, 8, 8)
    ours = sample_ddim(toy_eps, x.clone(), diffusion)

    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
        timestep_spacing="leading",
    )
    scheduler.set_timesteps(50)
    ref = x.clone()
    for t in scheduler.timesteps:
        eps = toy_eps(ref, t.expand(2))[:, :4]
        ref = scheduler.step(eps, t, ref).prev_sample
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


def test_ddpm_learned_range_matches_diffusers_ddpm_scheduler() -> None:
    diffusion = GaussianDiffusion.official(25)
    x = torch.randn(2, 4, 8, 8)
    ours = sample_ddpm(toy_eps, x.clone(), diffusion, generator=torch.Generator().manual_seed(7))

    scheduler = DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        variance_type="learned_range",
        clip_sample=False,
        timestep_spacing="linspace",
    )
    scheduler.set_timesteps(25)
    assert scheduler.timesteps.tolist() == diffusion.timestep_map[::-1].tolist()
    g = torch.Generator().manual_seed(7)
    ref = x.clone()
    for t in scheduler.timesteps:
        ref = scheduler.step(toy_eps(ref, t.expand(2)), t, ref, generator=g).prev_sample
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


def test_flow_euler_matches_diffusers_flow_match_euler() -> None:
    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) * t[:, None, None, None] - 0.3 * x

    x = torch.randn(2, 3, 8, 8)
    ours = sample_euler(velocity, x.clone(), flow_times(20))
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / 20, 20).tolist())
    ref = x.clone()
    for sigma in scheduler.sigmas[:-1]:
        t = scheduler.timesteps[(scheduler.sigmas[:-1] == sigma).nonzero()[0, 0]]
        ref = scheduler.step(velocity(ref, sigma.expand(2)), t, ref).prev_sample
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def assert_gaussian(samples: torch.Tensor, mean_tol: float, std_rel_tol: float) -> None:
    m, s = samples.double().mean().item(), samples.double().std().item()
    assert abs(m - MU) < mean_tol, f"mean {m:.4f}, expected {MU}"
    assert abs(s / S - 1) < std_rel_tol, f"std {s:.4f}, expected {S}"


def test_ddim_lands_on_the_data_distribution() -> None:
    # With the exact denoiser, DDIM integrates the probability-flow ODE: its only error is the
    # discretisation, which vanishes as the step count grows.
    x = torch.randn(4000, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    errors = []
    for steps in ("ddim50", "ddim1000"):
        diffusion = GaussianDiffusion.official(steps)
        out = sample_ddim(exact_gaussian_eps(diffusion, var_value=0.0), x.clone(), diffusion)
        errors.append(abs(out.double().std().item() / S - 1))
    assert_gaussian(out, mean_tol=0.01, std_rel_tol=0.01)
    assert errors[1] < errors[0] / 5


@pytest.mark.parametrize("var_value", [None, -1.0, 1.0])
def test_ddpm_lands_on_the_data_distribution(var_value: float | None) -> None:
    # None: epsilon only (posterior variance); -1 / +1: the two ends of the learned range.
    diffusion = GaussianDiffusion.official(1000)
    x = torch.randn(2000, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    out = sample_ddpm(
        exact_gaussian_eps(diffusion, var_value), x, diffusion, generator=torch.Generator().manual_seed(1)
    )
    assert_gaussian(out, mean_tol=0.02, std_rel_tol=0.04)


def exact_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """E[noise - x0 | x_t] for x_t = (1 - t) x0 + t noise, x0 ~ N(MU, S^2)."""
    t = t.double()[:, None, None, None]
    xd = x.double()
    var = (1 - t) ** 2 * S**2 + t**2
    centred = xd - (1 - t) * MU
    e_x0 = MU + (1 - t) * S**2 * centred / var
    e_noise = t * centred / var
    return (e_noise - e_x0).float()


@pytest.mark.parametrize(("sampler", "steps", "std_tol"), [(sample_euler, 200, 0.02), (sample_heun, 32, 0.01)])
def test_flow_samplers_land_on_the_data_distribution(sampler, steps: int, std_tol: float) -> None:
    x = torch.randn(4000, 4, 2, 2, generator=torch.Generator().manual_seed(0))
    out = sampler(exact_velocity, x, flow_times(steps))
    assert_gaussian(out, mean_tol=0.01, std_rel_tol=std_tol)


def test_convergence_orders() -> None:
    # The exact flow of a 1-D Gaussian maps noise z to MU + S z. Doubling the steps halves
    # Euler's error (first order) and quarters Heun's (second order).
    z = torch.linspace(-2, 2, 9).reshape(9, 1, 1, 1)
    exact = MU + S * z

    def error(sampler, steps: int) -> float:
        return (sampler(exact_velocity, z.clone(), flow_times(steps)) - exact).abs().max().item()

    euler_ratio = error(sample_euler, 16) / error(sample_euler, 32)
    heun_ratio = error(sample_heun, 16) / error(sample_heun, 32)
    assert 1.7 < euler_ratio < 2.3
    assert 3.4 < heun_ratio < 4.6


def test_callback_reports_every_step_with_x0() -> None:
    diffusion = GaussianDiffusion.official("ddim10")
    seen: list[SamplerStep] = []
    x = torch.randn(3, 1, 2, 2)
    out = sample_ddim(exact_gaussian_eps(diffusion), x, diffusion, callback=seen.append)
    assert [s.i for s in seen] == list(range(10)) and all(s.total == 10 for s in seen)
    assert seen[0].t == 900 and seen[-1].t == 0
    torch.testing.assert_close(seen[-1].x, out)
    # At the last step (abar_prev = 1) the DDIM sample is the x0 estimate itself.
    torch.testing.assert_close(seen[-1].x0, out)


def test_callback_can_stop_the_sampler() -> None:
    class Stop(Exception):
        pass

    def stop_at_three(step: SamplerStep) -> None:
        if step.i == 2:
            raise Stop

    with pytest.raises(Stop):
        sample_euler(exact_velocity, torch.randn(1, 1, 2, 2), flow_times(10), callback=stop_at_three)


def test_ddpm_is_deterministic_given_generators() -> None:
    diffusion = GaussianDiffusion.official(20)
    model = exact_gaussian_eps(diffusion, 0.0)
    x = torch.randn(2, 1, 4, 4)
    a = sample_ddpm(model, x.clone(), diffusion, generator=[torch.Generator().manual_seed(s) for s in (1, 2)])
    b = sample_ddpm(model, x.clone(), diffusion, generator=[torch.Generator().manual_seed(s) for s in (1, 2)])
    c = sample_ddpm(model, x[1:].clone(), diffusion, generator=[torch.Generator().manual_seed(2)])
    assert torch.equal(a, b)
    torch.testing.assert_close(a[1:], c)  # a sample's noise does not depend on its batch


def test_flow_times_shift() -> None:
    t = flow_times(4, shift=3.0)
    expected = [3 * u / (1 + 2 * u) for u in (1.0, 0.75, 0.5, 0.25, 0.0)]
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        flow_times(0)


def test_wrong_output_channels_are_refused() -> None:
    diffusion = GaussianDiffusion.official("ddim10")
    with pytest.raises(ValueError, match="expected 4 or 8"):
        sample_ddim(lambda x, t: torch.zeros(1, 5, 2, 2), torch.zeros(1, 4, 2, 2), diffusion)
