"""Samplers, noise schedules and guidance. Knows nothing of models beyond ``model(x, t)``."""

from scenecraft.sampling.diffusion import GaussianDiffusion, linear_beta_schedule, space_timesteps
from scenecraft.sampling.guidance import OFFICIAL_DIT_CHANNELS, combine_guidance, guided_denoiser, nested_guidance
from scenecraft.sampling.samplers import (
    SAMPLERS,
    SamplerStep,
    flow_times,
    sample_ddim,
    sample_ddpm,
    sample_euler,
    sample_heun,
)

__all__ = [
    "OFFICIAL_DIT_CHANNELS",
    "SAMPLERS",
    "GaussianDiffusion",
    "SamplerStep",
    "combine_guidance",
    "flow_times",
    "guided_denoiser",
    "linear_beta_schedule",
    "nested_guidance",
    "sample_ddim",
    "sample_ddpm",
    "sample_euler",
    "sample_heun",
    "space_timesteps",
]
