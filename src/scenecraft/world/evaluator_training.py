"""Training of the frozen evaluators on world renders (run once; the weights ship in ``weights/``).

    python -m scenecraft.world.evaluator_training data        # render training chunks (resumable)
    python -m scenecraft.world.evaluator_training train NAME  # NAME: material | segmenter | keypoints
    python -m scenecraft.world.evaluator_training device --seconds 240 --workers 12 --out DIR

``device`` renders and trains all three at once on a GPU (:mod:`scenecraft.world.evaluator_device`).

Training scenes come from seeds 1000 (general) and 2000 (person-heavy); the held-out reports use
other seeds. Every batch is degraded (blur, noise, colour jitter, quantisation; see
:func:`evaluator_data.degrade`) and randomly mirrored, so the networks judge imperfect images too.
Each run has a wall-time budget and a learning rate that follows the share of it spent (warm-up,
cosine), so it ends annealed on time on a busy machine. Runs are resumable: a checkpoint (weights,
optimiser, step, time spent) is saved every ``save_every`` steps and a rerun continues from it;
the final weights are exported in float16 safetensors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from scenecraft.world.evaluator_data import (
    PERSON_HEAVY,
    build_chunks,
    load_chunks,
    region_crop,
    surface_boxes,
)
from scenecraft.world.evaluators import (
    CROP_GROW,
    KEYPOINT_CROP,
    MATERIAL_CROP,
    SEG_KINDS,
    SEGMENT_SIZE,
    WEIGHTS_DIR,
    KeypointNet,
    MaterialNet,
    SegmenterNet,
    _square,
)
from scenecraft.world.smpl import FLIP_PAIRS
from scenecraft.world.spec import COLOUR_NAMES, MATERIALS, OBJECT_MATERIALS

DATA = Path("data")
SETS = (("eval_general", 1000, 3000, None), ("eval_people", 2000, 1000, PERSON_HEAVY))


def chunk_paths() -> list[Path]:
    return [p for name, *_ in SETS for p in sorted((DATA / name).glob("chunk_*.npz"))]


def _jitter_box(box: tuple[float, ...], rng: np.random.Generator, amount: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d = rng.uniform(-amount, amount, 4) * np.array([w, h, w, h])
    return x0 + d[0], y0 + d[1], x1 + d[2], y1 + d[3]


# --- tensors for each evaluator --------------------------------------------------------------


def material_examples(
    image: np.ndarray,
    material: np.ndarray,
    instance: np.ndarray,
    lab: dict[str, Any],
    rng: np.random.Generator,
    copies: int = 2,
    surfaces: bool = True,
) -> tuple[list[np.ndarray], list[int]]:
    """Crops (32, 32, 3) uint8 of one scene's object boxes and floor/wall patches, and material ids.

    Objects under 36 pixels of a 128 px image (scaled with the image) are too small to judge.
    """
    size = image.shape[0]
    min_area = 36 * (size / 128) ** 2
    side = (max(8, size * 14 // 128), max(10, size * 40 // 128))  # patch sides, as metrics.py uses
    regions = [
        (s["box"], s["material"])
        for s in lab["subjects"]
        if s["kind"] == "object" and s["box"] and (s["box"][2] - s["box"][0]) * (s["box"][3] - s["box"][1]) >= min_area
    ]
    if surfaces:
        for key in ("ground", "wall"):
            mid = MATERIALS.index(lab[key])
            regions += [(b, lab[key]) for b in surface_boxes(material, instance, mid, rng, 1, *side)]
    xs, ys = [], []
    for box, mat in regions:
        for _ in range(copies):
            xs.append(region_crop(image, _square(_jitter_box(box, rng, 0.08) if copies > 1 else box), MATERIAL_CROP))
            ys.append(OBJECT_MATERIALS.index(mat))
    return xs, ys


def material_set(
    arrays: dict[str, np.ndarray],
    labels: list[dict[str, Any]],
    seed: int,
    copies: int = 2,
    surfaces: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Crops (N, 32, 32, 3) uint8 of object boxes and floor/wall patches, and material ids (N,)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i, lab in enumerate(labels):
        x, y = material_examples(
            arrays["image"][i], arrays["material"][i], arrays["instance"][i], lab, rng, copies, surfaces
        )
        xs += x
        ys += y
    return np.stack(xs), np.array(ys, np.int64)


Targets = tuple[np.ndarray, np.ndarray, np.ndarray]


def grid_instances(instance: np.ndarray, size: int) -> np.ndarray:
    """An instance map of any side resampled to (size, size) by nearest pixel: every ``step``-th
    pixel when shrinking by an integer ``step``, each pixel repeated when growing."""
    pick = np.arange(size) * instance.shape[0] // size
    return instance[pick][:, pick].astype(np.int64)


def segment_targets(instance: np.ndarray, lab: dict[str, Any], size: int = SEGMENT_SIZE) -> Targets:
    """Kind, colour (-1 off subjects) and border targets (size, size) from an instance map of any
    side, on the grid of :func:`grid_instances`."""
    inst = grid_instances(instance, size)
    kinds = np.array([SEG_KINDS.index(s["shape"]) for s in lab["subjects"]] + [0], np.int64)
    colours = np.array([COLOUR_NAMES.index(s["colour"]) for s in lab["subjects"]] + [-1], np.int64)
    kind, colour = kinds[inst], colours[inst]  # inst == -1 picks the trailing background entry
    border = np.zeros(inst.shape, bool)
    for a, b in ((inst[1:], inst[:-1]), (inst[:, 1:], inst[:, :-1])):
        edge = (a != b) & (a >= 0) & (b >= 0)
        if a.shape[0] != inst.shape[0]:
            border[1:] |= edge
            border[:-1] |= edge
        else:
            border[:, 1:] |= edge
            border[:, :-1] |= edge
    return kind, colour, border


def box_targets(instance: np.ndarray, lab: dict[str, Any], size: int = SEGMENT_SIZE) -> np.ndarray:
    """Each pixel's distances to the sides of its subject's box, (4, size, size) float16 in grid pixels
    (left, top, right, bottom; 0 off subjects), on the grid :func:`segment_targets` samples.

    The boxes are the labels' (the visible extent at the render's resolution, end exclusive),
    scaled to the grid, so a perfect prediction gives back exactly the boxes the metrics score.
    """
    inst = grid_instances(instance, size)
    scale = size / instance.shape[0]
    table = np.zeros((len(lab["subjects"]) + 1, 4))  # the trailing row: background
    for k, s in enumerate(lab["subjects"]):
        if s["box"] is not None:
            table[k] = np.asarray(s["box"], np.float64) * scale
    box = table[inst]  # (size, size, 4): x0, y0, x1, y1 of each pixel's subject
    centre = np.arange(size) + 0.5
    cx, cy = centre[None, :], centre[:, None]
    dist = np.stack([cx - box[..., 0], cy - box[..., 1], box[..., 2] - cx, box[..., 3] - cy])
    return np.where(inst[None] >= 0, np.clip(dist, 0, None), 0).astype(np.float16)


def segment_set(arrays: dict[str, np.ndarray], labels: list[dict[str, Any]]) -> tuple[np.ndarray, ...]:
    from PIL import Image

    imgs = np.stack(
        [
            np.asarray(Image.fromarray(im).resize((SEGMENT_SIZE, SEGMENT_SIZE), Image.Resampling.BILINEAR))
            for im in arrays["image"]
        ]
    )
    targets = [segment_targets(inst, lab) for inst, lab in zip(arrays["instance"], labels, strict=True)]
    kind, colour, border = (np.stack(t) for t in zip(*targets, strict=True))
    return imgs, kind.astype(np.int8), colour.astype(np.int8), border


def keypoint_examples(
    image: np.ndarray, lab: dict[str, Any], rng: np.random.Generator, copies: int = 2, jitter: float = 0.06
) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """One scene's person crops (64, 64, 3), joints in crop units (24, 2), box side in crop units."""
    xs, js, sides = [], [], []
    for s in lab["subjects"]:
        if s["kind"] != "person" or not s["box"]:
            continue
        for _ in range(copies):
            box = _jitter_box(s["box"], rng, jitter) if copies > 1 else tuple(s["box"])
            sq = _square(box)
            side = sq[2] - sq[0]
            xs.append(region_crop(image, sq, KEYPOINT_CROP))
            js.append(((np.asarray(s["joints2d"]) - np.array(sq[:2])) / side).astype(np.float32))
            b = s["box"]
            sides.append(max(b[2] - b[0], b[3] - b[1]) / side)
    return xs, js, sides


def keypoint_set(
    arrays: dict[str, np.ndarray],
    labels: list[dict[str, Any]],
    seed: int,
    copies: int = 2,
    jitter: float = 0.06,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person crops (N, 64, 64, 3), joints in crop units (N, 24, 2), person box side in crop units (N,)."""
    rng = np.random.default_rng(seed)
    xs, js, sides = [], [], []
    for i, lab in enumerate(labels):
        x, j, side = keypoint_examples(arrays["image"][i], lab, rng, copies, jitter)
        xs += x
        js += j
        sides += side
    return np.stack(xs), np.asarray(js, np.float32), np.asarray(sides, np.float32)


# --- training -----------------------------------------------------------------------------------


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def _batch_images(x: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    from scenecraft.world.evaluator_data import degrade

    return _to_tensor(degrade(x, rng))


def lr_at(progress: float, peak: float, warmup: float = 0.05) -> float:
    """Linear warm-up, then cosine decay to zero; ``progress`` is the share of the budget spent."""
    if progress < warmup:
        return peak * progress / warmup
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, (progress - warmup) / (1.0 - warmup))))


def train(
    name: str, batch: int, lr: float, minutes: float, out: Path, save_every: int = 100, extend: bool = False
) -> None:
    """Train one evaluator for a budget of ``minutes`` of wall time, then export it.

    The learning-rate schedule follows the share of the budget spent rather than a step count, so a
    run on a busy machine still ends annealed and on time; the checkpoint stores the time spent.
    ``extend`` continues from the checkpoint's weights with a fresh schedule of ``minutes``.
    """
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    arrays, labels = load_chunks(chunk_paths())
    print(f"{name}: {len(labels)} scenes loaded", flush=True)
    net: nn.Module
    if name == "material":
        net = MaterialNet()
        x_all, y_all = material_set(arrays, labels, seed=1)
    elif name == "segmenter":
        net = SegmenterNet()
        x_all, kind_all, colour_all, border_all = segment_set(arrays, labels)
    elif name == "keypoints":
        net = KeypointNet()
        x_all, j_all, _ = keypoint_set(arrays, labels, seed=2)
    else:
        raise ValueError(f"unknown evaluator {name!r}; choose material, segmenter or keypoints")
    del arrays
    n = len(x_all)
    print(f"{name}: {n} training examples, {sum(p.numel() for p in net.parameters())} parameters", flush=True)
    # channels-last convolutions are about 1.3x faster on CPU
    net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    ckpt = out / f"{name}.ckpt.pt"
    step, spent = 0, 0.0
    if ckpt.exists():
        # bandit B614 waived: our own resume file (net + optimizer state), written by this trainer into its out dir
        state = torch.load(ckpt, weights_only=False)  # nosec B614
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        step, spent = state["step"], 0.0 if extend else state["spent"]
        rng = np.random.default_rng(step + 1)
        print(f"{name}: resumed at step {step} after {spent:.0f}s", flush=True)
    budget = minutes * 60.0
    t0, run_loss = time.time() - spent, 0.0
    net.train()
    while (time.time() - t0) < budget:
        for group in opt.param_groups:
            group["lr"] = lr_at((time.time() - t0) / budget, lr)
        idx = rng.integers(0, n, batch)
        flip = rng.random(batch) < 0.5
        xb = x_all[idx].copy()
        xb[flip] = xb[flip, :, ::-1]
        x = _batch_images(xb, rng)
        if name == "material":
            loss = F.cross_entropy(net(x), torch.from_numpy(y_all[idx]), label_smoothing=0.05)
        elif name == "segmenter":
            flip_t = torch.from_numpy(flip)
            kind_t = torch.from_numpy(kind_all[idx].astype(np.int64))
            col_t = torch.from_numpy(colour_all[idx].astype(np.int64))
            bor_t = torch.from_numpy(border_all[idx]).float()
            kind_t[flip_t], col_t[flip_t], bor_t[flip_t] = (
                kind_t[flip_t].flip(-1),
                col_t[flip_t].flip(-1),
                bor_t[flip_t].flip(-1),
            )
            kind_logits, col_logits, bor_logits, _ = net(x)
            weight = torch.ones(len(SEG_KINDS))
            weight[0] = 0.4
            loss = F.cross_entropy(kind_logits, kind_t, weight=weight)
            loss = loss + F.cross_entropy(col_logits, col_t, ignore_index=-1)
            loss = loss + F.binary_cross_entropy_with_logits(bor_logits[:, 0], bor_t, pos_weight=torch.tensor(4.0))
        else:
            j = j_all[idx].copy()
            j[flip, :, 0] = 1.0 - j[flip, :, 0]
            j[flip] = j[flip][:, list(FLIP_PAIRS)]
            uv, _ = net(x)
            loss = F.l1_loss(uv, torch.from_numpy(j))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        run_loss += loss.item()
        if step % 50 == 0:
            print(f"{name} step {step} loss {run_loss / 50:.4f} ({time.time() - t0:.0f}/{budget:.0f}s)", flush=True)
            run_loss = 0.0
        if step % save_every == 0:
            tmp = ckpt.with_suffix(".tmp")
            state = {"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "spent": time.time() - t0}
            torch.save(state, tmp)
            tmp.replace(ckpt)
    export(net, name)
    print(f"{name}: done after {step} steps, exported", flush=True)


def export(net: nn.Module, name: str, out_dir: str | Path = WEIGHTS_DIR) -> Path:
    """Write float16 weights (BatchNorm counters dropped) to ``out_dir/NAME.safetensors``.

    The network's constructor arguments go into the metadata (``config``), which is what
    :meth:`Evaluators.load` builds it from. The file is written under a temporary name and renamed,
    so a run killed while saving leaves the previous file whole.
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
    tmp = out / f".{name}.safetensors.tmp"
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


CONFIGS = {  # name -> (batch, peak learning rate, default minutes on one CPU thread)
    "material": (64, 3e-3, 6.0),
    "segmenter": (32, 3e-3, 20.0),
    "keypoints": (48, 2e-3, 18.0),
}


def main(argv: list[str] | None = None) -> int:
    from scenecraft.world.evaluator_device import add_arguments
    from scenecraft.world.evaluator_device import run as run_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("data", help="render the training chunks")
    t = sub.add_parser("train", help="train one evaluator")
    t.add_argument("name", choices=sorted(CONFIGS))
    t.add_argument("--minutes", type=float, default=None, help="training budget (wall time)")
    t.add_argument("--extend", action="store_true", help="continue from the checkpoint with a new budget")
    d = sub.add_parser("device", help="render and train all three on a GPU in one time budget")
    add_arguments(d)
    args = parser.parse_args(argv)
    if args.cmd == "device":
        return run_device(args)
    if args.cmd == "data":
        for name, seed, n, cfg in SETS:
            build_chunks(DATA / name, seed=seed, n_scenes=n, config=cfg)
        return 0
    batch, lr, minutes = CONFIGS[args.name]
    out = DATA / "train"
    out.mkdir(parents=True, exist_ok=True)
    train(args.name, batch, lr, args.minutes or minutes, out, extend=args.extend)
    log = out / f"{args.name}.json"
    runs = json.loads(log.read_text()) if log.exists() else []
    runs = runs if isinstance(runs, list) else [runs]
    runs.append({"minutes": args.minutes or minutes, "batch": batch, "lr": lr, "extend": args.extend})
    log.write_text(json.dumps(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
