"""Rendering chains: batched torch on CPU or GPU, banded for memory, to tensors, images and files.

``apply_chain`` is the core: it checks the inputs, estimates depth/normals when the chain needs
them and the caller gave none, and runs the ops in order. Runs of pointwise ops are rendered in
bands of rows (at most ``tile_pixels`` pixels per band over the batch), so temporaries stay small at
4096²; ops that look at neighbours (blurs, aberration) run on the whole frame, and their large
blurs work on a downsampled pyramid (filters.py).

Around it: ``render_image`` (PIL in, PIL out), ``render_frames`` (an animated chain's frames),
``encode`` (PNG/JPEG/WebP stills, animated WebP/GIF); files are written with
:func:`scenecraft.atomic_write.write_bytes` (a failed render or a crash leaves no output file,
and never a half-written one).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scenecraft.effects import grading, lens, light, particles
from scenecraft.effects.chain import Chain, EffectOp, parse_chain
from scenecraft.effects.context import Kernel, RenderContext
from scenecraft.effects.estimate import estimate_depth, estimate_normals

MAX_SIDE = 4096
MAX_FRAMES = 240
DEFAULT_TILE_PIXELS = 1 << 20  # pointwise ops: rows per band so a band holds at most this many pixels
DEFAULT_BATCH_PIXELS = 1 << 26  # a batch bigger than this (4 images of 4096²) renders in chunks

# op name -> the torch function that renders it
KERNELS: dict[str, Kernel] = {**grading.KERNELS, **lens.KERNELS, **light.KERNELS, **particles.KERNELS}


class RenderError(ValueError):
    """Inputs a chain cannot be rendered on (wrong shape, size, range); the message says what is allowed."""


def _check_map(name: str, value: torch.Tensor | None, channels: int, batch: int, height: int, width: int,
               device: torch.device) -> torch.Tensor | None:
    if value is None:
        return None
    shape = tuple(value.shape)
    if value.dim() != 4 or shape[1] != channels or shape[0] not in (1, batch) or shape[2:] != (height, width):
        expected = f"({batch} or 1, {channels}, {height}, {width})"
        raise RenderError(f"{name} must have shape {expected}, got {shape}")
    if not torch.isfinite(value).all():
        raise RenderError(f"{name} holds NaN or infinite values")
    return value.to(device=device, dtype=torch.float32)


def _segments(ops: Sequence[EffectOp]) -> list[tuple[bool, list[EffectOp]]]:
    """Split the chain into runs: (True, pointwise ops) and (False, [one neighbourhood op])."""
    runs: list[tuple[bool, list[EffectOp]]] = []
    for op in ops:
        if op.pointwise and runs and runs[-1][0]:
            runs[-1][1].append(op)
        else:
            runs.append((op.pointwise, [op]))
    return runs


@torch.inference_mode()
def apply_chain(
    chain: Chain | list | str,
    image: torch.Tensor,
    *,
    depth: torch.Tensor | None = None,
    normals: torch.Tensor | None = None,
    time: float = 0.0,
    tile_pixels: int = DEFAULT_TILE_PIXELS,
    batch_pixels: int = DEFAULT_BATCH_PIXELS,
) -> torch.Tensor:
    """Apply a chain to a batch: (B, 3, H, W) float in [0, 1] -> (B, 3, H, W) float32 in [0, 1].

    depth: (B|1, 1, H, W), 0 near .. 1 far; normals: (B|1, 3, H, W) unit vectors (x right, y up,
    z towards the viewer). When the chain needs them and they are None they are estimated from
    ``image``. ``time`` (seconds) drives animated ops. Runs on ``image.device``; a batch of more
    than ``batch_pixels`` pixels is rendered a chunk of images at a time (bounded memory).
    """
    chain = parse_chain(chain)
    if image.dim() != 4 or image.shape[1] != 3:
        raise RenderError(f"image must have shape (B, 3, H, W), got {tuple(image.shape)}")
    batch, _, height, width = image.shape
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE) or batch < 1:
        raise RenderError(
            f"image size must be 1..{MAX_SIDE} px per side with B >= 1, got {tuple(image.shape)}"
        )
    if not image.is_floating_point():
        raise RenderError(f"image must be a float tensor in [0, 1], got dtype {image.dtype}")
    if not (0.0 <= time <= 1e5):
        raise RenderError(f"time must be in [0, 100000] seconds, got {time}")
    if tile_pixels < 1:
        raise RenderError(f"tile_pixels must be positive, got {tile_pixels}")
    x = image.to(torch.float32)
    low_t, high_t = torch.aminmax(x)
    low, high = float(low_t), float(high_t)
    if not (low >= -1e-6 and high <= 1.0 + 1e-6):  # also catches NaN
        raise RenderError(f"image values must be in [0, 1], got min {low}, max {high}")
    if low < 0.0 or high > 1.0:
        x = x.clamp(0.0, 1.0)
    device = x.device
    depth = _check_map("depth", depth, 1, batch, height, width, device)
    normals = _check_map("normals", normals, 3, batch, height, width, device)
    per_chunk = max(1, batch_pixels // (height * width))
    if batch > per_chunk:
        def rows(t: torch.Tensor | None, i: int) -> torch.Tensor | None:
            return t if t is None or t.shape[0] == 1 else t[i : i + per_chunk]

        return torch.cat([
            apply_chain(chain, x[i : i + per_chunk], depth=rows(depth, i), normals=rows(normals, i), time=time,
                        tile_pixels=tile_pixels, batch_pixels=batch_pixels)
            for i in range(0, batch, per_chunk)
        ])
    if chain.uses_depth and depth is None:
        depth = estimate_depth(x)
    if chain.uses_normals and normals is None:
        normals = estimate_normals(x)

    for pointwise, ops in _segments(chain.ops):
        if not pointwise:
            ctx = RenderContext(height, width, 0, time, depth, normals)
            x = KERNELS[ops[0].name](ops[0], x, ctx)
            continue
        out = torch.empty_like(x)
        band = max(1, tile_pixels // (batch * width))
        for row0 in range(0, height, band):
            row1 = min(height, row0 + band)
            ctx = RenderContext(
                height, width, row0, time,
                None if depth is None else depth[..., row0:row1, :],
                None if normals is None else normals[..., row0:row1, :],
            )
            y = x[..., row0:row1, :]
            for op in ops:
                y = KERNELS[op.name](op, y, ctx)
            out[..., row0:row1, :] = y
        x = out
    return x


# ---- PIL images, frames, files -----------------------------------------------------------------

def image_to_tensor(image: Image.Image, device: torch.device | str | None = None) -> torch.Tensor:
    """PIL image -> (1, 3, H, W) float32 in [0, 1] (RGB; any alpha is dropped here)."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].to(device or "cpu")


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> 8-bit RGB PIL image (rounded to nearest)."""
    t = tensor[0] if tensor.dim() == 4 else tensor
    data = (t.detach().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(data, mode="RGB")


def _with_alpha(rendered: Image.Image, source: Image.Image) -> Image.Image:
    if "A" in source.getbands():
        rendered = rendered.copy()
        rendered.putalpha(source.getchannel("A"))
    return rendered


def render_image(
    chain: Chain | list | str,
    image: Image.Image,
    *,
    depth: torch.Tensor | None = None,
    normals: torch.Tensor | None = None,
    time: float = 0.0,
    device: torch.device | str | None = None,
) -> Image.Image:
    """Render a chain on a PIL image (alpha, if any, is kept unchanged) and return a new PIL image."""
    out = apply_chain(chain, image_to_tensor(image, device), depth=depth, normals=normals, time=time)
    return _with_alpha(tensor_to_image(out), image)


def render_frames(
    chain: Chain | list | str,
    image: Image.Image,
    *,
    frames: int,
    fps: float,
    depth: torch.Tensor | None = None,
    normals: torch.Tensor | None = None,
    device: torch.device | str | None = None,
) -> list[Image.Image]:
    """Render frames 0..frames-1 at times i / fps (the chain's animated ops move, the rest stay)."""
    if not 1 <= frames <= MAX_FRAMES:
        raise RenderError(f"frames must be in 1..{MAX_FRAMES}, got {frames}")
    if not 1.0 <= fps <= 60.0:
        raise RenderError(f"fps must be in 1..60, got {fps}")
    chain = parse_chain(chain)
    x = image_to_tensor(image, device)
    if chain.uses_depth and depth is None:
        depth = estimate_depth(x)  # once for all frames
    if chain.uses_normals and normals is None:
        normals = estimate_normals(x)
    return [
        _with_alpha(tensor_to_image(apply_chain(chain, x, depth=depth, normals=normals, time=i / fps)), image)
        for i in range(frames)
    ]


STILL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
ANIMATED_FORMATS = {".webp": "WEBP", ".gif": "GIF"}


def encode(frames: Sequence[Image.Image], fmt: str, fps: float = 12.0) -> bytes:
    """Encode one still (PNG, JPEG, WEBP) or an animation (WEBP, GIF; lossless WebP) to bytes."""
    fmt = fmt.upper()
    buffer = io.BytesIO()
    if len(frames) == 1:
        if fmt not in set(STILL_FORMATS.values()):
            raise RenderError(f"still images are written as PNG, JPEG or WEBP, not {fmt}")
        frame = frames[0].convert("RGB") if fmt == "JPEG" else frames[0]
        options = {"lossless": True} if fmt == "WEBP" else {"quality": 95} if fmt == "JPEG" else {}
        frame.save(buffer, format=fmt, **options)
        return buffer.getvalue()
    if fmt not in set(ANIMATED_FORMATS.values()):
        raise RenderError(f"animations are written as WEBP or GIF, not {fmt}")
    duration = round(1000.0 / fps)
    options = {"lossless": True} if fmt == "WEBP" else {"disposal": 2}
    frames[0].save(buffer, format=fmt, save_all=True, append_images=list(frames[1:]), duration=duration,
                   loop=0, **options)
    return buffer.getvalue()


def format_for_path(path: str | Path, animated: bool) -> str:
    """The output format for a file name; raises RenderError naming the allowed extensions."""
    suffix = Path(path).suffix.lower()
    table = ANIMATED_FORMATS if animated else STILL_FORMATS
    if suffix not in table:
        kind = "animated output" if animated else "a still image"
        raise RenderError(f"{path}: {kind} must end in {', '.join(sorted(table))}")
    return table[suffix]


def render_bytes(
    chain: Chain | list | str,
    data: bytes,
    *,
    fmt: str = "PNG",
    frames: int = 1,
    fps: float = 12.0,
    device: torch.device | str | None = None,
) -> bytes:
    """Decode an image, render the chain (``frames`` > 1: an animation) and encode it as ``fmt``.

    The platform's call: validation errors (ChainError) and bad input (RenderError) come before any
    output exists.
    """
    chain = parse_chain(chain)
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        if max(image.size) > MAX_SIDE:  # refuse before decoding the pixels
            width, height = image.size
            raise RenderError(f"image size must be at most {MAX_SIDE} px per side, got {width}x{height}")
        image.load()
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError(f"the input is not a readable image: {exc}") from None
    rendered = render_frames(chain, image, frames=frames, fps=fps, device=device)
    return encode(rendered, fmt, fps)
