"""Samplers: functions with one signature, the model a plain callable.

    sample_X(model, x, schedule, *, callback=None, generator=None) -> Tensor

``model(x, t) -> Tensor`` is any denoiser (wrap guidance or conditioning around it with
``scenecraft.sampling.guidance``). ``x`` is the starting noise. ``callback`` receives a
``SamplerStep`` after every step, carrying the current estimate of the clean sample (``x0``),
which live previews are built on; raising from it stops the sampler. ``generator`` supplies the
fresh noise of stochastic samplers; with the same starting noise and generator state a sampler
returns identical bytes on the same machine.

Two families:

- epsilon-prediction models with learned variance (official DiT), on a ``GaussianDiffusion``:
  ``sample_ddpm`` and ``sample_ddim``. A model whose output has twice the input's channels is
  taken to return (epsilon, variance values), as DiT does; otherwise epsilon alone, with the
  posterior variance.
- velocity models trained by rectified flow (Liu et al. 2022, https://arxiv.org/abs/2209.03003),
  on a decreasing grid of times from 1 (noise) to 0 (data) with x_t = (1 - t) x0 + t noise and
  v = noise - x0: ``sample_euler`` and ``sample_heun``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from scenecraft.sampling.diffusion import GaussianDiffusion

Denoiser = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class SamplerStep:
    """What a sampler reports after each step."""

    i: int  # step index, 0-based
    total: int  # number of steps
    t: float  # the model-facing time of this step (original timestep, or flow time)
    x: Tensor  # the sample after this step
    x0: Tensor  # the current estimate of the clean sample


StepCallback = Callable[[SamplerStep], None]


Generators = torch.Generator | Sequence[torch.Generator] | None


def _noise_like(x: Tensor, generator: Generators) -> Tensor:
    """Standard normal noise shaped like x, drawn on the generator's own device.

    A sequence of generators draws one row of the batch from each, so a sample's noise does not
    depend on the other samples in its batch.
    """
    if generator is None or isinstance(generator, torch.Generator):
        device = generator.device if generator is not None else x.device
        noise = torch.randn(x.shape, generator=generator, device=device, dtype=torch.float32)
    else:
        if len(generator) != x.shape[0]:
            raise ValueError(f"{len(generator)} generators for a batch of {x.shape[0]}")
        noise = torch.stack([torch.randn(x.shape[1:], generator=g, device=g.device) for g in generator])
    return noise.to(x.device, x.dtype)


# --------------------------------------------------------------------------------------------
# Epsilon models on a Gaussian diffusion (official DiT)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EpsPrediction:
    x0: Tensor  # predicted clean sample
    eps: Tensor  # predicted noise
    mean: Tensor  # posterior mean of x_{t-1}
    log_variance: Tensor  # log variance of x_{t-1}


def _predict(model: Denoiser, x: Tensor, diffusion: GaussianDiffusion, i: int) -> _EpsPrediction:
    """One model call at step i: p(x_{i-1} | x_i) as in the official ``p_mean_variance``."""
    t = torch.full((x.shape[0],), int(diffusion.timestep_map[i]), device=x.device, dtype=torch.long)
    out = model(x, t)
    C = x.shape[1]
    g = diffusion.gather
    if out.shape[1] == 2 * C:
        eps, var_values = torch.split(out, C, dim=1)
        # Learned range (Nichol & Dhariwal eq. 15): interpolate log beta and log beta-tilde.
        min_log = g(diffusion.posterior_log_variance_clipped, i, x)
        max_log = g(np.log(diffusion.betas), i, x)
        frac = (var_values + 1) / 2
        log_variance = frac * max_log + (1 - frac) * min_log
    elif out.shape[1] == C:
        eps = out
        log_variance = g(diffusion.posterior_log_variance_clipped, i, x).expand_as(x)
    else:
        raise ValueError(f"model returned {out.shape[1]} channels for a {C}-channel input; expected {C} or {2 * C}")
    abar = diffusion.alphas_cumprod[i]
    x0 = float(np.sqrt(1.0 / abar)) * x - float(np.sqrt(1.0 / abar - 1)) * eps
    mean = g(diffusion.posterior_mean_coef1, i, x) * x0 + g(diffusion.posterior_mean_coef2, i, x) * x
    return _EpsPrediction(x0=x0, eps=eps, mean=mean, log_variance=log_variance)


@torch.no_grad()
def sample_ddpm(
    model: Denoiser,
    x: Tensor,
    diffusion: GaussianDiffusion,
    *,
    callback: StepCallback | None = None,
    generator: Generators = None,
) -> Tensor:
    """Ancestral sampling, Algorithm 2 of Ho et al. (2020), with learned variances."""
    total = diffusion.num_timesteps
    for n, i in enumerate(reversed(range(total))):
        pred = _predict(model, x, diffusion, i)
        x = pred.mean
        if i > 0:  # no noise is added at the last step
            x = x + torch.exp(0.5 * pred.log_variance) * _noise_like(x, generator)
        if callback is not None:
            callback(SamplerStep(n, total, float(diffusion.timestep_map[i]), x, pred.x0))
    return x


@torch.no_grad()
def sample_ddim(
    model: Denoiser,
    x: Tensor,
    diffusion: GaussianDiffusion,
    *,
    eta: float = 0.0,
    callback: StepCallback | None = None,
    generator: Generators = None,
) -> Tensor:
    """DDIM, Song et al. (2021) eq. 12, https://arxiv.org/abs/2010.02502; eta = 0 is deterministic."""
    total = diffusion.num_timesteps
    for n, i in enumerate(reversed(range(total))):
        pred = _predict(model, x, diffusion, i)
        abar, abar_prev = diffusion.alphas_cumprod[i], diffusion.alphas_cumprod_prev[i]
        sigma = eta * np.sqrt((1 - abar_prev) / (1 - abar)) * np.sqrt(1 - abar / abar_prev)
        x = float(np.sqrt(abar_prev)) * pred.x0 + float(np.sqrt(1 - abar_prev - sigma**2)) * pred.eps
        if sigma > 0 and i > 0:
            x = x + float(sigma) * _noise_like(x, generator)
        if callback is not None:
            callback(SamplerStep(n, total, float(diffusion.timestep_map[i]), x, pred.x0))
    return x


# --------------------------------------------------------------------------------------------
# Velocity models (rectified flow)
# --------------------------------------------------------------------------------------------


def flow_times(steps: int, shift: float = 1.0) -> Tensor:
    """``steps + 1`` times from 1 down to 0, uniform, optionally shifted toward the noise end.

    The shift ``t -> s t / (1 + (s - 1) t)`` (Esser et al. 2024) spends more steps at high noise,
    which helps at high resolution; ``shift = 1`` keeps the uniform grid.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    return (shift * t / (1 + (shift - 1) * t)).float()


def _velocity(model: Denoiser, x: Tensor, t: float) -> Tensor:
    return model(x, torch.full((x.shape[0],), t, device=x.device, dtype=x.dtype))


@torch.no_grad()
def sample_euler(
    model: Denoiser,
    x: Tensor,
    times: Tensor,
    *,
    callback: StepCallback | None = None,
    generator: Generators = None,
) -> Tensor:
    """Euler's method on dx/dt = v(x, t), from times[0] (noise) to times[-1] (data)."""
    total = len(times) - 1
    for i in range(total):
        t, t_next = float(times[i]), float(times[i + 1])
        v = _velocity(model, x, t)
        x0 = x - t * v
        x = x + (t_next - t) * v
        if callback is not None:
            callback(SamplerStep(i, total, t, x, x0))
    return x


@torch.no_grad()
def sample_heun(
    model: Denoiser,
    x: Tensor,
    times: Tensor,
    *,
    callback: StepCallback | None = None,
    generator: Generators = None,
) -> Tensor:
    """Heun's second-order method (Karras et al. 2022, Algorithm 1) on dx/dt = v(x, t).

    Two model calls per step, except the last step into t = 0, which is an Euler step.
    """
    total = len(times) - 1
    for i in range(total):
        t, t_next = float(times[i]), float(times[i + 1])
        v = _velocity(model, x, t)
        x0 = x - t * v
        if t_next > 0:
            v_next = _velocity(model, x + (t_next - t) * v, t_next)
            v = (v + v_next) / 2
        x = x + (t_next - t) * v
        if callback is not None:
            callback(SamplerStep(i, total, t, x, x0))
    return x


SAMPLERS: dict[str, str] = {
    "ddpm": "epsilon",
    "ddim": "epsilon",
    "euler": "flow",
    "heun": "flow",
}
