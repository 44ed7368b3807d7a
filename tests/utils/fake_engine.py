"""A stand-in for the generation engine with the same contract (jobs/engine.py `Engine`), for
queue and worker tests that need no torch: each sample's image is a pure function of its seed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from scenecraft.jobs.engine import Cancelled, PreviewCallback, RequestRejected, Sample


def expected_image(seed: int, size: int) -> Image.Image:
    """What FakeEngine makes for `seed`: computed here, independently of the worker."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


class FakeEngine:
    def __init__(
        self,
        step_delay: float = 0.0,
        fail_times: int = 0,
        reject: bool = False,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        self.step_delay = step_delay
        self.fail_times = fail_times
        self.reject = reject
        self.on_step = on_step
        self.batches: list[list[int]] = []  # seeds of each forward pass
        self.samples: list[Any] = []  # every Sample it was given
        self.lock = threading.Lock()

    def generate(
        self,
        samples: Sequence[Sample],
        *,
        model: str,
        variant: str | None = None,
        size: int,
        steps: int,
        sampler: str,
        guidance: float,
        callback: PreviewCallback,
        should_stop: Callable[[], bool],
    ) -> list[Image.Image]:
        with self.lock:
            self.batches.append([s.seed for s in samples])
            self.samples.extend(samples)
            if self.reject:
                raise RequestRejected(f"size {size} is not supported")
            if self.fail_times > 0:
                self.fail_times -= 1
                raise RuntimeError("simulated engine crash")
        if should_stop():
            raise Cancelled("cancelled before the first step")
        finals = [expected_image(s.seed, size) for s in samples]
        for step in range(1, steps + 1):
            time.sleep(self.step_delay)
            if self.on_step is not None:
                self.on_step(step)
            callback(step, steps, [im.resize((8, 8)) for im in finals])
            if should_stop():
                raise Cancelled(f"cancelled after step {step}")
        return finals


def engine_from_env() -> FakeEngine:
    """For `scenecraft worker --engine tests.utils.fake_engine:engine_from_env` in process tests:
    FAKE_ENGINE_STEP_DELAY seconds per step."""
    import os

    return FakeEngine(step_delay=float(os.environ.get("FAKE_ENGINE_STEP_DELAY", "0.05")))
