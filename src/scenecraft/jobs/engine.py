"""The only place the worker touches the generation pipeline.

`scenecraft.pipeline` (and so torch) is imported lazily, the first time a worker generates, so
the API process, which never generates, never imports torch. Tests inject another `Engine` (a
fake with the same contract) through `WorkerPool(engine_factory=...)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

PreviewCallback = Callable[[int, int, list[Image.Image]], None]


class Cancelled(Exception):
    """`should_stop` returned True; nothing was produced."""


class RequestRejected(ValueError):
    """The engine cannot run this request (bad size, sampler, ...): retrying will not help."""


@dataclass(frozen=True)
class Sample:
    seed: int
    class_label: int | None = None  # for class-conditional DiTs; None: unconditional
    prompt: str = ""
    subjects: tuple[dict[str, Any], ...] = ()  # {"prompt", "box"?, "pose"?} as the API validated them
    scene: bytes | None = None  # the context scene's image file (PNG/JPEG/WebP)
    inpaint: bool = False


class Engine(Protocol):
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
    ) -> list[Image.Image]: ...


class PipelineEngine:
    """Wraps scenecraft.pipeline.GenerationPipeline; one loaded pipeline per model name."""

    def __init__(self, checkpoint: str | None, device: str, threads: int | None = None, compile: bool = False) -> None:
        self.checkpoint = checkpoint
        self.device = device
        self.threads = threads
        self.compile = compile
        self._pipelines: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _pipeline(self, model: str, variant: str | None = None) -> Any:
        """The loaded pipeline of ``model``: a variant of the bundled weights (None: the default
        variant), or the platform's own checkpoint, which has no variants."""
        if self.checkpoint is not None and variant is not None:
            raise RequestRejected(f"this platform serves its own checkpoint, which has no variants (got {variant!r})")
        with self._lock:
            key = f"{model}:{variant}"
            if key not in self._pipelines:
                import torch

                from scenecraft.pipeline import GenerationPipeline

                if self.threads:
                    torch.set_num_threads(self.threads)
                if self.checkpoint is None and model == "seed-12M":
                    pipe = GenerationPipeline.from_variant(variant, device=self.device)
                else:
                    from scenecraft.pipeline import BUNDLED

                    pipe = GenerationPipeline.from_settings(
                        model=model, checkpoint=self.checkpoint or BUNDLED, vae=None, device=self.device
                    )
                if self.compile:
                    pipe.compile()
                    _warm_up(pipe)
                self._pipelines[key] = pipe
            return self._pipelines[key]

    def load(self, model: str, variant: str | None = None) -> None:
        """Loads (and warms up) a pipeline before the first job needs it."""
        self._pipeline(model, variant)

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
        from scenecraft import pipeline as p

        pipe = self._pipeline(model, variant)
        try:
            specs = [p.SampleSpec(seed=s.seed, class_label=s.class_label, request=scene_request(s)) for s in samples]
        except ValueError as exc:
            raise RequestRejected(str(exc)) from None
        try:
            images: list[Image.Image] = pipe.generate(
                specs,
                size=size,
                steps=steps,
                sampler=sampler,
                guidance=guidance,
                callback=callback,
                should_stop=should_stop,
            )
        except p.Cancelled as exc:
            raise Cancelled(str(exc)) from None
        except p.GenerationError as exc:
            raise RequestRejected(str(exc)) from None
        return images


def _warm_up(pipe: Any) -> None:
    """One small generation, so a compiled pipeline compiles before the first job, not during it."""
    from scenecraft.pipeline import SampleSpec

    native = pipe.model.config.input_size * pipe.decoder.downsample
    steps = pipe.variant.steps if pipe.variant is not None else 1
    pipe.generate(
        [SampleSpec(seed=0, request=scene_request(Sample(seed=0, prompt="a red cube")))],
        size=native,
        steps=steps,
        sampler="euler" if pipe.objective == "flow" else "ddim",
    )


def scene_request(sample: Sample) -> Any:
    """The pipeline's SceneRequest for a job's sample; subjects are planned from the prompt when
    the job gives none (see scenecraft.planner)."""
    import io

    import numpy as np

    from scenecraft.planner import plan_subjects
    from scenecraft.scene_conditions import SceneRequest, SMPLPose, SubjectRequest

    subjects = []
    for s in sample.subjects:
        pose = s.get("pose")
        smpl = (
            SMPLPose(tuple(pose["body_pose"]), tuple(pose["global_orient"]), tuple(pose["betas"]))
            if pose is not None
            else None
        )
        box = tuple(s["box"]) if s.get("box") is not None else None
        subjects.append(SubjectRequest(str(s["prompt"]), box, smpl))
    if not subjects and sample.prompt:
        subjects = list(plan_subjects(sample.prompt))
    scene = None
    if sample.scene is not None:
        try:
            with Image.open(io.BytesIO(sample.scene)) as im:
                scene = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise ValueError(f"the scene asset is not a readable image: {exc}") from None
    return SceneRequest(sample.prompt, tuple(subjects), scene, inpaint=sample.inpaint)
