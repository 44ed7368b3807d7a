"""Distilling a student from cached teacher trajectories (see ``train.trajectories``).

For a student of K steps (K divides the teacher's 20), grid point i at flow time t = 1 - i / K:

    x_t    = the teacher's state at t                      (from the cache)
    target = (x_t - x_{t - 1/K}) * K                      the teacher's average guided velocity
    loss   = || student(x_t, [t, scales, d = 1/K], c) - target ||^2

One student learns every K in ``step_counts`` at once (the step size is an input); K = 20 is
guidance distillation alone, K = 1..4 are the few-step variants. With ``off_grid`` = p, a share p of
the examples starts anywhere on the teacher's trajectory instead (x_t at any teacher step a from
which a jump of 1/K stays on it; target (x_t - x_{t - 1/K}) * K as before): the same trajectories
give a K-step student several times as many distinct inputs (for K = 4 of a 20-step teacher, 16
starts instead of 4), as a shortcut model learns jumps from every t. The student starts from the
teacher's weights (or, for recovery after depth pruning, from a student's). AdamW, EMA, gradient
clipping; ``state.pt`` (weights, EMA, optimizer, step) and ``student.safetensors`` (EMA weights,
float16) are written atomically every ``save_every`` seconds and at the end, and a run resumes from
``state.pt``. The first shard is held out: its loss per step count is logged and recorded, with
where the student's own K steps land against the teacher's last state (``endK``).

With ``qat`` (an int8 mode of ``model.quantize``) the student trains quantization-aware: its
token-wise linears round weights and activations as the int8 model will (torchao's fake
quantization, gradients straight through), the held-out loss is the int8 model's, and the saved
student holds the trained float weights with ``"qat": mode`` in its metadata, to be quantized with
that mode when it is served (``scenecraft generate --quantize MODE``, the ``quantize_model`` setting).

With ``lora_rank`` the student trains as an adapter on its teacher (``model.student.add_lora``):
low-rank updates of the transformer's linears, their biases and the guidance embedder train, the
rest stays the teacher's, and ``student.safetensors`` is the adapter (a few hundred kB, where a
whole student is as large as its teacher), which loads anywhere the teacher's file is found.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from scenecraft.model.checkpoints import CheckpointError, load_scene_model, read_scene_metadata
from scenecraft.model.conditioning import Conditions, SceneDiT
from scenecraft.model.student import (
    STUDENT_FORMATS,
    add_lora,
    load_student,
    pack,
    save_student,
    save_student_adapter,
    student_from,
)
from scenecraft.train.trajectories import Shard, load_shard


@dataclass
class DistillConfig:
    out: Path
    shards: list[Path]
    init: Path  # the teacher (a scene model) or a student to continue from
    step_counts: tuple[int, ...] = (1, 2, 4, 20)
    step_weights: tuple[float, ...] = (1.0, 1.0, 2.0, 1.0)  # how often each K is drawn
    batch: int = 16
    lr: float = 5e-5
    warmup: int = 50
    ema_decay: float = 0.995
    clip: float = 1.0
    max_steps: int | None = None
    seconds: float | None = None
    save_every: float = 300.0
    log_every: float = 60.0
    seed: int = 0
    keep_blocks: list[int] | None = None  # depth pruning: the blocks the student keeps
    device: str = "cpu"
    hold_out: bool = True  # False: train on every shard (the held-out loss is then in-sample)
    qat: str | None = None  # quantization-aware: an int8 mode of model.quantize, trained fake-quantized
    lora_rank: int | None = None  # train an adapter on the teacher (model.student.add_lora) of this rank
    lora_alpha: float | None = None  # its updates are scaled by alpha / rank (default: alpha = rank)
    off_grid: float = 0.0  # the share of examples starting anywhere on the teacher's trajectory
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if len(self.shards) < (2 if self.hold_out else 1):
            raise ValueError(f"need at least 2 trajectory shards (the first is held out), got {len(self.shards)}")
        if len(self.step_counts) != len(self.step_weights) or not self.step_counts:
            raise ValueError("step_counts and step_weights must have the same, non-zero length")
        if not 0.0 <= self.off_grid <= 1.0:
            raise ValueError(f"off_grid is a share of the examples, 0..1; got {self.off_grid}")
        if self.max_steps is None and self.seconds is None:
            raise ValueError("give max_steps or seconds: distillation needs an end")
        if self.qat is not None:
            from scenecraft.model.quantize import ptq_config

            ptq_config(self.qat)  # an unknown mode or a missing torchao fails here, before any work
        if self.lora_rank is not None:
            if self.lora_rank < 1:
                raise ValueError(f"lora_rank must be >= 1, got {self.lora_rank}")
            if self.keep_blocks is not None or self.qat is not None:
                raise ValueError("an adapter student trains on its whole teacher: no depth pruning or QAT with it")
            meta = read_scene_metadata(self.init)
            if meta is None or meta["extra"].get("format") in STUDENT_FORMATS:
                raise ValueError(f"an adapter student starts from its teacher; {self.init} is not a teacher's weights")


def initial_student(
    init: Path, keep_blocks: list[int] | None, *, lora_rank: int | None = None, lora_alpha: float | None = None
) -> SceneDiT:
    """The student to start from: a student checkpoint, or a new one made from a teacher (with a
    fresh adapter when ``lora_rank`` is given)."""
    meta = read_scene_metadata(init)
    if meta is None:
        raise CheckpointError(f"{init} is not a scene model or student checkpoint")
    model = (
        load_student(init) if meta["extra"].get("format") in STUDENT_FORMATS else student_from(load_scene_model(init))
    )
    if keep_blocks is not None:
        from scenecraft.model.student import drop_blocks

        model = drop_blocks(model, keep_blocks)
    if lora_rank is not None:
        model = add_lora(model, lora_rank, lora_alpha)
    return model


class Examples:
    """All shards in memory, flattened to (trajectory, scales) rows with their conditions."""

    def __init__(self, shards: list[Shard], device: torch.device | str = "cpu"):
        steps = {s.steps for s in shards}
        if len(steps) != 1:
            raise ValueError(f"shards of different step counts: {sorted(steps)}")
        self.steps = steps.pop()
        self.x = torch.cat([s.x for s in shards]).to(device)  # (N, steps + 1, 3, S, S) float16
        self.cond = Conditions.cat([s.cond for s in shards]).map(lambda v: v.to(device))
        scales = torch.cat([s.scales[None].expand(len(s), -1) for s in shards]).to(device)
        # absent conditions enter the student as scale 1 (nothing to push)
        self.scales = torch.where(self.cond.present, scales, torch.ones_like(scales))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batch(self, rows: Tensor, counts: Tensor, points: Tensor) -> tuple[Tensor, Tensor, Conditions, Tensor]:
        """Inputs and targets: rows (B,), step counts K (B,), grid points i (B,) with 0 <= i < K."""
        counts, points = counts.to(self.x.device), points.to(self.x.device)
        return self.jumps(rows, counts, points * (self.steps // counts))

    def jumps(self, rows: Tensor, counts: Tensor, starts: Tensor) -> tuple[Tensor, Tensor, Conditions, Tensor]:
        """Inputs and targets of jumps of 1/K from any teacher step: rows (B,), step counts K (B,),
        starts a (B,) in teacher steps with a + steps / K <= steps (on the K-step grid or off it)."""
        rows, counts, a = rows.to(self.x.device), counts.to(self.x.device), starts.to(self.x.device)
        stride = self.steps // counts  # teacher steps per student step
        if bool(((a < 0) | (a + stride > self.steps)).any()):
            raise ValueError(f"a jump must start and end on the teacher's {self.steps} steps")
        b = a + stride
        xa = self.x[rows, a].float()
        xb = self.x[rows, b].float()
        t = 1 - a.float() / self.steps
        target = (xa - xb) * counts.float()[:, None, None, None]
        cond = self.cond.map(lambda v: v[rows].float() if v.is_floating_point() else v[rows])
        packed = pack(t * 1000, self.scales[rows], 1 / counts.float())
        return xa, packed, cond, target


def held_out_loss(model: SceneDiT, held: Examples, step_counts: tuple[int, ...]) -> dict[str, float]:
    """Mean squared velocity error on the held-out shard at every grid point, per step count."""
    model.eval()
    losses = {}
    with torch.no_grad():
        for k in step_counts:
            total, n = 0.0, 0
            for i in range(k):
                rows = torch.arange(len(held), device=held.x.device)
                xa, packed, cond, target = held.batch(rows, torch.full_like(rows, k), torch.full_like(rows, i))
                total += float(F.mse_loss(model(xa, packed, cond), target)) * len(rows)
                n += len(rows)
            losses[f"K{k}"] = total / n
    return losses


def held_out_endpoint(model: SceneDiT, held: Examples, step_counts: tuple[int, ...]) -> dict[str, float]:
    """Mean squared error of where the student's own K steps from the held-out noise land against
    where the teacher's 20 landed, per step count (``endK``). Unlike the velocity error, each step
    starts from the student's previous one, so errors compound as they do when it generates."""
    model.eval()
    losses = {}
    cond = held.cond.map(lambda v: v.float() if v.is_floating_point() else v)
    with torch.no_grad():
        for k in step_counts:
            x = held.x[:, 0].float()
            for i in range(k):
                t = torch.full((len(held),), 1 - i / k, device=x.device)
                x = x - model(x, pack(t * 1000, held.scales, torch.full_like(t, 1 / k)), cond) / k
            losses[f"end{k}"] = float(F.mse_loss(x, held.x[:, -1].float()))
    return losses


class Distiller:
    def __init__(self, cfg: DistillConfig):
        cfg.validate()
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        cfg.out.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(cfg.device)
        self.model, self.ema = (
            initial_student(cfg.init, cfg.keep_blocks, lora_rank=cfg.lora_rank, lora_alpha=cfg.lora_alpha).to(
                self.device
            )
            for _ in range(2)
        )
        self.ema.load_state_dict(self.model.state_dict())
        if cfg.qat is not None:  # both fake-quantized: the held-out loss is then the int8 model's
            from scenecraft.model.quantize import prepare_qat

            prepare_qat(self.model, cfg.qat)
            prepare_qat(self.ema, cfg.qat)
        # what trains (all of a whole student; an adapter's updates, biases and guidance embedder)
        pairs = zip(self.ema.parameters(), self.model.parameters(), strict=True)
        self.trained = [(e, p) for e, p in pairs if p.requires_grad]
        self.ema.requires_grad_(False)
        self.opt = torch.optim.AdamW([p for _, p in self.trained], lr=cfg.lr, weight_decay=0.0)
        self.step = 0
        state = cfg.out / "state.pt"
        if state.is_file():
            saved = torch.load(state, map_location=self.device, weights_only=True)
            self.model.load_state_dict(saved["model"])
            self.ema.load_state_dict(saved["ema"])
            self.opt.load_state_dict(saved["opt"])
            self.step = int(saved["step"])
            if "rng" in saved:  # the draws go on where they stopped, not from the first step's again
                self.generator.set_state(saved["rng"].cpu())
            else:  # a state written before the draws were saved: at least not the same draws again
                self.generator.manual_seed(cfg.seed + 1_000_003 * self.step)
            self.log(f"resumed {state} at step {self.step}")
        shards = [load_shard(p) for p in cfg.shards]
        train = shards[1:] if cfg.hold_out else shards
        self.train_set, self.held = Examples(train, self.device), Examples(shards[:1], self.device)
        for k in cfg.step_counts:
            if self.train_set.steps % k:
                raise ValueError(f"a {k}-step student does not fit the teacher's {self.train_set.steps} steps")

    def log(self, message: str) -> None:
        print(f"distill: {message}", file=sys.stderr, flush=True)

    def save(self, losses: dict[str, float] | None = None) -> None:
        cfg = self.cfg
        extra = {
            **cfg.extra,
            "step": self.step,
            "objective": "flow",
            "step_counts": list(cfg.step_counts),
            "teacher_steps": self.train_set.steps,
            "trajectories": len(self.train_set),
            "held_out_loss": losses or {},
            "held_out_in_sample": not cfg.hold_out,
        }
        if cfg.keep_blocks is not None:
            extra["kept_blocks"] = cfg.keep_blocks
        if cfg.off_grid:
            extra["off_grid"] = cfg.off_grid
        if cfg.lora_rank is not None:
            extra["lora_alpha"] = cfg.lora_alpha or cfg.lora_rank
            save_student_adapter(self.ema, cfg.out / "student.safetensors", base=cfg.init, extra=extra)
        elif cfg.qat is not None:
            # plain linears with the trained weights: load it, then int8 it with the same mode
            from scenecraft.model.quantize import float_linears

            extra["qat"] = cfg.qat
            save_student(float_linears(copy.deepcopy(self.ema)), cfg.out / "student.safetensors", extra=extra)
        else:
            save_student(self.ema, cfg.out / "student.safetensors", extra=extra)
        tmp = cfg.out / "state.pt.tmp"
        torch.save(
            {
                "model": self.model.state_dict(),
                "ema": self.ema.state_dict(),
                "opt": self.opt.state_dict(),
                "step": self.step,
                "rng": self.generator.get_state(),
                "config": {k: str(v) for k, v in asdict(cfg).items()},
            },
            tmp,
        )
        tmp.replace(cfg.out / "state.pt")

    def train(self) -> dict[str, Any]:
        cfg = self.cfg
        counts = torch.tensor(cfg.step_counts)
        weights = torch.tensor(cfg.step_weights, dtype=torch.float)
        start = last_save = last_log = time.perf_counter()
        running: list[float] = []
        self.model.train()
        while True:
            elapsed = time.perf_counter() - start
            if (cfg.max_steps is not None and self.step >= cfg.max_steps) or (
                cfg.seconds is not None and elapsed >= cfg.seconds
            ):
                break
            g = self.generator
            rows = torch.randint(len(self.train_set), (cfg.batch,), generator=g)
            k = counts[torch.multinomial(weights, cfg.batch, replacement=True, generator=g)]
            points = (torch.rand(cfg.batch, generator=g) * k).long().clamp(max=k - 1)
            stride = self.train_set.steps // k
            starts = points * stride
            if cfg.off_grid > 0:  # these start anywhere a jump of 1/K stays on the trajectory
                anywhere = (torch.rand(cfg.batch, generator=g) * (self.train_set.steps - stride + 1)).long()
                starts = torch.where(torch.rand(cfg.batch, generator=g) < cfg.off_grid, anywhere, starts)
            xa, packed, cond, target = self.train_set.jumps(rows, k, starts)
            for group in self.opt.param_groups:
                group["lr"] = cfg.lr * min(1.0, (self.step + 1) / cfg.warmup)
            loss = F.mse_loss(self.model(xa, packed, cond), target)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in self.trained], cfg.clip)
            self.opt.step()
            with torch.no_grad():
                decay = min(cfg.ema_decay, (1 + self.step) / (10 + self.step))
                for e, p in self.trained:
                    e.lerp_(p.detach(), 1 - decay)
            self.step += 1
            running.append(float(loss.detach()))
            now = time.perf_counter()
            if now - last_log >= cfg.log_every:
                self.log(f"step {self.step} loss {sum(running) / len(running):.4f} {now - start:.0f}s")
                running.clear()
                last_log = now
            if now - last_save >= cfg.save_every:
                self.save()
                last_save = now
        losses = held_out_loss(self.ema, self.held, cfg.step_counts)
        losses.update(held_out_endpoint(self.ema, self.held, cfg.step_counts))
        self.log("held-out " + " ".join(f"{k}={v:.4f}" for k, v in losses.items()))
        self.save(losses)
        with open(cfg.out / "held_out.jsonl", "a") as f:
            f.write(json.dumps({"step": self.step, **losses}) + "\n")
        return {"step": self.step, "held_out_loss": losses}


__all__ = ["DistillConfig", "Distiller", "Examples", "held_out_endpoint", "held_out_loss", "initial_student"]
