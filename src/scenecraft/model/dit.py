"""Diffusion Transformer (DiT).

William Peebles and Saining Xie, "Scalable Diffusion Models with Transformers", ICCV 2023,
https://arxiv.org/abs/2212.09748.

The module names and parameter shapes follow the official implementation exactly, so the released
checkpoints (``DiT-XL-2-256x256.pt``, ``DiT-XL-2-512x512.pt``) load with ``strict=True``:

    x_embedder.proj            patch embedding (a strided conv)
    pos_embed                  fixed 2-D sin-cos table, stored as a frozen parameter
    t_embedder.mlp.{0,2}       timestep embedder
    y_embedder.embedding_table class embedder, with one extra row for the null class
    blocks.{i}.attn.{qkv,proj} self-attention
    blocks.{i}.mlp.{fc1,fc2}   feed-forward
    blocks.{i}.adaLN_modulation.1
    final_layer.{linear,adaLN_modulation.1}

Attention runs through ``torch.nn.functional.scaled_dot_product_attention``, which picks the
fastest kernel available (flash / memory-efficient / math) for the device and dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN modulation: x (N, T, D), shift/scale (N, D)."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


# --------------------------------------------------------------------------------------------
# Embedders
# --------------------------------------------------------------------------------------------


class PatchEmbed(nn.Module):
    """Image (N, C, H, W) -> tokens (N, H/p * W/p, D) with one strided convolution."""

    def __init__(self, patch_size: int, in_channels: int, hidden_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x)  # (N, D, H/p, W/p)
        # (N, T, D), row-major over the patch grid. Made contiguous here: the transposed view would
        # otherwise carry its channel-first strides through every elementwise op of every block
        # and cost a copy before each linear layer.
        return x.flatten(2).transpose(1, 2).contiguous()


class TimestepEmbedder(nn.Module):
    """Scalar timesteps -> vectors: sinusoidal features, then a two-layer MLP."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size, bias=True),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size, bias=True),
        )
        self.frequency_embedding_size = frequency_embedding_size

    @staticmethod
    def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
        """Sinusoidal features of (possibly fractional) timesteps t (N,) -> (N, dim), cos first.

        Frequencies are ``max_period ** (-k / half)`` for k = 0..half-1, as in the official code
        (diffusers' DiT divides by ``half - 1`` instead, a small difference the benchmark shows).
        """
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t[:, None].float() * freqs[None]  # (N, half)
        embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if dim % 2:
            embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
        return embedding

    def linears(self) -> list[nn.Linear]:
        return [m for m in self.mlp if isinstance(m, nn.Linear)]

    def forward(self, t: Tensor) -> Tensor:
        t_freq = self.timestep_embedding(t, self.frequency_embedding_size)
        return self.mlp(t_freq.to(self.linears()[0].weight.dtype))


class LabelEmbedder(nn.Module):
    """Class labels -> vectors. Row ``num_classes`` is the null class used for guidance.

    During training, labels are replaced by the null class with probability ``dropout_prob``
    (classifier-free guidance training, Ho & Salimans 2022).
    """

    def __init__(self, num_classes: int, hidden_size: int, dropout_prob: float):
        super().__init__()
        use_cfg_embedding = dropout_prob > 0
        self.embedding_table = nn.Embedding(num_classes + use_cfg_embedding, hidden_size)
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob

    def token_drop(self, labels: Tensor, force_drop_ids: Tensor | None = None) -> Tensor:
        if force_drop_ids is None:
            drop_ids = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
        else:
            drop_ids = force_drop_ids == 1
        return torch.where(drop_ids, self.num_classes, labels)

    def forward(self, labels: Tensor, train: bool, force_drop_ids: Tensor | None = None) -> Tensor:
        if (train and self.dropout_prob > 0) or force_drop_ids is not None:
            labels = self.token_drop(labels, force_drop_ids)
        return self.embedding_table(labels)


# --------------------------------------------------------------------------------------------
# Transformer blocks
# --------------------------------------------------------------------------------------------


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden size {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hs)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, nh, T, hs)
        x = x.transpose(1, 2).reshape(B, T, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """A transformer block with adaptive layer norm zero (adaLN-Zero) conditioning."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size, bias=True))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        # x (N, T, D) tokens, c (N, D) conditioning
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    """adaLN, then a linear map from each token to its patch of output channels."""

    def __init__(self, hidden_size: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiTConfig:
    depth: int = 28  # number of DiT blocks
    hidden_size: int = 1152  # token width
    num_heads: int = 16  # attention heads; must divide hidden_size
    patch_size: int = 2  # side of the square patch each token covers, in latent pixels
    input_size: int = 32  # side of the (latent) input, e.g. 256 px / 8 for the SD VAE
    in_channels: int = 4  # 4 for SD-VAE latents, 3 for pixel-space models
    mlp_ratio: float = 4.0  # feed-forward width / hidden_size
    class_dropout_prob: float = 0.1  # label dropout for guidance; > 0 adds the null class row
    num_classes: int = 1000  # ImageNet classes for the official checkpoints
    learn_sigma: bool = True  # predict a variance interpolation as well (doubles the output channels)

    @property
    def out_channels(self) -> int:
        return self.in_channels * 2 if self.learn_sigma else self.in_channels

    @property
    def grid_size(self) -> int:
        return self.input_size // self.patch_size


class DiT(nn.Module):
    """Diffusion model with a Transformer backbone."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        if config.input_size % config.patch_size:
            raise ValueError(f"input size {config.input_size} is not divisible by the patch size {config.patch_size}")
        self.config = config
        self.in_channels = config.in_channels
        self.out_channels = config.out_channels
        self.patch_size = config.patch_size
        self.num_heads = config.num_heads
        self.learn_sigma = config.learn_sigma

        D = config.hidden_size
        self.x_embedder = PatchEmbed(config.patch_size, config.in_channels, D)
        self.t_embedder = TimestepEmbedder(D)
        self.y_embedder = LabelEmbedder(config.num_classes, D, config.class_dropout_prob)
        # Fixed sin-cos embedding, kept as a frozen parameter so it is part of the state dict:
        self.pos_embed = nn.Parameter(torch.zeros(1, config.grid_size**2, D), requires_grad=False)
        self.blocks = nn.ModuleList(
            [DiTBlock(D, config.num_heads, mlp_ratio=config.mlp_ratio) for _ in range(config.depth)]
        )
        self.final_layer = FinalLayer(D, config.patch_size, self.out_channels)
        self._pos_cache: dict[tuple[int, int], Tensor] = {}
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # Initialize transformer layers:
        def _basic_init(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 0)

        self.apply(_basic_init)

        # Initialize (and freeze) pos_embed by sin-cos embedding:
        g = self.config.grid_size
        pos_embed = get_2d_sincos_pos_embed(self.pos_embed.shape[-1], g, g)
        self.pos_embed.data.copy_(torch.from_numpy(pos_embed).float().unsqueeze(0))

        # Initialize patch_embed like nn.Linear (instead of nn.Conv2d):
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.zeros_(self.x_embedder.proj.bias)  # type: ignore[arg-type]

        # Initialize label embedding table:
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)

        # Initialize timestep embedding MLP:
        for layer in self.t_embedder.linears():
            nn.init.normal_(layer.weight, std=0.02)

        # Zero-out adaLN modulation layers in DiT blocks, so each block starts as the identity:
        for layer in self.modulation_layers():
            nn.init.constant_(layer.weight, 0)
            nn.init.constant_(layer.bias, 0)

        # Zero-out output layers, so the untrained model predicts zero:
        nn.init.constant_(self.final_layer.linear.weight, 0)
        nn.init.constant_(self.final_layer.linear.bias, 0)

    def modulation_layers(self) -> list[nn.Linear]:
        """The adaLN modulation projections of every block and of the final layer."""
        return [m.adaLN_modulation[-1] for m in [*self.blocks, self.final_layer]]

    def unpatchify(self, x: Tensor, h: int | None = None, w: int | None = None) -> Tensor:
        """(N, T, p*p*C) -> (N, C, h*p, w*p); a square grid when h and w are not given."""
        c, p = self.out_channels, self.patch_size
        if h is None or w is None:
            h = w = int(x.shape[1] ** 0.5)
        if h * w != x.shape[1]:
            raise ValueError(f"{x.shape[1]} tokens do not form a {h}x{w} grid")
        x = x.reshape(x.shape[0], h, w, p, p, c)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(x.shape[0], c, h * p, w * p)

    def position_embedding(self, h: int, w: int) -> Tensor:
        """(1, h*w, D) for an h x w patch grid: the stored table at the trained size, else sin-cos."""
        g = self.config.grid_size
        if (h, w) == (g, g):
            return self.pos_embed
        key = (h, w)
        cached = self._pos_cache.get(key)
        if cached is None or cached.device != self.pos_embed.device or cached.dtype != self.pos_embed.dtype:
            table = torch.from_numpy(get_2d_sincos_pos_embed(self.pos_embed.shape[-1], h, w))
            cached = table.to(self.pos_embed.device, self.pos_embed.dtype).unsqueeze(0)
            self._pos_cache[key] = cached
        return cached

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        """x (N, C, H, W) noisy input, t (N,) diffusion timesteps, y (N,) class labels.

        Returns (N, out_channels, H, W): epsilon, and with ``learn_sigma`` the variance values.
        H and W are normally ``input_size``; other multiples of the patch size run with a sin-cos
        table for that grid (outside the trained size the quality is the checkpoint's business).
        """
        p = self.patch_size
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % p or x.shape[3] % p:
            raise ValueError(
                f"expected input (N, {self.in_channels}, H, W) with H and W multiples of the patch size {p}, "
                f"got {tuple(x.shape)}"
            )
        h, w = x.shape[2] // p, x.shape[3] // p
        x = self.x_embedder(x) + self.position_embedding(h, w)  # (N, T, D), T = h * w
        t_emb = self.t_embedder(t)  # (N, D)
        y_emb = self.y_embedder(y, self.training)  # (N, D)
        c = t_emb + y_emb  # (N, D)
        for block in self.blocks:
            x = block(x, c)  # (N, T, D)
        x = self.final_layer(x, c)  # (N, T, p*p*out_channels)
        return self.unpatchify(x, h, w)  # (N, out_channels, H, W)

    def forward_with_cfg(self, x: Tensor, t: Tensor, y: Tensor, cfg_scale: float) -> Tensor:
        """Forward pass with classifier-free guidance, exactly as the official code.

        The batch holds the conditional half then the unconditional half (y = labels, then the
        null class); only the first half of ``x`` is used. As in the official code, guidance is
        applied to the first three channels only (see ``guided_channels`` in sampling.guidance
        for a version that takes the channel count).
        """
        half = x[: len(x) // 2]
        combined = torch.cat([half, half], dim=0)
        model_out = self.forward(combined, t, y)
        eps, rest = model_out[:, :3], model_out[:, 3:]
        cond_eps, uncond_eps = torch.split(eps, len(eps) // 2, dim=0)
        half_eps = uncond_eps + cfg_scale * (cond_eps - uncond_eps)
        eps = torch.cat([half_eps, half_eps], dim=0)
        return torch.cat([eps, rest], dim=1)


# --------------------------------------------------------------------------------------------
# Fixed 2-D sin-cos positional embedding (MAE, https://arxiv.org/abs/2111.06377)
# --------------------------------------------------------------------------------------------


def get_2d_sincos_pos_embed(embed_dim: int, grid_h: int, grid_w: int) -> np.ndarray:
    """Returns (grid_h * grid_w, embed_dim): half the channels encode x, half encode y.

    Token k is the patch at row k // grid_w, column k % grid_w. The first half of the channels
    encodes the column (as in the official code, where ``meshgrid(grid_w, grid_h)`` puts the
    horizontal coordinate first), the second half the row.
    """
    if embed_dim % 4:
        raise ValueError(f"embedding width {embed_dim} must be divisible by 4 for 2-D sin-cos")
    rows, cols = np.meshgrid(np.arange(grid_h, dtype=np.float64), np.arange(grid_w, dtype=np.float64), indexing="ij")
    emb_x = get_1d_sincos_pos_embed(embed_dim // 2, cols.reshape(-1))
    emb_y = get_1d_sincos_pos_embed(embed_dim // 2, rows.reshape(-1))
    return np.concatenate([emb_x, emb_y], axis=1)


def get_1d_sincos_pos_embed(embed_dim: int, pos: np.ndarray) -> np.ndarray:
    """Positions (M,) -> (M, embed_dim): sin of all frequencies, then cos."""
    omega = np.arange(embed_dim // 2, dtype=np.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega  # (D/2,)
    out = np.outer(pos, omega)  # (M, D/2)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)
