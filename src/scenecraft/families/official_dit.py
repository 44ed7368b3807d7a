"""Official class-conditional DiT checkpoints as library entries, read from files alone (no torch).

    data/models/
      dit-xl-2-256/
        DiT-XL-2-256x256.pt       the official release (a bare state dict), a training checkpoint
                                  ({"ema": ...}), or the same tensors as .safetensors
        vae/                      the SD VAE: a diffusers AutoencoderKL folder (config.json + weights)
                                  or one weights file named vae*.safetensors / vae*.pt / *.ckpt

The entry runs through scenecraft's own DiT pipeline (scenecraft.pipeline, exactly what
`scenecraft generate --checkpoint --vae` runs); its shape (depth, width, patch, training size,
classes, learned sigma) is read off the tensor shapes, as model/checkpoints.py `infer_dit_config`
does when the worker loads it. The API needs those facts without torch: shapes come from the
safetensors header, or, for a `.pt` file, from its pickle, unpickled by a restricted unpickler that
builds nothing but shape records (any other global in the pickle is refused).
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from scenecraft.families.spec import FAMILIES

_STORAGE_DTYPES = {
    "FloatStorage": "F32",
    "HalfStorage": "F16",
    "BFloat16Storage": "BF16",
    "DoubleStorage": "F64",
    "LongStorage": "I64",
    "IntStorage": "I32",
    "ByteStorage": "U8",
    "BoolStorage": "BOOL",
}
DIT_KEYS = ("x_embedder.proj.weight", "pos_embed", "final_layer.linear.weight", "y_embedder.embedding_table.weight")
WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors")


class PickleShapeError(ValueError):
    """A .pt file whose pickle is not a plain state dict of tensors."""


class _Shape(dict[str, Any]):
    """What a tensor record becomes: {"dtype", "shape"}, the safetensors header's own form."""


def _rebuild_tensor(storage: str, offset: int, size: tuple[int, ...], *_: Any) -> _Shape:
    return _Shape(dtype=storage, shape=list(size))


def _rebuild_parameter(data: _Shape, *_: Any) -> _Shape:
    return data


class _ShapeUnpickler(pickle.Unpickler):
    """Unpickles torch.save's data.pkl into {name: {"dtype", "shape"}}; storages are never read."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) in (("collections", "OrderedDict"), ("argparse", "Namespace")):
            return _OrderedDict if name == "OrderedDict" else _Namespace
        raise PickleShapeError(f"the pickle refers to {module}.{name}, which a state dict never holds")

    def persistent_load(self, pid: Any) -> Any:
        # ("storage", dtype name (from find_class), key, location, numel)
        if not isinstance(pid, tuple) or len(pid) < 2 or pid[0] != "storage":
            raise PickleShapeError(f"unexpected persistent id {pid!r}")
        return pid[1]


class _OrderedDict(dict[str, Any]):
    """A state dict (torch sets its `_metadata` attribute, hence a subclass with a __dict__)."""


class _Namespace:
    """argparse.Namespace in a training checkpoint's "args": kept opaque."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def pt_header(path: Path) -> dict[str, Any]:
    """{tensor name: {"dtype", "shape"}} of a torch.save zip file, without torch; for a training
    checkpoint, its "ema" (else "model" / "state_dict") tensors, as read_state_dict takes them."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if name is None:
                raise PickleShapeError(f"{path} has no data.pkl (not a torch.save file)")
            with archive.open(name) as f:
                obj = _ShapeUnpickler(f).load()
    except zipfile.BadZipFile:
        raise PickleShapeError(
            f"{path} is not a zip-format torch file (saved by torch < 1.6?): re-save it with torch.save, "
            "or as .safetensors"
        ) from None
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError) as exc:
        raise PickleShapeError(f"{path}: unreadable pickle: {exc}") from None
    if isinstance(obj, dict):
        for key in ("ema", "model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, _Shape) for v in obj.values()):
        raise PickleShapeError(f"{path} holds no state dict of tensors")
    prefixes = ("module.", "_orig_mod.")
    return {next((k[len(p) :] for p in prefixes if k.startswith(p)), k): dict(v) for k, v in obj.items()}


def dit_facts(header: dict[str, Any]) -> dict[str, Any] | None:
    """The DiT shape facts of a header (infer_dit_config's reading of the same tensors), or None."""
    if not all(k in header for k in DIT_KEYS):
        return None
    shape = {k: header[k]["shape"] for k in DIT_KEYS}
    hidden, in_channels, patch = shape["x_embedder.proj.weight"][:3]
    grid = round(shape["pos_embed"][1] ** 0.5)
    out_channels = shape["final_layer.linear.weight"][0] // (patch * patch)
    return {
        "in_channels": int(in_channels),
        "patch": int(patch),
        "input_size": int(grid * patch),
        "classes": int(shape["y_embedder.embedding_table.weight"][0]) - 1,
        "learn_sigma": out_channels == 2 * in_channels,
        "hidden": int(hidden),
    }


def find_weights(folder: Path) -> tuple[Path | None, Path | None]:
    """(the DiT checkpoint, the VAE) in a folder: the VAE is vae/ or a vae* file, the DiT the one
    other weights file."""
    vae: Path | None = folder / "vae" if (folder / "vae" / "config.json").is_file() else None
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (*WEIGHT_SUFFIXES, ".ckpt"))
    if vae is None:
        vae = next((p for p in files if p.name.lower().startswith("vae")), None)
    dits = [p for p in files if p != vae and p.suffix in WEIGHT_SUFFIXES]
    return (dits[0] if len(dits) == 1 else None), vae


def dit_spec(facts: dict[str, Any], vae_factor: int) -> Any:
    """The "dit" family row with this checkpoint's facts: patch, VAE factor, samplers by objective
    (learned sigma = the official epsilon objective: DDIM/DDPM; otherwise flow: Euler/Heun)."""
    base = FAMILIES["dit"]
    samplers = ("ddim", "ddpm") if facts["learn_sigma"] else ("euler", "heun")
    unit = vae_factor * facts["patch"]
    return replace(
        base,
        downsample=vae_factor,
        patch=facts["patch"],
        samplers=samplers,
        size_min=max(base.size_min, 2 * unit),
        steps_default=50 if facts["learn_sigma"] else 30,
    )
