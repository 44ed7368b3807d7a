"""Training and scoring of the learned x2 upsampler (:mod:`scenecraft.model.upsampler`).

Data: scene ``i`` of the world seed rendered twice, at the generator's side (64 px, one ray per
pixel, the renders the DiT was trained on) and at twice that (128 px), with the same geometry,
noise seed and light. The pairs are rendered once by a process pool and cached in the run folder
(``pairs-<seed>-<n>-<side>.npz``), then trained on in random crops:

- input: the small render, degraded as generated images differ from renders — with probability
  ``blur_p`` a Gaussian blur of sigma in U(0, ``blur_max``) px (generated images are soft), with
  probability ``noise_p`` Gaussian noise of sigma in U(0, ``noise_max``) — then mirrored left-right
  at random (never up-down: the world has a floor);
- target: the large render's matching crop; loss: L1 in [-1, 1], plus ``fft_weight`` x the L1 distance
  of the two crops' Fourier amplitude spectra (phase-free, so it asks for the target's texture
  energy without asking where each grain is: an L1 regression alone smooths textures away).

A run stops after ``seconds`` (or ``steps``); every ``save_every`` seconds and at the end it writes
``state.pt`` (weights, AdamW state, step, data position; a restart resumes it) and
``upsampler.safetensors`` (float16, what ships). :func:`score` measures PSNR on held-out scenes
against bilinear and bicubic upsampling, on clean and on blurred inputs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from scenecraft.atomic_write import atomic_path
from scenecraft.model.upsampler import Upsampler, UpsamplerConfig, save_upsampler

HELD_OUT_SEED = 10007  # the world seed of benchmarks/quality.py's requests: never trained on


@dataclass(frozen=True)
class UpsamplerTrainConfig:
    out: Path
    scenes: int = 4000  # distinct training scenes (rendered once, cached in ``out``)
    data_seed: int = 0  # world seed of the training scenes (the DiT's own)
    side: int = 64  # the small side (the generator's); targets are rendered at scale x side
    crop: int = 32  # crop side at the small size
    batch: int = 16
    lr: float = 1e-3
    fft_weight: float = 0.0  # weight of the Fourier-amplitude L1 term (see the module doc)
    warmup: int = 100
    steps: int | None = None
    seconds: float | None = None
    cooldown: float = 0.0  # the last this-many seconds of ``seconds``: the rate falls linearly to a tenth
    blur_p: float = 0.7
    blur_max: float = 1.2  # px at the small size
    noise_p: float = 0.3
    noise_max: float = 0.03  # in [0, 1] units
    channels: int = 48
    blocks: int = 8
    save_every: float = 300.0
    workers: int = 2  # rendering processes
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        if self.steps is None and self.seconds is None:
            raise ValueError("give steps or seconds: training needs an end")
        if self.cooldown and (self.seconds is None or not 0 < self.cooldown <= self.seconds):
            raise ValueError(f"cooldown must be in 0..seconds (it is the end of the time budget), got {self.cooldown}")
        if self.scenes < 1 or self.batch < 1 or self.workers < 1:
            raise ValueError("scenes, batch and workers must be >= 1")
        if not 8 <= self.crop <= self.side:
            raise ValueError(f"crop must be in 8..{self.side} (the small side), got {self.crop}")
        for name in ("blur_p", "noise_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in 0..1, got {getattr(self, name)}")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def _render_pair(args: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    from scenecraft.world.dataset import WorldSampler

    seed, index, side, scale = args
    sampler = WorldSampler(seed=seed)
    return sampler.render(index, side).image, sampler.render(index, side * scale).image


def render_pairs(
    seed: int, indices: range, side: int = 64, scale: int = 2, workers: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(small (n, side, side, 3), large (n, scale*side, scale*side, 3)) uint8 renders of the scenes."""
    jobs = [(seed, i, side, scale) for i in indices]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            pairs = list(pool.map(_render_pair, jobs, chunksize=16))
    else:
        pairs = [_render_pair(j) for j in jobs]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def cached_pairs(cfg: UpsamplerTrainConfig, scale: int, log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    path = cfg.out / f"pairs-{cfg.data_seed}-{cfg.scenes}-{cfg.side}.npz"
    if path.is_file():
        with np.load(path) as data:
            return data["small"], data["large"]
    t0 = time.perf_counter()
    small, large = render_pairs(cfg.data_seed, range(cfg.scenes), cfg.side, scale, cfg.workers)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, small=small, large=large)
    log(f"rendered {cfg.scenes} scene pairs in {time.perf_counter() - t0:.0f} s -> {path.name}")
    return small, large


def to_unit(images: np.ndarray) -> Tensor:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def gaussian_blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Each image of (N, 3, H, W) blurred with its own sigma (N,) in px (0: unchanged), reflect-padded."""
    radius = 3
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    s = sigma.clamp_min(1e-3)[:, None]
    k = torch.exp(-0.5 * (taps[None] / s) ** 2)
    k = k / k.sum(1, keepdim=True)  # (N, 7); sigma -> 0 gives the unit tap
    n, c, h, w = x.shape
    y = F.pad(x.reshape(1, n * c, h, w), (radius,) * 4, mode="reflect")
    kk = k.repeat_interleave(c, 0)  # (N*C, 7): one kernel per channel of each image
    y = F.conv2d(y, kk[:, None, None, :], groups=n * c)  # along x
    y = F.conv2d(y, kk[:, None, :, None], groups=n * c)  # along y
    return y.reshape(n, c, h, w)


def degrade(x: Tensor, cfg: UpsamplerTrainConfig, g: torch.Generator) -> Tensor:
    """The training input's degradation: random blur, then random noise (see the module doc)."""
    n = x.shape[0]
    blur = torch.rand(n, generator=g) < cfg.blur_p
    sigma = torch.where(blur, torch.rand(n, generator=g) * cfg.blur_max, torch.zeros(n))
    x = gaussian_blur(x, sigma)
    noisy = torch.rand(n, generator=g) < cfg.noise_p
    std = torch.where(noisy, torch.rand(n, generator=g) * cfg.noise_max * 2, torch.zeros(n))  # x2: [-1, 1] units
    return (x + std[:, None, None, None] * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def crops(
    small: np.ndarray, large: np.ndarray, cfg: UpsamplerTrainConfig, scale: int, g: torch.Generator
) -> tuple[Tensor, Tensor]:
    """A batch of aligned random crops: (inputs (B, 3, c, c) degraded, targets (B, 3, s*c, s*c))."""
    idx = torch.randint(len(small), (cfg.batch,), generator=g).numpy()
    ys = torch.randint(cfg.side - cfg.crop + 1, (cfg.batch,), generator=g).tolist()
    xs = torch.randint(cfg.side - cfg.crop + 1, (cfg.batch,), generator=g).tolist()
    flip = (torch.rand(cfg.batch, generator=g) < 0.5).tolist()
    c, sc = cfg.crop, cfg.crop * scale
    lo = np.stack([small[i, y : y + c, x : x + c] for i, y, x in zip(idx, ys, xs, strict=True)])
    hi = np.stack(
        [large[i, y * scale : y * scale + sc, x * scale : x * scale + sc] for i, y, x in zip(idx, ys, xs, strict=True)]
    )
    lo_t, hi_t = to_unit(lo), to_unit(hi)
    f = torch.tensor(flip)
    lo_t[f], hi_t[f] = lo_t[f].flip(-1), hi_t[f].flip(-1)
    return degrade(lo_t, cfg, g), hi_t


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def amplitude(x: Tensor) -> Tensor:
    """|2-D Fourier transform| of each channel (orthonormal, so on the pixels' own scale)."""
    return torch.fft.rfft2(x, norm="ortho").abs()


def upsampler_loss(pred: Tensor, target: Tensor, fft_weight: float = 0.0) -> Tensor:
    """L1 of the pixels, plus ``fft_weight`` x L1 of the amplitude spectra (see the module doc)."""
    loss = F.l1_loss(pred, target)
    if fft_weight:
        loss = loss + fft_weight * F.l1_loss(amplitude(pred), amplitude(target))
    return loss


class UpsamplerTrainer:
    def __init__(self, cfg: UpsamplerTrainConfig):
        cfg.validate()
        self.cfg = cfg
        self.device = torch.device(cfg.device)
        cfg.out.mkdir(parents=True, exist_ok=True)
        self.model = Upsampler(UpsamplerConfig(channels=cfg.channels, blocks=cfg.blocks)).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.0)
        self.step = 0
        self.generator = torch.Generator("cpu").manual_seed(cfg.seed)
        self.samples_seen = 0
        state = cfg.out / "state.pt"
        if state.is_file():
            self._resume(state)

    def _resume(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved = state["config"]
        mine = {"channels": self.cfg.channels, "blocks": self.cfg.blocks}
        if {k: saved[k] for k in mine} != mine:
            raise ValueError(f"{path} is a run of a net with {saved}; this run asks for {mine}: use another --out")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.samples_seen = int(state["step"]), int(state["samples_seen"])
        self.generator.set_state(state["generator"])
        self.log(f"resumed {path} at step {self.step}")

    def log(self, message: str) -> None:
        print(f"[upsampler] {message}", flush=True)

    def lr_at(self, step: int, elapsed: float = 0.0) -> float:
        """Linear warm-up over ``warmup`` steps, then constant; in the ``cooldown`` seconds that end
        the budget, falling linearly to a tenth (warmup-stable-decay: a resumed run can cool down)."""
        cfg = self.cfg
        rate = cfg.lr * min(1.0, (step + 1) / cfg.warmup)
        if cfg.cooldown and cfg.seconds is not None:
            left = max(0.0, cfg.seconds - elapsed)
            rate *= 0.1 + 0.9 * min(1.0, left / cfg.cooldown)
        return rate

    def save(self) -> None:
        out = self.cfg.out
        state = {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "samples_seen": self.samples_seen,
            "generator": self.generator.get_state(),
            "config": asdict(self.model.config),
        }
        with atomic_path(out / "state.pt") as tmp:
            torch.save(state, tmp)
        extra = {"steps": self.step, "samples_seen": self.samples_seen, "train": _jsonable(asdict(self.cfg))}
        save_upsampler(self.model, out / "upsampler.safetensors", extra=extra)

    def train(self) -> dict[str, Any]:
        cfg = self.cfg
        small, large = cached_pairs(cfg, self.model.scale, self.log)
        start = last_save = last_log = time.perf_counter()
        first_step, losses = self.step, []
        self.model.train()
        while True:
            elapsed = time.perf_counter() - start
            if (cfg.steps is not None and self.step >= cfg.steps) or (
                cfg.seconds is not None and elapsed >= cfg.seconds
            ):
                break
            x, y = crops(small, large, cfg, self.model.scale, self.generator)
            for group in self.opt.param_groups:
                group["lr"] = self.lr_at(self.step, elapsed)
            loss = upsampler_loss(self.model(x.to(self.device)), y.to(self.device), cfg.fft_weight)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            self.samples_seen += cfg.batch
            losses.append(loss.item())
            now = time.perf_counter()
            if now - last_log >= 30:
                rate = (self.step - first_step) / (now - start)
                self.log(f"step {self.step}  L1 {np.mean(losses[-50:]):.4f}  {rate:.2f} steps/s")
                last_log = now
            if now - last_save >= cfg.save_every:
                self.save()
                last_save = now
        self.model.eval()
        self.save()
        result = {
            "step": self.step,
            "samples_seen": self.samples_seen,
            "l1": float(np.mean(losses[-50:])) if losses else None,
        }
        with open(cfg.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps({**result, "seconds": round(time.perf_counter() - start, 1)}) + "\n")
        return result


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def psnr(a: Tensor, b: Tensor) -> Tensor:
    """Per-image PSNR in dB of (N, 3, H, W) images in [-1, 1] (peak-to-peak 2)."""
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


def classic(x: Tensor, scale: int, mode: str) -> Tensor:
    if mode == "bicubic":
        return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)
    return F.interpolate(x, scale_factor=scale, mode=mode, **({} if mode == "nearest" else {"align_corners": False}))


def score(
    model: Upsampler, n: int = 100, seed: int = HELD_OUT_SEED, blur: float = 0.8, workers: int = 1
) -> dict[str, Any]:
    """Mean PSNR (dB) on ``n`` held-out scenes, clean and blurred by ``blur`` px, of the net and the classic filters."""
    small, large = render_pairs(seed, range(n), 64, model.scale, workers)
    x, y = to_unit(small), to_unit(large)
    inputs = {"clean": x, f"blur {blur:g}px": gaussian_blur(x, torch.full((n,), blur))}
    rows: dict[str, dict[str, float]] = {}
    for name, inp in inputs.items():
        outs = {mode: classic(inp, model.scale, mode) for mode in ("nearest", "bilinear", "bicubic")}
        outs["learned"] = model.upsample(inp)
        rows[name] = {mode: round(float(psnr(out, y).mean()), 3) for mode, out in outs.items()}
    return {"n": n, "seed": seed, "psnr_db": rows}
