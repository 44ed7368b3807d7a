"""The judges' one trainer: examples streamed from a source, every net trained in one loop.

    scenecraft eval train --out DIR --seconds 270 --workers 4 [--device cuda]       # renders live
    scenecraft eval train --out DIR --seconds 600 --chunks data/eval_general ...    # stored chunks

Examples come from a source (:mod:`.sources`): scenes rendered by worker processes while it trains
(for ``--render-share`` of the budget), or pre-rendered chunks. The main process keeps them in
buffers on the device and trains the chosen nets in one loop, a batch of each per step, each batch
mirrored and degraded on the device (:func:`~.views.degrade`) under bf16 autocast on CUDA, AdamW with
a warm-up/cosine learning rate over the time left once data arrived (the schedule follows wall time,
so a run on a busy machine still ends annealed and on time).

The nets are the ``arch`` architectures of :data:`~.nets.ARCHITECTURES` (the segmenter on a
``size`` grid); ``init`` starts from earlier weights (tensors that fit are loaded and learn at
``lr_scale`` times the rate; new ones start fresh at the full rate). Float16 weights, with the
architecture in the metadata, are written to ``out`` every ``save_every`` seconds and at the end,
each file replaced atomically, so a run killed at its limit leaves the last checkpoint, and a rerun
with ``init`` set to ``out`` continues from it.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from scenecraft.atomic_write import atomic_path, write_text
from scenecraft.evaluate.examples import Examples
from scenecraft.evaluate.nets import ARCHITECTURES, EVALUATOR_NAMES, OPTIONAL_NAMES, SEG_KINDS, TRAINABLE_NAMES, build
from scenecraft.evaluate.sources import LiveRenders, StoredChunks
from scenecraft.evaluate.views import CROP_GROW, degrade, subject_input
from scenecraft.world.smpl import FLIP_PAIRS

BATCH = {"material": 512, "segmenter": 128, "keypoints": 256, "subject": 512}  # at batch_scale 1
PEAK_LR = {"material": 3e-3, "segmenter": 3e-3, "keypoints": 2e-3, "subject": 3e-3}
_DTYPES = {
    np.dtype(t).str: torch.from_numpy(np.zeros(0, t)).dtype
    for t in (np.uint8, np.int8, np.int64, np.float16, np.float32, bool)
}


class Source(Protocol):
    scenes: int
    done: bool

    def poll(self) -> list[Examples]: ...
    def close(self) -> None: ...


class DeviceBuffer:
    """Rows of named arrays kept on the device, grown by doubling; random batches drawn from them."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.n = device, 0
        self.data: dict[str, torch.Tensor] = {}

    def append(self, arrays: dict[str, np.ndarray]) -> None:
        m = len(next(iter(arrays.values())))
        if m == 0:
            return
        if not self.data:
            self.data = {
                k: torch.empty((max(1024, 4 * m), *a.shape[1:]), dtype=_DTYPES[a.dtype.str], device=self.device)
                for k, a in arrays.items()
            }
        capacity = len(next(iter(self.data.values())))
        if self.n + m > capacity:
            grow = max(capacity, m)
            self.data = {k: torch.cat([v, torch.empty_like(v[:grow])]) for k, v in self.data.items()}
        for k, a in arrays.items():
            self.data[k][self.n : self.n + m] = torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
        self.n += m

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        idx = torch.randint(0, self.n, (batch,), device=self.device)
        return {k: v[idx] for k, v in self.data.items()}


def _images(batch: dict[str, torch.Tensor], flip: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> degraded float (B, 3, H, W), mirrored where ``flip``, channels-last."""
    x = batch["image"].permute(0, 3, 1, 2).float() / 255.0
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return degrade(x).contiguous(memory_format=torch.channels_last)


def material_loss(net: nn.Module, batch: dict[str, torch.Tensor], flip: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(net(_images(batch, flip)), batch["label"], label_smoothing=0.05)


def segmenter_loss(net: nn.Module, batch: dict[str, torch.Tensor], flip: torch.Tensor) -> torch.Tensor:
    """Kind (background down-weighted), colour on subjects, border (positives up-weighted) and, for a
    net with a box head, the IoU loss of each subject pixel's box (:func:`box_iou_loss`)."""
    f = flip[:, None, None]
    kind, colour, border = (torch.where(f, batch[k].flip(-1), batch[k]) for k in ("kind", "colour", "border"))
    out = net(_images(batch, flip))
    weight = torch.ones(len(SEG_KINDS), device=flip.device)
    weight[0] = 0.4
    loss = F.cross_entropy(out.kind, kind.long(), weight=weight)
    loss = loss + F.cross_entropy(out.colour, colour.long(), ignore_index=-1)
    pos_weight = torch.tensor(4.0, device=flip.device)
    loss = loss + F.binary_cross_entropy_with_logits(out.border[:, 0], border.float(), pos_weight=pos_weight)
    if out.box is not None:
        box = batch["box"].float()
        box = torch.where(flip[:, None, None, None], mirror_boxes(box), box)
        loss = loss + box_iou_loss(out.box, box, kind > 0)
    return loss


def mirror_boxes(box: torch.Tensor) -> torch.Tensor:
    """Box-distance maps (B, 4, H, W) of the mirrored images: columns reversed, left and right swapped."""
    return box.flip(-1)[:, [2, 1, 0, 3]]


def box_iou_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - IoU between predicted and true boxes over the ``mask`` pixels (UnitBox, Yu et al.
    2016). pred, target (B, 4, H, W) distances to the left, top, right, bottom sides; mask (B, H, W)."""
    pred, target = pred.float().permute(0, 2, 3, 1)[mask], target.permute(0, 2, 3, 1)[mask]  # (n, 4)
    if len(pred) == 0:
        return pred.sum()
    inter_w = torch.minimum(pred[:, 0], target[:, 0]) + torch.minimum(pred[:, 2], target[:, 2])
    inter_h = torch.minimum(pred[:, 1], target[:, 1]) + torch.minimum(pred[:, 3], target[:, 3])
    inter = inter_w * inter_h
    area_p = (pred[:, 0] + pred[:, 2]) * (pred[:, 1] + pred[:, 3])
    area_t = (target[:, 0] + target[:, 2]) * (target[:, 1] + target[:, 3])
    return (1.0 - inter / (area_p + area_t - inter).clamp_min(1e-6)).mean()


_FLIP_JOINTS = list(FLIP_PAIRS)


def keypoint_loss(net: nn.Module, batch: dict[str, torch.Tensor], flip: torch.Tensor) -> torch.Tensor:
    """L1 between soft-argmax joints and the truth (in crop units); a mirror swaps left and right."""
    j = batch["joints"]
    mirrored = torch.stack([1.0 - j[..., 0], j[..., 1]], -1)[:, _FLIP_JOINTS]
    target = torch.where(flip[:, None, None], mirrored, j)
    uv, _ = net(_images(batch, flip))
    return F.l1_loss(uv.float(), target)


def subject_loss(net: nn.Module, batch: dict[str, torch.Tensor], flip: torch.Tensor) -> torch.Tensor:
    """Kind (background included), colour, material and light side (each where labelled) of the
    boxed subject; a mirror flips the crop and its mask together, and the light's side."""
    mask = torch.where(flip[:, None, None], batch["mask"].flip(-1), batch["mask"])
    x = subject_input(_images(batch, flip), mask).contiguous(memory_format=torch.channels_last)
    out = net(x)
    loss = F.cross_entropy(out.kind, batch["kind"], label_smoothing=0.05)
    loss = loss + F.cross_entropy(out.colour, batch["colour"], ignore_index=-1)
    for name in ("material", "light"):
        target = batch[name]
        if name == "light":  # 0 left, 1 neither, 2 right: a mirror swaps left and right
            target = torch.where(flip & (target >= 0), 2 - target, target)
        # The mean over labelled rows, 0 when a batch has none (no host sync: no branch on the data).
        total = F.cross_entropy(getattr(out, name).float(), target, ignore_index=-1, reduction="sum")
        loss = loss + total / (target >= 0).sum().clamp_min(1)
    return loss


LOSSES: dict[str, Callable[[nn.Module, dict[str, torch.Tensor], torch.Tensor], torch.Tensor]] = {
    "material": material_loss,
    "segmenter": segmenter_loss,
    "keypoints": keypoint_loss,
    "subject": subject_loss,
}


def start_from(net: nn.Module, path: Path) -> tuple[str, set[str]]:
    """Load the tensors of a weights file whose names and shapes match ``net``'s.

    Returns a line saying what it did and the names of the loaded tensors."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"--init weights missing: {path}")
    saved = load_file(str(path))
    own = net.state_dict()
    fits = {k: v.float() for k, v in saved.items() if k in own and own[k].shape == v.shape}
    net.load_state_dict(fits, strict=False)
    fresh = [k for k in own if k not in fits and not k.endswith("num_batches_tracked")]
    left = [k for k in saved if k not in fits]
    message = f"{len(fits)} tensors from {path}"
    if fresh:
        message += f"; {len(fresh)} start fresh ({', '.join(fresh[:4])}{', ...' if len(fresh) > 4 else ''})"
    if left:
        message += f"; {len(left)} of the file do not fit and are ignored ({', '.join(left[:4])})"
    return message, set(fits)


def save_all(nets: dict[str, nn.Module], out: Path) -> None:
    for name, net in nets.items():
        export(net, name, out)


def lr_at(progress: float, peak: float, warmup: float = 0.05) -> float:
    """Linear warm-up, then cosine decay to zero; ``progress`` is the share of the budget spent."""
    if progress < warmup:
        return peak * progress / warmup
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, (progress - warmup) / (1.0 - warmup))))


def export(net: nn.Module, name: str, out_dir: str | Path) -> Path:
    """Write float16 weights (BatchNorm counters dropped) to ``out_dir/NAME.safetensors``.

    The network's constructor arguments go into the metadata (``config``), which is what
    :meth:`~.judges.Evaluators.load` builds it from. The file is replaced atomically, so a run
    killed while saving leaves the previous file whole.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().half().cpu().contiguous()
        for k, v in net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    meta = {"evaluator": name, "crop_grow": str(CROP_GROW), "config": json.dumps(getattr(net, "config", {}))}
    path = out / f"{name}.safetensors"
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path


@dataclass
class TrainSettings:
    """One training run of the judges (see the module doc); ``scenecraft eval train`` fills it."""

    out: Path
    seconds: float  # wall-time budget of the whole run
    workers: int = 1  # render processes (live source)
    chunks: list[Path] | None = None  # stored chunk files instead of live renders
    size: int = 128  # render size and segmenter grid
    device: str = "cpu"
    render_share: float = 0.6  # share of the budget spent rendering (live source)
    save_every: float = 45.0  # seconds between checkpoints
    batch_scale: float = 1.0  # multiplies BATCH
    names: tuple[str, ...] = EVALUATOR_NAMES  # the nets to train (the others are not built)
    arch: str = "v3"
    init: Path | None = None  # weights folder to start from (matching tensors)
    lr_scale: float = 1.0  # peak learning rate of the tensors loaded from init, relative

    def validate(self) -> None:
        checks = [
            (self.seconds > 0, f"--seconds must be > 0, got {self.seconds}"),
            (self.workers >= 1, f"--workers must be >= 1, got {self.workers}"),
            (
                64 <= self.size <= 256 and self.size % 32 == 0,
                f"--size must be 64..256 and a multiple of 32, got {self.size}",
            ),
            (0 < self.render_share <= 1, f"--render-share must be in (0, 1], got {self.render_share}"),
            (0 < self.save_every <= 60, f"--save-every must be in (0, 60] seconds, got {self.save_every}"),
            (self.batch_scale > 0, f"--batch-scale must be > 0, got {self.batch_scale}"),
            (self.lr_scale > 0, f"--lr-scale must be > 0, got {self.lr_scale}"),
            (self.arch in ARCHITECTURES, f"--arch must be one of {', '.join(ARCHITECTURES)}, got {self.arch!r}"),
            (
                bool(self.names) and set(self.names) <= set(TRAINABLE_NAMES),
                f"--only must name some of {TRAINABLE_NAMES}",
            ),
            (
                self.arch not in ARCHITECTURES or set(self.names) <= set(ARCHITECTURES[self.arch]),
                f"architecture {self.arch} has no {sorted(set(self.names) - set(ARCHITECTURES.get(self.arch, {})))}"
                " net; choose a later --arch",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("--device cuda but no CUDA device is visible; pass --device cpu to train on the CPU")


def _build_nets(s: TrainSettings, log: Callable[[str], None]) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """The nets on the device (from ``init`` where given) and an AdamW per net: loaded tensors at
    ``lr_scale`` times the peak rate, fresh ones at the full rate."""
    dev = torch.device(s.device)
    configs = {name: dict(cfg) for name, cfg in ARCHITECTURES[s.arch].items()}
    configs["segmenter"]["size"] = s.size
    nets = {name: build(name, configs[name]) for name in s.names}
    loaded: dict[str, set[str]] = {name: set() for name in s.names}
    if s.init is not None:
        for name, net in nets.items():
            path = s.init / f"{name}.safetensors"
            if name in OPTIONAL_NAMES and not path.is_file():
                log(f"{name}: not in {s.init}, starts fresh")
                continue
            message, loaded[name] = start_from(net, path)
            log(f"{name}: {message}")
    for net in nets.values():
        net.to(dev).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opts = {}
    for name, net in nets.items():
        groups = [
            {"params": [p for k, p in net.named_parameters() if (k in loaded[name]) == old], "peak": peak}
            for old, peak in ((False, PEAK_LR[name]), (True, PEAK_LR[name] * s.lr_scale))
        ]
        opts[name] = torch.optim.AdamW(
            [g for g in groups if g["params"]], lr=PEAK_LR[name], weight_decay=1e-4, fused=dev.type == "cuda"
        )
    return nets, opts


def train(settings: TrainSettings, log: Callable[[str], None] = lambda line: print(line, flush=True)) -> dict[str, Any]:
    """Train as the module doc says; returns a summary (steps, scenes, seconds), also in ``out/run.json``."""
    s = settings
    s.validate()
    t0 = time.monotonic()
    end = t0 + s.seconds - min(5.0, 0.05 * s.seconds)  # leave time for the final save
    dev = torch.device(s.device)
    torch.set_num_threads(max(1, min(4, (os.cpu_count() or 1) - (0 if s.chunks else s.workers))))
    s.out.mkdir(parents=True, exist_ok=True)
    nets, opts = _build_nets(s, log)
    batches = {name: max(2, round(b * s.batch_scale)) for name, b in BATCH.items() if name in nets}
    buffers = {name: DeviceBuffer(dev) for name in nets}
    params = sum(p.numel() for net in nets.values() for p in net.parameters())
    source: Source = (
        StoredChunks(s.chunks, s.size, tuple(nets))
        if s.chunks
        else LiveRenders(s.workers, s.size, tuple(nets), until=t0 + s.render_share * s.seconds)
    )
    what = (
        f"{len(s.chunks)} stored chunks"
        if s.chunks
        else f"{s.workers} render workers for {s.render_share * s.seconds:.0f}s"
    )
    log(f"device {dev}, {what}, segmenter grid {s.size}, {params / 1e6:.2f} M parameters")
    log(f"batches {batches}, checkpoint every {s.save_every:.0f}s to {s.out}")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")

    def feed() -> None:
        for examples in source.poll():
            for name, arrays in examples.items():
                if name in buffers:
                    buffers[name].append(arrays)

    step = 0
    losses: dict[str, Any] = {name: 0.0 for name in nets}
    since_log = 0
    try:
        # A first set of scenes (or a fifth of the budget) before training.
        while source.scenes < 16 * s.workers and not source.done and time.monotonic() < t0 + 0.2 * s.seconds:
            feed()
            time.sleep(0.05)
        while any(b.n == 0 for b in buffers.values()) and time.monotonic() < end:
            if source.done:
                raise ValueError(f"the source gave no examples for {[n for n, b in buffers.items() if b.n == 0]}")
            feed()
            time.sleep(0.05)
        train_start, last_log, last_save, was_done = time.monotonic(), time.monotonic(), t0, source.done
        log(f"[{train_start - t0:5.1f}s] training starts on {source.scenes} scenes")
        for net in nets.values():
            net.train()
        while (now := time.monotonic()) < end:
            if not source.done:
                feed()
            if source.done and not was_done:
                was_done = True
                if dev.type == "cpu":
                    torch.set_num_threads(min(4, os.cpu_count() or 1))  # the render workers' cores are free
                counts = ", ".join(f"{n} {b.n}" for n, b in buffers.items())
                log(f"[{now - t0:5.1f}s] rendering stopped after {source.scenes} scenes; examples: {counts}")
            progress = (now - train_start) / max(end - train_start, 1e-6)
            for name, net in nets.items():
                for group in opts[name].param_groups:
                    group["lr"] = lr_at(progress, group["peak"])
                batch = buffers[name].sample(batches[name])
                flip = torch.rand(batches[name], device=dev) < 0.5
                with autocast:
                    loss = LOSSES[name](net, batch, flip)
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
                losses[name] += loss.detach().float()  # summed on the device: no sync per step
            step, since_log = step + 1, since_log + 1
            if now - last_log >= 10.0 or step == 1:
                log(
                    f"[{now - t0:5.1f}s] step {step} scenes {source.scenes} lr x{lr_at(progress, 1.0):.2f} loss "
                    + " ".join(f"{n} {float(v) / since_log:.4f}" for n, v in losses.items())
                )
                losses, since_log, last_log = {name: 0.0 for name in nets}, 0, now
            if now - last_save >= s.save_every:
                save_all(nets, s.out)
                last_save = time.monotonic()
                log(f"[{last_save - t0:5.1f}s] checkpoint written to {s.out} (step {step})")
    finally:
        source.close()
    for net in nets.values():
        net.eval()
    save_all(nets, s.out)
    summary: dict[str, Any] = {
        "steps": step,
        "scenes": source.scenes,
        "seconds": round(time.monotonic() - t0, 1),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(s).items()},
    }
    summary["settings"]["chunks"] = [str(c) for c in s.chunks] if s.chunks else None
    write_text(s.out / "run.json", json.dumps(summary, indent=1) + "\n")
    files = ", ".join(f"{n}.safetensors" for n in nets)
    log(f"[{summary['seconds']:5.1f}s] done: {step} steps on {source.scenes} scenes; weights in {s.out}: {files}")
    return summary
