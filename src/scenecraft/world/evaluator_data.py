"""Training data for the evaluators: rendered scenes stored in chunks, and the crops cut from them.

``build_chunks`` renders scenes ``0..n-1`` of a seed into ``chunk_XXXX.npz`` (image, material and
instance maps) plus ``chunk_XXXX.json`` (per-subject labels). Chunks are written to a temporary
name and renamed, so an interrupted run resumes where it stopped and never leaves half a chunk.

The crop functions turn a render into the inputs the evaluators see:

- :func:`region_crop` — a square crop around a box, resized (material classifier, keypoints);
- :func:`surface_boxes` — boxes on the floor or wall that hold only that surface's material.

Augmentations (:func:`degrade`) imitate images that are not perfect renders: Gaussian blur, noise,
colour jitter and JPEG-like quantisation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from scenecraft.world.dataset import SamplerConfig, WorldSampler
from scenecraft.world.render import Render
from scenecraft.world.spec import ObjectSubject

PERSON_HEAVY = SamplerConfig(person_probability=0.75, max_people=3)


def scene_labels(r: Render) -> dict[str, Any]:
    """The labels the evaluators learn from, per scene."""
    subjects = []
    for k, s in enumerate(r.spec.subjects):
        entry: dict[str, Any] = {"kind": s.kind, "box": r.boxes[k]}
        if isinstance(s, ObjectSubject):
            entry.update(shape=s.shape, material=s.material, colour=s.colour)
        else:
            entry.update(
                shape="person",
                colour=s.top_colour,
                joints2d=r.joints2d[k].tolist(),
                visible=r.joints_visible[k].tolist(),
            )
        subjects.append(entry)
    return {"ground": r.spec.ground.material, "wall": r.spec.background.material, "subjects": subjects}


def build_chunks(
    out_dir: str | Path,
    seed: int,
    n_scenes: int,
    size: int = 128,
    chunk: int = 250,
    config: SamplerConfig | None = None,
    log: bool = True,
) -> list[Path]:
    """Render scenes 0..n_scenes-1 of ``seed`` into chunk files; existing chunks are kept."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sampler = WorldSampler(config, seed)
    paths = []
    for c0 in range(0, n_scenes, chunk):
        path = out / f"chunk_{c0 // chunk:04d}.npz"
        paths.append(path)
        if path.exists() and path.with_suffix(".json").exists():
            continue
        renders = [sampler.render(i, size) for i in range(c0, min(c0 + chunk, n_scenes))]
        tmp = out / f".tmp_{path.stem}.npz"
        np.savez(
            tmp,
            image=np.stack([r.image for r in renders]),
            material=np.stack([r.material for r in renders]),
            instance=np.stack([r.instance for r in renders]).astype(np.int8),
        )
        tmp_json = out / f".tmp_{path.stem}.json"
        tmp_json.write_text(json.dumps([scene_labels(r) for r in renders]))
        os.replace(tmp_json, path.with_suffix(".json"))
        os.replace(tmp, path)
        if log:
            print(f"{path.name}: scenes {c0}..{c0 + len(renders) - 1}", flush=True)
    return paths


def load_chunks(paths: list[Path]) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Concatenate chunk arrays and labels."""
    arrays: dict[str, list[np.ndarray]] = {"image": [], "material": [], "instance": []}
    labels: list[dict[str, Any]] = []
    for p in paths:
        with np.load(p) as z:
            for k in arrays:
                arrays[k].append(z[k])
        labels += json.loads(p.with_suffix(".json").read_text())
    return {k: np.concatenate(v) for k, v in arrays.items()}, labels


def square_box(
    box: tuple[float, float, float, float], grow: float = 1.15
) -> tuple[float, float, float, float]:
    """The square around a box's centre whose side is ``grow`` times the box's longer side."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * grow / 2
    return cx - half, cy - half, cx + half, cy + half


def region_crop(image: np.ndarray, box: tuple[float, float, float, float], out: int) -> np.ndarray:
    """Crop ``box`` (x0, y0, x1, y1 in pixels, may leave the image: edges repeat) to out x out RGB."""
    img = Image.fromarray(image)
    x0, y0, x1, y1 = box
    crop = img.transform(
        (out, out), Image.Transform.EXTENT, (x0, y0, x1, y1), resample=Image.Resampling.BILINEAR
    )
    return np.asarray(crop)


def surface_boxes(
    material: np.ndarray,
    instance: np.ndarray,
    mat_id: int,
    rng: np.random.Generator,
    n: int = 2,
    min_side: int = 14,
    max_side: int = 40,
) -> list[tuple[int, int, int, int]]:
    """Up to ``n`` random boxes lying (>= 95 %) on pixels of material ``mat_id`` and of no subject."""
    ok = (material == mat_id) & (instance < 0)
    h, w = ok.shape
    integral = np.pad(ok.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    found: list[tuple[int, int, int, int]] = []
    for _ in range(n * 8):
        side = int(rng.integers(min_side, max_side + 1))
        if side >= min(h, w):
            break
        y, x = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
        inside = integral[y + side, x + side] - integral[y, x + side] - integral[y + side, x] + integral[y, x]
        if inside >= 0.95 * side * side:
            found.append((x, y, x + side, y + side))
            if len(found) == n:
                break
    return found


def degrade(images: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random blur, colour jitter, noise and quantisation. (N, H, W, 3) uint8 -> float32 0..1."""
    from scipy.ndimage import gaussian_filter

    x = images.astype(np.float32) / 255.0
    n = len(x)
    for i in range(n):
        if rng.random() < 0.5 * strength:
            sigma = rng.uniform(0.3, 1.2)
            x[i] = gaussian_filter(x[i], sigma=(sigma, sigma, 0))
    gain = 1.0 + rng.uniform(-0.15, 0.15, (n, 1, 1, 3)) * strength  # per-channel colour jitter
    bright = rng.uniform(-0.08, 0.08, (n, 1, 1, 1)) * strength
    contrast = 1.0 + rng.uniform(-0.2, 0.2, (n, 1, 1, 1)) * strength
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    x = (x - mean) * contrast + mean
    x = x * gain + bright
    sigma_n = rng.uniform(0.0, 0.04, (n, 1, 1, 1)) * strength
    x = x + rng.normal(0, 1, x.shape).astype(np.float32) * sigma_n
    levels = np.where(rng.random((n, 1, 1, 1)) < 0.3 * strength, 24.0, 255.0)  # coarse quantisation
    x = np.round(np.clip(x, 0, 1) * levels) / levels
    return x.astype(np.float32)
