"""Teacher trajectories, cached once, for distilling students from them.

A shard holds ``batch`` requests of one world seed, asked the way the quality table asks them
(one mode per shard: full, context, prompt planned from the caption, inpaint), their encoded
conditions, the guidance scales the teacher used, and the teacher's whole Euler trajectory:

    x (B, steps + 1, 3, S, S) float16: the noise at t = 1, then the state after every step

so a student of any step count that divides ``steps`` learns from it the average velocity over its
own steps, ``(x[t] - x[t - d]) / d``, without running the teacher again. Two thirds of the shards use
the default scales (what the default variant serves), the rest scales drawn around them, so the
student learns how the scales act. Shards are written atomically and skipped when present, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from scenecraft.model.conditioning import CONDITIONS, Conditions

TRAJECTORY_SEED = 20_000  # world seeds 20000+ (the quality table holds out 10007; training used 0)
MODES = ("full", "context", "prompt", "full", "context", "prompt", "inpaint")


@dataclass
class Shard:
    x: Tensor  # (B, steps + 1, 3, S, S) trajectory, float16
    cond: Conditions  # float tensors in float16
    scales: Tensor  # (5,) in CONDITIONS order, the teacher's scales (absent conditions: whatever)
    mode: str

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def steps(self) -> int:
        return int(self.x.shape[1]) - 1


def shard_scales(index: int, defaults: dict[str, float]) -> dict[str, float]:
    """The default scales for two shards in three; else each scale drawn around its default."""
    if index % 3 != 2:
        return dict(defaults)
    rng = np.random.default_rng([TRAJECTORY_SEED, index])
    scales = {name: float(value * rng.uniform(0.5, 1.5)) for name, value in defaults.items()}
    scales["inpaint"] = 1.0  # inpainting keeps the scene exactly; its scale is never pushed
    scales["text"] = float(rng.uniform(1.0, 5.0))
    return scales


def shard_requests(index: int, batch: int, size: int) -> tuple[str, list[Any]]:
    """The mode and requests of shard ``index`` (scenes of world seed TRAJECTORY_SEED + index)."""
    from scenecraft.planner import plan_subjects
    from scenecraft.scene_conditions import SceneRequest
    from scenecraft.train.validation import held_out_requests

    mode = MODES[index % len(MODES)]
    seed = TRAJECTORY_SEED + index
    if mode == "prompt":
        held = held_out_requests(batch, size, seed=seed)
        return mode, [SceneRequest(r.prompt, plan_subjects(r.prompt)) for r in held.requests]
    held = held_out_requests(batch, size, seed=seed, with_scene=mode == "context", inpaint=mode == "inpaint")
    return mode, held.requests


def teacher_shard(pipe: Any, index: int, batch: int, size: int, steps: int) -> Shard:
    """Runs the teacher (a scene-model GenerationPipeline) on shard ``index``'s requests."""
    from scenecraft.pipeline import DEFAULT_SCALES, SampleSpec

    mode, requests = shard_requests(index, batch, size)
    scales = shard_scales(index, DEFAULT_SCALES)
    specs = [SampleSpec(seed=TRAJECTORY_SEED * 1000 + index * batch + k, request=r) for k, r in enumerate(requests)]
    states: list[Tensor] = []
    first = torch.stack([torch.randn(3, size, size, generator=torch.Generator().manual_seed(s.seed)) for s in specs])
    states.append(first)  # the pipeline draws the same noise from the same seeds
    text = scales.pop("text")
    pipe.sample(
        specs,
        size=size,
        steps=steps,
        sampler="euler",
        guidance=text,
        condition_scales=scales,
        callback=lambda info: states.append(info.x.detach().cpu().float()),
    )
    scales["text"] = text
    cond = pipe.scene_conditions(specs, size).map(lambda v: v.cpu().half() if v.is_floating_point() else v.cpu())
    x = torch.stack(states, dim=1).half()  # (B, steps + 1, 3, S, S)
    return Shard(x, cond, torch.tensor([scales[name] for name in CONDITIONS]), mode)


def save_shard(shard: Shard, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    cond = {f.name: getattr(shard.cond, f.name) for f in dataclasses.fields(Conditions)}
    torch.save({"x": shard.x, "cond": cond, "scales": shard.scales, "mode": shard.mode}, tmp)
    tmp.replace(path)


def load_shard(path: Path) -> Shard:
    data = torch.load(path, map_location="cpu", weights_only=True)
    return Shard(data["x"], Conditions(**data["cond"]), data["scales"], data["mode"])


def shard_path(folder: Path, index: int) -> Path:
    return folder / f"shard-{index:05d}.pt"


def cache_trajectories(
    teacher: Path | str,
    folder: Path,
    shards: int,
    *,
    batch: int = 8,
    size: int = 64,
    steps: int = 20,
    seconds: float | None = None,
    device: str = "cpu",
) -> list[Path]:
    """Writes shards 0..shards-1 into ``folder`` (those present are kept); returns the ones there.

    Stops early after ``seconds`` (the next run continues).
    """
    from scenecraft.pipeline import GenerationPipeline

    folder.mkdir(parents=True, exist_ok=True)
    pipe = None
    start = time.perf_counter()
    for index in range(shards):
        path = shard_path(folder, index)
        if path.is_file():
            continue
        if seconds is not None and time.perf_counter() - start >= seconds:
            break
        if pipe is None:
            pipe = GenerationPipeline.from_settings("seed-12M", checkpoint=teacher, device=device)
        t0 = time.perf_counter()
        save_shard(teacher_shard(pipe, index, batch, size, steps), path)
        print(f"trajectories: shard {index} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return [shard_path(folder, i) for i in range(shards) if shard_path(folder, i).is_file()]
