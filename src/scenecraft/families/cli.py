"""The model library: `list` what is installed, `inspect` one folder or file, `verify` that models load.

scenecraft models list   [--models-dir DIR]           every entry, runnable or not, and why
scenecraft models inspect PATH                        family, parameters, dtype, size, capabilities
scenecraft models verify [--models-dir DIR] [MODEL]   memory estimate, load, one 2-step image
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from scenecraft.cli import UsageError
from scenecraft.families.library import LibraryError, ModelEntry, inspect_path, scan


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in (("list", "installed models"), ("verify", "load each model, make a tiny image")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--models-dir", type=Path, default=None, help="default: the settings' models_dir")
        p.add_argument("--data-dir", type=Path, default=Path("data"), help="locates scenecraft.toml (default ./data)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "verify":
            p.add_argument("model", nargs="?", help="one model id (default: all)")
            p.add_argument("--device", default=None)
            p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
            p.add_argument("--no-load", action="store_true", help="check files and the memory estimate only")
    p = sub.add_parser("inspect", help="one diffusers folder or .safetensors file")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true")


def describe(entry: ModelEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "family": entry.family.name,
        "layout": entry.layout,
        "path": str(entry.path),
        "params": entry.params,
        "dtype": entry.dtype,
        "native_size": list(entry.native_size),
        "size": f"{entry.family.size_min}..{entry.family.size_max}, multiple of {entry.family.multiple_of}",
        "steps_default": entry.family.steps_default,
        "weights_gib": round(entry.weight_bytes / 1024**3, 3),
        "components": {k: {"params": v.params, "dtype": v.dtype} for k, v in entry.components.items()},
        "can": [k for k, v in entry.capabilities.items() if v],
        "pose_controlnet": str(entry.pose_controlnet) if entry.pose_controlnet else None,
        "base": str(entry.base) if entry.base else None,  # a single file's other components
        "vae": str(entry.vae) if entry.vae else None,  # a DiT checkpoint's VAE
        "classes": entry.classes,
        "runnable": entry.runnable,
        "problem": entry.problem,
    }


def _print_entry(info: dict[str, object]) -> None:
    state = "ok" if info["runnable"] else f"NOT RUNNABLE: {info['problem']}"
    print(
        f"{info['id']:<28} {info['family']:<13} {int(info['params']) / 1e6:>9.1f}M {info['dtype']:<9} "  # type: ignore[call-overload]
        f"native {info['native_size']}  can: {', '.join(info['can'])}  [{state}]"  # type: ignore[arg-type]
    )


def _settings(args: argparse.Namespace) -> object:
    from scenecraft.config import load_settings

    overrides = {"models_dir": args.models_dir} if args.models_dir else {}
    for name in ("device", "dtype"):
        if getattr(args, name, None):
            overrides["device" if name == "device" else "model_dtype"] = getattr(args, name)
    return load_settings(args.data_dir.resolve(), **overrides)


def run(args: argparse.Namespace) -> int:
    if args.action == "inspect":
        try:
            info = describe(inspect_path(args.path))
        except LibraryError as exc:
            raise UsageError(str(exc)) from None
        print(json.dumps(info, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in info.items()))
        return 0
    settings = _settings(args)
    library = scan(settings.resolved_models_dir, settings.model)  # type: ignore[attr-defined]
    if args.action == "list":
        infos = [describe(e) for e in library.entries.values()]
        if args.json:
            print(json.dumps({"models": infos, "skipped": library.skipped}, indent=2))
            return 0
        print(f"models in {settings.resolved_models_dir} (default: {library.default})")  # type: ignore[attr-defined]
        for info in infos:
            _print_entry(info)
        for path, why in library.skipped.items():
            print(f"skipped {path}: {why}")
        return 0
    return _verify(args, settings, library)


def _verify(args: argparse.Namespace, settings: object, library: object) -> int:
    from scenecraft.families.runner import (
        FamilyError,
        FamilyRunner,
        FamilySample,
        LoadOptions,
        free_bytes,
        required_bytes,
    )
    from scenecraft.jobs.engine import PipelineEngine, RequestRejected, Sample

    entries = [e for e in library.entries.values() if e.family.name != "scene-dit"]  # type: ignore[attr-defined]
    if args.model:
        entries = [e for e in entries if e.id == args.model]
        if not entries:
            raise UsageError(f"no model {args.model!r} in the library; see `scenecraft models list`")
    options = LoadOptions(settings.device, settings.model_dtype, settings.attention_backend, settings.cpu_offload)  # type: ignore[attr-defined]
    failed = 0
    for entry in entries:
        if not entry.runnable:
            print(f"{entry.id}: NOT RUNNABLE: {entry.problem}")
            failed += 1
            continue
        need, _ = required_bytes(entry, options)
        have, _ = free_bytes(options.device)
        print(f"{entry.id}: needs about {need / 1024**3:.2f} GiB on {options.device}, {have / 1024**3:.1f} GiB free")
        if args.no_load:
            continue
        side = max(entry.family.size_min, entry.family.multiple_of * 2)
        try:
            started = time.perf_counter()
            if entry.family.name == "dit":  # our own DiT pipeline, through the worker's engine
                models_dir = settings.resolved_models_dir  # type: ignore[attr-defined]
                engine = PipelineEngine(None, options.device, models_dir=models_dir, dtype=options.dtype)
                engine.load(entry.id)
                loaded = time.perf_counter() - started
                engine.generate(
                    [Sample(0, class_label=0)],
                    model=entry.id,
                    size=side,
                    steps=2,
                    sampler=entry.family.samplers[0],
                    guidance=1.0,
                    callback=lambda *_: None,
                    should_stop=lambda: False,
                )
            else:
                runner = FamilyRunner(entry, options)
                loaded = time.perf_counter() - started
                runner.generate([FamilySample(0, "a red cube")], width=side, height=side, steps=2, guidance=1.0)
            step = time.perf_counter() - started - loaded
            print(f"  loaded in {loaded:.1f} s, two {side}x{side} steps in {step:.1f} s: ok")
        except (FamilyError, RequestRejected) as exc:
            print(f"  FAILED: {exc}")
            failed += 1
    return 1 if failed else 0
