"""Classifier-free guidance (Ho & Salimans 2022, https://arxiv.org/abs/2207.12598).

    guided = uncond + scale * (cond - uncond)

Both halves run in one batched forward pass. ``guided_channels`` limits guidance to the first
channels of the output; the rest are taken from the conditional half. The official DiT guides the
first 3 of its 4 epsilon channels (and none of the variance channels); ``OFFICIAL_DIT_CHANNELS``
names that choice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from scenecraft.sampling.samplers import Denoiser

OFFICIAL_DIT_CHANNELS = 3

# model(x, t, cond) -> output, where cond is a batch of conditions (labels, token tensors, ...)
ConditionalModel = Callable[[Tensor, Tensor, Any], Tensor]


def combine_guidance(cond: Tensor, uncond: Tensor, scale: float, guided_channels: int | None = None) -> Tensor:
    """uncond + scale * (cond - uncond) on the first ``guided_channels`` channels (all if None)."""
    g = cond.shape[1] if guided_channels is None else guided_channels
    guided = uncond[:, :g] + scale * (cond[:, :g] - uncond[:, :g])
    return torch.cat([guided, cond[:, g:]], dim=1)


def _concat_conditions(cond: Any, uncond: Any) -> Any:
    if isinstance(cond, Tensor):
        return torch.cat([cond, uncond], dim=0)
    if isinstance(cond, dict):
        return {k: _concat_conditions(cond[k], uncond[k]) for k in cond}
    raise TypeError(f"conditions must be tensors or dicts of tensors, got {type(cond).__name__}")


def guided_denoiser(
    model: ConditionalModel,
    cond: Any,
    uncond: Any,
    scale: float,
    guided_channels: int | None = None,
) -> Denoiser:
    """A ``model(x, t)`` that applies guidance; a scale of 1 skips the unconditional pass."""
    if scale == 1.0:
        return lambda x, t: model(x, t, cond)

    def denoise(x: Tensor, t: Tensor) -> Tensor:
        out = model(torch.cat([x, x], dim=0), torch.cat([t, t], dim=0), _concat_conditions(cond, uncond))
        cond_out, uncond_out = out.chunk(2, dim=0)
        return combine_guidance(cond_out, uncond_out, scale, guided_channels)

    return denoise


def nested_guidance(outputs: list[Tensor], scales: list[float]) -> Tensor:
    """Guidance over several conditions, added one at a time (as InstructPix2Pix does for two):

        out = o_0 + sum_k scales[k-1] * (o_k - o_{k-1})

    where ``o_0`` is the output with no condition and ``o_k`` the output with the first k
    conditions. With every scale 1 it is ``o_K``, the fully conditioned output; a scale above 1
    pushes that condition's own contribution, given the ones before it.
    """
    if len(outputs) != len(scales) + 1:
        raise ValueError(f"{len(outputs)} outputs need {len(outputs) - 1} scales, got {len(scales)}")
    out = outputs[0]
    for k, scale in enumerate(scales, start=1):
        out = out + scale * (outputs[k] - outputs[k - 1])
    return out
