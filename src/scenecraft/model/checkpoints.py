"""Reading and writing model weights, with errors that say what does not fit.

Accepted files:
- the official DiT releases (``DiT-XL-2-256x256.pt``): a bare state dict;
- a DiT training checkpoint ``{"model": ..., "ema": ..., "opt": ..., "args": Namespace}``: its EMA
  weights are used, as the official sampling script does;
- ``.safetensors`` files, ours included.

Pickled files are read with ``torch.load(weights_only=True)``, which refuses arbitrary code; the
one non-tensor object official training checkpoints hold (``argparse.Namespace``) is allowed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from scenecraft.atomic_write import atomic_path
from scenecraft.model.configs import DIT_CONFIGS
from scenecraft.model.dit import DiTConfig

if TYPE_CHECKING:
    from scenecraft.model.conditioning import SceneDiT

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DDP and torch.compile wrappers


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not fit the model."""


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors in a weights file; for a training checkpoint, its EMA (else model) weights."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(p))
        else:
            with torch.serialization.safe_globals([argparse.Namespace]):
                obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, wrong format, disallowed pickle
        raise CheckpointError(f"cannot read checkpoint {p}: {exc}") from exc
    if isinstance(obj, dict):
        for key in ("ema", "model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{p} holds no state dict of tensors")
    if p.suffix == ".safetensors":
        obj = {**_derived_tensors(p, read_safetensors_metadata(p)), **obj}
    state: dict[str, Tensor] = {}
    for key, value in obj.items():
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        state[key] = value
    return state


def infer_dit_config(state: dict[str, Tensor]) -> DiTConfig | None:
    """The DiT shape a state dict was saved from, or None if it is not a DiT."""
    try:
        proj = state["x_embedder.proj.weight"]  # (D, C, p, p)
        pos = state["pos_embed"]  # (1, T, D)
        final = state["final_layer.linear.weight"]  # (p*p*out, D)
        table = state["y_embedder.embedding_table.weight"]  # (classes + 1, D)
    except KeyError:
        return None
    depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    hidden, in_channels, patch = proj.shape[0], proj.shape[1], proj.shape[2]
    grid = round(pos.shape[1] ** 0.5)
    out_channels = final.shape[0] // (patch * patch)
    mlp_hidden = state["blocks.0.mlp.fc1.weight"].shape[0] if depth else 4 * hidden
    # Head count is not stored; take the one a named config of this width uses.
    heads = next((c.num_heads for c in DIT_CONFIGS.values() if c.hidden_size == hidden), max(1, hidden // 64))
    return DiTConfig(
        depth=depth,
        hidden_size=hidden,
        num_heads=heads,
        patch_size=patch,
        input_size=grid * patch,
        in_channels=in_channels,
        mlp_ratio=mlp_hidden / hidden,
        num_classes=table.shape[0] - 1,
        class_dropout_prob=0.1,
        learn_sigma=out_channels == 2 * in_channels,
    )


def describe_config(config: DiTConfig) -> str:
    """E.g. 'DiT-XL/2 at 256 px (32x32 latents)'."""
    base = {"depth": config.depth, "hidden_size": config.hidden_size, "patch_size": config.patch_size}
    name = next(
        (n for n, c in DIT_CONFIGS.items() if all(getattr(c, k) == v for k, v in base.items())),
        f"a DiT of depth {config.depth}, width {config.hidden_size}, patch {config.patch_size}",
    )
    px = f" at {config.input_size * 8} px" if config.in_channels == 4 else ""
    return f"{name}{px} ({config.input_size}x{config.input_size} inputs, {config.in_channels} channels)"


def load_weights(
    model: nn.Module,
    state: dict[str, Tensor],
    *,
    source: str = "checkpoint",
    assign: bool = False,
    grown: tuple[str, ...] = (),
) -> None:
    """``model.load_state_dict(state, strict=True)``, failing with the keys and shapes that differ.

    ``grown``: key prefixes of modules the model may have and the checkpoint lack (modules that
    start at zero, ``conditioning.GROWN_MODULES``); those keep the model's own initial values.

    ``assign=True`` makes the checkpoint's tensors the model's own (cast to the model's dtypes)
    instead of copying them in: for a model built on the meta device, so a large checkpoint is
    held once in memory rather than twice (DiT-XL/2: 2.7 GB less at peak).
    """
    expected = model.state_dict()
    if grown:
        state = {**{k: v for k, v in expected.items() if k.startswith(grown) and k not in state}, **state}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        lines = [f"{source} does not fit the model:"]
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items) - 8} more)" if len(items) > 8 else "")
                lines.append(f"  {len(items)} {title}: {shown}")
        saved = infer_dit_config(state)
        if saved is not None:
            lines.append(f"  the checkpoint looks like {describe_config(saved)}")
        config = getattr(model, "config", None)
        if isinstance(config, DiTConfig):
            lines.append(f"  the model is {describe_config(config)}")
        raise CheckpointError("\n".join(lines))
    if assign:
        state = {k: v.to(expected[k].dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=assign)


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Writes the model's tensors as safetensors, atomically (:mod:`scenecraft.atomic_write`)."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))


# --------------------------------------------------------------------------------------------
# Scene-aware models: weights plus their shape in the safetensors metadata
# --------------------------------------------------------------------------------------------

SCENE_MODEL_FORMAT = "scenecraft.scene-dit.v1"


def save_scene_model(
    model: nn.Module,
    path: str | Path,
    *,
    dtype: torch.dtype | None = None,
    extra: dict[str, Any] | None = None,
    tensors: dict[str, Tensor] | None = None,
) -> None:
    """Writes a :class:`~scenecraft.model.conditioning.SceneDiT` with its configs in the metadata,
    atomically; ``dtype`` stores floating tensors in that precision (the bundled model is float16).
    ``tensors`` replaces the model's state dict as what is written (an adapter's few tensors).
    The :data:`DERIVED` tensors are not written: the metadata names them and their precision."""
    import dataclasses
    import json

    from safetensors.torch import save_file

    config = getattr(model, "config", None)
    cond = getattr(model, "cond_config", None)
    if not isinstance(config, DiTConfig) or cond is None:
        raise CheckpointError("save_scene_model needs a SceneDiT (a DiT with cond_config)")
    meta = {
        "format": SCENE_MODEL_FORMAT,
        "dit": json.dumps(dataclasses.asdict(config)),
        "conditioning": json.dumps(cond.to_dict()),
        "extra": json.dumps(extra or {}),
    }
    written, derived = {}, {}
    for k, v in (model.state_dict() if tensors is None else tensors).items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        written[k] = v.contiguous()
    for k in DERIVED:  # recomputed when read (read_state_dict): only its precision is kept
        precision = {k: str(written[k].dtype).removeprefix("torch.")} if k in written else {}
        recomputed = _derived_tensors(Path(path), {**meta, "derived": json.dumps(precision)})
        if precision and torch.equal(recomputed[k], written[k]):  # never drop a table that differs
            derived.update(precision)
            del written[k]
    if derived:
        meta["derived"] = json.dumps(derived)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        save_file(written, str(tmp), metadata=meta)


def read_safetensors_metadata(path: Path, what: str = "checkpoint") -> dict[str, str]:
    """The string metadata of a .safetensors file ({} if it has none); a CheckpointError naming
    ``what`` the file was meant to be when it cannot be read."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:
        raise CheckpointError(f"cannot read {what} {path}: {exc}") from exc


# Tensors a scene model file need not hold: computed from its configs when it is read, in the
# precision they would have been stored in (so the model loads bit for bit as if they were stored).
DERIVED = ("pos_embed",)  # the fixed 2-D sin-cos table (0.5 MB of the bundled model's 30 MB)


def _derived_tensors(path: Path, meta: dict[str, str]) -> dict[str, Tensor]:
    import json

    if meta.get("format") != SCENE_MODEL_FORMAT or "derived" not in meta:
        return {}
    from scenecraft.model.dit import get_2d_sincos_pos_embed

    derived, dit = json.loads(meta["derived"]), json.loads(meta["dit"])
    tensors = {}
    for key, dtype in derived.items():
        if key not in DERIVED or not isinstance(getattr(torch, str(dtype), None), torch.dtype):
            raise CheckpointError(f"{path}: cannot compute the derived tensor {key} ({dtype})")
        grid = dit["input_size"] // dit["patch_size"]
        table = torch.from_numpy(get_2d_sincos_pos_embed(dit["hidden_size"], grid, grid)).float().unsqueeze(0)
        tensors[key] = table.to(getattr(torch, dtype))
    return tensors


def read_scene_metadata(path: str | Path) -> dict[str, Any] | None:
    """The configs stored by :func:`save_scene_model`, or None for any other weights file."""
    import json

    p = Path(path)
    if p.suffix != ".safetensors" or not p.is_file():
        return None
    meta = read_safetensors_metadata(p)
    if meta.get("format") != SCENE_MODEL_FORMAT:
        return None
    return {k: json.loads(meta[k]) for k in ("dit", "conditioning", "extra")}


def load_scene_model(path: str | Path) -> SceneDiT:
    """A SceneDiT built from the configs in ``path``'s metadata, with its weights, in float32."""
    from scenecraft.model.conditioning import ConditioningConfig, SceneDiT

    meta = read_scene_metadata(path)
    if meta is None:
        raise CheckpointError(f"{path} is not a scene model (no {SCENE_MODEL_FORMAT} metadata)")
    model = SceneDiT(DiTConfig(**meta["dit"]), ConditioningConfig.from_dict(meta["conditioning"]))
    state = {k: v.float() if v.is_floating_point() else v for k, v in read_state_dict(path).items()}
    load_weights(model, state, source=f"scene model {path}")
    model.extra = meta["extra"]
    return model
