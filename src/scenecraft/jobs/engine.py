"""The only place the worker touches the generation pipeline.

`scenecraft.pipeline` (and so torch) is imported lazily, the first time a worker generates, so
the API process, which never generates, never imports torch. Tests inject another `Engine` (a
fake with the same contract) through `WorkerPool(engine_factory=...)`.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from scenecraft.observability import Metrics

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
    negative_prompt: str = ""  # "" = none; models without support refuse it at submission
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
        size: int | tuple[int, int],  # square side, or (height, width)
        steps: int,
        sampler: str,
        guidance: float,
        callback: PreviewCallback,
        should_stop: Callable[[], bool],
    ) -> list[Image.Image]: ...


class PipelineEngine:
    """The worker's models, loaded once and kept resident: at most `resident` at a time, the least
    recently used one unloaded when a job needs another (a swap).

    The bundled scene DiT (seed-12M) runs through scenecraft.pipeline; every model of the library
    (settings.models_dir) through its diffusers family (scenecraft.families.runner). Load time and
    resident memory go to /metrics (scenecraft_model_load_seconds, scenecraft_model_resident_bytes).
    The bundled model is held per variant (scenecraft.variants): a variant is a model of its own here.
    """

    def __init__(
        self,
        checkpoint: str | None,
        device: str,
        threads: int | None = None,
        *,
        models_dir: Path | None = None,
        dtype: str = "float32",
        attention_backend: str = "native",
        cpu_offload: bool = False,
        img2img_strength: float = 0.6,
        resident: int = 1,
        metrics: Metrics | None = None,
        compile: bool = False,
        quantize: str | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        self.device = device
        self.threads = threads
        self.models_dir = models_dir
        self.dtype = dtype
        self.attention_backend = attention_backend
        self.cpu_offload = cpu_offload
        self.img2img_strength = img2img_strength
        self.resident = max(1, resident)
        self.metrics = metrics
        self.compile = compile  # torch.compile the bundled model's pipelines, warmed up when loaded
        self.quantize = quantize  # int8 mode (model.quantize) of the bundled model's pipelines, or None
        if quantize is not None:  # a worker set to int8 without torchao fails at start, not at its first job
            from scenecraft.model.quantize import ptq_config

            ptq_config(quantize)
        # (model id, variant) -> pipeline, least recently used first
        self._loaded: OrderedDict[tuple[str, str | None], Any] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any, threads: int | None = None, metrics: Metrics | None = None) -> PipelineEngine:
        return cls(
            settings.checkpoint,
            settings.device,
            threads,
            models_dir=settings.resolved_models_dir,
            dtype=settings.model_dtype,
            attention_backend=settings.attention_backend,
            cpu_offload=settings.cpu_offload,
            img2img_strength=settings.img2img_strength,
            resident=settings.resident_models,
            metrics=metrics,
            compile=settings.compile_model,
            quantize=settings.quantize_model,
        )

    def resident_model(self) -> str | None:
        """The most recently used loaded model (what the queue's affinity prefers)."""
        with self._lock:
            return next((model for model, _ in reversed(self._loaded)), None)

    def _pipeline(self, model: str, variant: str | None = None) -> Any:
        if self.checkpoint is None and variant is None:
            from scenecraft.families.library import BUNDLED_ID
            from scenecraft.variants import get_variant

            if model == BUNDLED_ID:  # the default variant by its id: one pipeline, however it was named
                variant = get_variant(None).id
        key = (model, variant)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            while len(self._loaded) >= self.resident:  # swap: the least recently used goes first
                gone, _ = self._loaded.popitem(last=False)
                if self.metrics is not None:
                    self.metrics.model_resident_bytes.remove(_label(*gone))
                    self.metrics.model_swaps.inc()
                _release_memory(self.device)
            started = time.perf_counter()
            pipeline, size = self._build(model, variant)
            self._loaded[key] = pipeline
            if self.metrics is not None:
                self.metrics.model_load_seconds.labels(_label(model, variant)).observe(time.perf_counter() - started)
                self.metrics.model_resident_bytes.labels(_label(model, variant)).set(size)
            return pipeline

    def _build(self, model: str, variant: str | None) -> tuple[Any, int]:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        from scenecraft.families.library import BUNDLED_ID, scan

        if model == BUNDLED_ID:
            from scenecraft.pipeline import GenerationPipeline

            if self.checkpoint is None:
                pipe = GenerationPipeline.from_variant(variant, device=self.device)
            elif variant is not None:
                raise RequestRejected(
                    f"this platform serves its own checkpoint, which has no variants (got {variant!r})"
                )
            else:
                pipe = GenerationPipeline.from_settings(
                    model=model, checkpoint=self.checkpoint, vae=None, device=self.device
                )
            if self.quantize is not None:
                pipe.quantize(self.quantize)
            if self.compile:
                pipe.compile()
                _warm_up(pipe)
            return pipe, sum(p.numel() * p.element_size() for p in pipe.model.parameters())
        if variant is not None:
            raise RequestRejected(f"model {model!r} has no variants (got {variant!r})")
        from scenecraft.families.runner import FamilyError, FamilyRunner, LoadOptions

        library = scan(self.models_dir)
        entry = library.get(model)
        if entry is None:
            installed = ", ".join(e.id for e in library.runnable())
            raise RequestRejected(f"model {model!r} is not installed in {self.models_dir}; installed: {installed}")
        if entry.family.name == "dit":  # an official DiT checkpoint: our own pipeline, as `generate --checkpoint`
            from scenecraft.model.autoencoder import LatentDecoder, VAELoadError
            from scenecraft.model.checkpoints import CheckpointError
            from scenecraft.pipeline import GenerationPipeline

            try:
                pipe = GenerationPipeline.from_settings(
                    None, entry.path, entry.vae, device=self.device, dtype=getattr(torch, self.dtype)
                )
            except (CheckpointError, VAELoadError) as exc:
                raise RequestRejected(str(exc)) from None
            vae = pipe.decoder.vae if isinstance(pipe.decoder, LatentDecoder) else None
            weights = [*pipe.model.parameters(), *(vae.parameters() if vae is not None else ())]
            return pipe, sum(p.numel() * p.element_size() for p in weights)
        options = LoadOptions(self.device, self.dtype, self.attention_backend, self.cpu_offload, self.img2img_strength)
        try:
            runner = FamilyRunner(entry, options)
        except FamilyError as exc:
            raise RequestRejected(str(exc)) from None
        return runner, runner.resident_bytes()

    def load(self, model: str, variant: str | None = None) -> None:
        """Loads (and warms up) a pipeline before the first job needs it."""
        self._pipeline(model, variant)

    def generate(
        self,
        samples: Sequence[Sample],
        *,
        model: str,
        variant: str | None = None,
        size: int | tuple[int, int],
        steps: int,
        sampler: str,
        guidance: float,
        callback: PreviewCallback,
        should_stop: Callable[[], bool],
    ) -> list[Image.Image]:
        pipe = self._pipeline(model, variant)
        from scenecraft.families.runner import FamilyRunner

        if isinstance(pipe, FamilyRunner):
            return _generate_family(pipe, samples, size, steps, guidance, callback, should_stop)
        from scenecraft import pipeline as p
        from scenecraft.model.conditioning import SceneDiT

        scene = isinstance(pipe.model, SceneDiT)
        try:
            specs = [
                p.SampleSpec(seed=s.seed, class_label=s.class_label, request=scene_request(s) if scene else None)
                for s in samples
            ]
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


def _generate_family(
    runner: Any,
    samples: Sequence[Sample],
    size: int | tuple[int, int],
    steps: int,
    guidance: float,
    callback: PreviewCallback,
    should_stop: Callable[[], bool],
) -> list[Image.Image]:
    from scenecraft.families import runner as r

    height, width = (size, size) if isinstance(size, int) else size
    batch = []
    for s in samples:
        scene = None
        if s.scene is not None:
            try:
                with Image.open(io.BytesIO(s.scene)) as im:
                    scene = im.convert("RGB")
            except OSError as exc:
                raise RequestRejected(f"the scene asset is not a readable image: {exc}") from None
        batch.append(r.FamilySample(s.seed, s.prompt, s.negative_prompt, s.subjects, scene, s.inpaint))
    try:
        images: list[Image.Image] = runner.generate(
            batch,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            callback=callback,
            should_stop=should_stop,
        )
    except r.Cancelled as exc:
        raise Cancelled(str(exc)) from None
    except r.FamilyError as exc:
        raise RequestRejected(str(exc)) from None
    return images


def _release_memory(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


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


def _label(model: str, variant: str | None) -> str:
    """The /metrics label of a loaded (model, variant)."""
    return model if variant is None else f"{model}:{variant}"


def scene_request(sample: Sample) -> Any:
    """The pipeline's SceneRequest for a job's sample; subjects are planned from the prompt when
    the job gives none (see scenecraft.planner)."""
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
