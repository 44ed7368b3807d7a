"""One GPU call: DiT-XL/2 against diffusers, the bundled model's variants, seed-L at 4096².

    python benchmarks/gpu_bench.py --out OUT_DIR [--device cuda] [--quick]

Run by ``scripts/gpu-bench OUT_DIR`` on a lent GPU (about 6 minutes on an H100/H200). Every part
writes its own JSON into OUT_DIR as soon as it is done, so a part that runs out of time leaves the
earlier ones. ``--quick`` shrinks every part (tiny steps and sizes) to check the script on a CPU;
its numbers mean nothing.

1. ``dit_xl2.json``: DiT-XL/2, random weights (speed does not depend on them), bf16, DDIM 25 steps,
   guidance 4, at 256 and 512 px: our pipeline against diffusers' ``DiTPipeline`` on the same
   weights, taking turns image by image; images/s of each and the ratio. One 675M-parameter model
   is built once and shared by both pipelines and both sizes (a sin-cos table for 512 px).
2. ``variants.json``: every variant of the bundled model, images/s at batch 1 and 64; the default
   variant once more compiled (CUDA graphs on a GPU: ``GenerationPipeline.compile``).
3. ``seed_l_4096.json``: ``seed-L`` (32 blocks, 1024 wide; random weights) on SD-VAE latents of
   4096² (512² latents, 65 536 tokens), 1 and 4 Euler steps, then the random-weight SD-VAE
   decoding the image tile by tile: seconds per image end to end (noise to pixels).
4. ``int8.json``: the bundled model's forward pass at batch 64, float vs torchao int8
   (``model.quantize``: int8-dynamic, int8-weight), each eager and compiled, in turns; the
   relative error of each against float (skipped, with the reason, where torchao is missing).
5. ``card.json``: the card, driver, torch, diffusers and CUDA versions.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def write(out: Path, name: str, data: dict[str, Any]) -> None:
    (out / name).write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps({name: data})[:2000], flush=True)


def random_vae(device: torch.device, dtype: torch.dtype, quick: bool) -> Any:
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    blocks = (32, 32, 64, 64) if quick else (128, 256, 512, 512)
    vae = AutoencoderKL(
        block_out_channels=blocks,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=32,
        scaling_factor=0.18215,
    )
    return vae.to(device, dtype).eval()


def dit_vs_diffusers(device: torch.device, dtype: torch.dtype, args: argparse.Namespace) -> dict[str, Any]:
    from diffusers import DDIMScheduler, DiTPipeline

    from scenecraft.model import build_dit
    from scenecraft.model.autoencoder import LatentDecoder
    from scenecraft.model.interop import to_diffusers
    from scenecraft.pipeline import GenerationPipeline, SampleSpec

    name = "DiT-S/2" if args.quick else "DiT-XL/2"
    torch.manual_seed(0)
    with torch.device(device):
        model = build_dit(name, input_size=32).to(dtype)
    vae = random_vae(device, dtype, args.quick)
    ours = GenerationPipeline(model, LatentDecoder(vae), device=device, dtype=dtype)
    theirs = DiTPipeline(
        transformer=to_diffusers(model).to(device, dtype),
        vae=vae,
        scheduler=DDIMScheduler(
            num_train_timesteps=1000,
            beta_start=1e-4,
            beta_end=0.02,
            beta_schedule="linear",
            clip_sample=False,
            set_alpha_to_one=True,
            timestep_spacing="leading",
        ),
    )
    theirs.set_progress_bar_config(disable=True)
    steps = 2 if args.quick else 25
    rows = []
    for size in (64, 128) if args.quick else (256, 512):

        def run_ours(size: int = size) -> None:
            z = ours.sample([SampleSpec(0, 207)], size=size, steps=steps, sampler="ddim", guidance=4.0)
            ours.decoder.decode(z)

        def run_theirs(size: int = size) -> None:
            with torch.inference_mode():
                theirs(
                    class_labels=[207],
                    guidance_scale=4.0,
                    num_inference_steps=steps,
                    height=size,
                    width=size,
                    generator=torch.Generator("cpu").manual_seed(0),
                    output_type="pt",
                )

        run_ours()
        run_theirs()  # warm-up
        t_ours, t_theirs = [], []
        for _ in range(args.repeats):
            t_ours.append(timed(run_ours, device))
            t_theirs.append(timed(run_theirs, device))
        o, d = statistics.median(t_ours), statistics.median(t_theirs)
        rows.append(
            {"model": name, "size": size, "steps": steps, "ours_images_per_s": 1 / o, "diffusers_images_per_s": 1 / d}
        )
        rows[-1]["ratio"] = d / o
    return {"dtype": str(dtype), "sampler": "ddim", "guidance": 4.0, "rows": rows}


def bundled_variants(device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    from scenecraft.pipeline import GenerationPipeline, SampleSpec
    from scenecraft.train.validation import held_out_requests
    from scenecraft.variants import DEFAULT_VARIANT, VARIANTS

    requests = held_out_requests(4 if args.quick else 64, 64).requests
    rows = []
    # every variant eager, then the default compiled (on CUDA: CUDA graphs, pipeline.compile)
    for vid, compiled in [*((v, False) for v in VARIANTS), (DEFAULT_VARIANT, True)]:
        try:
            pipe = GenerationPipeline.from_variant(vid, device=device, text_encoder=args.text_encoder)
        except Exception as exc:  # weights missing from this checkout: say so, go on
            rows.append({"variant": vid, "error": f"{type(exc).__name__}: {exc}"})
            continue
        assert pipe.variant is not None
        if compiled:
            pipe.compile()
        steps = pipe.variant.steps
        row: dict[str, Any] = {
            "variant": vid,
            "compiled": compiled,
            "steps": steps,
            "passes_per_step": pipe.variant.passes_per_step,
        }
        for batch in (1, len(requests)):
            specs = [SampleSpec(seed=i, request=r) for i, r in enumerate(requests[:batch])]
            run = _generator(pipe, specs, steps)
            run()  # warm-up
            seconds = statistics.median(timed(run, device) for _ in range(args.repeats))
            row[f"images_per_s_b{batch}"] = batch / seconds
        rows.append(row)
    return {"size": 64, "rows": rows}


def _generator(pipe: Any, specs: list[Any], steps: int) -> Callable[[], Any]:
    return lambda: pipe.generate(specs, size=64, steps=steps, sampler="euler", guidance=3.0)


def seed_l_4096(device: torch.device, dtype: torch.dtype, args: argparse.Namespace) -> dict[str, Any]:
    from scenecraft.model import build_dit
    from scenecraft.model.autoencoder import LatentDecoder
    from scenecraft.pipeline import GenerationPipeline, SampleSpec

    name, size = ("DiT-S/2", 256) if args.quick else ("seed-L", 4096)
    torch.manual_seed(0)
    with torch.device(device):
        model = build_dit(name, input_size=32, num_classes=1, learn_sigma=False, class_dropout_prob=0.0).to(dtype)
    pipe = GenerationPipeline(model, LatentDecoder(random_vae(device, dtype, args.quick)), device=device, dtype=dtype)
    rows = []
    for steps in (1, 4):

        def run(steps: int = steps) -> tuple[float, float]:
            sync(device)
            start = time.perf_counter()
            z = pipe.sample([SampleSpec(0)], size=size, steps=steps, sampler="euler", guidance=1.0)
            sync(device)
            mid = time.perf_counter()
            pipe.decoder.decode(z)
            sync(device)
            return mid - start, time.perf_counter() - mid

        run(1)  # warm-up at the full size (kernels, allocator)
        sample_s, decode_s = run()
        rows.append({"steps": steps, "sample_s": sample_s, "decode_s": decode_s, "total_s": sample_s + decode_s})
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    return {
        "model": name,
        "size": size,
        "weights": "random (speed does not depend on them)",
        "decoder": "SD-VAE architecture, random weights, tiled decoding (512 px tiles, 25 % overlap)",
        "dtype": str(dtype),
        "guidance": "none (1 pass per step)",
        "peak_gib": peak,
        "rows": rows,
    }


def int8_forward(device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    import copy

    from scenecraft.model.quantize import QUANT_MODES, quantize_model
    from scenecraft.pipeline import GenerationPipeline, SampleSpec
    from scenecraft.train.validation import held_out_requests

    batch = 2 if args.quick else 64
    pipe = GenerationPipeline.from_settings("seed-12M", device=device, text_encoder=args.text_encoder)
    specs = [SampleSpec(seed=i, request=r) for i, r in enumerate(held_out_requests(batch, 64).requests)]
    cond = pipe.scene_conditions(specs, 64)
    x = torch.randn(batch, 3, 64, 64, device=device)
    t = torch.full((batch,), 500.0, device=device)
    base = pipe.model.eval()
    models: dict[str, Any] = {"float32": base}
    for mode in QUANT_MODES:
        models[mode] = quantize_model(copy.deepcopy(base), mode)
    for name in list(models):
        models[f"{name} compiled"] = torch.compile(models[name], dynamic=False)
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        ref = base(x, t, cond)
        errors = {k: float((m(x, t, cond) - ref).abs().max() / ref.abs().max()) for k, m in models.items()}
        for _ in range(args.repeats * 3):
            for k, m in models.items():
                times[k].append(timed(lambda m=m: m(x, t, cond), device))
    rows = [
        {
            "config": k,
            "batch": batch,
            "s_per_call": statistics.median(v),
            "speed_vs_float32": statistics.median(times["float32"]) / statistics.median(v),
            "rel_error": errors[k],
        }
        for k, v in times.items()
    ]
    return {"model": "seed-12M", "rows": rows}


def card(device: torch.device) -> dict[str, Any]:
    import diffusers

    info: dict[str, Any] = {"torch": torch.__version__, "diffusers": diffusers.__version__, "python": sys.version}
    info["platform"] = platform.platform()
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(card=p.name, memory_gib=p.total_memory / 2**30, cuda=torch.version.cuda)
        info["capability"] = f"{p.major}.{p.minor}"
    else:
        info["card"] = "cpu (not a GPU run)"
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", nargs="+", default=["card", "dit", "variants", "seed-l", "int8"])
    parser.add_argument("--text-encoder", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script on a CPU")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    parts: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
        "card": ("card.json", lambda: card(device)),
        "dit": ("dit_xl2.json", lambda: dit_vs_diffusers(device, dtype, args)),
        "variants": ("variants.json", lambda: bundled_variants(device, args)),
        "seed-l": ("seed_l_4096.json", lambda: seed_l_4096(device, dtype, args)),
        "int8": ("int8.json", lambda: int8_forward(device, args)),
    }
    for part in args.parts:
        name, fn = parts[part]
        start = time.perf_counter()
        try:
            data = fn()
        except Exception as exc:  # one part failing must not lose the others
            data = {"error": f"{type(exc).__name__}: {exc}"}
        data["wall_s"] = time.perf_counter() - start
        write(args.out, name, data)
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
