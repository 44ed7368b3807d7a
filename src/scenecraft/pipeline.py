"""The generation pipeline: the one place where model pieces are wired together.

    request (specs, size, steps, sampler, guidance)
      -> initial noise, one generator per sample seed
      -> guided denoiser around the DiT
      -> sampler (DDPM / DDIM for epsilon models, Euler / Heun for flow models)
      -> decoder (SD VAE, tiled when large; or pixels)
      -> the learned x2 upsampler, for an image twice the model's own side (the bundled model)
      -> PIL images

Every sample draws its noise from a generator seeded with its own seed, so a sample's result does
not depend on which other samples share its batch (up to floating-point reduction order).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from scenecraft.model import DiT, build_dit
from scenecraft.model.autoencoder import Decoder, LatentDecoder, PixelDecoder, load_vae
from scenecraft.model.checkpoints import (
    CheckpointError,
    infer_dit_config,
    load_scene_model,
    load_weights,
    read_scene_metadata,
    read_state_dict,
)
from scenecraft.model.conditioning import CONDITIONS, INPAINT, Conditions, SceneDiT
from scenecraft.model.step_cache import StepCache
from scenecraft.model.student import STUDENT_FORMATS, is_student, load_student, pack
from scenecraft.model.upsampler import Upsampler, load_upsampler
from scenecraft.sampling import (
    OFFICIAL_DIT_CHANNELS,
    SAMPLERS,
    GaussianDiffusion,
    SamplerStep,
    flow_times,
    guided_denoiser,
    nested_guidance,
    sample_ddim,
    sample_ddpm,
    sample_euler,
    sample_heun,
)
from scenecraft.scene_conditions import ConditionEncoder, SceneRequest
from scenecraft.variants import Variant, get_variant

Objective = Literal["epsilon", "flow"]
PreviewCallback = Callable[[int, int, list[Image.Image]], None]


class Cancelled(Exception):
    """Raised by ``generate`` when ``should_stop`` returned True."""


class GenerationError(ValueError):
    """A request the pipeline cannot run; the message says which parameter and what is allowed."""


@dataclass(frozen=True)
class SampleSpec:
    seed: int
    class_label: int | None = None  # None: unconditional (the null class)
    request: SceneRequest | None = None  # for scene models: prompt, subjects, context scene


# The bundled default model: seed-12M trained on the scene world (see docs/models.md).
BUNDLED_DIR = Path(__file__).parent / "weights"
BUNDLED = "bundled"
BUNDLED_MODELS = {"seed-12M": BUNDLED_DIR / "seed-12M.safetensors"}
# The learned x2 upsampler shipped beside it (model/upsampler.py): 64-px samples become 128-px images.
BUNDLED_UPSAMPLER = BUNDLED_DIR / "seed-12M-x2.safetensors"

# Guidance of scene models, nested in this order (see ``nested_guidance``); the scale of each
# condition is how far its own contribution is pushed, given the ones before it.
GUIDANCE_ORDER: tuple[str, ...] = ("inpaint", "scene", "pose", "subjects", "text")
DEFAULT_SCALES: dict[str, float] = {"inpaint": 1.0, "scene": 1.5, "pose": 1.5, "subjects": 2.0, "text": 3.0}


CPU_MAX_ROWS = 16  # rows per forward pass of a scene model on the CPU (see GenerationPipeline.max_rows)


class GenerationPipeline:
    """A DiT, a decoder and the samplers, ready to turn sample specs into images."""

    def __init__(
        self,
        model: DiT,
        decoder: Decoder,
        *,
        objective: Objective | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        conditioner: ConditionEncoder | None = None,
    ):
        if isinstance(model, SceneDiT) and conditioner is None:
            raise GenerationError("a scene model needs a conditioner (its text encoder) to turn requests into tensors")
        if model.in_channels != decoder.channels:
            raise GenerationError(
                f"the model works on {model.in_channels}-channel samples but the decoder expects "
                f"{decoder.channels}: pair latent models with a VAE and 3-channel models with pixels"
            )
        self.device = torch.device(device)
        self.dtype = dtype
        self.model = model.to(self.device, dtype).eval()
        self.decoder = decoder
        # DiT with learned sigma is the official epsilon objective; our flow models predict velocity.
        self.objective: Objective = objective or ("epsilon" if model.learn_sigma else "flow")
        # Channels that guidance acts on: the official DiT guides 3 of its 4 epsilon channels.
        self.guided_channels = _guided_channels(model)
        self._preview_map: tuple[Tensor, Tensor] | None = None
        self.conditioner = conditioner
        self.variant: Variant | None = None  # set by from_variant
        # FORA step caching (model.step_cache): reuse block outputs for interval - 1 of every
        # interval model calls. None = exact, the default; see docs/results.md for its error.
        self.step_cache: int | None = None
        # A learned upsampler (model/upsampler.py): an image of scale x the model's own side is
        # sampled at the model's side and upsampled. None: every size is sampled as asked.
        self.upsampler: Upsampler | None = None
        self.compiled = False
        # Rows per forward pass of a scene model (guidance levels x samples); more are run in
        # chunks of this many. On the CPU a teacher step of 8 requests (40 rows) is 1.26x faster
        # in chunks of 16 than as one pass (benchmarks/row_chunks.py: the large activations of one
        # pass cost page faults), so 16 is the CPU's default; None: one pass, as on a GPU.
        self.max_rows: int | None = CPU_MAX_ROWS if self.device.type == "cpu" else None

    # ----------------------------------------------------------------------------------------
    # Construction
    # ----------------------------------------------------------------------------------------

    @classmethod
    def from_settings(
        cls,
        model: str | None = "seed-12M",
        checkpoint: str | Path | None = BUNDLED,
        vae: str | Path | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        text_encoder: str | Path | None = None,
        upsampler: str | Path | None = BUNDLED,
    ) -> GenerationPipeline:
        """Builds the named model, loads its weights and the decoder.

        ``checkpoint="bundled"`` (the default) is the weights shipped for ``model`` (seed-12M).
        A scene model's checkpoint (saved by the trainer) brings its own shape and conditioning;
        ``text_encoder`` is then a local transformers folder (default all-MiniLM-L6-v2).
        With ``vae`` the model works on SD-VAE latents (4 channels); without, in pixel space.
        ``checkpoint=None`` gives random weights (seed 0) — for tests of the plumbing only: their
        images are noise-like patterns, never results. ``model=None`` takes the whole shape from
        the checkpoint's tensors (``infer_dit_config``), for checkpoints of no named config.
        ``upsampler``: the learned x2 upsampler of scene models (``"bundled"``: the shipped one,
        for the bundled weights only, when installed; a path: that one; None: none).
        """
        if checkpoint == BUNDLED:
            if model is None or model not in BUNDLED_MODELS:
                raise CheckpointError(
                    f"no bundled weights for {model}; bundled: {', '.join(BUNDLED_MODELS)}; give a checkpoint"
                )
            checkpoint = BUNDLED_MODELS[model]
            if not Path(checkpoint).is_file():
                raise CheckpointError(f"the bundled weights {checkpoint} are missing from this install")
        meta = read_scene_metadata(checkpoint) if checkpoint is not None else None
        if checkpoint is not None and meta is not None:
            if vae is not None:
                raise CheckpointError(f"{checkpoint} is a pixel-space scene model: give no VAE")
            from scenecraft.model.encoders import TextEncoder

            student = meta["extra"].get("format") in STUDENT_FORMATS
            scene_model = load_student(checkpoint) if student else load_scene_model(checkpoint)
            assert isinstance(scene_model, SceneDiT)
            encoder = TextEncoder(text_encoder, max_tokens=scene_model.cond_config.max_text_tokens, device=device)
            conditioner = ConditionEncoder(encoder, scene_model.cond_config)
            pipe = cls(scene_model, PixelDecoder(), device=device, dtype=dtype, conditioner=conditioner)
            if upsampler == BUNDLED:
                bundled = Path(checkpoint).resolve().parent == BUNDLED_DIR.resolve()
                upsampler = BUNDLED_UPSAMPLER if bundled and BUNDLED_UPSAMPLER.is_file() else None
            if upsampler is not None:
                pipe.upsampler = load_upsampler(upsampler).to(pipe.device)
            return pipe
        if upsampler not in (None, BUNDLED):
            raise CheckpointError("the learned upsampler is for pixel-space scene models; this checkpoint is not one")
        in_channels = 4 if vae is not None else 3
        if checkpoint is not None:
            state = read_state_dict(checkpoint)
            saved = infer_dit_config(state)
            # The stored pos_embed fixes the training resolution; keep it so strict loading works.
            overrides: dict[str, int | bool] = {"in_channels": in_channels}
            if saved is not None:
                if saved.in_channels != in_channels:
                    space = (
                        "SD-VAE latents (4 channels): give a VAE"
                        if saved.in_channels == 4
                        else (f"{saved.in_channels}-channel pixels: give no VAE")
                    )
                    raise CheckpointError(f"checkpoint {checkpoint} works on {space}")
                overrides["input_size"] = saved.input_size
                overrides["num_classes"] = saved.num_classes
                overrides["learn_sigma"] = saved.learn_sigma
            with torch.device("meta"):  # no memory for weights that the checkpoint replaces
                if model is not None:
                    net = build_dit(model, **overrides)
                elif saved is not None:
                    net = DiT(saved)  # its own shape; in_channels was checked against the VAE above
                else:
                    raise CheckpointError(f"{checkpoint} is not a DiT state dict: its shape cannot be inferred")
            load_weights(net, state, source=f"checkpoint {checkpoint}", assign=True)
        else:
            if model is None:
                raise CheckpointError("random weights need a named model config")
            with torch.random.fork_rng(devices=[]):  # seed 0 without touching the caller's RNG
                torch.manual_seed(0)
                net = build_dit(model, in_channels=in_channels, input_size=32)
            _randomize_zero_init(net)
        decoder: Decoder = LatentDecoder(load_vae(vae, device=device, dtype=dtype)) if vae else PixelDecoder()
        return cls(net, decoder, device=device, dtype=dtype)

    @classmethod
    def from_variant(
        cls,
        variant: str | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        text_encoder: str | Path | None = None,
        upsampler: str | Path | None = BUNDLED,
    ) -> GenerationPipeline:
        """A variant of the bundled model (``scenecraft.variants``; None: the default variant).

        The pipeline's ``variant`` then says which, and its step count is the one to sample with.
        """
        chosen = get_variant(variant)
        path = BUNDLED_DIR / chosen.weights
        if not path.is_file():
            raise CheckpointError(f"the weights of variant {chosen.id} ({path}) are missing from this install")
        pipe = cls.from_settings(
            "seed-12M", checkpoint=path, device=device, dtype=dtype, text_encoder=text_encoder, upsampler=upsampler
        )
        pipe.variant = chosen
        return pipe

    def compile(self) -> None:
        """``torch.compile`` (inductor) the model's forward, and on a GPU the VAE's decoder, for fixed shapes.

        Exact up to float round-off; the first call of each shape compiles (tens of seconds on a
        CPU, about 100 s for DiT-XL/2), so a worker warms up with one generation before it takes
        jobs. On a CUDA device the model's calls also run as CUDA graphs. On the CPU the weights are
        frozen into the graph (inductor's ``freezing``: constant folding, and float32 linears on
        MKL's prepacked GEMM), and the VAE decoder is left eager, where compiling it measured no
        faster (its time is oneDNN convolutions either way; docs/results.md). Not combined with
        ``step_cache`` (the cache swaps block forwards, which a compiled graph has inlined).
        """
        cpu = self.device.type == "cpu"
        if self.device.type == "cuda":
            # CUDA graphs ("reduce-overhead"): a small model's step is kernel-launch bound. A graph's
            # output buffer is overwritten by its next replay, and guidance holds several passes'
            # outputs at once, hence the copy of each.
            graphed = torch.compile(self.model.forward, dynamic=False, mode="reduce-overhead")

            def forward(*args: Any, **kwargs: Any) -> Tensor:
                return graphed(*args, **kwargs).clone()

            self.model.forward = forward  # type: ignore[method-assign]
        elif cpu:
            # Inductor reads ``freezing`` from its global config when it compiles (at the first call
            # of each shape); passed in torch.compile's ``options`` it is silently not applied (torch
            # 2.13: the weights stayed graph inputs and the linears plain addmm). So every call runs
            # with the config patched, and nothing outside this model is frozen.
            from torch._inductor import config as inductor_config

            compiled = torch.compile(self.model.forward, dynamic=False)

            def frozen(*args: Any, **kwargs: Any) -> Tensor:
                with inductor_config.patch(freezing=True):
                    return compiled(*args, **kwargs)

            self.model.forward = frozen  # type: ignore[method-assign]
        else:
            self.model.forward = torch.compile(self.model.forward, dynamic=False)  # type: ignore[method-assign]
        if isinstance(self.decoder, LatentDecoder) and not cpu:
            vae = self.decoder.vae
            vae.decoder.forward = torch.compile(vae.decoder.forward, dynamic=False)
        self.compiled = True

    def quantize(self, mode: str) -> None:
        """int8 post-training quantization of the model's token-wise linears (``model.quantize``).

        Approximate (int8 rounding; benchmarks/quantization.py measures the error and the speed).
        Off by default: on CPUs without VNNI or AMX it measured slower than float32. Before
        ``compile()``, whose inductor graphs are what torchao's int8 kernels are written for.
        """
        from scenecraft.model.quantize import quantize_model

        if self.compiled:
            raise GenerationError("quantize before compile: the compiled graph holds the float weights")
        quantize_model(self.model, mode)

    # ----------------------------------------------------------------------------------------
    # Sizes: the model's own side, and what the upsampler adds
    # ----------------------------------------------------------------------------------------

    @property
    def native_size(self) -> int:
        """The image side the model was trained at (its input side x the decoder's factor)."""
        return self.model.config.input_size * self.decoder.downsample

    @property
    def default_size(self) -> int:
        """The image side a request without one gets: the upsampler's output where there is one."""
        return self.native_size * (self.upsampler.scale if self.upsampler is not None else 1)

    def sampling_size(self, size: int | tuple[int, int]) -> tuple[int, int]:
        """(height, width) the model samples at for an image of ``size``: the model's own side for
        an image of exactly the upsampler's output side, else ``size`` itself."""
        height, width = (size, size) if isinstance(size, int) else size
        if self.upsampler is not None and height == width == self.default_size:
            return self.native_size, self.native_size
        return height, width

    def decode(self, z: Tensor, size: int | tuple[int, int]) -> Tensor:
        """Samples -> images in [-1, 1] of ``size`` (decoded, then upsampled where it was sampled small)."""
        height, width = (size, size) if isinstance(size, int) else size
        images = self.decoder.decode(z)
        if tuple(images.shape[-2:]) != (height, width):
            if self.upsampler is None or self.sampling_size(size) != tuple(images.shape[-2:]):
                raise GenerationError(f"samples of side {images.shape[-1]} do not make {height}x{width} images")
            images = self.upsampler.upsample(images)
        return images

    # ----------------------------------------------------------------------------------------
    # Sampling
    # ----------------------------------------------------------------------------------------

    def check_request(self, size: int | tuple[int, int], steps: int, sampler: str, guidance: float) -> tuple[int, int]:
        """Validates a request; returns (height, width) in pixels."""
        height, width = (size, size) if isinstance(size, int) else size
        if isinstance(self.model, SceneDiT) and height != width:
            raise GenerationError(f"scene models make square images, got {height}x{width}")
        unit = self.decoder.downsample * self.model.patch_size
        for name, value in (("height", height), ("width", width)):
            if value <= 0 or value % unit:
                raise GenerationError(
                    f"{name} {value} is not a positive multiple of {unit} "
                    f"(the decoder's downsampling {self.decoder.downsample} x the patch size {self.model.patch_size})"
                )
        if steps < 1 or steps > 1000:
            raise GenerationError(f"steps must be between 1 and 1000, got {steps}")
        family = SAMPLERS.get(sampler)
        if family is None:
            raise GenerationError(f"unknown sampler {sampler!r}; valid samplers: {', '.join(SAMPLERS)}")
        if family != self.objective:
            valid = [name for name, f in SAMPLERS.items() if f == self.objective]
            raise GenerationError(
                f"sampler {sampler!r} is for {family} models; this model predicts {self.objective}: "
                f"use {' or '.join(valid)}"
            )
        if not 0 <= guidance <= 50:
            raise GenerationError(f"guidance must be between 0 and 50, got {guidance}")
        return height, width

    @torch.inference_mode()
    def sample(
        self,
        specs: Sequence[SampleSpec],
        *,
        size: int | tuple[int, int],
        steps: int,
        sampler: str = "ddim",
        guidance: float = 1.0,
        condition_scales: Mapping[str, float] | None = None,
        callback: Callable[[SamplerStep], None] | None = None,
    ) -> Tensor:
        """Runs the sampler; returns the final samples (N, C, h, w) in the model's space.

        For scene models ``guidance`` is the text scale and ``condition_scales`` sets any other
        condition's (see :data:`DEFAULT_SCALES`); class models use ``guidance`` alone.
        """
        if not specs:
            raise GenerationError("at least one sample is needed")
        height, width = self.check_request(size, steps, sampler, guidance)
        h, w = height // self.decoder.downsample, width // self.decoder.downsample
        null = self.model.config.num_classes
        for spec in specs if not isinstance(self.model, SceneDiT) else ():
            if spec.class_label is not None and not 0 <= spec.class_label < null:
                raise GenerationError(f"class label {spec.class_label} is outside 0..{null - 1}")
        generators = [torch.Generator("cpu").manual_seed(spec.seed) for spec in specs]
        # The sampler's state stays float32 whatever the model's dtype: 50 steps of bf16
        # arithmetic on x would cost more precision than the model's own bf16 matmuls.
        x = torch.stack([torch.randn(self.model.in_channels, h, w, generator=g) for g in generators])
        x = x.to(self.device)
        if self.step_cache is not None:
            if self.compiled:
                raise GenerationError("step caching and compilation do not combine: use one")
            with StepCache(self.model, interval=self.step_cache):
                return self._sample(specs, x, steps, sampler, guidance, condition_scales, callback, generators)
        return self._sample(specs, x, steps, sampler, guidance, condition_scales, callback, generators)

    def _sample(
        self,
        specs: Sequence[SampleSpec],
        x: Tensor,
        steps: int,
        sampler: str,
        guidance: float,
        condition_scales: Mapping[str, float] | None,
        callback: Callable[[SamplerStep], None] | None,
        generators: list[torch.Generator],
    ) -> Tensor:
        null = self.model.config.num_classes
        if isinstance(self.model, SceneDiT):
            return self._sample_scene(specs, x, steps, sampler, guidance, condition_scales, callback)
        labels = torch.tensor([null if s.class_label is None else s.class_label for s in specs], device=self.device)
        nulls = torch.full_like(labels, null)

        if self.objective == "epsilon":

            def net(x: Tensor, t: Tensor, y: Tensor) -> Tensor:
                return self.model(x.to(self.dtype), t, y).float()

            denoise = guided_denoiser(net, labels, nulls, guidance, self.guided_channels)
            diffusion = GaussianDiffusion.official(_respacing(sampler, steps))
            run = sample_ddim if sampler == "ddim" else sample_ddpm
            return run(denoise, x, diffusion, callback=callback, generator=generators)

        def velocity(x: Tensor, t: Tensor, y: Tensor) -> Tensor:
            # flow time in [0, 1] -> the timestep embedder's 0..1000 range
            return self.model(x.to(self.dtype), t * 1000, y).float()

        denoise = guided_denoiser(velocity, labels, nulls, guidance, self.guided_channels)
        flow = sample_euler if sampler == "euler" else sample_heun
        return flow(denoise, x, flow_times(steps), callback=callback)

    def scene_conditions(self, specs: Sequence[SampleSpec], size: int) -> Conditions:
        """The encoded conditions of scene-model specs, on the pipeline's device."""
        assert self.conditioner is not None
        requests = [s.request or SceneRequest() for s in specs]
        try:
            cond = self.conditioner.encode(requests, size)
        except ValueError as exc:
            raise GenerationError(str(exc)) from None
        return cond.map(lambda v: v.to(self.device))

    def _sample_scene(
        self,
        specs: Sequence[SampleSpec],
        x: Tensor,
        steps: int,
        sampler: str,
        guidance: float,
        condition_scales: Mapping[str, float] | None,
        callback: Callable[[SamplerStep], None] | None,
    ) -> Tensor:
        """Flow sampling of a scene model with nested per-condition guidance and inpainting.

        Inpainting keeps the scene outside the mask exactly: there the velocity is replaced by the
        straight path's own, ``noise - scene``, which the noise at t = 1 starts on and which lands
        on the scene at t = 0.
        """
        scales = dict(DEFAULT_SCALES)
        scales["text"] = guidance
        for name, value in (condition_scales or {}).items():
            if name not in scales:
                raise GenerationError(f"unknown condition {name!r} for guidance; valid: {', '.join(CONDITIONS)}")
            if not 0 <= value <= 50:
                raise GenerationError(f"guidance for {name} must be between 0 and 50, got {value}")
            scales[name] = value
        cond = self.scene_conditions(specs, x.shape[-1])
        guided = self._student(cond, scales, steps, sampler) if is_student(self.model) else self._nested(cond, scales)
        inpaint_on = cond.present[:, INPAINT].any()
        mask = cond.inpaint[:, :1]  # 1 = generate
        known = cond.inpaint[:, 1:]
        noise = x.clone()

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            v = guided(x, t)
            if inpaint_on:
                on = cond.present[:, INPAINT, None, None, None]
                v = torch.where(on, mask * v + (1 - mask) * (noise - known), v)
            return v

        flow = sample_euler if sampler == "euler" else sample_heun
        z = flow(velocity, x, flow_times(steps), callback=callback)
        if inpaint_on:  # exact scene outside the mask, whatever the float error of the steps
            on = cond.present[:, INPAINT, None, None, None]
            z = torch.where(on, mask * z + (1 - mask) * known, z)
        return z

    def _nested(self, cond: Conditions, scales: Mapping[str, float]) -> Callable[[Tensor, Tensor], Tensor]:
        """The teacher's guided velocity: one pass per level of nesting, batched (see ``nested_guidance``)."""
        order = [CONDITIONS.index(name) for name in GUIDANCE_ORDER]
        # Levels of nesting: level k has the first k conditions (of those each sample has).
        levels: list[Tensor] = []
        level_scales: list[float] = []
        if all(scales[name] == 1.0 for name in GUIDANCE_ORDER):
            levels = [cond.present]
        else:
            present = torch.zeros_like(cond.present)
            levels.append(present.clone())
            for k, name in zip(order, GUIDANCE_ORDER, strict=True):
                if not bool(cond.present[:, k].any()):
                    continue
                present[:, k] = cond.present[:, k]
                levels.append(present.clone())
                level_scales.append(scales[name])
        batch = Conditions.cat([cond.with_present(p) for p in levels])
        n = len(cond)

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            xs = torch.cat([x] * len(levels)).to(self.dtype)
            ts = torch.cat([t] * len(levels)) * 1000
            out = self._rows(xs, ts, batch).float().split(n)
            return out[0] if len(out) == 1 else nested_guidance(list(out), level_scales)

        return velocity

    def _rows(self, x: Tensor, t: Tensor, cond: Conditions) -> Tensor:
        """The scene model on a batch, in chunks of at most ``max_rows`` rows (samples do not
        depend on their batch, so this is the same computation, pass by pass). Not with step
        caching, which counts the model's calls as steps."""
        m = self.max_rows
        if m is None or x.shape[0] <= m or self.step_cache is not None:
            return self.model(x, t, cond)
        chunks = [
            self.model(x[i : i + m], t[i : i + m], cond.map(lambda v, i=i: v[i : i + m]))
            for i in range(0, x.shape[0], m)
        ]
        return torch.cat(chunks)

    def _student(
        self, cond: Conditions, scales: Mapping[str, float], steps: int, sampler: str
    ) -> Callable[[Tensor, Tensor], Tensor]:
        """A student's velocity: one pass, the scales and the step size as inputs (model.student).

        It learnt the step sizes of ``extra["step_counts"]``; other step counts run on the step
        size embedding between them (unmeasured: the variants use the learnt ones).
        """
        if sampler != "euler":
            raise GenerationError(f"a distilled model samples with euler (its steps are averages), not {sampler}")
        values = torch.tensor([scales[name] for name in CONDITIONS], device=self.device)
        per_sample = torch.where(cond.present, values, torch.ones_like(values))  # absent: nothing to push

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            packed = pack(t * 1000, per_sample, 1 / steps).to(self.dtype)
            return self._rows(x.to(self.dtype), packed, cond).float()

        return velocity

    def generate(
        self,
        specs: Sequence[SampleSpec],
        *,
        size: int | tuple[int, int],
        steps: int,
        sampler: str = "ddim",
        guidance: float = 1.0,
        condition_scales: Mapping[str, float] | None = None,
        callback: PreviewCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        preview_size: int = 128,
    ) -> list[Image.Image]:
        """Samples and decodes; one PIL image per spec of ``size``, deterministic by seed.

        With an upsampler, an image of its output side (128 px for the bundled model) is sampled at
        the model's own side and upsampled (:meth:`sampling_size`); previews are of the samples.

        ``callback(step, total, previews)`` gets small previews of the current clean estimate
        after every step (``step`` counts from 1). ``should_stop`` is checked before every step;
        when it returns True, ``Cancelled`` is raised and nothing is returned.
        """

        def on_step(info: SamplerStep) -> None:
            if callback is not None:
                callback(info.i + 1, info.total, self.previews(info.x0, preview_size))
            if should_stop is not None and should_stop():
                raise Cancelled(f"cancelled after step {info.i + 1} of {info.total}")

        if should_stop is not None and should_stop():
            raise Cancelled("cancelled before the first step")
        self.check_request(size, steps, sampler, guidance)
        z = self.sample(
            specs,
            size=self.sampling_size(size),
            steps=steps,
            sampler=sampler,
            guidance=guidance,
            condition_scales=condition_scales,
            callback=on_step,
        )
        return to_pil(self.decode(z, size))

    # ----------------------------------------------------------------------------------------
    # Previews
    # ----------------------------------------------------------------------------------------

    def previews(self, x0: Tensor, max_side: int = 128) -> list[Image.Image]:
        """Cheap previews of clean estimates: pixels as they are, latents through a linear map.

        The linear latent->RGB map is fitted once per pipeline by least squares against the VAE's
        own decoding of a fixed set of latents (no hand-copied constants; works for any VAE).
        """
        x0 = x0.float()
        if isinstance(self.decoder, LatentDecoder):
            weight, bias = self._latent_rgb_map()
            x0 = torch.einsum("nchw,cd->ndhw", x0, weight.to(x0.device)) + bias.to(x0.device)[None, :, None, None]
        scale = max_side / max(x0.shape[-2:])
        if scale < 1:
            x0 = torch.nn.functional.interpolate(x0, scale_factor=scale, mode="area")
        return to_pil(x0.clamp(-1, 1))

    def _latent_rgb_map(self) -> tuple[Tensor, Tensor]:
        if self._preview_map is None:
            assert isinstance(self.decoder, LatentDecoder)
            g = torch.Generator("cpu").manual_seed(0)
            z = torch.randn(2, self.decoder.channels, 16, 16, generator=g).to(self.device)
            rgb = self.decoder.decode(z)  # (2, 3, 16 * f, 16 * f)
            f = self.decoder.downsample
            rgb = torch.nn.functional.avg_pool2d(rgb, f)  # one RGB value per latent pixel
            a = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])  # (pixels, C)
            a = torch.cat([a, torch.ones_like(a[:, :1])], dim=1)  # (pixels, C + 1) with a bias column
            b = rgb.permute(0, 2, 3, 1).reshape(-1, 3)
            solution = torch.linalg.lstsq(a.cpu().double(), b.cpu().double()).solution.float()  # (C + 1, 3)
            self._preview_map = (solution[:-1], solution[-1])
        return self._preview_map


def _respacing(sampler: str, steps: int) -> str:
    """DDIM's integer stride from 0 where one gives exactly ``steps``; else even spacing."""
    if sampler == "ddim" and any(len(range(0, 1000, s)) == steps for s in range(1, 1000)):
        return f"ddim{steps}"
    return str(steps)


def _guided_channels(model: DiT) -> int | None:
    """The official DiT guides 3 of its 4 epsilon channels; other models guide all of them."""
    return OFFICIAL_DIT_CHANNELS if model.learn_sigma and model.in_channels == 4 else None


def _randomize_zero_init(model: DiT) -> None:
    """Gives the zero-initialised output layers small random weights, so an untrained model's
    output depends on its input (plumbing tests need changing previews, not a constant)."""
    g = torch.Generator("cpu").manual_seed(0)
    for module in [model.final_layer.linear, *model.modulation_layers()]:
        for p in module.parameters():
            p.data.copy_(torch.randn(p.shape, generator=g) * 0.02)


def to_pil(images: Tensor) -> list[Image.Image]:
    """(N, 3, H, W) in [-1, 1] -> PIL RGB images, rounding to the nearest 8-bit value."""
    arr = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr_np: np.ndarray = arr.permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a) for a in arr_np]
