"""A training run's state packed small enough to travel, and unpacked back into ``state.pt``.

A lent GPU gets 64 MiB of carried files and gives back files of at most 16 MiB each. The trainer's
``state.pt`` for seed-12M (weights, EMA and AdamW's two moments in float32) is about 190 MB, so a
run that is to continue where the last one stopped travels packed:

- the weights and the EMA in bfloat16 (the EMA is what ships; the weights are what trains on) or,
  with ``weights="ema"`` (what travels *to* a GPU: 64 MiB hold the EMA and the moments of seed-12M,
  not both weights), the EMA alone, which the unpacked run then trains on;
- AdamW's moments quantised blockwise to 8 bits (Dettmers et al. 2022, "8-bit optimizers via
  block-wise quantization"): each block of 256 values keeps its absolute maximum in float32 and the
  values as int8 of ``x / absmax * 127`` — for ``exp_avg_sq``, which is non-negative and spans many
  orders of magnitude, of its square root, so small second moments keep their relative precision;
- REPA's projection head (a training-only module, ``train.repa``), where the run has one, in bfloat16;
- step, data position and the run's config as JSON;

split into safetensors files of at most ``max_bytes`` each (largest tensors first, each into the
emptiest file). :func:`unpack_state` rebuilds a ``state.pt`` the trainer resumes from.

    python -m scenecraft.train.portable pack RUN/state.pt DIR [--max-mib 16] [--weights both|ema]
    python -m scenecraft.train.portable unpack DIR RUN/state.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from scenecraft.atomic_write import atomic_path

BLOCK = 256
MANIFEST = "state.json"


def quantise(x: Tensor) -> tuple[Tensor, Tensor]:
    """Blockwise absmax int8: (n,) float -> (n,) int8 codes and (ceil(n / BLOCK),) float32 scales."""
    flat = x.detach().float().flatten()
    pad = (-len(flat)) % BLOCK
    blocks = torch.cat([flat, flat.new_zeros(pad)]).view(-1, BLOCK)
    scale = blocks.abs().amax(1).clamp_min(1e-30)
    codes = torch.round(blocks / scale[:, None] * 127).to(torch.int8)
    return codes.flatten()[: len(flat)], scale


def dequantise(codes: Tensor, scale: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """The inverse of :func:`quantise` (to within half a code step of each block's absmax)."""
    n = codes.numel()
    pad = (-n) % BLOCK
    blocks = torch.cat([codes.float(), codes.new_zeros(pad).float()]).view(-1, BLOCK)
    return (blocks * (scale.float()[:, None] / 127)).flatten()[:n].view(shape)


def _pack_tensors(state: dict[str, Any], parts: tuple[str, ...]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Flat tensors to store and the JSON-able rest (how to rebuild the optimizer's state)."""
    tensors: dict[str, Tensor] = {}
    for part in parts:
        for k, v in state[part].items():
            tensors[f"{part}/{k}"] = v.to(torch.bfloat16) if v.is_floating_point() else v
    opt = state["opt"]
    shapes: dict[str, Any] = {}
    for pid, s in opt["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            v = s[name]
            source = v.sqrt() if name == "exp_avg_sq" else v  # quantise sqrt(v): relative precision
            codes, scale = quantise(source)
            tensors[f"opt/{pid}/{name}/codes"], tensors[f"opt/{pid}/{name}/scale"] = codes, scale
            shapes[f"{pid}/{name}"] = list(v.shape)
        shapes[f"{pid}/step"] = float(s["step"])
    meta = {
        "step": int(state["step"]),
        "data_next": int(state["data_next"]),
        "config": state["config"],
        "param_groups": opt["param_groups"],
        "opt_state": shapes,
        "parts": list(parts),
        "dtypes": {
            part: {k: str(v.dtype) for k, v in state[part].items()} for part in ("model", "ema", *_extra(state))
        },
    }
    return tensors, meta


def _extra(state: dict[str, Any]) -> tuple[str, ...]:
    """Training-only modules a state may hold beside the model: REPA's projection head."""
    return ("repa_head",) if "repa_head" in state else ()


def pack_state(
    state_path: str | Path, out_dir: str | Path, max_bytes: int = 16 * 2**20, weights: str = "both"
) -> list[Path]:
    """Write ``state_path`` (a trainer ``state.pt``) as packed files of at most ``max_bytes`` to
    ``out_dir``; ``weights`` "both" keeps the weights and the EMA, "ema" the EMA only."""
    from safetensors.torch import save_file

    if weights not in ("both", "ema"):
        raise ValueError(f"weights must be 'both' or 'ema', got {weights!r}")
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    tensors, meta = _pack_tensors(state, (("model", "ema") if weights == "both" else ("ema",)) + _extra(state))
    # Each tensor's bytes plus its share of the safetensors header (name, dtype, shape, offsets).
    sizes = {k: v.numel() * v.element_size() + 64 + len(k) for k, v in tensors.items()}
    room = max_bytes - 1024
    too_big = [k for k, n in sizes.items() if n > room]
    if too_big:
        raise ValueError(f"tensors larger than one file of {max_bytes} bytes: {too_big[:3]}")
    files: list[list[str]] = []
    loads: list[int] = []
    for k in sorted(tensors, key=lambda k: -sizes[k]):  # largest first, into the emptiest file that fits
        fits = [i for i, used in enumerate(loads) if used + sizes[k] <= room]
        if not fits:
            files.append([])
            loads.append(0)
            fits = [len(files) - 1]
        i = min(fits, key=lambda j: loads[j])
        files[i].append(k)
        loads[i] += sizes[k]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, keys in enumerate(files):
        path = out / f"state-{i:02d}.safetensors"
        with atomic_path(path) as tmp:
            save_file({k: tensors[k].contiguous() for k in keys}, str(tmp))
        paths.append(path)
    meta["files"] = [p.name for p in paths]
    with atomic_path(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(meta))
    return [*paths, out / MANIFEST]


def unpack_state(packed_dir: str | Path, state_path: str | Path) -> dict[str, Any]:
    """Rebuild a trainer ``state.pt`` from :func:`pack_state`'s files; returns its step and data position."""
    from safetensors.torch import load_file

    d = Path(packed_dir)
    if not (d / MANIFEST).is_file():
        raise FileNotFoundError(f"{d} holds no packed training state ({MANIFEST} missing)")
    meta = json.loads((d / MANIFEST).read_text())
    tensors: dict[str, Tensor] = {}
    for name in meta["files"]:
        tensors.update(load_file(str(d / name)))
    state: dict[str, Any] = {"step": meta["step"], "data_next": meta["data_next"], "config": meta["config"]}
    parts = meta["parts"]
    for part in ("model", "ema"):
        stored = part if part in parts else "ema"  # an EMA-only pack trains on from the EMA
        dtypes = {k: getattr(torch, dt.removeprefix("torch.")) for k, dt in meta["dtypes"][part].items()}
        state[part] = {k: tensors[f"{stored}/{k}"].to(dt) for k, dt in dtypes.items()}
    for part in set(meta["dtypes"]) - {"model", "ema"}:  # training-only modules (REPA's head)
        dtypes = {k: getattr(torch, dt.removeprefix("torch.")) for k, dt in meta["dtypes"][part].items()}
        state[part] = {k: tensors[f"{part}/{k}"].to(dt) for k, dt in dtypes.items()}
    opt_state: dict[int, dict[str, Tensor]] = {}
    for key, shape in meta["opt_state"].items():
        pid, name = key.split("/")
        entry = opt_state.setdefault(int(pid), {})
        if name == "step":
            entry["step"] = torch.tensor(shape)
            continue
        value = dequantise(tensors[f"opt/{key}/codes"], tensors[f"opt/{key}/scale"], tuple(shape))
        entry[name] = value.square() if name == "exp_avg_sq" else value
    state["opt"] = {"state": opt_state, "param_groups": meta["param_groups"]}
    with atomic_path(state_path) as tmp:
        torch.save(state, tmp)
    return {"step": state["step"], "data_next": state["data_next"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("state", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--max-mib", type=float, default=16.0)
    p.add_argument("--weights", choices=("both", "ema"), default="both", help="ema: the EMA only (to fit 64 MiB)")
    u = sub.add_parser("unpack")
    u.add_argument("packed", type=Path)
    u.add_argument("state", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "pack":
        for path in pack_state(args.state, args.out, int(args.max_mib * 2**20), args.weights):
            print(f"{path} {path.stat().st_size / 2**20:.1f} MiB")
    else:
        print(json.dumps(unpack_state(args.packed, args.state)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
