"""Step caching for DiT: reuse block outputs across sampler steps, training-free.

FORA (Selvaraju et al. 2024, https://arxiv.org/abs/2407.01425): neighbouring sampler steps see
nearly the same input, so the attention and feed-forward outputs of every block change little from
one step to the next. Every ``interval``-th model call computes all blocks and keeps each block's
two branch outputs; the calls in between reuse them:

    full call:    a_i = attn_i(modulate(norm(x), shift, scale)),  m_i = mlp_i(...)   (kept)
    cached call:  x <- x + gate_msa(t) * a_i;  x <- x + gate_mlp(t) * m_i

The gates come from the current step's conditioning (they cost one small linear layer), only the
two branches are reused. The first ``warmup`` calls are always full (the early, high-noise steps
move the most). It works on any model built from :class:`~scenecraft.model.dit.DiTBlock` (the
official DiT checkpoints, and our scene models, whose cross-attention is still computed every call).

diffusers' cache hooks do not run on ``DiTTransformer2DModel``; this is our own, installed by
replacing each block's ``forward`` for the duration of a ``with`` block::

    with StepCache(model, interval=2):
        images = sample_ddim(...)

Off by default. Its error against the exact output is measured by ``benchmarks/generate_speed.py``.
"""

from __future__ import annotations

import types
from typing import Any

from torch import Tensor, nn

from scenecraft.model.dit import DiTBlock, modulate


class StepCache:
    """FORA on every DiTBlock of ``model``: full every ``interval`` calls, reused in between."""

    def __init__(self, model: nn.Module, *, interval: int = 2, warmup: int = 1):
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        if warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {warmup}")
        self.model = model
        self.interval = interval
        self.warmup = warmup
        self.blocks = [m for m in model.modules() if isinstance(m, DiTBlock)]
        if not self.blocks:
            raise ValueError(f"{type(model).__name__} has no DiT blocks to cache")
        self.calls = 0  # model calls so far
        self.full_calls = 0
        self._cache: dict[int, tuple[Tensor, Tensor]] = {}
        self._reuse = False
        self._hook: Any = None

    def __enter__(self) -> StepCache:
        self.calls = self.full_calls = 0
        self._cache.clear()
        self._hook = self.model.register_forward_pre_hook(self._before_call)
        for i, block in enumerate(self.blocks):
            block.forward = types.MethodType(self._block_forward(i), block)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for block in self.blocks:
            del block.forward  # back to the class's own forward
        if self._hook is not None:
            self._hook.remove()
        self._cache.clear()

    def _before_call(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        n = self.calls
        self.calls += 1
        scheduled = n >= self.warmup and (n - self.warmup) % self.interval != 0
        self._reuse = scheduled and len(self._cache) == len(self.blocks)
        if not self._reuse:
            self.full_calls += 1

    def _block_forward(self, index: int) -> Any:
        cache = self._cache

        def forward(block: DiTBlock, x: Tensor, c: Tensor) -> Tensor:
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = block.adaLN_modulation(c).chunk(6, dim=1)
            kept = cache.get(index)
            if self._reuse and kept is not None and kept[0].shape == x.shape:
                a, m = kept
                return x + gate_msa.unsqueeze(1) * a + gate_mlp.unsqueeze(1) * m
            a = block.attn(modulate(block.norm1(x), shift_msa, scale_msa))
            x = x + gate_msa.unsqueeze(1) * a
            m = block.mlp(modulate(block.norm2(x), shift_mlp, scale_mlp))
            cache[index] = (a, m)
            return x + gate_mlp.unsqueeze(1) * m

        return forward
