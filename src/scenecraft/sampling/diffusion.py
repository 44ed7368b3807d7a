"""Gaussian diffusion schedules: the official DiT schedule and timestep respacing.

Ho et al., "Denoising Diffusion Probabilistic Models" (2020), https://arxiv.org/abs/2006.11239;
Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models" (2021),
https://arxiv.org/abs/2102.09672 (learned variance interpolation, timestep respacing).

All tables are float64 numpy arrays, as in the official code, and are gathered into float32
tensors per step. A ``GaussianDiffusion`` is either the full 1000-step process or a respaced one
that keeps a subset of its timesteps; ``timestep_map[i]`` is the original timestep the model is
called with at step ``i`` of the respaced process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

NUM_TRAIN_TIMESTEPS = 1000


def linear_beta_schedule(num_timesteps: int = NUM_TRAIN_TIMESTEPS) -> np.ndarray:
    """The linear schedule of Ho et al., scaled so any step count spans the same noise range."""
    scale = 1000 / num_timesteps
    return np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)


def space_timesteps(num_timesteps: int, section_counts: str | list[int]) -> list[int]:
    """The timesteps kept when respacing a ``num_timesteps`` process, as a sorted list.

    ``section_counts`` is, as in the official code, either a list of counts per equal section
    (``[10, 15, 20]``), a comma-separated string of them (``"250"``), or ``"ddimN"``: N steps at a
    fixed integer stride starting at 0, the spacing of the DDIM paper.
    """
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            desired = int(section_counts[len("ddim") :])
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return list(range(0, num_timesteps, stride))
            raise ValueError(f"cannot create exactly {desired} steps with an integer stride from {num_timesteps}")
        section_counts = [int(x) for x in section_counts.split(",")]
    size_per = num_timesteps // len(section_counts)
    extra = num_timesteps % len(section_counts)
    start_idx = 0
    all_steps: list[int] = []
    for i, section_count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < section_count:
            raise ValueError(f"cannot divide a section of {size} steps into {section_count}")
        frac_stride = 1.0 if section_count <= 1 else (size - 1) / (section_count - 1)
        cur_idx = 0.0
        for _ in range(section_count):
            all_steps.append(start_idx + round(cur_idx))
            cur_idx += frac_stride
        start_idx += size
    return sorted(set(all_steps))


@dataclass
class GaussianDiffusion:
    """The tables of a (possibly respaced) discrete Gaussian diffusion process."""

    betas: np.ndarray
    timestep_map: np.ndarray  # (T,) original timestep of each step, passed to the model
    alphas_cumprod: np.ndarray = field(init=False)
    alphas_cumprod_prev: np.ndarray = field(init=False)
    posterior_variance: np.ndarray = field(init=False)
    posterior_log_variance_clipped: np.ndarray = field(init=False)
    posterior_mean_coef1: np.ndarray = field(init=False)
    posterior_mean_coef2: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        betas = self.betas = np.asarray(self.betas, dtype=np.float64)
        if betas.ndim != 1 or not ((betas > 0) & (betas <= 1)).all():
            raise ValueError("betas must be a 1-D array in (0, 1]")
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        # q(x_{t-1} | x_t, x_0): variance and mean coefficients.
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # The variance is 0 at t = 0; clip the log by using the next value there.
        self.posterior_log_variance_clipped = np.log(
            np.append(self.posterior_variance[1], self.posterior_variance[1:])
            if len(self.posterior_variance) > 1
            else self.posterior_variance
        )
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)

    @classmethod
    def official(cls, steps: int | str | None = None) -> GaussianDiffusion:
        """DiT's process: linear betas over 1000 steps, respaced to ``steps`` if given.

        ``steps`` is a count (evenly spaced, rounding as the official ``space_timesteps``) or any
        ``section_counts`` string such as ``"ddim50"``.
        """
        betas = linear_beta_schedule(NUM_TRAIN_TIMESTEPS)
        if steps is None:
            return cls(betas, np.arange(NUM_TRAIN_TIMESTEPS))
        return cls.respaced(betas, space_timesteps(NUM_TRAIN_TIMESTEPS, str(steps)))

    @classmethod
    def respaced(cls, base_betas: np.ndarray, use_timesteps: list[int]) -> GaussianDiffusion:
        """The process that visits only ``use_timesteps`` of the base process.

        New betas are chosen so the kept timesteps have exactly the base process's alpha-bar:
        beta_i = 1 - abar[t_i] / abar[t_{i-1}].
        """
        if not use_timesteps:
            raise ValueError("respacing needs at least one timestep")
        base = cls(base_betas, np.arange(len(base_betas)))
        kept = sorted(set(use_timesteps))
        if kept[0] < 0 or kept[-1] >= len(base_betas):
            raise ValueError(f"timesteps must lie in [0, {len(base_betas)})")
        abar = base.alphas_cumprod[kept]
        betas = 1.0 - abar / np.append(1.0, abar[:-1])
        return cls(betas, np.asarray(kept))

    @property
    def num_timesteps(self) -> int:
        return len(self.betas)

    def gather(self, table: np.ndarray, i: int, x: Tensor) -> Tensor:
        """table[i] as a scalar tensor on x's device and dtype (one step for the whole batch)."""
        return torch.tensor(table[i], dtype=x.dtype, device=x.device)

    def q_sample(self, x0: Tensor, i: int, noise: Tensor) -> Tensor:
        """Diffuse clean data to step ``i``: sqrt(abar) x0 + sqrt(1 - abar) noise."""
        abar = self.alphas_cumprod[i]
        return float(np.sqrt(abar)) * x0 + float(np.sqrt(1.0 - abar)) * noise
