"""What the judges' networks see: one crop, resize and degrade path for training and judging.

A judged image (a render, a generated image) becomes network input only through these functions,
in training (:mod:`.examples`) and when judging (:class:`~scenecraft.evaluate.judges.Evaluators`):

- :func:`square_box` and :func:`region_crop` — a square crop around a box, ``CROP_GROW`` times its
  longer side, resized bilinearly (material and keypoint nets); :func:`crops` batches them;
- :func:`subject_view` — a subject's zoomed crop (``SUBJECT_GROW`` times its box) and the mask of its
  box in that crop (the subject net); :func:`subject_crops` batches them;
- :func:`grid_image` — the whole image resized to the segmenter's square grid;
- :func:`surface_boxes` — patches that lie on the floor or the wall only (material regions);
- :func:`degrade` — in training only: blur, half resolution, colour jitter, noise and coarse
  quantisation on the device, so the nets judge imperfect (generated) images too.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

Box = tuple[float, float, float, float]

MATERIAL_CROP, KEYPOINT_CROP = 32, 64  # crop sides of the material and keypoint nets
CROP_GROW = 1.15  # square crops are this much larger than the box's longer side
SUBJECT_CROP = 32  # the subject net's crop side
# The subject net sees this many times a box's longer side: the subject and its surroundings (the
# segmenter's zoomed kind read chose 2.5 on validation; 2 keeps more pixels of a small subject).
SUBJECT_GROW = 2.0


def square_box(box: Box | tuple[float, ...], grow: float = CROP_GROW) -> Box:
    """The square around a box's centre whose side is ``grow`` times the box's longer side (>= 1 px)."""
    x0, y0, x1, y1 = box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0, 1.0) * grow / 2
    return cx - half, cy - half, cx + half, cy + half


def iou(a: Box | tuple[float, ...], b: Box | tuple[float, ...]) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def jitter_box(box: Box | tuple[float, ...], rng: np.random.Generator, amount: float) -> Box:
    """Each side moved by up to ``amount`` of the box's width or height (training crops)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d = rng.uniform(-amount, amount, 4) * np.array([w, h, w, h])
    return x0 + d[0], y0 + d[1], x1 + d[2], y1 + d[3]


def region_crop(image: np.ndarray, box: Box | tuple[float, ...], out: int) -> np.ndarray:
    """Crop ``box`` (x0, y0, x1, y1 in pixels; may leave the image) to (out, out, 3) uint8, bilinear."""
    x0, y0, x1, y1 = box
    crop = Image.fromarray(image).transform(
        (out, out), Image.Transform.EXTENT, (x0, y0, x1, y1), resample=Image.Resampling.BILINEAR
    )
    return np.asarray(crop)


def crops(image: np.ndarray, boxes: list[Box], out: int) -> torch.Tensor:
    """Square crops around boxes: (H, W, 3) uint8 -> (N, 3, out, out) float 0..1."""
    if not boxes:
        return torch.zeros(0, 3, out, out)
    arr = np.stack([region_crop(image, square_box(b), out) for b in boxes])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0


def box_mask(box: Box | tuple[float, ...], crop: Box | tuple[float, ...], out: int) -> np.ndarray:
    """(out, out) bool: the pixels of an ``out``-px crop of the square ``crop`` whose centres lie in ``box``."""
    x0, y0, x1, y1 = crop
    centres = (np.arange(out) + 0.5) / out
    xs, ys = x0 + centres * (x1 - x0), y0 + centres * (y1 - y0)
    inside_x = (xs >= box[0]) & (xs <= box[2])
    inside_y = (ys >= box[1]) & (ys <= box[3])
    mask = inside_y[:, None] & inside_x[None, :]
    if not mask.any():  # a box thinner than a crop pixel: its centre pixel
        cx = int(np.clip(((box[0] + box[2]) / 2 - x0) / (x1 - x0) * out, 0, out - 1))
        cy = int(np.clip(((box[1] + box[3]) / 2 - y0) / (y1 - y0) * out, 0, out - 1))
        mask[cy, cx] = True
    return mask


def subject_view(image: np.ndarray, box: Box | tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """What the subject net sees of the subject in ``box``: the square ``SUBJECT_GROW`` times its
    longer side as a (SUBJECT_CROP, SUBJECT_CROP, 3) uint8 crop, and its box's mask in it (bool)."""
    sq = square_box(box, SUBJECT_GROW)
    return region_crop(image, sq, SUBJECT_CROP), box_mask(box, sq, SUBJECT_CROP)


def subject_input(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Crops (B, 3, S, S) float 0..1 and masks (B, S, S) -> the subject net's input (B, 4, S, S)."""
    return torch.cat([images, masks[:, None].to(images.dtype)], 1)


def subject_crops(image: np.ndarray, boxes: list[Box]) -> torch.Tensor:
    """The subject net's input for boxes of one image: (H, W, 3) uint8 -> (N, 4, 32, 32) float."""
    if not boxes:
        return torch.zeros(0, 4, SUBJECT_CROP, SUBJECT_CROP)
    views = [subject_view(image, b) for b in boxes]
    rgb = to_input(np.stack([v[0] for v in views]))
    return subject_input(rgb, torch.from_numpy(np.stack([v[1] for v in views])))


def grid_image(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8, bilinear with area averaging when shrinking."""
    img = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.array(img)  # writable: torch.from_numpy needs that


def to_input(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float 0..1."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0


def surface_boxes(
    material: np.ndarray,
    instance: np.ndarray,
    mat_id: int,
    rng: np.random.Generator,
    n: int = 2,
    min_side: int = 14,
    max_side: int = 40,
) -> list[tuple[int, int, int, int]]:
    """Up to ``n`` random square boxes lying (>= 95 %) on pixels of material ``mat_id`` and of no subject."""
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


def surface_patch_sides(size: int) -> tuple[int, int]:
    """Side range of floor and wall patches in an image of ``size`` px (14..40 px at 128 px)."""
    return max(8, size * 14 // 128), max(10, size * 40 // 128)


def degrade(x: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Random blur, half resolution, colour jitter, noise and quantisation, on ``x``'s device.

    (B, 3, H, W) float 0..1 with even H, W -> the same, in float32 (also under autocast);
    ``strength`` 0 gives the images back. Per image: a Gaussian blur (sigma 0.3..1.2) for half of
    them, a 2x down-and-up resampling (a small generated image enlarged) for 15 %, contrast
    +-20 %, per-channel gain +-15 %, brightness +-0.08, Gaussian noise up to sigma 0.04, and
    quantisation to 24 levels for 30 %.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _degrade(x.float(), strength)


def _degrade(x: torch.Tensor, strength: float) -> torch.Tensor:
    b, c, h, w = x.shape
    dev = x.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return torch.empty(shape, device=dev).uniform_(lo, hi)

    # Separable 5-tap Gaussian blur; sigma 1e-3 is the identity.
    sigma = torch.where(torch.rand(b, device=dev) < 0.5 * strength, uniform(0.3, 1.2, b), 1e-3)
    taps = torch.arange(-2.0, 3.0, device=dev)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B * 3, 5)
    flat = x.reshape(1, b * c, h, w)
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
    levels = torch.where(torch.rand(b, 1, 1, 1, device=dev) < 0.3 * strength, 24.0, 255.0)
    return torch.round(x.clamp(0, 1) * levels) / levels
