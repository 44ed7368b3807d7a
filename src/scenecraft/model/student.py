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

A student is stored either whole (``scenecraft.student.v1``: every tensor, float16, as large as its
teacher) or as an adapter on its teacher (``scenecraft.student-lora.v1``): low-rank updates
W + (alpha / r) B A of the teacher's transformer linears (LoRA, Hu et al. 2021,
https://arxiv.org/abs/2106.09685; distilled the way LCM-LoRA is, https://arxiv.org/abs/2311.05556),
their biases and the guidance embedder, which is all training changes. The adapter names its
teacher's file and SHA-256; loading finds that file beside the adapter, among the bundled weights or
where it was when the adapter was trained, checks the hash, and merges the updates into plain
weights, so an adapter student runs exactly as fast as a whole one. The bundled weights hold 30 MB
in all, and an adapter is what fits beside the teacher.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from scenecraft.model.checkpoints import CheckpointError, load_weights, read_scene_metadata, read_state_dict
from scenecraft.model.conditioning import CONDITIONS, ConditioningConfig, SceneDiT
from scenecraft.model.dit import DiTConfig, TimestepEmbedder

STUDENT_FORMAT = "scenecraft.student.v1"
LORA_FORMAT = "scenecraft.student-lora.v1"
STUDENT_FORMATS = (STUDENT_FORMAT, LORA_FORMAT)
# the linears an adapter updates: the transformer's, not the condition encoders'
LORA_TARGETS = ("blocks.", "cross_blocks.", "ground_blocks.", "final_layer.", "t_embedder.mlp.")
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


class LowRank(nn.Module):
    """A parametrization of a linear's weight: W + scale * B A, B starting at zero (so W at first)."""

    def __init__(self, out_features: int, in_features: int, rank: int, alpha: float):
        super().__init__()
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear initialises its weight
        self.scale = alpha / rank

    def forward(self, weight: Tensor) -> Tensor:
        return weight + self.scale * (self.lora_B @ self.lora_A).to(weight.dtype)


def _lora_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.startswith(LORA_TARGETS)]


def add_lora(model: SceneDiT, rank: int, alpha: float | None = None) -> SceneDiT:
    """Turns a student into an adapter being trained, in place: every target linear's weight gets a
    :class:`LowRank` update; only those updates, the targets' biases and the guidance embedder
    train (the rest is frozen)."""
    if not is_student(model):
        raise ValueError("add_lora needs a student (student_from(teacher))")
    if rank < 1:
        raise ValueError(f"the adapter's rank must be >= 1, got {rank}")
    model.requires_grad_(False)
    for _, linear in _lora_linears(model):
        out_features, in_features = linear.weight.shape
        parametrize.register_parametrization(
            linear, "weight", LowRank(out_features, in_features, rank, float(alpha or rank))
        )
        cast(Any, linear).parametrizations.weight.original.requires_grad_(False)
        if linear.bias is not None:
            linear.bias.requires_grad_(True)
    embedder = model.t_embedder
    assert isinstance(embedder, StudentTimeEmbedder)
    embedder.guidance.requires_grad_(True)
    return model


def has_lora(model: nn.Module) -> bool:
    return any(parametrize.is_parametrized(m, "weight") for _, m in _lora_linears(model))


def adapter_tensors(model: SceneDiT) -> dict[str, Tensor]:
    """What an adapter file holds: each update's ``NAME.lora_A`` / ``NAME.lora_B``, and every other
    trained tensor (biases, the guidance embedder) under its plain name."""
    tensors: dict[str, Tensor] = {}
    for name, linear in _lora_linears(model):
        if parametrize.is_parametrized(linear, "weight"):
            update = cast(Any, linear).parametrizations.weight[0]
            assert isinstance(update, LowRank)
            # the scale is folded into B, so a reader needs no alpha
            tensors[f"{name}.lora_A"] = update.lora_A.detach()
            tensors[f"{name}.lora_B"] = update.lora_B.detach() * update.scale
            if linear.bias is not None:
                tensors[f"{name}.bias"] = linear.bias.detach()
    for name, param in model.named_parameters():
        if name.startswith("t_embedder.guidance."):
            tensors[name] = param.detach()
    return tensors


def merge_lora(model: SceneDiT) -> SceneDiT:
    """The adapter folded into plain weights, in place (the model then runs as a whole student)."""
    for _, linear in _lora_linears(model):
        if parametrize.is_parametrized(linear, "weight"):
            parametrize.remove_parametrizations(linear, "weight", leave_parametrized=True)
    return model


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_student_adapter(
    model: SceneDiT, path: str | Path, *, base: str | Path, extra: dict[str, Any] | None = None
) -> None:
    """Writes a student being trained with :func:`add_lora` as an adapter on ``base`` (its teacher's
    file), float16: the teacher's name and SHA-256 go in the metadata."""
    from scenecraft.model.checkpoints import save_scene_model

    base = Path(base)
    ranks = {v.shape[0] for k, v in adapter_tensors(model).items() if k.endswith(".lora_A")}
    meta = {
        **(extra or {}),
        "format": LORA_FORMAT,
        "base": base.name,
        "base_sha256": file_sha256(base),
        "base_path": str(base.resolve()),  # where it was when trained: the last place a loader looks
        "lora_rank": max(ranks) if ranks else 0,
    }
    save_scene_model(model, path, dtype=torch.float16, extra=meta, tensors=adapter_tensors(model))


def _adapter_base(path: Path, meta: dict[str, Any]) -> Path:
    from scenecraft.variants import WEIGHTS_DIR

    name, digest = meta["extra"].get("base"), meta["extra"].get("base_sha256")
    if not name or not digest:
        raise CheckpointError(f"adapter {path} does not name its teacher (base, base_sha256)")
    candidates = [path.parent / name, WEIGHTS_DIR / name]
    if meta["extra"].get("base_path"):
        candidates.append(Path(meta["extra"]["base_path"]))
    found = list(dict.fromkeys(c.resolve() for c in candidates if c.is_file()))
    if not found:
        raise CheckpointError(
            f"adapter {path} is made for the teacher {name}: not found beside it, among the bundled weights "
            f"or where it was trained ({meta['extra'].get('base_path')})"
        )
    for candidate in found:
        if file_sha256(candidate) == digest:
            return candidate
    raise CheckpointError(
        f"adapter {path} is made for a teacher {name} with SHA-256 {digest[:12]}…; "
        f"{', '.join(str(c) for c in found)} is a different file"
    )


def _load_adapter(path: Path, meta: dict[str, Any]) -> SceneDiT:
    from scenecraft.model.checkpoints import load_scene_model

    base = _adapter_base(path, meta)
    model = student_from(load_scene_model(base))
    same_conditioning = ConditioningConfig.from_dict(meta["conditioning"]) == model.cond_config
    if DiTConfig(**meta["dit"]) != model.config or not same_conditioning:
        raise CheckpointError(f"adapter {path} was saved for a different model shape than its teacher {base}")
    own = model.state_dict()
    updates: dict[str, dict[str, Tensor]] = {}
    state = dict(own)
    for key, value in read_state_dict(path).items():
        value = value.float()
        if key.endswith((".lora_A", ".lora_B")):
            name, part = key.rsplit(".", 1)
            updates.setdefault(name, {})[part] = value
        elif key in own and own[key].shape == value.shape:
            state[key] = value
        else:
            raise CheckpointError(f"adapter {path}: tensor {key} {tuple(value.shape)} does not fit the student")
    for name, pair in updates.items():
        key = f"{name}.weight"
        if set(pair) != {"lora_A", "lora_B"} or key not in own:
            raise CheckpointError(f"adapter {path}: incomplete or unknown low-rank update {name}")
        delta = pair["lora_B"] @ pair["lora_A"]
        if delta.shape != own[key].shape:
            shapes = f"{tuple(delta.shape)}, the weight {tuple(own[key].shape)}"
            raise CheckpointError(f"adapter {path}: update {name} is {shapes}")
        state[key] = own[key] + delta
    load_weights(model, state, source=f"adapter {path}")
    model.extra = meta["extra"]
    return model


def install_student(source: str | Path, folder: str | Path, name: str) -> Path:
    """Copies the student ``source`` into ``folder`` (the bundled weights) as ``name``, the way it
    ships: an adapter's teacher must already be in ``folder`` under the name and SHA-256 the adapter
    records, and the training machine's path to it (``base_path``) is dropped. The tensors are copied
    unchanged; the copy is loaded before it replaces anything, so a student that does not load is
    never installed. -> the installed path."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from scenecraft.atomic_write import fsync_dir

    source, folder = Path(source), Path(folder)
    meta = read_scene_metadata(source)
    if meta is None or meta["extra"].get("format") not in STUDENT_FORMATS:
        raise CheckpointError(f"{source} is not a student checkpoint ({' or '.join(STUDENT_FORMATS)})")
    extra = dict(meta["extra"])
    if extra["format"] == LORA_FORMAT:
        teacher = folder / str(extra.get("base"))
        if not teacher.is_file() or file_sha256(teacher) != extra.get("base_sha256"):
            state = "is a different file" if teacher.is_file() else "is not there"
            raise CheckpointError(
                f"adapter {source} is made for the teacher {extra.get('base')} with SHA-256 "
                f"{str(extra.get('base_sha256'))[:12]}…, and {teacher} {state}: install it beside its own teacher"
            )
        extra.pop("base_path", None)
    with safe_open(str(source), framework="pt") as f:
        header = dict(f.metadata() or {})
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    header["extra"] = json.dumps(extra)
    target = folder / name
    # a checkpoint is recognised by its suffix, so the copy checked before the rename keeps it
    tmp = folder / f".{name}.{secrets.token_hex(6)}.safetensors"
    try:
        save_file(tensors, str(tmp), metadata=header)
        load_student(tmp)  # refuses, and nothing is replaced, if it does not load
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(folder)
    return target


def save_student(model: SceneDiT, path: str | Path, *, extra: dict[str, Any] | None = None) -> None:
    """Writes a student in float16 with its configs; ``extra`` records how it was made."""
    from scenecraft.model.checkpoints import save_scene_model

    save_scene_model(model, path, dtype=torch.float16, extra={**(extra or {}), "format": STUDENT_FORMAT})


def load_student(path: str | Path) -> SceneDiT:
    """A student saved by :func:`save_student` or :func:`save_student_adapter`, in float32."""
    meta = read_scene_metadata(path)
    if meta is None or meta["extra"].get("format") not in STUDENT_FORMATS:
        raise CheckpointError(f"{path} is not a student checkpoint ({' or '.join(STUDENT_FORMATS)})")
    if meta["extra"]["format"] == LORA_FORMAT:
        return _load_adapter(Path(path), meta)
    config = DiTConfig(**meta["dit"])
    model = SceneDiT(config, ConditioningConfig.from_dict(meta["conditioning"]))
    model.t_embedder = StudentTimeEmbedder(config.hidden_size)
    state = {k: v.float() if v.is_floating_point() else v for k, v in read_state_dict(path).items()}
    load_weights(model, state, source=f"student {path}")
    model.extra = meta["extra"]
    return model


__all__ = [
    "LORA_FORMAT",
    "PACKED",
    "STUDENT_FORMAT",
    "STUDENT_FORMATS",
    "GuidanceEmbedder",
    "LowRank",
    "StudentTimeEmbedder",
    "adapter_tensors",
    "add_lora",
    "drop_blocks",
    "has_lora",
    "install_student",
    "is_student",
    "load_student",
    "merge_lora",
    "pack",
    "save_student",
    "save_student_adapter",
    "student_from",
]
