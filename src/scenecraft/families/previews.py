"""Live previews for diffusers families: the scheduler's clean estimate, mapped linearly to RGB.

Two pieces:

- :func:`clean_estimate` taps the pipeline's scheduler for the current estimate of the clean
  latents x0 after every step: DPM-Solver++ (PixArt, SANA) keeps it as ``model_outputs[-1]`` (it
  converts every model output to a data prediction); flow-matching Euler (SD3, FLUX) is given it
  by ``x0 = x_t - sigma_t * v`` from the step's own sample and velocity; schedulers that return
  ``pred_original_sample`` (DDIM, Euler, DDPM) give it directly.
- :func:`fit_preview_map` fits, once per loaded model, an affine map latent -> RGB by least squares
  against the model's own VAE decoding of random latents (no constants copied from anywhere; any
  VAE, any family). A preview is then one small matrix product per step instead of a VAE decode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torch import Tensor

FIT_LATENT_SIDE = 16  # random latents of 2 x C x 16 x 16 for the fit: 512 samples for C + 1 unknowns


@dataclass(frozen=True)
class PreviewMap:
    weight: Tensor  # (C, 3)
    bias: Tensor  # (3,)
    unpack: Any = None  # FLUX: packed (B, seq, 64) latents -> (B, 16, h, w)

    def rgb(self, latents: Tensor) -> Tensor:
        """(B, C, h, w) clean latents -> (B, 3, h, w) approximate RGB in [-1, 1]."""
        x = latents.float().cpu()
        out = torch.einsum("nchw,cd->ndhw", x, self.weight) + self.bias[None, :, None, None]
        return out.clamp(-1, 1)

    def previews(self, latents: Tensor, max_side: int, size: tuple[int, int]) -> list[Image.Image]:
        """Small RGB previews of clean latents of images of `size` (height, width) pixels."""
        rgb = self.rgb(self.unpack(latents, *size) if self.unpack is not None else latents)
        scale = max_side / max(rgb.shape[-2:])
        if scale < 1:
            rgb = torch.nn.functional.interpolate(rgb, scale_factor=scale, mode="area")
        arr = ((rgb + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return [Image.fromarray(a) for a in arr]


def vae_decode(pipe: Any, latents: Tensor) -> Tensor:
    """The pipeline's own decode of latents in its sampling space -> (B, 3, H, W) in [-1, 1]."""
    vae = pipe.vae
    scale = float(getattr(vae.config, "scaling_factor", 1.0) or 1.0)
    shift = float(getattr(vae.config, "shift_factor", 0.0) or 0.0)
    z = (latents / scale + shift).to(vae.device, vae.dtype)
    out: Tensor = vae.decode(z, return_dict=False)[0]
    return out.float().clamp(-1, 1)


@torch.inference_mode()
def fit_preview_map(pipe: Any, family: str, seed: int = 0) -> PreviewMap:
    """Least-squares affine latent -> RGB map of this pipeline's VAE (one value per latent pixel)."""
    channels = int(pipe.vae.config.latent_channels)
    g = torch.Generator("cpu").manual_seed(seed)
    z = torch.randn(2, channels, FIT_LATENT_SIDE, FIT_LATENT_SIDE, generator=g)
    rgb = vae_decode(pipe, z).cpu()
    factor = rgb.shape[-1] // FIT_LATENT_SIDE
    rgb = torch.nn.functional.avg_pool2d(rgb, factor)  # (2, 3, 16, 16): the pixels each latent covers
    a = z.permute(0, 2, 3, 1).reshape(-1, channels)
    a = torch.cat([a, torch.ones_like(a[:, :1])], dim=1)  # bias column
    b = rgb.permute(0, 2, 3, 1).reshape(-1, 3)
    solution = torch.linalg.lstsq(a.double(), b.double()).solution.float()  # (C + 1, 3)
    unpack = _flux_unpack(pipe) if family == "flux" else None
    return PreviewMap(solution[:-1], solution[-1], unpack)


def _flux_unpack(pipe: Any) -> Any:
    factor = int(pipe.vae_scale_factor)

    def unpack(latents: Tensor, height: int, width: int) -> Tensor:
        # packed (B, h/2 * w/2, C * 4) -> (B, C, h, w), as FluxPipeline does before decoding
        out: Tensor = type(pipe)._unpack_latents(latents, height, width, factor)
        return out

    return unpack


class _Tap:
    """Context manager that records the scheduler's clean estimate after every step."""

    def __init__(self, pipe: Any) -> None:
        self.scheduler = pipe.scheduler
        self._x0: Tensor | None = None

    def latest(self) -> Tensor | None:
        outputs = getattr(self.scheduler, "model_outputs", None)
        if outputs is not None and getattr(self.scheduler.config, "algorithm_type", "") in (
            "dpmsolver++",
            "sde-dpmsolver++",
        ):
            return outputs[-1] if outputs and outputs[-1] is not None else None
        return self._x0

    def __enter__(self) -> _Tap:
        original = self.scheduler.step

        def step(model_output: Tensor, timestep: Any, sample: Tensor, *args: Any, **kwargs: Any) -> Any:
            result = original(model_output, timestep, sample, *args, **kwargs)
            x0 = getattr(result, "pred_original_sample", None) if not isinstance(result, tuple) else None
            index = getattr(self.scheduler, "step_index", None)  # advanced by the step: the one taken is index - 1
            if x0 is None and index is not None and _is_flow(self.scheduler):
                sigma = self.scheduler.sigmas[index - 1].to(sample.device, sample.dtype)
                x0 = sample - sigma * model_output  # flow matching: x_t = (1 - sigma) x0 + sigma noise, v = noise - x0
            self._x0 = x0
            return result

        self.scheduler.step = step  # an instance attribute: the class's method is untouched
        return self

    def __exit__(self, *exc: object) -> None:
        del self.scheduler.step


def _is_flow(scheduler: Any) -> bool:
    return type(scheduler).__name__.startswith("FlowMatch")


def clean_estimate(pipe: Any) -> _Tap:
    """`with clean_estimate(pipe) as tap:` ... `tap.latest()` after each step: x0 or None."""
    return _Tap(pipe)
