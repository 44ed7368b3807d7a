"""One installed family model, loaded through diffusers' own pipeline class, run for a batch of jobs.

    FamilyRunner.load(entry)            -> diffusers pipeline from the local folder (never a hub)
    runner.generate(batch, callback, should_stop)
        prompts, negative prompts, one torch.Generator per sample seed (determinism by seed,
        whatever the batch mates) -> pipe(...) with a step callback that
          - turns the scheduler's clean estimate into a preview (families/previews.py),
          - raises Cancelled when should_stop() says so (cancel mid-sampling),
        scene-aware fields -> the family's adapters (families/scene.py): img2img, inpaint,
        regional attention masks; a field the model cannot serve is refused by name.

Only glue lives here: the modelling, the schedulers and the decoding are diffusers'.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from scenecraft.families.library import ModelEntry
from scenecraft.families.previews import PreviewMap, clean_estimate, fit_preview_map
from scenecraft.families.spec import FEATURE_NAMES, Capability

PreviewCallback = Callable[[int, int, list[Image.Image]], None]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Prompt lengths in tokens of each family's long text encoder (diffusers' own defaults).
MAX_SEQUENCE = {"pixart-alpha": 120, "pixart-sigma": 300, "sana": 300, "sd3": 256, "flux": 512}
WORKING_MEMORY = 1.25  # weights x this = what a load needs (activations, VAE decode, allocator slack)


class FamilyError(ValueError):
    """A request this model cannot run; the message names the model and what was asked."""


class Cancelled(Exception):
    """should_stop() returned True during sampling."""


class ModelTooLarge(FamilyError):
    """The memory estimate of a model exceeds what the device has free."""


@dataclass(frozen=True)
class FamilySample:
    seed: int
    prompt: str
    negative_prompt: str = ""
    subjects: tuple[dict[str, Any], ...] = ()
    scene: Image.Image | None = None
    inpaint: bool = False


@dataclass(frozen=True)
class LoadOptions:
    device: str = "cpu"
    dtype: str = "float32"
    attention_backend: str = "native"  # diffusers' attention dispatch name (flash, sage, ...)
    cpu_offload: bool = False  # diffusers' model CPU offload: one component on the GPU at a time
    img2img_strength: float = 0.6  # how far a context scene is re-noised (1 = ignored)


def required_bytes(entry: ModelEntry, options: LoadOptions) -> tuple[int, int]:
    """(bytes on the device, bytes in host memory) a load of `entry` needs, estimated from the
    stored weights: each component at the load dtype, times WORKING_MEMORY."""
    size = torch.tensor([], dtype=DTYPES[options.dtype]).element_size()
    per_component = [c.params * size for c in entry.components.values()]
    total = int(sum(per_component) * WORKING_MEMORY)
    if options.device == "cpu":
        return total, total
    if options.cpu_offload:
        return int(max(per_component) * WORKING_MEMORY), total
    return total, int(max(per_component) * WORKING_MEMORY)


def free_bytes(device: str) -> tuple[int, int]:
    """(free bytes on `device`, available host memory)."""
    host = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        host = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        pass
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free), host
    return host, host


def check_fits(entry: ModelEntry, options: LoadOptions) -> None:
    need_device, need_host = required_bytes(entry, options)
    have_device, have_host = free_bytes(options.device)
    gib = 1024**3
    for where, need, have in ((options.device, need_device, have_device), ("host memory", need_host, have_host)):
        if need > have:
            raise ModelTooLarge(
                f"model {entry.id} ({entry.params / 1e9:.2f}B-parameter {entry.family.title}, "
                f"{entry.weight_bytes / gib:.1f} GiB stored) needs about {need / gib:.1f} GiB on {where} "
                f"in {options.dtype}, but {have / gib:.1f} GiB is free; try dtype=bfloat16, cpu_offload=true "
                f"or a smaller model"
            )


class FamilyRunner:
    """A loaded diffusers pipeline of one library entry, plus what previews need."""

    def __init__(self, entry: ModelEntry, options: LoadOptions | None = None) -> None:
        if not entry.runnable:
            raise FamilyError(f"model {entry.id} cannot run: {entry.problem}")
        self.entry = entry
        self.options = options or LoadOptions()
        check_fits(entry, self.options)
        self.pipe = self._load()
        self.derived: dict[str, Any] = {}  # img2img / inpaint pipelines sharing self.pipe's modules
        self.preview_map: PreviewMap = fit_preview_map(self.pipe, entry.family.name)

    @property
    def family(self) -> str:
        return self.entry.family.name

    def _load(self) -> Any:
        import diffusers

        index_class = self.entry.family.pipelines[0]
        cls = getattr(diffusers, index_class)
        dtype = DTYPES[self.options.dtype]
        diffusers.utils.logging.disable_progress_bar()  # a worker logs JSON lines, not progress bars
        if self.entry.base is not None:  # a single-file transformer + its base folder's other components
            from scenecraft.families.single_file import SINGLE_FILE_CLASSES

            loader = getattr(diffusers, SINGLE_FILE_CLASSES[self.family])
            try:
                transformer = loader.from_single_file(
                    str(self.entry.path),
                    config=str(self.entry.base),
                    subfolder="transformer",
                    local_files_only=True,
                    torch_dtype=dtype,
                )
            except (ValueError, RuntimeError, KeyError, OSError) as exc:
                raise FamilyError(
                    f"model {self.entry.id}: {self.entry.path} does not load as a transformer "
                    f"of {self.entry.base.name}: {exc}"
                ) from None
            pipe = cls.from_pretrained(self.entry.base, transformer=transformer, local_files_only=True, dtype=dtype)
        else:
            pipe = cls.from_pretrained(self.entry.path, local_files_only=True, dtype=dtype)
        if self.options.attention_backend != "native":
            pipe.transformer.set_attention_backend(self.options.attention_backend)
        if self.options.cpu_offload and self.options.device != "cpu":
            pipe.enable_model_cpu_offload(device=self.options.device)
        else:
            pipe.to(self.options.device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def resident_bytes(self) -> int:
        total = 0
        for module in self.pipe.components.values():
            if isinstance(module, torch.nn.Module):
                total += sum(p.numel() * p.element_size() for p in module.parameters())
        return total

    # -- requests -----------------------------------------------------------------------------
    def refuse_unsupported(self, sample: FamilySample) -> None:
        caps = self.entry.capabilities
        asked: list[Capability] = []
        if sample.negative_prompt:
            asked.append("negative_prompt")
        if sample.inpaint:
            asked.append("inpaint")
        elif sample.scene is not None:
            asked.append("context_scene")
        if any(s.get("box") for s in sample.subjects) and not sample.inpaint:
            asked.append("regional_subjects")
        if any(s.get("pose") for s in sample.subjects):
            asked.append("pose")
        for feature in asked:
            if not caps[feature]:
                raise FamilyError(
                    f"model {self.entry.id} ({self.entry.family.title}) cannot do {FEATURE_NAMES[feature]}"
                )

    def generate(
        self,
        samples: Sequence[FamilySample],
        *,
        width: int,
        height: int,
        steps: int,
        guidance: float,
        callback: PreviewCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        preview_size: int = 128,
    ) -> list[Image.Image]:
        """One image per sample, deterministic by seed; Cancelled when should_stop() turns True."""
        from scenecraft.families import scene

        problem = self.entry.family.size_problem(width, height)
        if problem is not None:
            raise FamilyError(f"model {self.entry.id}: {problem}")
        for s in samples:
            self.refuse_unsupported(s)
        if should_stop is not None and should_stop():
            raise Cancelled("cancelled before the first step")
        try:
            with torch.inference_mode():
                plan = scene.plan(self, samples, width=width, height=height, guidance=guidance)
        except FamilyError:
            raise
        except ValueError as exc:  # a combination the plan cannot serve
            raise FamilyError(str(exc)) from None
        pipe = plan.pipeline
        kwargs: dict[str, Any] = {
            "height": height,
            "width": width,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "generator": [torch.Generator("cpu").manual_seed(s.seed) for s in samples],
            "output_type": "pil",
            **self.family_kwargs(),
            **plan.kwargs,
        }
        total = plan.steps(steps)
        tap = clean_estimate(pipe)

        def on_step(step: int) -> None:
            if callback is not None:
                x0 = tap.latest()
                if x0 is not None:
                    callback(step, total, self.preview_map.previews(x0, preview_size, (height, width)))
            if should_stop is not None and should_stop():
                raise Cancelled(f"cancelled after step {step} of {total}")

        if self.family.startswith("pixart"):  # PixArt's pipelines still take the older callback
            kwargs["callback"] = lambda i, t, latents: on_step(i + 1)
            kwargs["callback_steps"] = 1
        else:

            def on_step_end(pipe: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                on_step(i + 1)
                return tensors

            kwargs["callback_on_step_end"] = on_step_end
        with plan.context(), tap, torch.inference_mode():
            images: list[Image.Image] = pipe(**kwargs).images
        return plan.finish(images)

    def family_kwargs(self) -> dict[str, Any]:
        """What this family's pipeline call needs besides the request: its prompt length, no binning."""
        family = self.family
        text_tokenizer = getattr(self.pipe, "tokenizer_3", None) or getattr(self.pipe, "tokenizer_2", None)
        text_tokenizer = text_tokenizer or self.pipe.tokenizer
        length = min(MAX_SEQUENCE[family], int(getattr(text_tokenizer, "model_max_length", 512)))
        out: dict[str, Any] = {"max_sequence_length": length}
        if family in ("pixart-alpha", "pixart-sigma", "sana"):
            out.update(use_resolution_binning=False, clean_caption=False)
        return out
