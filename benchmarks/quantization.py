"""int8 post-training quantization of the bundled model on this CPU: speed and error, in turns.

    python benchmarks/quantization.py [--repeats 5] [--batches 1 8] [--compile]

One forward pass of seed-12M (the student's shape: the teacher's weights, one pass of a 64 px
image), float32 against torchao's ``quantize_`` with

- ``int8-dynamic``: int8 weights and per-token int8 activations (``Int8DynamicActivationInt8WeightConfig``);
- ``int8-weight``: int8 weights, float activations (``Int8WeightOnlyConfig``);

on every ``nn.Linear`` (the patch embeddings are convolutions and stay float). The three models take
turns call by call; the time is the median per call, the error the largest absolute difference of
the velocity from float32's, relative to its largest value. ``--compile`` runs each through
``torch.compile`` first (torchao's int8 kernels are meant to be fused by inductor). This CPU has AVX2
but neither VNNI nor AMX, so int8 matrix products have no hardware path here: the point of the
script is to say whether int8 pays on it. Writes benchmarks/results/quantization.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "quantization.json"


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if f.startswith(("avx", "amx")) or f in ("fma", "f16c"))


def quantized(model: torch.nn.Module, kind: str) -> torch.nn.Module:
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_

    config = Int8DynamicActivationInt8WeightConfig() if kind == "int8-dynamic" else Int8WeightOnlyConfig()
    out = copy.deepcopy(model)
    quantize_(out, config)
    return out


def inputs(model: Any, batch: int) -> tuple[torch.Tensor, torch.Tensor, Any]:
    from scenecraft.pipeline import SampleSpec
    from scenecraft.train.validation import held_out_requests

    return (
        torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(0)),
        torch.full((batch,), 500.0),
        [SampleSpec(seed=i, request=r) for i, r in enumerate(held_out_requests(batch, 64).requests)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import torchao

    from scenecraft.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_settings("seed-12M")
    base = pipe.model.eval()
    models = {
        "float32": base,
        "int8-dynamic": quantized(base, "int8-dynamic"),
        "int8-weight": quantized(base, "int8-weight"),
    }
    if args.compile:
        models = {k: torch.compile(m, dynamic=False) for k, m in models.items()}  # type: ignore[misc]
    rows = []
    with torch.inference_mode():
        for batch in args.batches:
            x, t, specs = inputs(base, batch)
            cond = pipe.scene_conditions(specs, 64)
            ref = base(x, t, cond)
            outs = {k: m(x, t, cond) for k, m in models.items()}  # warm-up (and compilation)
            times: dict[str, list[float]] = {k: [] for k in models}
            for _ in range(args.repeats):
                for k, m in models.items():
                    start = time.perf_counter()
                    m(x, t, cond)
                    times[k].append(time.perf_counter() - start)
            f32 = statistics.median(times["float32"])
            for k in models:
                err = float((outs[k] - ref).abs().max() / ref.abs().max())
                s = statistics.median(times[k])
                rows.append(
                    {"config": k, "batch": batch, "s_per_call": s, "speed_vs_float32": f32 / s, "rel_error": err}
                )
    result = {
        "benchmark": "quantization",
        "model": "seed-12M",
        "compiled": args.compile,
        "cpu": platform.processor() or platform.machine(),
        "cpu_flags": cpu_flags(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torchao": torchao.__version__,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"seed-12M forward, CPU flags {' '.join(result['cpu_flags'])}, {torch.get_num_threads()} threads")
    print("| config | batch | s/call | speed vs float32 | max rel. error |")
    print("|---|---|---|---|---|")
    for r in rows:
        cells = [r["config"], r["batch"], f"{r['s_per_call']:.3f}", f"{r['speed_vs_float32']:.2f}x"]
        cells.append(f"{r['rel_error']:.1e}")
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
