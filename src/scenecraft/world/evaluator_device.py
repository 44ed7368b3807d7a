"""All three evaluators trained in one run on a GPU, from scenes rendered while it trains.

    python -m scenecraft.world.evaluator_training device --seconds 240 --workers 12 --out DIR [--size 128]

A pool of ``--workers`` processes renders fresh scenes — seed 3000 (general) and, every fourth
scene, seed 4000 (person-heavy); every fourth scene at 64 px, so the nets also learn the small
images the generator makes — and cuts each into the three nets' examples (:func:`scene_examples`).
The main process appends them to buffers on the device and trains the three nets in one loop, a
batch of each per step, each batch mirrored and degraded on the device (:func:`degrade_batch`) under
bf16 autocast on CUDA. Rendering stops after ``--render-share`` of the budget; training runs to the
end of the budget with a warm-up/cosine learning rate over the time left once data arrived.

The nets are the ``--arch`` (default ``v3``) architectures of :data:`evaluators.ARCHITECTURES`
(the segmenter on a ``--size`` grid); ``--only`` trains some of them, and ``--init DIR`` starts
from earlier weights (tensors that fit are loaded and learn at ``--lr-scale`` times the rate; new
ones, like v3's box head, start fresh at the full rate). Their float16 weights, with the
architecture in the metadata, are written to ``--out`` every ``--save-every`` seconds and at the
end, each file replaced atomically, so a run killed at its limit leaves the last checkpoint;
``Evaluators.load(DIR)`` reads them. On a CPU (``--device cpu``) training takes every core once
rendering stops.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from scenecraft.world.evaluator_data import PERSON_HEAVY, scene_labels
from scenecraft.world.evaluator_training import (
    box_targets,
    export,
    keypoint_examples,
    lr_at,
    material_examples,
    segment_targets,
)
from scenecraft.world.evaluators import (
    ARCHITECTURES,
    EVALUATOR_NAMES,
    KEYPOINT_CROP,
    MATERIAL_CROP,
    SEG_KINDS,
    build,
    resize_image,
)
from scenecraft.world.smpl import FLIP_PAIRS

GENERAL_SEED, PEOPLE_SEED = 3000, 4000  # never used by the held-out reports (7, 8, 11) or v1 (1000, 2000)
SMALL_SIZE = 64  # every fourth scene is rendered this small, like the generator's images
SCENES_PER_TASK = 4  # scenes a worker renders per task (fewer round trips)
BATCH = {"material": 512, "segmenter": 128, "keypoints": 256}  # at --batch-scale 1
PEAK_LR = {"material": 3e-3, "segmenter": 3e-3, "keypoints": 2e-3}

Examples = dict[str, dict[str, np.ndarray]]
_DTYPES = {
    np.dtype(t).str: torch.from_numpy(np.zeros(0, t)).dtype
    for t in (np.uint8, np.int8, np.int64, np.float16, np.float32, bool)
}


# --- rendering (in the worker processes) -------------------------------------------------------


def scene_examples(task: tuple[int, int, int], names: tuple[str, ...] = EVALUATOR_NAMES) -> Examples:
    """Render scenes ``first .. first + count - 1`` and cut them into the examples of the nets ``names``.

    ``task`` is (first, count, size). Scene ``i`` is scene ``i`` of seed 4000 (person-heavy) when
    ``i % 4 == 3``, else of seed 3000; it is rendered at 64 px when ``i % 4 == 1`` and ``size`` is
    larger, else at ``size``. The segmenter sees every image resized to ``size`` as
    :meth:`Evaluators.segment` does; the crops come from the image as rendered.
    """
    from scenecraft.world.dataset import WorldSampler

    first, count, size = task
    general, people = WorldSampler(seed=GENERAL_SEED), WorldSampler(PERSON_HEAVY, PEOPLE_SEED)
    seg: dict[str, list[np.ndarray]] = {"image": [], "kind": [], "colour": [], "border": [], "box": []}
    mat_x, mat_y, kp_x, kp_j = [], [], [], []
    for i in range(first, first + count):
        sampler = people if i % 4 == 3 else general
        r = sampler.render(i, SMALL_SIZE if i % 4 == 1 and size > SMALL_SIZE else size)
        lab = scene_labels(r)
        rng = np.random.default_rng([GENERAL_SEED, i])
        if "segmenter" in names:
            seg["image"].append(resize_image(r.image, size)[0].permute(1, 2, 0).mul(255).round().byte().numpy())
            for key, target in zip(("kind", "colour", "border"), segment_targets(r.instance, lab, size), strict=True):
                seg[key].append(target)
            seg["box"].append(box_targets(r.instance, lab, size))
        if "material" in names:
            x, y = material_examples(r.image, r.material, r.instance, lab, rng)
            mat_x += x
            mat_y += y
        if "keypoints" in names:
            xk, jk, _ = keypoint_examples(r.image, lab, rng)
            kp_x += xk
            kp_j += jk
    out: Examples = {}
    if "segmenter" in names:
        out["segmenter"] = {
            "image": np.stack(seg["image"]),
            "kind": np.stack(seg["kind"]).astype(np.int8),
            "colour": np.stack(seg["colour"]).astype(np.int8),
            "border": np.stack(seg["border"]),
            "box": np.stack(seg["box"]),
        }
    if "material" in names:
        out["material"] = {
            "image": np.stack(mat_x) if mat_x else np.zeros((0, MATERIAL_CROP, MATERIAL_CROP, 3), np.uint8),
            "label": np.asarray(mat_y, np.int64),
        }
    if "keypoints" in names:
        out["keypoints"] = {
            "image": np.stack(kp_x) if kp_x else np.zeros((0, KEYPOINT_CROP, KEYPOINT_CROP, 3), np.uint8),
            "joints": np.asarray(kp_j, np.float32).reshape(-1, 24, 2),
        }
    return out


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _single_threaded_worker() -> None:
    """Pool initializer: one torch thread per render worker (the pool has a worker per core to fill)."""
    torch.set_num_threads(1)


def _start_pool(workers: int) -> Any:
    """A spawn pool whose workers start with single-threaded BLAS (the variables are read on import)."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    try:
        # spawn, not fork: the parent holds CUDA and threads, and fork is unsafe with either
        return mp.get_context("spawn").Pool(workers, initializer=_single_threaded_worker)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --- on the device --------------------------------------------------------------------------------


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


def degrade_batch(x: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Random blur, half resolution, colour jitter, noise and quantisation, on the device.

    The torch counterpart of :func:`evaluator_data.degrade` (its ranges), plus a 2x down-and-up
    resampling for 15 % of the images (the look of a small generated image enlarged).
    (B, 3, H, W) float 0..1 with even H, W -> the same; ``strength`` 0 gives the images back.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):  # pixels in float32, not bf16
        return _degrade(x.float(), strength)


def _degrade(x: torch.Tensor, strength: float) -> torch.Tensor:
    b, c, h, w = x.shape
    dev = x.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return torch.empty(shape, device=dev).uniform_(lo, hi)

    # Separable 5-tap Gaussian blur for half the images (sigma 0.3..1.2); sigma 1e-3 is the identity.
    sigma = torch.where(torch.rand(b, device=dev) < 0.5 * strength, uniform(0.3, 1.2, b), 1e-3)
    taps = torch.arange(-2.0, 3.0, device=dev)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B * 3, 5)
    flat = x.float().reshape(1, b * c, h, w)
    flat = F.conv2d(F.pad(flat, (2, 2, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=b * c)
    flat = F.conv2d(F.pad(flat, (0, 0, 2, 2), mode="replicate"), kernel[:, None, :, None], groups=b * c)
    x = flat.view(b, c, h, w)
    # Computed for all and picked with where: no host sync, fixed shapes.
    small = F.interpolate(F.avg_pool2d(x, 2), size=(h, w), mode="bilinear", align_corners=False)
    x = torch.where(torch.rand(b, 1, 1, 1, device=dev) < 0.15 * strength, small, x)
    contrast = 1.0 + uniform(-0.2, 0.2, b, 1, 1, 1) * strength
    gain = 1.0 + uniform(-0.15, 0.15, b, 3, 1, 1) * strength  # per-channel colour jitter
    bright = uniform(-0.08, 0.08, b, 1, 1, 1) * strength
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean) * gain + bright
    x = x + torch.randn_like(x) * uniform(0.0, 0.04, b, 1, 1, 1) * strength
    levels = torch.where(torch.rand(b, 1, 1, 1, device=dev) < 0.3 * strength, 24.0, 255.0)  # coarse quantisation
    return torch.round(x.clamp(0, 1) * levels) / levels


def _images(batch: dict[str, torch.Tensor], flip: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> degraded float (B, 3, H, W), mirrored where ``flip``, channels-last."""
    x = batch["image"].permute(0, 3, 1, 2).float() / 255.0
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return degrade_batch(x).contiguous(memory_format=torch.channels_last)


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


LOSSES: dict[str, Callable[[nn.Module, dict[str, torch.Tensor], torch.Tensor], torch.Tensor]] = {
    "material": material_loss,
    "segmenter": segmenter_loss,
    "keypoints": keypoint_loss,
}


# --- the run --------------------------------------------------------------------------------------


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


def train_on_device(
    out: Path,
    seconds: float,
    workers: int,
    size: int = 128,
    device: str = "cuda",
    render_share: float = 0.6,
    save_every: float = 45.0,
    batch_scale: float = 1.0,
    log: Callable[[str], None] = lambda line: print(line, flush=True),
    names: tuple[str, ...] = EVALUATOR_NAMES,
    arch: str = "v2",
    init: Path | None = None,
    lr_scale: float = 1.0,
) -> dict[str, Any]:
    """Render, train and save as the module doc says; returns a summary (steps, scenes, seconds).

    ``names`` picks the nets to train (the others are not built), ``arch`` their architecture in
    :data:`ARCHITECTURES`, and ``init`` a weights folder to start from: parameters whose name and
    shape match are loaded (a head the old weights lack, like v3's box head, starts fresh).
    ``lr_scale`` multiplies the peak learning rate of the tensors loaded from ``init`` (below 1 to
    fine-tune them gently while fresh ones learn at the full rate).
    """
    t0 = time.monotonic()
    end = t0 + seconds - min(5.0, 0.05 * seconds)  # leave time for the final save
    dev = torch.device(device)
    cpu_left = max(1, (os.cpu_count() or 1) - workers)
    torch.set_num_threads(min(cpu_left, 4))
    configs = {name: dict(cfg) for name, cfg in ARCHITECTURES[arch].items()}
    configs["segmenter"]["size"] = size
    nets = {name: build(name, configs[name]) for name in names}
    loaded: dict[str, set[str]] = {name: set() for name in names}
    if init is not None:
        for name, net in nets.items():
            message, loaded[name] = start_from(net, init / f"{name}.safetensors")
            log(f"{name}: {message}")
    nets = {name: net.to(dev) for name, net in nets.items()}
    for net in nets.values():
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opts = {}
    for name, net in nets.items():
        groups = [
            {"params": [p for k, p in net.named_parameters() if (k in loaded[name]) == old], "peak": peak}
            for old, peak in ((False, PEAK_LR[name]), (True, PEAK_LR[name] * lr_scale))
        ]
        groups = [g for g in groups if g["params"]]
        opts[name] = torch.optim.AdamW(groups, lr=PEAK_LR[name], weight_decay=1e-4, fused=dev.type == "cuda")
    batches = {name: max(2, round(b * batch_scale)) for name, b in BATCH.items() if name in nets}
    buffers = {name: DeviceBuffer(dev) for name in nets}
    params = sum(p.numel() for net in nets.values() for p in net.parameters())
    log(f"device {dev}, {workers} render workers, segmenter grid {size}, {params / 1e6:.2f} M parameters")
    log(f"batches {batches}, render for {render_share * seconds:.0f}s, checkpoint every {save_every:.0f}s to {out}")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")

    scenes, step, next_task, render_until = 0, 0, 0, t0 + render_share * seconds
    pool = _start_pool(workers)
    pending: list[Any] = []

    def feed() -> int:
        """Collect finished renders into the buffers and keep every worker busy; scenes collected."""
        nonlocal next_task, pending
        got, waiting = 0, []
        for res in pending:
            if res.ready():
                for name, arrays in res.get().items():
                    if name in buffers:
                        buffers[name].append(arrays)
                got += SCENES_PER_TASK
            else:
                waiting.append(res)
        pending = waiting
        while time.monotonic() < render_until and len(pending) < 3 * workers:
            task = (next_task, SCENES_PER_TASK, size)
            pending.append(pool.apply_async(scene_examples, (task, tuple(nets))))
            next_task += SCENES_PER_TASK
        return got

    losses: dict[str, Any] = {name: 0.0 for name in nets}
    since_log = 0
    try:
        # Wait for a first set of scenes (or a fifth of the budget) before training.
        while scenes < 16 * workers and time.monotonic() < t0 + 0.2 * seconds:
            scenes += feed()
            time.sleep(0.05)
        while any(b.n == 0 for b in buffers.values()) and time.monotonic() < end:
            scenes += feed()
            time.sleep(0.05)
        train_start, last_log, done_rendering = time.monotonic(), time.monotonic(), False
        last_save = t0  # checkpoints every save_every seconds from the start, untrained ones included
        log(f"[{train_start - t0:5.1f}s] training starts on {scenes} scenes")
        for net in nets.values():
            net.train()
        while (now := time.monotonic()) < end:
            if not done_rendering:
                scenes += feed()
                if now >= render_until and not pending:
                    done_rendering = True
                elif now >= render_until + 10.0:  # stragglers: stop waiting for them
                    pending, done_rendering = [], True
                if done_rendering:
                    pool.terminate()  # frees the CPUs for the rest of training
                    if dev.type == "cpu":
                        torch.set_num_threads(os.cpu_count() or 1)  # training on the CPU: take them all
                    counts = ", ".join(f"{n} {b.n}" for n, b in buffers.items())
                    log(f"[{now - t0:5.1f}s] rendering stopped after {scenes} scenes; examples: {counts}")
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
                    f"[{now - t0:5.1f}s] step {step} scenes {scenes} lr x{lr_at(progress, 1.0):.2f} loss "
                    + " ".join(f"{n} {float(v) / since_log:.4f}" for n, v in losses.items())
                )
                losses, since_log, last_log = {name: 0.0 for name in nets}, 0, now
            if now - last_save >= save_every:
                save_all(nets, out)
                last_save = time.monotonic()
                log(f"[{last_save - t0:5.1f}s] checkpoint written to {out} (step {step})")
    finally:
        pool.terminate()
        pool.join()
    for net in nets.values():
        net.eval()
    save_all(nets, out)
    summary = {"steps": step, "scenes": scenes, "seconds": time.monotonic() - t0}
    files = ", ".join(f"{n}.safetensors" for n in nets)
    log(f"[{summary['seconds']:5.1f}s] done: {step} steps on {scenes} scenes; weights in {out}: {files}")
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, required=True, help="wall-time budget of the whole run")
    parser.add_argument("--workers", type=int, required=True, help="render processes")
    parser.add_argument("--out", type=Path, required=True, help="directory for the three .safetensors files")
    parser.add_argument("--size", type=int, default=128, help="render size and segmenter grid (64..256, /32)")
    parser.add_argument("--device", default="cuda", help="torch device (cuda, cpu)")
    parser.add_argument("--render-share", type=float, default=0.6, help="share of the budget spent rendering")
    parser.add_argument("--save-every", type=float, default=45.0, help="seconds between checkpoints")
    parser.add_argument(
        "--batch-scale", type=float, default=None, help="multiplies the batch sizes (default 1 on CUDA, 0.05 on CPU)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=EVALUATOR_NAMES, default=list(EVALUATOR_NAMES), help="train only these nets"
    )
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="v3", help="architecture of the nets")
    parser.add_argument("--init", type=Path, default=None, help="weights folder to start from (matching tensors)")
    parser.add_argument(
        "--lr-scale", type=float, default=1.0, help="multiplies the peak learning rate of the tensors loaded by --init"
    )


def run(args: argparse.Namespace) -> int:
    checks = [
        (args.seconds > 0, f"--seconds must be > 0, got {args.seconds}"),
        (args.workers >= 1, f"--workers must be >= 1, got {args.workers}"),
        (
            64 <= args.size <= 256 and args.size % 32 == 0,
            f"--size must be 64..256 and a multiple of 32, got {args.size}",
        ),
        (0 < args.render_share <= 1, f"--render-share must be in (0, 1], got {args.render_share}"),
        (0 < args.save_every <= 60, f"--save-every must be in (0, 60] seconds, got {args.save_every}"),
        (args.batch_scale is None or args.batch_scale > 0, f"--batch-scale must be > 0, got {args.batch_scale}"),
        (args.lr_scale > 0, f"--lr-scale must be > 0, got {args.lr_scale}"),
    ]
    for ok, message in checks:
        if not ok:
            raise SystemExit(f"error: {message}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but no CUDA device is visible; pass --device cpu to train on the CPU")
    train_on_device(
        args.out,
        args.seconds,
        args.workers,
        size=args.size,
        device=args.device,
        render_share=args.render_share,
        save_every=args.save_every,
        batch_scale=args.batch_scale or (0.05 if args.device == "cpu" else 1.0),  # CPU steps stay short
        names=tuple(args.only),
        arch=args.arch,
        init=args.init,
        lr_scale=args.lr_scale,
    )
    return 0
