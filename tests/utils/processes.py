"""Running `scenecraft` commands as real processes in tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scenecraft(args: list[str], *, env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[str]:
    """Starts `python -m scenecraft ARGS` with one CPU thread; stdout+stderr go to `log` if given."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
    full_env.pop("SCENECRAFT_DATA_DIR", None)
    command = [sys.executable, "-m", "scenecraft", *args]
    if log is None:
        return subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, env=full_env, stdout=out, stderr=subprocess.STDOUT, text=True)


def reference_image(  # type: ignore[no-untyped-def]
    seed: int, size: int, steps: int, prompt: str = "p", sampler: str = "euler", guidance: float = 1.0
):
    """The image the real pipeline (bundled seed-12M) makes for a job of `seed` and `prompt`,
    computed in this process the way the worker's engine builds the request."""
    import torch

    from scenecraft.jobs.engine import Sample, scene_request
    from scenecraft.pipeline import GenerationPipeline, SampleSpec

    torch.set_num_threads(1)
    pipe = GenerationPipeline.from_settings(model="seed-12M", device="cpu")
    spec = SampleSpec(seed=seed, request=scene_request(Sample(seed=seed, prompt=prompt)))
    return pipe.generate([spec], size=size, steps=steps, sampler=sampler, guidance=guidance)[0]
