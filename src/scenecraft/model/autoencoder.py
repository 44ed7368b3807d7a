"""Decoders from the model's sample space to pixels.

- ``LatentDecoder``: diffusers' ``AutoencoderKL`` (the Stable Diffusion VAE that DiT was trained
  with, ft-EMA or ft-MSE, scaling factor 0.18215), loaded from a local diffusers folder or from a
  single ``.safetensors`` / ``.ckpt`` / ``.pt`` file in either the original (LDM) or the diffusers
  key layout. Large images are decoded in overlapping tiles, blended at the seams, so memory
  stays bounded whatever the output size.
- ``PixelDecoder``: the identity, for small models that work in pixel space.

Both map samples to images in [-1, 1] of shape (N, 3, H, W).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

SD_VAE_SCALING_FACTOR = 0.18215


class Decoder(Protocol):
    channels: int  # channels of the model's samples
    downsample: int  # image side / sample side

    def decode(self, z: Tensor) -> Tensor:
        """(N, channels, h, w) samples -> (N, 3, h * downsample, w * downsample) in [-1, 1]."""
        ...


class PixelDecoder:
    """Pixel-space models: samples are images already."""

    channels = 3
    downsample = 1

    def decode(self, z: Tensor) -> Tensor:
        return z.clamp(-1, 1)


class LatentDecoder:
    """An ``AutoencoderKL`` decoder with latents scaled as the DiT was trained.

    Latents larger than ``tile_size / 8`` on a side are decoded tile by tile (diffusers' tiled
    decoding, overlapping by ``tile_overlap`` and blended linearly at the seams).
    """

    def __init__(self, vae: Any, tile_size: int = 512, tile_overlap: float = 0.25):
        if tile_size < 64 or tile_size % 8:
            raise ValueError(f"tile_size must be a multiple of 8 and at least 64, got {tile_size}")
        if not 0 <= tile_overlap < 0.5:
            raise ValueError(f"tile_overlap must be in [0, 0.5), got {tile_overlap}")
        self.vae = vae
        self.channels = int(vae.config.latent_channels)
        self.downsample = 2 ** (len(vae.config.block_out_channels) - 1)
        self.scaling_factor = float(vae.config.scaling_factor)
        vae.enable_tiling()
        # Channels-last convolutions: oneDNN on CPU and cuDNN's tensor-core kernels both run NHWC
        # faster (about 18 % off a 256 px decode on 2 CPU cores). Only the decoding half: the copy
        # costs memory (the SD-VAE decoder's 200 MB), and generation never encodes.
        for module in (vae.post_quant_conv, vae.decoder):
            module.to(memory_format=torch.channels_last)
        vae.tile_sample_min_size = tile_size
        vae.tile_latent_min_size = tile_size // self.downsample
        vae.tile_overlap_factor = tile_overlap

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        dtype = next(self.vae.parameters()).dtype
        images = self.vae.decode(z.to(dtype) / self.scaling_factor).sample
        return images.float().clamp(-1, 1)

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """Images in [-1, 1] -> scaled latents (the posterior mean)."""
        dtype = next(self.vae.parameters()).dtype
        return self.vae.encode(images.to(dtype)).latent_dist.mean.float() * self.scaling_factor


class VAELoadError(ValueError):
    """The VAE path does not exist or does not hold an AutoencoderKL."""


def load_vae(path: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> Any:
    """``AutoencoderKL`` from a diffusers folder or a single weights file. Never downloads."""
    from diffusers import AutoencoderKL

    p = Path(path)
    if not p.exists():
        raise VAELoadError(f"VAE not found: {p} (give a diffusers folder with config.json, or a weights file)")
    if p.is_dir():
        if not (p / "config.json").exists():
            raise VAELoadError(f"{p} is a folder without config.json; it is not a diffusers AutoencoderKL folder")
        vae = AutoencoderKL.from_pretrained(p, local_files_only=True, torch_dtype=dtype)
    else:
        from scenecraft.model.checkpoints import read_state_dict

        state = read_state_dict(p)
        if any(k.startswith(("encoder.down_blocks.", "decoder.up_blocks.")) for k in state):
            vae = AutoencoderKL(**_diffusers_vae_config(state))
            vae.load_state_dict(state, strict=True)  # type: ignore[attr-defined]
            vae.to(dtype)  # type: ignore[attr-defined]
        else:
            ldm = _ldm_vae_config(state, p)
            vae = AutoencoderKL.from_single_file(str(p), original_config=ldm, local_files_only=True, torch_dtype=dtype)
    return vae.to(device).eval()


def _ldm_vae_config(state: dict[str, Tensor], path: Path) -> dict[str, Any]:
    """An LDM-style config for ``from_single_file``, read off the shapes in an original VAE file."""
    prefix = next((p for p in ("first_stage_model.", "vae.", "") if f"{p}encoder.conv_in.weight" in state), None)
    if prefix is None:
        raise VAELoadError(f"{path} does not look like an AutoencoderKL checkpoint (no encoder.conv_in.weight)")
    conv_in = state[f"{prefix}encoder.conv_in.weight"]  # (ch, in_channels, 3, 3)
    ch = conv_in.shape[0]
    levels = sorted({int(k.split(".")[2]) for k in state if k.startswith(f"{prefix}encoder.down.")})
    ch_mult = [state[f"{prefix}encoder.down.{i}.block.0.conv2.weight"].shape[0] // ch for i in levels]
    num_res_blocks = len({k.split(".")[4] for k in state if k.startswith(f"{prefix}encoder.down.0.block.")})
    ddconfig = {
        "double_z": True,
        "z_channels": state[f"{prefix}decoder.conv_in.weight"].shape[1],
        "resolution": 256,
        "in_channels": conv_in.shape[1],
        "out_ch": state[f"{prefix}decoder.conv_out.weight"].shape[0],
        "ch": ch,
        "ch_mult": ch_mult,
        "num_res_blocks": num_res_blocks,
        "attn_resolutions": [],
        "dropout": 0.0,
    }
    return {
        "model": {
            "params": {
                "scale_factor": SD_VAE_SCALING_FACTOR,
                "first_stage_config": {"params": {"embed_dim": ddconfig["z_channels"], "ddconfig": ddconfig}},
            }
        }
    }


def _diffusers_vae_config(state: dict[str, Tensor]) -> dict[str, Any]:
    """AutoencoderKL constructor arguments read off a diffusers-layout state dict."""
    levels = sorted({int(k.split(".")[2]) for k in state if k.startswith("encoder.down_blocks.")})
    widths = [state[f"encoder.down_blocks.{i}.resnets.0.conv2.weight"].shape[0] for i in levels]
    layers = len({k.split(".")[4] for k in state if k.startswith("encoder.down_blocks.0.resnets.")})
    return {
        "in_channels": state["encoder.conv_in.weight"].shape[1],
        "out_channels": state["decoder.conv_out.weight"].shape[0],
        "down_block_types": ("DownEncoderBlock2D",) * len(widths),
        "up_block_types": ("UpDecoderBlock2D",) * len(widths),
        "block_out_channels": tuple(widths),
        "layers_per_block": layers,
        "latent_channels": state["decoder.conv_in.weight"].shape[1],
        "scaling_factor": SD_VAE_SCALING_FACTOR,
    }
