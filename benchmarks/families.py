"""Our family pipeline (FamilyRunner, as a worker runs it) vs diffusers' own pipeline, per family.

    python benchmarks/families.py --rounds 3           # small CPU configs (tiny random models)
    python benchmarks/families.py --gpu                # real-size configs with random weights (needs CUDA)

Both sides load the same random weights from the same diffusers folder (families/tiny.py builds
it) and make the same image: same prompt, seed, size, steps and guidance. Ours also does what a
job needs on top: a preview per step (the scheduler's clean estimate through the fitted
latent->RGB map) and a cancel check per step. After one untimed warm-up each, the two take turns
image by image (ours, diffusers, ours, ...) so the noise of a shared machine hits both alike; the
table gives the median seconds per image of each and their ratio (ours / diffusers: <= 1.00 means
no slower); with --rounds N every config is measured N times, config by config in turn, and the
ratio is the median over the rounds (its range beside it; the times are the median round's).
Peak memory: on CUDA, torch's peak allocation during the call; on CPU, the peak resident set size
during the call (sampled every millisecond) above the one before it.

GPU configs use the families' real transformer and VAE configs (PixArt-Σ XL 0.6B at 1024², SANA
1.6B at 1024², SD3.5-medium-like 2.5B at 1024², FLUX.1 12B at 1024² when it fits) with one-layer
text encoders of the right width (the DiT is what is measured). They are only run with --gpu on
a CUDA machine; otherwise their rows say "not run".

Prints a table and writes benchmarks/results/families.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch

from scenecraft.families import tiny
from scenecraft.families.library import inspect_path
from scenecraft.families.runner import FamilyRunner, FamilySample, LoadOptions

RESULTS = Path(__file__).parent / "results" / "families.json"
PROMPT, SEED = "a red metal cube on a wooden table in a sunlit room", 0

# name -> (family, image side, steps, guidance, scale)
CPU_CONFIGS: dict[str, tuple[str, int, int, float, tiny.Scale]] = {
    "pixart-sigma tiny": ("pixart-sigma", 64, 8, 4.5, tiny.TINY),
    "sana tiny": ("sana", 64, 8, 4.5, tiny.TINY),
    "sd3 tiny": ("sd3", 64, 8, 7.0, tiny.TINY),
    "flux-dev tiny": ("flux", 64, 8, 3.5, tiny.TINY),
    "sd3 small": (
        "sd3",
        128,
        8,
        7.0,
        tiny.Scale(
            transformer={
                "num_layers": 6,
                "attention_head_dim": 32,
                "num_attention_heads": 8,
                "caption_projection_dim": 256,
            },
            vae={"block_out_channels": (32, 64, 64, 64), "norm_num_groups": 32},
            text_dim=128,
        ),
    ),
}
_SD_VAE = {"block_out_channels": (128, 256, 512, 512), "norm_num_groups": 32, "layers_per_block": 2}
GPU_CONFIGS: dict[str, tuple[str, int, int, float, tiny.Scale]] = {
    "pixart-sigma XL 0.6B 1024": (
        "pixart-sigma",
        1024,
        20,
        4.5,
        tiny.Scale(
            transformer={
                "num_layers": 28,
                "attention_head_dim": 72,
                "num_attention_heads": 16,
                "cross_attention_dim": 1152,
            },
            vae=_SD_VAE,
            text_dim=4096,
        ),
    ),
    "sana 1.6B 1024": (
        "sana",
        1024,
        20,
        4.5,
        tiny.Scale(
            transformer={
                "num_layers": 20,
                "attention_head_dim": 32,
                "num_attention_heads": 70,
                "num_cross_attention_heads": 20,
                "cross_attention_head_dim": 112,
                "cross_attention_dim": 2240,
            },
            vae={"encoder_block_out_channels": (128, 256, 512, 512, 1024, 1024)},
            text_dim=2304,
        ),
    ),
    "sd3.5-medium-like 2.5B 1024": (
        "sd3",
        1024,
        28,
        7.0,
        tiny.Scale(
            transformer={
                "num_layers": 24,
                "attention_head_dim": 64,
                "num_attention_heads": 24,
                "caption_projection_dim": 1536,
                "pos_embed_max_size": 384,
            },
            vae=_SD_VAE,
            text_dim=4096,
        ),
    ),
    "flux.1-dev 12B 1024": (
        "flux",
        1024,
        28,
        3.5,
        tiny.Scale(
            transformer={
                "num_layers": 19,
                "num_single_layers": 38,
                "attention_head_dim": 128,
                "num_attention_heads": 24,
                "axes_dims_rope": (16, 56, 56),
            },
            vae=_SD_VAE,
            text_dim=4096,
        ),
    ),
}


class PeakMemory:
    """Peak memory of one call: torch's on CUDA, sampled resident set size on CPU (above the start)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.peak = 0

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            return self
        self._process = psutil.Process()
        self._base = self._process.memory_info().rss
        self._stop = threading.Event()
        self._high = self._base

        def sample() -> None:
            while not self._stop.wait(0.001):
                self._high = max(self._high, self._process.memory_info().rss)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
            return
        self._stop.set()
        self._thread.join()
        self._high = max(self._high, self._process.memory_info().rss)
        self.peak = self._high - self._base


def diffusers_call(pipe: Any, family: str, side: int, steps: int, guidance: float, max_sequence_length: int) -> Any:
    extra = {"use_resolution_binning": False, "clean_caption": False} if family in ("pixart-sigma", "sana") else {}
    return pipe(
        prompt=PROMPT,
        height=side,
        width=side,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(SEED),
        max_sequence_length=max_sequence_length,
        **extra,
    ).images[0]


def measure(
    name: str, config: tuple[str, int, int, float, tiny.Scale], device: str, dtype: str, repeats: int
) -> dict[str, Any]:
    import diffusers

    family, side, steps, guidance, scale = config
    with tempfile.TemporaryDirectory() as tmp:
        folder = tiny.build(family, Path(tmp) / family, size=side, scale=scale)
        entry = inspect_path(folder)
        ours = FamilyRunner(entry, LoadOptions(device=device, dtype=dtype))
        theirs = getattr(diffusers, entry.family.pipelines[0]).from_pretrained(
            folder, local_files_only=True, dtype=ours.pipe.transformer.dtype
        )
        theirs.to(device)
        theirs.set_progress_bar_config(disable=True)
        length = ours.family_kwargs()["max_sequence_length"]
        previews = 0

        def run_ours() -> Any:
            nonlocal previews

            def on_step(step: int, total: int, images: list[Any]) -> None:
                nonlocal previews
                previews += len(images)

            return ours.generate(
                [FamilySample(SEED, PROMPT)],
                width=side,
                height=side,
                steps=steps,
                guidance=guidance,
                callback=on_step,
                should_stop=lambda: False,
            )[0]

        def run_theirs() -> Any:
            return diffusers_call(theirs, family, side, steps, guidance, length)

        a, b = run_ours(), run_theirs()  # warm-up, and the same image on both sides
        same = int(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).max())
        times: dict[str, list[float]] = {"ours": [], "diffusers": []}
        peaks: dict[str, int] = {"ours": 0, "diffusers": 0}
        for _ in range(repeats):
            for side_name, fn in (("ours", run_ours), ("diffusers", run_theirs)):
                with PeakMemory(device) as mem:
                    started = time.perf_counter()
                    fn()
                    if device.startswith("cuda"):
                        torch.cuda.synchronize()
                    times[side_name].append(time.perf_counter() - started)
                peaks[side_name] = max(peaks[side_name], mem.peak)
    t_ours, t_theirs = statistics.median(times["ours"]), statistics.median(times["diffusers"])
    return {
        "config": name,
        "family": family,
        "params": entry.params,
        "size": side,
        "steps": steps,
        "device": device,
        "dtype": dtype,
        "ours_s": round(t_ours, 4),
        "diffusers_s": round(t_theirs, 4),
        "ratio": round(t_ours / t_theirs, 3),
        "ours_peak_mib": round(peaks["ours"] / 2**20, 1),
        "diffusers_peak_mib": round(peaks["diffusers"] / 2**20, 1),
        "max_pixel_difference": same,
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="run the real-size configs on CUDA")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1, help="measure every config this many times, in turn")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows, not_run = [], []
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in CPU_CONFIGS}
    for _ in range(args.rounds):  # config by config, round after round: slow spells of the machine spread out
        for name, config in CPU_CONFIGS.items():
            rounds[name].append(measure(name, config, "cpu", "float32", args.repeats))
            print(rounds[name][-1], flush=True)
    for results in rounds.values():
        ratios = [r["ratio"] for r in results]
        row = min(results, key=lambda r: abs(r["ratio"] - statistics.median(ratios)))  # the median round
        rows.append({**row, "ratio": round(statistics.median(ratios), 3), "ratio_range": [min(ratios), max(ratios)]})
    for name, config in GPU_CONFIGS.items():
        if args.gpu and torch.cuda.is_available():
            result = measure(name, config, "cuda", "bfloat16", max(2, args.repeats // 2))
            rows.append({**result, "ratio_range": [result["ratio"], result["ratio"]]})
        else:
            not_run.append({"config": name, "reason": "not run: no GPU lent (run with --gpu on a CUDA machine)"})
    header = (
        f"{'config':<30} {'params':>9} {'size':>5} {'steps':>5} {'ours s':>8} {'diffusers s':>11} {'ratio':>6} "
        f"{'ratio range':>12} {'ours MiB':>9} {'diff. MiB':>9} {'max px diff':>11}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['config']:<30} {r['params'] / 1e6:>8.2f}M {r['size']:>5} {r['steps']:>5} {r['ours_s']:>8.3f} "
            f"{r['diffusers_s']:>11.3f} {r['ratio']:>6.2f} {r['ratio_range'][0]:>5.2f}–{r['ratio_range'][1]:<6.2f} "
            f"{r['ours_peak_mib']:>9.1f} {r['diffusers_peak_mib']:>9.1f} "
            f"{r['max_pixel_difference']:>11}"
        )
    for r in not_run:
        print(f"{r['config']:<30} {r['reason']}")
    RESULTS.parent.mkdir(exist_ok=True)
    machine = {"cpu": platform.processor() or platform.machine(), "threads": args.threads, "torch": torch.__version__}
    if torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name()
    RESULTS.write_text(json.dumps({"machine": machine, "rows": rows, "not_run": not_run}, indent=2) + "\n")


if __name__ == "__main__":
    main()
