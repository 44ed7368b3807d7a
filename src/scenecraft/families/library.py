"""The model library: what is installed in ``models_dir``, read from files alone (no torch).

    data/models/
      pixart-sigma-1024/        a diffusers folder: model_index.json names the pipeline class
        model_index.json  transformer/  text_encoder/  tokenizer/  vae/  scheduler/
      sd35-medium/              ...
      sd35-pose-controlnet/     a ControlNet folder (config.json: SD3ControlNetModel); "pose" in the
                                name pairs it, as the pose adapter, with the models of its family
      flux1-dev.safetensors     a single-file transformer (SD3, FLUX): runs with the other
                                components of a diffusers folder of its family and shape (its
                                "base", families/single_file.py); without one it is not runnable
      dit-xl-2-256/             an official class-conditional DiT checkpoint (.pt or .safetensors)
        DiT-XL-2-256x256.pt     plus its VAE (vae/ folder or a vae* file): see families/official_dit.py
        vae/

Parameter counts and dtypes come from the safetensors headers (8-byte length + JSON), never from
loading weights, so `GET /v1/models` and job validation stay cheap and torch-free. The bundled
model (seed-12M) is always an entry, and the platform's default unless settings say otherwise.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scenecraft.families import official_dit, single_file
from scenecraft.families.spec import CAPABILITIES, FAMILIES, Capability, FamilySpec, family_of_pipeline, with_steps
from scenecraft.variants import get_variant, list_variants

BUNDLED_ID = "seed-12M"
BUNDLED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "seed-12M.safetensors"
# its learned x2 upsampler (model/upsampler.py): with it, the bundled model's images are 128 px by default
BUNDLED_UPSAMPLER = BUNDLED_WEIGHTS.with_name("seed-12M-x2.safetensors")
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
DTYPE_NAMES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I8": "int8", "U8": "uint8"}
CONTROLNETS = {"SD3ControlNetModel": "sd3", "FluxControlNetModel": "flux"}
# Keys that identify a single-file transformer's family (original or diffusers layout, any prefix).
SINGLE_FILE_MARKERS: tuple[tuple[str, str], ...] = (
    ("double_blocks.0.img_attn.qkv.weight", "flux"),
    ("single_transformer_blocks.0.attn.to_q.weight", "flux"),
    ("joint_blocks.0.x_block.attn.qkv.weight", "sd3"),
    ("transformer_blocks.0.attn.add_q_proj.weight", "sd3"),
    ("blocks.0.cross_attn.q_linear.weight", "pixart-sigma"),
    ("transformer_blocks.0.attn2.to_q.weight", "pixart-sigma"),
)


class LibraryError(ValueError):
    """A model folder or file that cannot be read as a model; the message says what is wrong."""


@dataclass(frozen=True)
class WeightsInfo:
    params: int
    bytes: int
    dtype: str  # the most common dtype among the tensors, e.g. "bfloat16"


@dataclass(frozen=True)
class ModelEntry:
    id: str
    family: FamilySpec
    path: Path
    layout: str  # "diffusers" | "single-file" | "dit-checkpoint" | "bundled"
    params: int  # the DiT's own parameters (the transformer)
    dtype: str
    native_size: tuple[int, int]  # (width, height)
    weight_bytes: int  # every component's weights as stored
    components: dict[str, WeightsInfo] = field(default_factory=dict)
    pose_controlnet: Path | None = None
    problem: str | None = None  # why it cannot run (None: runnable)
    vae: Path | None = None  # a DiT checkpoint's VAE (folder or file)
    base: Path | None = None  # a single-file transformer's diffusers folder (its other components)
    classes: int = 0  # class-conditional models: labels 0..classes-1 (job field class_label)

    @property
    def runnable(self) -> bool:
        return self.problem is None

    @property
    def capabilities(self) -> dict[Capability, bool]:
        have = set(self.family.capabilities)
        if self.family.name != "scene-dit" and self.pose_controlnet is None:
            have.discard("pose")
        return {c: c in have for c in CAPABILITIES}

    @property
    def default_size(self) -> tuple[int, int]:
        """(width, height) of a job that gives none: the bundled model's is its samples' side times
        its upsampler's 2 when the upsampler is installed (it samples at 64 px, upsamples to 128)."""
        if self.layout == "bundled" and BUNDLED_UPSAMPLER.is_file():
            return self.native_size[0] * 2, self.native_size[1] * 2
        return self.native_size

    @property
    def default_steps(self) -> int:
        """Steps a job runs when it names none: the default variant's for the bundled model."""
        return get_variant(None).steps if self.layout == "bundled" else self.family.steps_default

    def public(self, default: bool) -> dict[str, Any]:
        """The entry as `GET /v1/models` shows it (docs/api.md)."""
        spec = self.family
        return {
            "id": self.id,
            "family": spec.name,
            "default": default,
            "params": self.params,
            "dtype": self.dtype,
            "native_size": list(self.native_size),
            "default_size": list(self.default_size),
            "size": {"min": spec.size_min, "max": spec.size_max, "multiple_of": spec.multiple_of},
            "square_only": spec.square_only,
            "steps": {"min": 1, "max": spec.steps_max, "default": self.default_steps},
            "samplers": list(spec.samplers),
            "guidance": {"default": spec.guidance_default},
            "capabilities": dict(self.capabilities),
            "variants": list_variants() if self.layout == "bundled" else [],
            "classes": self.classes,
        }


# -- safetensors headers ----------------------------------------------------------------------
def read_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file (tensor names -> dtype, shape, offsets), with the
    tensors a scene model file derives instead of storing (``checkpoints.DERIVED``: its sin-cos
    table) listed as the model holds them, so the parameter count is the model's."""
    try:
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > 100_000_000:
                raise LibraryError(f"{path} is not a safetensors file (header length {length})")
            header: dict[str, Any] = json.loads(f.read(length))
    except (OSError, struct.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LibraryError(f"{path} is not a readable safetensors file: {exc}") from None
    meta = header.pop("__metadata__", None) or {}
    try:
        derived, dit = json.loads(meta.get("derived", "{}")), json.loads(meta.get("dit", "{}"))
        for key, dtype in derived.items():
            grid = dit["input_size"] // dit["patch_size"]
            header.setdefault(
                key, {"dtype": _SAFETENSORS_DTYPES.get(dtype, "F32"), "shape": [1, grid * grid, dit["hidden_size"]]}
            )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ZeroDivisionError) as exc:
        raise LibraryError(f"{path} has unreadable scene model metadata: {exc}") from None
    return header


_SAFETENSORS_DTYPES = {"float16": "F16", "bfloat16": "BF16", "float32": "F32"}


def weights_info(files: list[Path]) -> WeightsInfo:
    header: dict[str, Any] = {}
    for i, path in enumerate(files):
        header |= {f"{i}:{k}": v for k, v in read_header(path).items()}
    return _header_info(header)


def _header_info(header: dict[str, Any]) -> WeightsInfo:
    params = size = 0
    dtypes: Counter[str] = Counter()
    for tensor in header.values():
        n = 1
        for d in tensor["shape"]:
            n *= int(d)
        params += n
        size += n * DTYPE_BYTES.get(tensor["dtype"], 4)
        dtypes[tensor["dtype"]] += n
    dtype = DTYPE_NAMES.get(dtypes.most_common(1)[0][0], "float32") if dtypes else "float32"
    return WeightsInfo(params, size, dtype)


def _json(path: Path) -> dict[str, Any]:
    try:
        value: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LibraryError(f"{path} is not readable JSON: {exc}") from None
    return value


# -- detection --------------------------------------------------------------------------------
def inspect_path(path: Path, controlnets: dict[str, list[Path]] | None = None) -> ModelEntry:
    """The entry for one diffusers folder or single .safetensors file; LibraryError when it is neither."""
    path = Path(path)
    if path.is_dir() and (path / "model_index.json").is_file():
        return _inspect_folder(path, controlnets or {})
    if path.is_file() and path.suffix == ".safetensors":
        return _inspect_single_file(path)
    if path.is_dir():
        return _inspect_dit_folder(path)
    raise LibraryError(
        f"{path} is neither a diffusers folder (with model_index.json), a DiT checkpoint folder, "
        "nor a .safetensors file"
    )


def _inspect_dit_folder(path: Path) -> ModelEntry:
    """An official DiT checkpoint plus its VAE (families/official_dit.py)."""
    checkpoint, vae = official_dit.find_weights(path)
    neither = f"{path} is neither a diffusers folder (no model_index.json) nor a DiT checkpoint folder"
    if checkpoint is None:
        raise LibraryError(f"{neither} (exactly one .pt/.pth/.safetensors DiT state dict, plus vae/ or a vae* file)")
    try:
        header = read_header(checkpoint) if checkpoint.suffix == ".safetensors" else official_dit.pt_header(checkpoint)
    except (LibraryError, official_dit.PickleShapeError) as exc:
        raise LibraryError(f"{neither}: {exc}") from None
    facts = official_dit.dit_facts(header)
    if facts is None:
        keys = ", ".join(official_dit.DIT_KEYS)
        raise LibraryError(f"{neither}: {checkpoint.name} is not a DiT state dict (no {keys})")
    problem = None
    factor = 8
    if facts["in_channels"] != 4:
        problem = f"{checkpoint} works on {facts['in_channels']}-channel pixels; only SD-VAE latent DiTs are entries"
    elif vae is None:
        problem = f"{checkpoint} works on SD-VAE latents: put its VAE beside it (a vae/ folder or a vae* file)"
    elif vae.is_dir():
        factor = _vae_factor(vae / "config.json", 8)
    info = _header_info(header)
    side = facts["input_size"] * factor
    vae_bytes = weights_info(sorted(vae.glob("*.safetensors"))).bytes if vae is not None and vae.is_dir() else 0
    if vae is not None and vae.is_file():
        vae_bytes = vae.stat().st_size
    return ModelEntry(
        id=path.name,
        family=official_dit.dit_spec(facts, factor),
        path=checkpoint,
        layout="dit-checkpoint",
        params=info.params,
        dtype=info.dtype,
        native_size=(side, side),
        weight_bytes=info.bytes + vae_bytes,
        components={"transformer": info},
        problem=problem,
        vae=vae,
        classes=facts["classes"],
    )


def _inspect_folder(path: Path, controlnets: dict[str, list[Path]]) -> ModelEntry:
    index = _json(path / "model_index.json")
    class_name = str(index.get("_class_name", ""))
    spec = family_of_pipeline(class_name)
    if spec is None:
        known = sorted(p for s in FAMILIES.values() for p in s.pipelines)
        raise LibraryError(f"{path}: pipeline {class_name!r} is not a supported family; supported: {', '.join(known)}")
    components: dict[str, WeightsInfo] = {}
    missing = []
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        folder = path / name
        files = sorted(folder.glob("*.safetensors"))
        if files:
            components[name] = weights_info(files)
        elif value[0] in ("diffusers", "transformers") and not any(
            (folder / n).exists() for n in ("tokenizer.json", "tokenizer_config.json", "scheduler_config.json")
        ):
            missing.append(name)
    if "transformer" not in components:
        raise LibraryError(f"{path}: transformer/ has no .safetensors weights")
    config = _json(path / "transformer" / "config.json")
    spec = _checkpoint_defaults(spec, config, _vae_factor(path / "vae" / "config.json", spec.downsample))
    side = int(config.get("sample_size") or 128) * spec.downsample
    problem = f"missing weights for {', '.join(missing)}" if missing else None
    transformer = components["transformer"]
    pose = next((c for c in controlnets.get(spec.name, []) if _controlnet_fits(c, config)), None)
    return ModelEntry(
        id=path.name,
        family=spec,
        path=path,
        layout="diffusers",
        params=transformer.params,
        dtype=transformer.dtype,
        native_size=(side, side),
        weight_bytes=sum(c.bytes for c in components.values()),
        components=components,
        pose_controlnet=pose,
        problem=problem,
    )


def _checkpoint_defaults(spec: FamilySpec, config: dict[str, Any], downsample: int) -> FamilySpec:
    """The family's table row with this checkpoint's own facts: its VAE's downsampling, its patch
    size (FLUX packs 2x2 latents whatever its config says), and FLUX.1-schnell's defaults (no
    guidance embedding: timestep-distilled, 4 steps, guidance 0)."""
    patch = spec.patch if spec.name == "flux" else int(config.get("patch_size") or spec.patch)
    spec = replace(spec, downsample=downsample, patch=patch, size_min=max(spec.size_min, 2 * downsample * patch))
    if spec.name == "flux" and not config.get("guidance_embeds", True):
        return with_steps(spec, 4, 0.0)
    return spec


def _vae_factor(config_path: Path, default: int) -> int:
    """Image pixels per latent pixel: 2^(levels - 1) of the VAE (KL or DC autoencoder)."""
    if not config_path.is_file():
        return default
    config = _json(config_path)
    levels = config.get("block_out_channels") or config.get("encoder_block_out_channels")
    return 2 ** (len(levels) - 1) if levels else default


def _controlnet_fits(folder: Path, transformer: dict[str, Any]) -> bool:
    """A ControlNet fits a transformer when its attention width matches (it adds to its blocks)."""
    config = _json(folder / "config.json")
    width = int(config.get("num_attention_heads", 0)) * int(config.get("attention_head_dim", 0))
    return width == int(transformer.get("num_attention_heads", -1)) * int(transformer.get("attention_head_dim", -1))


def _inspect_single_file(path: Path) -> ModelEntry:
    header = read_header(path)
    family = next((name for marker, name in SINGLE_FILE_MARKERS if any(k.endswith(marker) for k in header)), None)
    if family is None:
        raise LibraryError(f"{path}: no known DiT family's tensors in this file (FLUX, SD3, PixArt)")
    info = weights_info([path])
    spec = FAMILIES[family]
    side = 128 * spec.downsample
    if family not in single_file.SINGLE_FILE_CLASSES:
        problem = (
            f"diffusers cannot load a {spec.title} transformer from a single file: "
            "save it into a diffusers folder of its family (see docs/models.md)"
        )
    else:
        shape = single_file.transformer_shape(header, family)
        problem = (
            f"a single-file {spec.title} transformer ({single_file.describe(shape) if shape else 'shape unknown'}) "
            "runs with the text encoders, tokenizers, VAE and scheduler of a diffusers folder of its family "
            "with the same transformer shape; there is none in the model library: add one (e.g. the model it "
            "was fine-tuned from)"
        )
    return ModelEntry(
        id=path.stem,
        family=spec,
        path=path,
        layout="single-file",
        params=info.params,
        dtype=info.dtype,
        native_size=(side, side),
        weight_bytes=info.bytes,
        components={"transformer": info},
        problem=problem,
    )


def _with_base(entry: ModelEntry, entries: dict[str, ModelEntry]) -> ModelEntry:
    """A single-file entry made runnable by the first diffusers folder of its family and shape."""
    family = entry.family.name
    if family not in single_file.SINGLE_FILE_CLASSES:
        return entry
    shape = single_file.transformer_shape(read_header(entry.path), family)
    for base in entries.values():
        if base.layout != "diffusers" or base.family.name != family or not base.runnable:
            continue
        files = sorted((base.path / "transformer").glob("*.safetensors"))
        header: dict[str, Any] = {}
        for f in files:
            header |= read_header(f)
        if shape is not None and single_file.transformer_shape(header, family) == shape:
            components = base.components | {"transformer": entry.components["transformer"]}
            return replace(
                entry,
                family=base.family,
                native_size=base.native_size,
                components=components,
                weight_bytes=sum(c.bytes for c in components.values()),
                pose_controlnet=base.pose_controlnet,
                problem=None,
                base=base.path,
            )
    return entry


def bundled_entry() -> ModelEntry:
    info = weights_info([BUNDLED_WEIGHTS]) if BUNDLED_WEIGHTS.is_file() else WeightsInfo(0, 0, "float32")
    return ModelEntry(
        id=BUNDLED_ID,
        family=FAMILIES["scene-dit"],
        path=BUNDLED_WEIGHTS,
        layout="bundled",
        params=info.params,
        dtype=info.dtype,
        native_size=(64, 64),
        weight_bytes=info.bytes,
        components={"transformer": info},
        problem=None if BUNDLED_WEIGHTS.is_file() else f"the bundled weights {BUNDLED_WEIGHTS} are missing",
    )


@dataclass(frozen=True)
class Library:
    """Everything installed: runnable entries by id, plus what was found but cannot run."""

    entries: dict[str, ModelEntry]
    skipped: dict[str, str]  # path -> why it is not an entry
    default: str

    def runnable(self) -> list[ModelEntry]:
        return [e for e in self.entries.values() if e.runnable]

    def get(self, model_id: str) -> ModelEntry | None:
        entry = self.entries.get(model_id)
        return entry if entry is not None and entry.runnable else None

    def public(self) -> list[dict[str, Any]]:
        return [e.public(e.id == self.default) for e in self.runnable()]


def scan(models_dir: Path | None, default: str = BUNDLED_ID) -> Library:
    """Reads every entry of `models_dir` (a missing folder is an empty library)."""
    entries: dict[str, ModelEntry] = {BUNDLED_ID: bundled_entry()}
    skipped: dict[str, str] = {}
    children = sorted(models_dir.iterdir()) if models_dir is not None and models_dir.is_dir() else []
    controlnets: dict[str, list[Path]] = {}
    for child in children:
        config = child / "config.json"
        if child.is_dir() and config.is_file() and "pose" in child.name.lower():
            try:
                family = CONTROLNETS.get(str(_json(config).get("_class_name")))
            except LibraryError as exc:
                skipped[str(child)] = str(exc)
                continue
            if family is not None:
                controlnets.setdefault(family, []).append(child)
    paired = {p for paths in controlnets.values() for p in paths}
    for child in children:
        if child in paired or child.name.startswith("."):
            continue
        try:
            entry = inspect_path(child, controlnets)
        except LibraryError as exc:
            skipped[str(child)] = str(exc)
            continue
        if entry.id in entries:
            skipped[str(child)] = f"id {entry.id!r} is taken by {entries[entry.id].path}"
            continue
        entries[entry.id] = entry
    for model_id, entry in list(entries.items()):
        if entry.layout == "single-file":
            entries[model_id] = _with_base(entry, entries)
    return Library(entries, skipped, default if default in entries else BUNDLED_ID)
