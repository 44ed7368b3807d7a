"""The trainer: a scene-aware DiT on the scene world, with the rectified-flow objective.

    x_t = (1 - t) x_0 + t e,   e ~ N(0, I),   t ~ logit-normal   (Esser et al. 2024)
    loss = || v(x_t, t, c) - (e - x_0) ||^2  +  w * scene-parsing loss of the context encoder
                                             [+  w_repa * REPA alignment, ``train.repa``]

AdamW with warm-up, bf16 autocast on GPUs, EMA of the weights, gradient clipping, each condition
dropped independently (classifier-free guidance per condition), inpainting masks drawn at random.
Checkpoints are resumable: ``model.safetensors`` (the EMA weights and their configs) and
``state.pt`` (weights, EMA, optimizer, step, data position), both written atomically. Runs as one
process (CPU or one GPU), or as several under ``torchrun`` (DDP; each rank renders its own scenes).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scenecraft.atomic_write import atomic_path
from scenecraft.model.checkpoints import (
    CheckpointError,
    load_weights,
    read_scene_metadata,
    read_state_dict,
    save_scene_model,
)
from scenecraft.model.conditioning import (
    CONDITIONS,
    GROWN_MODULES,
    INPAINT,
    POSE,
    SUBJECTS,
    ConditioningConfig,
    Conditions,
    SceneDiT,
    build_scene_dit,
    drop_conditions,
)
from scenecraft.model.encoders import TextEncoder
from scenecraft.train.data import CONTEXT_SIZE, SKY, Chunk, WorldStream

if TYPE_CHECKING:
    from scenecraft.train.repa import Repa

# Probability that a training sample loses each condition (and, for inpainting, has one at all).
DEFAULT_DROP = {"text": 0.1, "scene": 0.5, "subjects": 0.4, "pose": 0.4}
DEFAULT_INPAINT = 0.25


@dataclass
class TrainConfig:
    out: Path
    model: str = "seed-12M"
    size: int = 64  # image side in pixels
    batch: int = 64  # per process
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup: int = 200  # linear warm-up steps
    max_steps: int | None = None  # stop after this many steps (counting resumed ones)
    seconds: float | None = None  # ... or after this much wall time in this run
    ema_decay: float = 0.999
    clip: float = 1.0  # gradient norm clipping
    drop: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DROP))
    inpaint: float = DEFAULT_INPAINT
    parse_weight: float = 0.1  # weight of the context encoder's scene-parsing loss
    workers: int = 1  # rendering processes per rank
    chunk: int = 64  # scenes per rendering task
    buffer: int = 20_000  # examples kept (oldest replaced first)
    data_seed: int = 0
    data_limit: int | None = None  # render at most this many scenes per rank (None: keep rendering)
    seed: int = 0
    device: str = "cpu"
    bf16: bool | None = None  # None: on for CUDA
    save_every: float = 300.0  # seconds between checkpoints
    sample_every: int = 0  # steps between sample grids + validation (0: only at the end)
    eval_images: int = 16
    log_every: float = 10.0  # seconds between log lines when not on a terminal
    init: Path | None = None  # start from these weights (a model.safetensors)
    text_encoder: Path | None = None  # local transformers folder; default all-MiniLM-L6-v2
    overrides: dict[str, Any] = field(default_factory=dict)  # DiTConfig fields (tests use tiny models)
    conditioning: ConditioningConfig | None = None  # None: the init's, else the default for the text encoder
    dense_layout: bool | None = None  # paint subject phrases over their boxes; None: as the init (else off)
    repa_weight: float = 0.0  # REPA alignment of early tokens with a frozen encoder (train.repa); 0: off
    repa_block: int = 3  # align the tokens after this block (1-based)
    repa_encoder: Path | None = None  # the segmenter weights REPA aligns with; None: the bundled judges'

    def validate(self) -> None:
        unknown = set(self.drop) - {"text", "scene", "subjects", "pose"}
        if unknown:
            raise ValueError(f"unknown conditions in drop rates: {sorted(unknown)}")
        for name, rate in [*self.drop.items(), ("inpaint", self.inpaint)]:
            if not 0 <= rate <= 1:
                raise ValueError(f"rate for {name} must be in 0..1, got {rate}")
        if self.size % 8 or self.size < 16:
            raise ValueError(f"size must be a multiple of 8 and >= 16, got {self.size}")
        if self.batch < 1 or self.lr <= 0:
            raise ValueError("batch must be >= 1 and lr > 0")
        if self.repa_weight < 0:
            raise ValueError(f"repa_weight must be >= 0, got {self.repa_weight}")
        if self.max_steps is None and self.seconds is None and self.data_limit is None:
            raise ValueError("give max_steps or seconds: training needs an end")

    def model_conditioning(self) -> ConditioningConfig | None:
        """The conditioning the model is built with: ``conditioning``, else the init checkpoint's,
        with ``dense_layout`` switched as asked (a model grown from an init without it starts
        computing exactly what the init computes: its layout projection starts at zero)."""
        cond = self.conditioning
        if cond is None and self.init is not None:
            meta = read_scene_metadata(self.init)
            if meta is not None:
                cond = ConditioningConfig.from_dict(meta["conditioning"])
        if self.dense_layout is not None:
            cond = dataclasses.replace(cond or ConditioningConfig(), dense_layout=self.dense_layout)
        return cond


# --------------------------------------------------------------------------------------------
# The example buffer (on the training device)
# --------------------------------------------------------------------------------------------


class ExampleBuffer:
    """A ring of training examples on ``device`` with their encoded texts."""

    def __init__(self, capacity: int, size: int, max_subjects: int, text: TextEncoder, device: torch.device):
        self.capacity, self.device, self.text = capacity, device, text
        L, E, M = text.max_tokens, text.dim, max_subjects
        self.image = torch.zeros(capacity, 3, size, size, dtype=torch.uint8, device=device)
        self.pose = torch.zeros(capacity, 3, size, size, dtype=torch.uint8, device=device)
        self.context = torch.zeros(capacity, 3, CONTEXT_SIZE, CONTEXT_SIZE, dtype=torch.uint8, device=device)
        self.material = torch.zeros(capacity, CONTEXT_SIZE, CONTEXT_SIZE, dtype=torch.uint8, device=device)
        self.light = torch.zeros(capacity, 3, device=device)
        self.boxes = torch.zeros(capacity, M, 4, device=device)
        self.count = torch.zeros(capacity, dtype=torch.long, device=device)
        self.tokens = torch.zeros(capacity, L, E, dtype=torch.float16, device=device)
        self.token_mask = torch.zeros(capacity, L, dtype=torch.bool, device=device)
        self.pooled = torch.zeros(capacity, E, dtype=torch.float16, device=device)
        self.subject_text = torch.zeros(capacity, M, E, dtype=torch.float16, device=device)
        self.size = 0  # filled rows
        self.head = 0  # next row to write
        self.seen = 0  # examples ever added

    def __len__(self) -> int:
        return self.size

    def add(self, chunk: Chunk) -> None:
        n = len(chunk)
        rows = (torch.arange(n) + self.head) % self.capacity
        d = self.device
        self.image[rows] = torch.from_numpy(chunk.image).permute(0, 3, 1, 2).to(d)
        self.pose[rows] = torch.from_numpy(chunk.pose).to(d)
        self.context[rows] = torch.from_numpy(chunk.context).permute(0, 3, 1, 2).to(d)
        self.material[rows] = torch.from_numpy(chunk.material.astype("uint8")).to(d)
        self.light[rows] = torch.from_numpy(chunk.light).to(d)
        self.boxes[rows] = torch.from_numpy(chunk.boxes).to(d)
        self.count[rows] = torch.from_numpy(chunk.count).to(d)
        text = self.text.encode(chunk.captions)
        self.tokens[rows] = text.tokens.half()
        self.token_mask[rows] = text.mask
        self.pooled[rows] = text.pooled.half()
        phrases = [p for ps in chunk.phrases for p in ps]
        if phrases:
            pooled = self.text.encode(phrases).pooled.half()
            k = 0
            for i, ps in enumerate(chunk.phrases):
                if ps:
                    self.subject_text[rows[i], : len(ps)] = pooled[k : k + len(ps)]
                    k += len(ps)
        self.head = (self.head + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        self.seen += n


def random_rects(n: int, size: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """(n, 4) random boxes in 0..1, sides 0.2..0.7 of the frame."""
    wh = 0.2 + 0.5 * torch.rand(n, 2, generator=generator, device=device)
    xy = torch.rand(n, 2, generator=generator, device=device) * (1 - wh)
    return torch.cat([xy, xy + wh], dim=1)


def boxes_to_mask(boxes: Tensor, valid: Tensor, size: int, grow: float = 1.0) -> Tensor:
    """boxes (B, M, 4) in 0..1, valid (B, M) -> (B, 1, size, size) union mask, boxes grown by ``grow`` px."""
    coords = (torch.arange(size, device=boxes.device, dtype=boxes.dtype) + 0.5) / size
    g = grow / size
    x_in = (coords[None, None] >= boxes[..., 0:1] - g) & (coords[None, None] <= boxes[..., 2:3] + g)  # (B, M, S)
    y_in = (coords[None, None] >= boxes[..., 1:2] - g) & (coords[None, None] <= boxes[..., 3:4] + g)
    inside = y_in[..., :, None] & x_in[..., None, :] & valid[..., None, None]  # (B, M, S, S)
    return inside.any(dim=1, keepdim=True).to(boxes.dtype)


def make_batch(
    buf: ExampleBuffer, cfg: TrainConfig, generator: torch.Generator | None
) -> tuple[Tensor, Conditions, Tensor, Tensor, Tensor]:
    """A random batch: x0 (B, 3, S, S) in [-1, 1], its conditions (with dropout), and the
    context scenes, their material maps and light directions for the parsing loss."""
    d = buf.device
    B, S, M = cfg.batch, cfg.size, buf.boxes.shape[1]
    idx = torch.randint(len(buf), (B,), generator=generator, device=d)
    x0 = buf.image[idx].float() / 127.5 - 1
    context = buf.context[idx].float() / 127.5 - 1
    count = buf.count[idx]
    subject_mask = torch.arange(M, device=d)[None] < count[:, None]
    boxes = buf.boxes[idx]
    pose = buf.pose[idx].float() / 255
    present = torch.ones(B, len(CONDITIONS), dtype=torch.bool, device=d)
    present[:, SUBJECTS] = count > 0
    present[:, POSE] = pose.flatten(1).amax(1) > 0
    present[:, INPAINT] = torch.rand(B, generator=generator, device=d) < cfg.inpaint
    rates = torch.tensor([cfg.drop.get(name, 0.0) for name in CONDITIONS], device=d)
    present = drop_conditions(present, rates, generator)
    # Inpainting masks: the subjects' boxes where there are subjects (70 %), else a random box.
    use_boxes = (count > 0) & (torch.rand(B, generator=generator, device=d) < 0.7)
    rect = random_rects(B, S, generator, d)[:, None]  # (B, 1, 4)
    mask = torch.where(
        use_boxes[:, None, None, None],
        boxes_to_mask(boxes, subject_mask, S),
        boxes_to_mask(rect, torch.ones(B, 1, dtype=torch.bool, device=d), S, grow=0.0),
    )
    cond = Conditions(
        present=present,
        text_tokens=buf.tokens[idx].float(),
        text_mask=buf.token_mask[idx],
        text_pooled=buf.pooled[idx].float(),
        scene=context,
        boxes=boxes,
        subject_text=buf.subject_text[idx].float(),
        subject_mask=subject_mask,
        pose=pose,
        inpaint=torch.cat([mask, x0 * (1 - mask)], dim=1),
    )
    return x0, cond, context, buf.material[idx].long(), buf.light[idx]


class TrainStep(nn.Module):
    """The model's forward, the context encoder's parsing heads and, with REPA, the alignment of
    the tokens after block ``repa.block`` with the clean image's features, as one module (one DDP
    unit). Returns the velocity, the parsing outputs and the alignment loss (zero without REPA)."""

    def __init__(self, model: SceneDiT, repa: Repa | None = None):
        super().__init__()
        self.model = model
        self.repa = repa

    def forward(
        self, x: Tensor, t: Tensor, cond: Conditions, context: Tensor, x0: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if self.repa is None:
            v, align = self.model(x, t * 1000, cond), x.new_zeros(())
        else:
            captured: list[Tensor] = []
            hook = self.model.blocks[self.repa.block - 1].register_forward_hook(
                lambda _m, _a, out: captured.append(out)
            )
            try:
                v = self.model(x, t * 1000, cond)
            finally:
                hook.remove()
            align = self.repa.loss(captured[0], x0)
        parse = self.model.parse_scene(context)
        return v, parse.material_logits, parse.light, align


def parsing_loss(logits: Tensor, light: Tensor, material: Tensor, light_true: Tensor, patch: int) -> Tensor:
    """Soft cross-entropy against each patch's material mix, plus 1 - cos of the light direction."""
    classes = logits.shape[-1]
    mix = F.avg_pool2d(F.one_hot(material.clamp(max=SKY), classes).permute(0, 3, 1, 2).float(), patch)
    target = mix.flatten(2).transpose(1, 2)  # (B, tokens, classes)
    ce = -(target * F.log_softmax(logits.float(), dim=-1)).sum(-1).mean()
    return ce + (1 - (light.float() * light_true).sum(-1)).mean()


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


class Trainer:
    def __init__(self, cfg: TrainConfig):
        cfg.validate()
        self.cfg = cfg
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.distributed = self.world > 1
        if self.distributed:
            import torch.distributed as dist

            local = int(os.environ.get("LOCAL_RANK", 0))
            cuda = cfg.device.startswith("cuda")
            if cuda:
                torch.cuda.set_device(local)
            dist.init_process_group("nccl" if cuda else "gloo")
            self.device = torch.device(f"cuda:{local}" if cuda else "cpu")
        else:
            self.device = torch.device(cfg.device)
        self.bf16 = cfg.bf16 if cfg.bf16 is not None else self.device.type == "cuda"
        torch.manual_seed(cfg.seed + self.rank)
        self.generator = torch.Generator(self.device).manual_seed(cfg.seed * 1000 + self.rank)
        cond = cfg.model_conditioning()
        self.model = build_scene_dit(cfg.model, cfg.size, cond, **cfg.overrides).to(self.device)
        self.ema = build_scene_dit(cfg.model, cfg.size, cond, **cfg.overrides)
        self.ema.to(self.device).requires_grad_(False)
        self.step = 0
        self.data_next = 0
        self.repa: Repa | None = None
        if cfg.repa_weight > 0:
            from scenecraft.train.repa import build_repa

            config = self.model.config
            grid, depth = config.input_size // config.patch_size, config.depth
            self.repa = build_repa(cfg.repa_encoder, config.hidden_size, grid, cfg.repa_block, depth).to(self.device)
        trained = [*self.model.parameters(), *(self.repa.head.parameters() if self.repa is not None else ())]
        self.opt = torch.optim.AdamW([p for p in trained if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
        cfg.out.mkdir(parents=True, exist_ok=True)
        state_path = cfg.out / "state.pt"
        if state_path.is_file():
            self._resume(state_path)
        else:
            if cfg.init is not None:
                state = read_state_dict(cfg.init)
                state = {k: v.float() for k, v in state.items()}
                load_weights(self.model, state, source=f"init {cfg.init}", grown=GROWN_MODULES)
            self.ema.load_state_dict(self.model.state_dict())
        self.text = TextEncoder(cfg.text_encoder, self.model.cond_config.max_text_tokens, device=self.device)
        self.step_module: nn.Module = TrainStep(self.model, self.repa)
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = DistributedDataParallel(self.step_module, device_ids=ids)

    def _resume(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        saved = state["config"]
        if (saved["model"], saved["size"]) != (self.cfg.model, self.cfg.size):
            raise CheckpointError(
                f"{path} is a {saved['model']} run at {saved['size']} px; this run asks for "
                f"{self.cfg.model} at {self.cfg.size} px (use another --out)"
            )
        load_weights(self.model, state["model"], source=f"run state {path}")  # e.g. dense layout switched
        self.ema.load_state_dict(state["ema"])
        if ("repa_head" in state) != (self.repa is not None):
            was = "with" if "repa_head" in state else "without"
            raise CheckpointError(f"{path} was trained {was} REPA; resume it as it was (or use another --out)")
        if self.repa is not None:
            self.repa.head.load_state_dict(state["repa_head"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.data_next = int(state["data_next"])
        self.log(f"resumed {path} at step {self.step}")

    def log(self, message: str) -> None:
        if self.rank == 0:
            print(message, file=sys.stderr, flush=True)

    def lr_at(self, step: int) -> float:
        return self.cfg.lr * min(1.0, (step + 1) / max(self.cfg.warmup, 1))

    @torch.no_grad()
    def update_ema(self) -> None:
        decay = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
            e.lerp_(p.detach(), 1 - decay)

    def save(self) -> None:
        if self.rank != 0:
            return
        out = self.cfg.out
        extra = {"step": self.step, "objective": "flow", "size": self.cfg.size, "text_encoder": self.text.path.name}
        save_scene_model(self.ema, out / "model.safetensors", extra=extra)
        config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.cfg).items()}
        state = {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "data_next": self.data_next,
            "config": config,
        }
        if self.repa is not None:  # the projection head trains on; the saved model has no trace of it
            state["repa_head"] = self.repa.head.state_dict()
        with atomic_path(out / "state.pt") as tmp:
            torch.save(state, tmp)
        self.log(f"saved step {self.step} to {out}")

    def validate(self) -> dict[str, Any] | None:
        """Samples of held-out requests with the EMA weights: a grid PNG and the evaluators' scores."""
        if self.rank != 0 or self.cfg.eval_images <= 0:
            return None
        from scenecraft.model.autoencoder import PixelDecoder
        from scenecraft.pipeline import GenerationPipeline, SampleSpec
        from scenecraft.scene_conditions import ConditionEncoder
        from scenecraft.train.validation import held_out_requests, image_grid, score

        held = held_out_requests(self.cfg.eval_images, self.cfg.size)
        self.ema.eval()
        pipe = GenerationPipeline(
            self.ema, PixelDecoder(), device=self.device, conditioner=ConditionEncoder(self.text, self.ema.cond_config)
        )
        specs = [SampleSpec(seed=i, request=r) for i, r in enumerate(held.requests)]
        images = pipe.generate(specs, size=self.cfg.size, steps=20, sampler="euler", guidance=3.0)
        grid_dir = self.cfg.out / "samples"
        grid_dir.mkdir(exist_ok=True)
        image_grid(images).save(grid_dir / f"step-{self.step:07d}.png")
        scores = score(held, images)
        scores.pop("support", None)
        record = {"step": self.step, **scores}
        with open(self.cfg.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        self.log("validation " + " ".join(f"{k}={v:.3f}" for k, v in scores.items() if isinstance(v, float)))
        return record

    def train(self) -> dict[str, Any]:
        cfg = self.cfg
        stream = WorldStream(
            cfg.data_seed,
            cfg.size,
            self.model.cond_config.max_subjects,
            workers=cfg.workers,
            chunk=cfg.chunk,
            rank=self.rank,
            world_size=self.world,
            start=self.data_next,
            limit=cfg.data_limit,
        )
        buf = ExampleBuffer(cfg.buffer, cfg.size, self.model.cond_config.max_subjects, self.text, self.device)
        start = time.perf_counter()
        try:
            first = stream.wait()
            if first is None:
                raise ValueError("no training data: data_limit is 0")
            buf.add(first)
            self.log(f"first {len(first)} scenes rendered in {time.perf_counter() - start:.1f} s; training")
            return self._loop(stream, buf, start)
        finally:
            stream.close()

    def _loop(self, stream: WorldStream, buf: ExampleBuffer, start: float) -> dict[str, Any]:
        from tqdm import tqdm

        cfg = self.cfg
        patch = self.model.cond_config.scene.patch_size
        tty = sys.stderr.isatty()
        bar = tqdm(total=cfg.max_steps, initial=self.step, disable=self.rank != 0 or not tty, unit="step")
        last_save = last_log = time.perf_counter()
        t0, seen0 = time.perf_counter(), 0
        sums = torch.zeros(4, device=self.device)  # flow, parse and REPA losses, steps since the last log
        self.model.train()
        while True:
            for chunk in stream.ready():
                buf.add(chunk)
            self.data_next = stream.next_index - self.rank
            elapsed = time.perf_counter() - start
            if (cfg.max_steps is not None and self.step >= cfg.max_steps) or (
                cfg.seconds is not None and elapsed >= cfg.seconds
            ):
                break
            x0, cond, context, material, light = make_batch(buf, cfg, self.generator)
            t = torch.sigmoid(torch.randn(cfg.batch, generator=self.generator, device=self.device))
            noise = torch.randn(x0.shape, generator=self.generator, device=self.device)
            xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * noise
            for group in self.opt.param_groups:
                group["lr"] = self.lr_at(self.step)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                v, logits, light_pred, align = self.step_module(xt, t, cond, context, x0)
                flow = F.mse_loss(v.float(), noise - x0)
                parse = parsing_loss(logits, light_pred, material, light, patch)
                loss = flow + cfg.parse_weight * parse + cfg.repa_weight * align
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
            self.opt.step()
            self.update_ema()
            self.step += 1
            seen0 += cfg.batch * self.world
            one = torch.ones((), device=self.device)
            sums += torch.stack([flow.detach().float(), parse.detach().float(), align.detach().float(), one])
            now = time.perf_counter()
            rate = seen0 / max(now - t0, 1e-9)
            if tty:
                bar.update(1)
                bar.set_postfix(loss=f"{flow.item():.4f}", parse=f"{parse.item():.3f}", img_s=f"{rate:.0f}")
            elif now - last_log >= cfg.log_every:
                flow_sum, parse_sum, align_sum, n = sums.tolist()  # one sync per log line, not per step
                if not math.isfinite(flow_sum + parse_sum + align_sum):
                    raise FloatingPointError(f"the loss is not finite by step {self.step}; lower the learning rate")
                mean = [flow_sum / max(n, 1), parse_sum / max(n, 1), align_sum / max(n, 1)]
                sums.zero_()
                repa = f" repa {mean[2]:.3f}" if self.repa is not None else ""
                self.log(
                    f"step {self.step} loss {mean[0]:.4f} parse {mean[1]:.3f}{repa} {rate:.0f} img/s "
                    f"buffer {len(buf)} seen {buf.seen} lr {self.lr_at(self.step):.2e} {now - start:.0f}s"
                )
                last_log = now
            if now - last_save >= cfg.save_every:
                self.save()
                last_save = now
            if cfg.sample_every and self.step % cfg.sample_every == 0:
                self.validate()
                self.model.train()
        bar.close()
        self.save()
        record = self.validate()
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
        return {"step": self.step, "seen": buf.seen, "validation": record}
