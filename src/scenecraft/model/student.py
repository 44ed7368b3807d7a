"""Students of the scene model: one forward pass per step, few steps.

A student is a :class:`SceneDiT` whose timestep embedder also reads what the teacher needed
several passes and many steps for:

    the guidance scales of the five conditions   (guidance distillation, Meng et al. 2023,
                                                   https://arxiv.org/abs/2210.03142)
    the step size d of the sampler's grid          (as shortcut models condition on it,
                                                   Frans et al. 2024, https://arxiv.org/abs/2410.12557)

and predicts the average velocity of the teacher's guided trajectory over the next ``d`` of flow
time, so that one Euler step ``x <- x - d * v`` lands where the teacher's 20 guided steps land.
With ``d = 1/20`` this is the teacher's guided velocity itself (guidance distillation alone).

The extra inputs travel inside ``t``: a student is called ``model(x, t_packed, cond)`` with
``t_packed`` (N, 1 + 5 + 1) = [timestep 0..1000, scale of each condition, step size d]; a plain
(N,) timestep is refused, so a teacher's call can never reach a student by mistake. Their
embedding is added to the timestep embedding (so to the adaLN conditioning of every block) and
its output layer starts at zero: a student made from its teacher computes, before training,
exactly the teacher's conditional velocity (checked in the tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from scenecraft.model.checkpoints import CheckpointError, load_weights, read_scene_metadata, read_state_dict
from scenecraft.model.conditioning import CONDITIONS, ConditioningConfig, SceneDiT
from scenecraft.model.dit import DiTConfig, TimestepEmbedder

STUDENT_FORMAT = "scenecraft.student.v1"
PACKED = 1 + len(CONDITIONS) + 1  # timestep, one scale per condition (CONDITIONS order), step size


class GuidanceEmbedder(nn.Module):
    """(scales (N, 5) with absent conditions at 1, step size d (N,)) -> (N, D), zero at start."""

    def __init__(self, hidden_size: int, frequencies: int = 128):
        super().__init__()
        self.frequencies = frequencies
        self.mlp = nn.Sequential(
            nn.Linear(len(CONDITIONS) + frequencies, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )
        # Zero-out the output, so an untrained embedder changes nothing:
        out = self.mlp[-1]
        assert isinstance(out, nn.Linear)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)

    def forward(self, scales: Tensor, step: Tensor) -> Tensor:
        # The scales enter as (s - 1): 0 for "as conditioned", the step size as sin-cos features
        # of d * 1000, the range timesteps have.
        features = TimestepEmbedder.timestep_embedding(step * 1000, self.frequencies)
        first = self.mlp[0]
        assert isinstance(first, nn.Linear)
        return self.mlp(torch.cat([scales - 1, features], dim=1).to(first.weight.dtype))


class StudentTimeEmbedder(TimestepEmbedder):
    """The teacher's timestep embedder (same names: ``mlp.0``, ``mlp.2``) plus ``guidance``."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__(hidden_size, frequency_embedding_size)
        self.guidance = GuidanceEmbedder(hidden_size)

    def forward(self, t: Tensor) -> Tensor:
        if t.ndim != 2 or t.shape[1] != PACKED:
            raise ValueError(
                f"a student takes t packed as (N, {PACKED}) = [timestep, {len(CONDITIONS)} scales, step size]; "
                f"got {tuple(t.shape)} (see scenecraft.model.student.pack)"
            )
        base = super().forward(t[:, 0])
        return base + self.guidance(t[:, 1 : 1 + len(CONDITIONS)], t[:, -1])


def pack(t: Tensor, scales: Tensor, step: Tensor | float) -> Tensor:
    """t (N,) in 0..1000, scales (N, 5) or (5,), step size (N,) or a float -> (N, 7)."""
    n = t.shape[0]
    scales = scales.to(t.device, torch.float32).expand(n, len(CONDITIONS))
    steps = torch.as_tensor(step, dtype=torch.float32, device=t.device).expand(n)
    return torch.cat([t.float()[:, None], scales, steps[:, None]], dim=1)


def is_student(model: nn.Module) -> bool:
    return isinstance(getattr(model, "t_embedder", None), StudentTimeEmbedder)


def student_from(teacher: SceneDiT) -> SceneDiT:
    """A student with the teacher's weights and a zero-initialised guidance embedder."""
    student = SceneDiT(teacher.config, teacher.cond_config)
    student.t_embedder = StudentTimeEmbedder(teacher.config.hidden_size, teacher.t_embedder.frequency_embedding_size)
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("t_embedder.guidance.") for k in missing), (missing, unexpected)
    student.extra = dict(teacher.extra)
    return student


def drop_blocks(model: SceneDiT, keep: list[int]) -> SceneDiT:
    """A copy of ``model`` with only the DiT blocks ``keep`` (in order), for depth pruning.

    Each kept block brings its own cross-attention; grounding attention sits after every
    ``ground_every``-th block of the new depth, taken from the nearest original one at or before it.
    """
    if not keep or sorted(set(keep)) != keep or keep[-1] >= len(model.blocks):
        raise ValueError(f"keep must be increasing block indices of 0..{len(model.blocks) - 1}, got {keep}")
    config = DiTConfig(**{**model.config.__dict__, "depth": len(keep)})
    pruned = SceneDiT(config, model.cond_config)
    if is_student(model):
        pruned.t_embedder = StudentTimeEmbedder(config.hidden_size, model.t_embedder.frequency_embedding_size)
    every = model.cond_config.ground_every
    state = {}
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if parts[0] in ("blocks", "cross_blocks"):
            i = int(parts[1])
            if i in keep:
                state[".".join([parts[0], str(keep.index(i)), *parts[2:]])] = value
        elif parts[0] == "ground_blocks":
            continue
        else:
            state[key] = value
    for j in range(len(pruned.ground_blocks)):
        # the new grounding j follows new block (j + 1) * every - 1; take the original one whose
        # block is the last original block kept at or before it
        original_block = keep[(j + 1) * every - 1]
        source = min((original_block + 1) // every - 1, len(model.ground_blocks) - 1)
        prefix = f"ground_blocks.{max(source, 0)}."
        for key, value in model.state_dict().items():
            if key.startswith(prefix):
                state[f"ground_blocks.{j}." + key[len(prefix) :]] = value
    pruned.load_state_dict(state, strict=True)
    pruned.extra = {**model.extra, "kept_blocks": keep}
    return pruned


def save_student(model: SceneDiT, path: str | Path, *, extra: dict[str, Any] | None = None) -> None:
    """Writes a student in float16 with its configs; ``extra`` records how it was made."""
    from scenecraft.model.checkpoints import save_scene_model

    save_scene_model(model, path, dtype=torch.float16, extra={**(extra or {}), "format": STUDENT_FORMAT})


def load_student(path: str | Path) -> SceneDiT:
    """A student saved by :func:`save_student`, in float32."""
    meta = read_scene_metadata(path)
    if meta is None or meta["extra"].get("format") != STUDENT_FORMAT:
        raise CheckpointError(f"{path} is not a student checkpoint ({STUDENT_FORMAT})")
    config = DiTConfig(**meta["dit"])
    model = SceneDiT(config, ConditioningConfig.from_dict(meta["conditioning"]))
    model.t_embedder = StudentTimeEmbedder(config.hidden_size)
    state = {k: v.float() if v.is_floating_point() else v for k, v in read_state_dict(path).items()}
    load_weights(model, state, source=f"student {path}")
    model.extra = meta["extra"]
    return model


__all__ = [
    "PACKED",
    "GuidanceEmbedder",
    "StudentTimeEmbedder",
    "drop_blocks",
    "is_student",
    "load_student",
    "pack",
    "save_student",
    "student_from",
]
