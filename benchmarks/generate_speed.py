"""Our generation pipeline vs diffusers' DiTPipeline on the same weights, steps and sampler.

    python benchmarks/generate_speed.py [--models DiT-S/2 DiT-XL/2] [--steps 10] [--repeats 2]

Both pipelines get the same random-initialised DiT (moved into diffusers' DiTTransformer2DModel by
an exact key mapping) and the same random SD-architecture VAE, DDIM with the same timesteps,
guidance 4, the same seed. Each pipeline runs in its own process so its peak memory (VmHWM,
loading included) is its own. Our pipeline runs in each of ``--modes``:

- ``eager``: as it is by default (exact);
- ``compiled``: ``GenerationPipeline.compile()``: torch.compile (inductor) of the DiT forward and the
  VAE decoder (exact up to float round-off);
- ``foraN``: FORA step caching (``model.step_cache``): all blocks every N-th model call, their
  attention and MLP outputs reused in between (approximate; off by default).

All processes are loaded side by side, make one untimed warm-up image each (compilation happens
there), then take turns image by image (eager, compiled, fora2, ..., diffusers, eager, ...) so the
noise of a shared machine hits all alike; times are medians over ``--repeats``.

Differences reported (images in [0, 1]):
- "vs diffusers (aligned)": diffusers with the official timestep frequencies and our pipeline
  guiding all four channels as diffusers does: the same computation, float32 round-off for exact modes;
- "vs exact": against our eager image (the step cache's error);
- "as shipped": each as it comes (the official 3-channel guidance and frequencies on our side).

Prints a table and writes benchmarks/results/generate_speed.json (device and card included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "generate_speed.json"
SEED, LABEL, GUIDANCE = 0, 207, 4.0


def make_weights(model_name: str, size: int, folder: Path) -> None:
    """Random DiT with every layer non-zero, and a random SD-architecture VAE, saved to folder."""
    from diffusers import AutoencoderKL

    from scenecraft.model import build_dit
    from scenecraft.model.checkpoints import save_weights

    torch.manual_seed(0)
    model = build_dit(model_name, input_size=size // 8)
    with torch.no_grad():
        for layer in [model.final_layer.linear, *model.modulation_layers()]:
            layer.weight.normal_(0, 0.02)
            layer.bias.normal_(0, 0.02)
    save_weights(model, folder / "dit.safetensors")
    # The same weights in diffusers' layout, saved here so the diffusers process loads only its own copy.
    from scenecraft.model.interop import to_diffusers

    to_diffusers(model).save_pretrained(folder / "diffusers_dit")
    AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=size,
        scaling_factor=0.18215,
    ).save_pretrained(folder / "vae")


def worker(args: argparse.Namespace) -> None:
    """Loads one pipeline, warms it up, then times a run for each "run" line on stdin (JSON lines out)."""
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    folder = Path(args.weights)
    if args.impl == "ours":
        from scenecraft.pipeline import GenerationPipeline, SampleSpec

        pipe = GenerationPipeline.from_settings(
            args.model, folder / "dit.safetensors", folder / "vae", device=device, dtype=dtype
        )
        if args.aligned:
            pipe.guided_channels = None  # diffusers guides all latent channels
        if args.mode == "compiled":
            pipe.compile()
        elif args.mode.startswith("fora"):
            pipe.step_cache = int(args.mode[4:])

        def run() -> np.ndarray:
            z = pipe.sample(
                [SampleSpec(SEED, LABEL)], size=args.size, steps=args.steps, sampler="ddim", guidance=GUIDANCE
            )
            images = pipe.decoder.decode(z)
            return ((images.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    else:
        from diffusers import AutoencoderKL, DDIMScheduler, DiTPipeline, DiTTransformer2DModel

        from scenecraft.model.interop import align_diffusers_with_official

        transformer = DiTTransformer2DModel.from_pretrained(folder / "diffusers_dit", local_files_only=True)
        if args.aligned:
            align_diffusers_with_official(transformer)
        scheduler = DDIMScheduler(
            num_train_timesteps=1000,
            beta_start=1e-4,
            beta_end=0.02,
            beta_schedule="linear",
            clip_sample=False,
            set_alpha_to_one=True,
            steps_offset=0,
            timestep_spacing="leading",
        )
        vae = AutoencoderKL.from_pretrained(folder / "vae", local_files_only=True)
        dit = DiTPipeline(transformer=transformer, vae=vae, scheduler=scheduler).to(device, dtype)
        dit.set_progress_bar_config(disable=True)

        def run() -> np.ndarray:
            g = torch.Generator("cpu").manual_seed(SEED)
            with torch.inference_mode():
                return dit(
                    class_labels=[LABEL],
                    guidance_scale=GUIDANCE,
                    generator=g,
                    num_inference_steps=args.steps,
                    output_type="np",
                ).images

    run()  # warm-up, untimed: first-call kernel selection and allocation, alike for both
    print(json.dumps({"ready": True}), flush=True)
    # Serve timed runs on request, so the parent can alternate between the two pipelines run by run.
    image = None
    for line in sys.stdin:
        if line.strip() != "run":
            break
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        image = run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
    np.save(args.image_out, np.asarray(image if image is not None else run(), dtype=np.float32))
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    print(json.dumps({"peak_rss_mib": peak_rss_mib(), "peak_gpu_mib": peak_gpu}), flush=True)


def peak_rss_mib() -> float:
    """This process's own resident high-water mark (VmHWM). ru_maxrss is not used: Linux carries it
    across fork and exec, so a worker would report its parent's peak when that is higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


class Worker:
    """One pipeline in its own process (so its peak memory is its own), serving timed runs."""

    def __init__(
        self, impl: str, model: str, folder: Path, args: argparse.Namespace, aligned: bool, mode: str = "eager"
    ) -> None:
        self.mode = mode
        self.image_out = folder / f"{impl}-{mode}-{aligned}.npy"
        cmd = [sys.executable, __file__, "--worker", impl, "--model", model, "--weights", str(folder)]
        cmd += ["--mode", mode]
        cmd += ["--size", str(args.size), "--steps", str(args.steps), "--device", args.device]
        cmd += ["--dtype", args.dtype, "--image-out", str(self.image_out)] + (["--aligned"] if aligned else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.seconds: list[float] = []
        self._read()  # loaded and warmed up

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"worker exited with {self.proc.wait()} before answering")

    def time_one(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        self.seconds.append(self._read()["seconds"])

    def finish(self) -> tuple[dict, np.ndarray]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("done\n")
        self.proc.stdin.flush()
        stats = self._read()
        if self.proc.wait() != 0:
            raise RuntimeError(f"worker failed with exit code {self.proc.returncode}")
        return stats, np.load(self.image_out)


def timed_group(model: str, folder: Path, args: argparse.Namespace) -> tuple[dict[str, Worker], Worker]:
    """Our pipeline in each mode and diffusers', all aligned, loaded side by side, then timed in
    turns (ours-eager, ours-compiled, ..., diffusers, ours-eager, ...), ``repeats`` runs each."""
    ours = {mode: Worker("ours", model, folder, args, True, mode) for mode in args.modes}
    theirs = Worker("diffusers", model, folder, args, True)
    for _ in range(args.repeats):
        for worker in [*ours.values(), theirs]:
            worker.time_one()
    return ours, theirs


def as_shipped_diff(model: str, folder: Path, args: argparse.Namespace) -> float:
    """Each pipeline as it comes (official 3-channel guidance and frequencies on our side): one image each."""
    quick = argparse.Namespace(**{**vars(args), "repeats": 0})
    _, a = Worker("ours", model, folder, quick, False).finish()
    _, b = Worker("diffusers", model, folder, quick, False).finish()
    return float(np.abs(a - b).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["DiT-S/2", "DiT-XL/2"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", choices=["ours", "diffusers"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--image-out", help=argparse.SUPPRESS)
    parser.add_argument("--aligned", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="eager", help=argparse.SUPPRESS)
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["eager", "compiled", "fora2", "fora3"],
        help="our pipeline's modes: eager, compiled (torch.compile), foraN (step cache, full every N calls)",
    )
    parser.add_argument(
        "--no-as-shipped", action="store_true", help="skip the as-shipped pair (its difference does not change)"
    )
    args = parser.parse_args()
    if args.worker:
        args.impl = args.worker
        return worker(args)

    rows = []
    for model in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            make_weights(model, args.size, folder)
            ours, theirs = timed_group(model, folder, args)
            finished = {mode: w.finish() for mode, w in ours.items()}
            theirs_stats, ref_d = theirs.finish()
            shipped = None if args.no_as_shipped else as_shipped_diff(model, folder, args)
        t_diff = statistics.median(theirs.seconds)
        exact = finished["eager"][1] if "eager" in finished else ref_d
        for mode, (stats, image) in finished.items():
            t_ours = statistics.median(ours[mode].seconds)
            rows.append(
                {
                    "model": model,
                    "mode": mode,
                    "size": args.size,
                    "steps": args.steps,
                    "sampler": "ddim",
                    "guidance": GUIDANCE,
                    "ours_s": round(t_ours, 3),
                    "diffusers_s": round(t_diff, 3),
                    "speed_ratio": round(t_diff / t_ours, 3),  # > 1: ours is faster
                    "ours_peak_mib": round(stats["peak_rss_mib"]),
                    "diffusers_peak_mib": round(theirs_stats["peak_rss_mib"]),
                    "ours_peak_gpu_mib": stats["peak_gpu_mib"],
                    "diffusers_peak_gpu_mib": theirs_stats["peak_gpu_mib"],
                    "images_per_s_ours": round(1 / t_ours, 3),
                    "images_per_s_diffusers": round(1 / t_diff, 3),
                    "max_diff_aligned": float(np.abs(image - ref_d).max()),  # images in [0, 1]
                    "max_diff_vs_exact": float(np.abs(image - exact).max()),
                    "max_diff_as_shipped": shipped,
                }
            )
        print(f"done {model}", file=sys.stderr)

    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    result = {
        "device": args.device,
        "card": device,
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"device: {args.device} ({device}), dtype {args.dtype}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        "| model | mode | px | steps | ours s | diffusers s | speed ratio | ours peak MiB | diffusers peak MiB "
        "| max diff vs diffusers (aligned) | max diff vs exact | max diff (as shipped) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['mode']} | {r['size']} | {r['steps']} | {r['ours_s']:.2f} | {r['diffusers_s']:.2f} | "
            f"{r['speed_ratio']:.2f}x | {r['ours_peak_mib']} | {r['diffusers_peak_mib']} | "
            f"{r['max_diff_aligned']:.2e} | {r['max_diff_vs_exact']:.2e} | "
            + ("not run" if r["max_diff_as_shipped"] is None else f"{r['max_diff_as_shipped']:.2e}")
            + " |"
        )


if __name__ == "__main__":
    main()
