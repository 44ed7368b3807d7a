"""The scene-aware DiT: the base DiT plus conditioning modules beside its blocks.

Five conditions, each of which a request may give or leave out:

    text      prompt tokens (all-MiniLM-L6-v2 by default) -> cross-attention in every block,
              and the pooled prompt -> added to the adaLN conditioning vector
    scene     context-scene tokens (SceneViT) -> the same cross-attention, with a type embedding
    subjects  per-subject grounding tokens: Fourier features of the box + the subject's own text,
              read through gated self-attention over [image tokens; grounding tokens]
              (GLIGEN, Li et al. 2023, https://arxiv.org/abs/2301.07093) in every other block;
              with ``dense_layout``, also each subject's phrase painted over its box: every image
              token gains sum_m coverage_m(token) * W e_m, where coverage_m is the share of the
              token's patch inside subject m's box and e_m the subject's pooled text
    pose      the requested SMPL skeletons drawn as a 3-channel map     \\ extra input channels,
    inpaint   mask (1) and the masked scene (3): outside the mask, kept  / through their own patch embedding

Every module is zero-initialised (cross-attention output projections, the pooled-text projection,
the map patch embedding, the dense layout projection) or gated by ``tanh(gamma)`` with
``gamma = 0`` (grounding), so a base checkpoint loaded into :class:`SceneDiT` computes exactly
what the base DiT computes. A condition that is absent (``present[:, k]`` False, for dropout in
training or for guidance at inference) contributes nothing at all: an absent text gives no keys
and a zero pooled vector, an absent map is zeros, a sample with no keys at all skips the
cross-attention.

The base modules keep the official names (``x_embedder``, ``blocks.{i}``, ``final_layer``...), the
new ones live beside them (``cross_blocks``, ``ground_blocks``, ``map_embedder``, ``scene_encoder``...).

Painting the phrase embeddings as extra input channels and patch-embedding them would be the
same map with a per-pixel weight; the token-level form keeps one weight per patch (a box edge
inside a patch enters as a fractional coverage) and costs one (B, M, T) x (B, M, D) product
instead of a 384-channel image.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scenecraft.model.dit import DiT, DiTConfig, PatchEmbed
from scenecraft.model.encoders import SceneViT, SceneViTConfig, fourier_features

CONDITIONS: tuple[str, ...] = ("text", "scene", "subjects", "pose", "inpaint")
TEXT, SCENE, SUBJECTS, POSE, INPAINT = range(len(CONDITIONS))
POSE_CHANNELS, INPAINT_CHANNELS = 3, 4  # skeleton map; mask + masked scene
# Modules an older checkpoint may lack: each starts at zero, so a model grown from such a
# checkpoint computes what the checkpoint computed (``checkpoints.load_weights(grown=...)``).
GROWN_MODULES: tuple[str, ...] = ("layout_proj.",)


@dataclass(frozen=True)
class ConditioningConfig:
    text_dim: int = 384  # width of the text encoder's tokens (all-MiniLM-L6-v2: 384)
    max_text_tokens: int = 40  # prompts are cut to this many tokens
    max_subjects: int = 8  # grounding tokens per image
    box_freqs: int = 8  # Fourier frequencies per box coordinate
    ground_every: int = 2  # gated grounding attention after every n-th block
    dense_layout: bool = False  # also paint each subject's phrase over its box (image tokens)
    scene: SceneViTConfig = dataclasses.field(default_factory=SceneViTConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConditioningConfig:
        fields = dict(data)  # checkpoints from before a field was added take its default
        fields["scene"] = SceneViTConfig(**fields.get("scene", {}))
        return cls(**fields)


@dataclass
class Conditions:
    """A batch of conditions, already encoded. ``present`` (B, 5) says which of CONDITIONS each
    sample has; everything else is ignored where its condition is absent."""

    present: Tensor  # (B, 5) bool
    text_tokens: Tensor  # (B, L, text_dim)
    text_mask: Tensor  # (B, L) bool
    text_pooled: Tensor  # (B, text_dim)
    scene: Tensor  # (B, 3, S, S) in [-1, 1]
    boxes: Tensor  # (B, M, 4) x0, y0, x1, y1 in 0..1
    subject_text: Tensor  # (B, M, text_dim) pooled text of each subject
    subject_mask: Tensor  # (B, M) bool
    pose: Tensor  # (B, 3, H, W) skeleton map in [0, 1]
    inpaint: Tensor  # (B, 4, H, W): mask (1 = generate here) then the masked scene in [-1, 1]

    def __len__(self) -> int:
        return int(self.present.shape[0])

    def map(self, fn: Any) -> Conditions:
        return Conditions(**{f.name: fn(getattr(self, f.name)) for f in dataclasses.fields(self)})

    def with_present(self, present: Tensor) -> Conditions:
        return dataclasses.replace(self, present=present)

    @staticmethod
    def cat(items: list[Conditions]) -> Conditions:
        return Conditions(
            **{f.name: torch.cat([getattr(c, f.name) for c in items]) for f in dataclasses.fields(Conditions)}
        )


class CrossAttention(nn.Module):
    """Image tokens attend to condition tokens; the output projection starts at zero."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor, mask: Tensor) -> Tensor:
        # x (B, T, D), context (B, K, D), mask (B, K) True = attend; every row has a True key
        B, T, D = x.shape
        hs = D // self.num_heads
        q = self.q(self.norm(x)).view(B, T, self.num_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        k, v = self.kv(context).view(B, -1, 2, self.num_heads, hs).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        return self.proj(out.transpose(1, 2).reshape(B, T, D))


class GatedSelfAttention(nn.Module):
    """GLIGEN's gated self-attention: attend over [image; grounding] tokens, keep the image part,
    add it scaled by tanh(gamma), with gamma starting at 0."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, ground: Tensor, ground_mask: Tensor) -> Tensor:
        # x (B, T, D) image tokens, ground (B, M, D), ground_mask (B, M) True = a real subject
        B, T, D = x.shape
        h = self.norm(torch.cat([x, ground], dim=1))  # (B, T + M, D)
        q, k, v = self.qkv(h).view(B, -1, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        keys = torch.cat([torch.ones(B, T, dtype=torch.bool, device=x.device), ground_mask], dim=1)
        out = F.scaled_dot_product_attention(q[:, :, :T], k, v, attn_mask=keys[:, None, None, :])
        return torch.tanh(self.gamma) * self.proj(out.transpose(1, 2).reshape(B, T, D))


def box_coverage(boxes: Tensor, h: int, w: int) -> Tensor:
    """boxes (B, M, 4) x0, y0, x1, y1 in 0..1 -> (B, M, h * w): the share of each patch cell of an
    h x w grid (row-major, as the tokens) that lies inside each box."""

    def overlap(lo: Tensor, hi: Tensor, n: int) -> Tensor:  # (B, M) -> (B, M, n)
        edges = torch.arange(n + 1, device=boxes.device, dtype=boxes.dtype) / n
        inside = torch.minimum(hi[..., None], edges[1:]) - torch.maximum(lo[..., None], edges[:-1])
        return inside.clamp(min=0) * n

    ys = overlap(boxes[..., 1], boxes[..., 3], h)
    xs = overlap(boxes[..., 0], boxes[..., 2], w)
    return (ys[..., :, None] * xs[..., None, :]).flatten(2)


class GroundingEmbedder(nn.Module):
    """(box, subject text) -> one token: Fourier features of the box and the text, through an MLP."""

    def __init__(self, text_dim: int, dim: int, freqs: int):
        super().__init__()
        self.freqs = freqs
        self.mlp = nn.Sequential(
            nn.Linear(text_dim + 8 * freqs, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim)
        )

    def forward(self, boxes: Tensor, text: Tensor) -> Tensor:
        return self.mlp(torch.cat([text, fourier_features(boxes, self.freqs)], dim=-1))  # (B, M, D)


class SceneDiT(DiT):
    """The base DiT with the conditioning modules; ``forward(x, t, conditions)``."""

    def __init__(self, config: DiTConfig, cond: ConditioningConfig | None = None):
        super().__init__(config)
        self.cond_config = cond = cond or ConditioningConfig()
        self.extra: dict[str, Any] = {}  # what the trainer recorded (step, size, text encoder)
        D, heads, p = config.hidden_size, config.num_heads, config.patch_size
        self.map_embedder = PatchEmbed(p, POSE_CHANNELS + INPAINT_CHANNELS, D)
        self.map_embedder.proj.register_parameter("bias", None)  # absent maps (zeros) must add nothing
        self.text_proj = nn.Sequential(nn.LayerNorm(cond.text_dim), nn.Linear(cond.text_dim, D))
        self.text_pool = nn.Linear(cond.text_dim, D)
        self.scene_encoder = SceneViT(cond.scene)
        self.scene_proj = nn.Linear(cond.scene.width, D)
        self.context_type = nn.Parameter(torch.zeros(2, D))  # added to text / scene tokens
        self.grounding = GroundingEmbedder(cond.text_dim, D, cond.box_freqs)
        self.cross_blocks = nn.ModuleList([CrossAttention(D, heads) for _ in range(config.depth)])
        self.ground_blocks = nn.ModuleList(
            [GatedSelfAttention(D, heads) for _ in range(config.depth // cond.ground_every)]
        )
        self.layout_proj = nn.Linear(cond.text_dim, D, bias=False) if cond.dense_layout else None
        self.initialize_conditioning()

    def initialize_conditioning(self) -> None:
        for module in [self.text_proj, self.scene_proj, self.grounding, self.cross_blocks, self.ground_blocks]:
            for m in module.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.context_type, std=0.02)
        # Zero-out every path into the base model, so the untrained modules change nothing:
        zero_paths: list[nn.Linear | nn.Conv2d] = [self.text_pool, self.map_embedder.proj]
        if self.layout_proj is not None:
            zero_paths.append(self.layout_proj)
        zero_paths += [b.proj for b in self.cross_blocks if isinstance(b, CrossAttention)]
        for layer in zero_paths:
            nn.init.zeros_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        for block in self.ground_blocks:
            assert isinstance(block, GatedSelfAttention)
            nn.init.zeros_(block.gamma)

    def context(self, cond: Conditions) -> tuple[Tensor, Tensor, Tensor]:
        """Cross-attention keys: [text tokens; scene tokens] (B, K, D), their mask, and whether a
        sample has any key at all (B,)."""
        text = self.text_proj(cond.text_tokens) + self.context_type[0]
        text_mask = cond.text_mask & cond.present[:, TEXT : TEXT + 1]
        if self.training or bool(cond.present[:, SCENE].any()):  # DDP needs the same modules on every rank
            scene = self.scene_proj(self.scene_encoder(cond.scene)) + self.context_type[1]
        else:  # inference, and no sample has a scene: skip the encoder (its keys would all be masked)
            scene = text.new_zeros(text.shape[0], self.cond_config.scene.tokens, text.shape[2])
        scene_mask = cond.present[:, SCENE : SCENE + 1].expand(-1, scene.shape[1])
        keys = torch.cat([text, scene], dim=1)
        mask = torch.cat([text_mask, scene_mask], dim=1)
        any_key = mask.any(dim=1)
        # A sample with no keys attends to key 0 (to keep softmax finite); its output is dropped.
        mask = mask | (~any_key[:, None] & (torch.arange(mask.shape[1], device=mask.device) == 0))
        return keys, mask, any_key

    def forward(self, x: Tensor, t: Tensor, cond: Conditions) -> Tensor:  # type: ignore[override]
        """x (N, 3, H, W) noisy pixels, t (N,) timesteps in 0..1000, ``cond`` a batch of N."""
        p = self.patch_size
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % p or x.shape[3] % p:
            raise ValueError(
                f"expected input (N, {self.in_channels}, H, W) with H and W multiples of {p}, got {tuple(x.shape)}"
            )
        if len(cond) != x.shape[0]:
            raise ValueError(f"{len(cond)} conditions for a batch of {x.shape[0]}")
        dtype = x.dtype
        present = cond.present
        h, w = x.shape[2] // p, x.shape[3] // p
        pose = cond.pose.to(dtype) * present[:, POSE, None, None, None].to(dtype)
        inpaint = cond.inpaint.to(dtype) * present[:, INPAINT, None, None, None].to(dtype)
        maps = torch.cat([pose, inpaint], dim=1)
        tokens = self.x_embedder(x) + self.map_embedder(maps) + self.position_embedding(h, w)  # (N, T, D)

        labels = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        text_on = present[:, TEXT : TEXT + 1].to(dtype)
        c = self.t_embedder(t) + self.y_embedder(labels, False) + self.text_pool(cond.text_pooled.to(dtype)) * text_on

        keys, key_mask, any_key = self.context(cond.map(lambda v: v.to(dtype) if v.is_floating_point() else v))
        ground = self.grounding(cond.boxes.to(dtype), cond.subject_text.to(dtype))
        ground_mask = cond.subject_mask & present[:, SUBJECTS : SUBJECTS + 1]
        grounded = ground_mask.any(dim=1).to(dtype)[:, None, None]  # no subjects: no grounding attention
        if self.layout_proj is not None:
            coverage = box_coverage(cond.boxes.to(dtype), h, w) * ground_mask[..., None].to(dtype)  # (N, M, T)
            phrases = self.layout_proj(cond.subject_text.to(dtype))  # (N, M, D)
            tokens = tokens + torch.einsum("nmt,nmd->ntd", coverage, phrases)
        keep = any_key.to(dtype)[:, None, None]
        every = self.cond_config.ground_every
        for i, block in enumerate(self.blocks):
            tokens = block(tokens, c)
            tokens = tokens + self.cross_blocks[i](tokens, keys, key_mask) * keep
            if (i + 1) % every == 0 and (i + 1) // every <= len(self.ground_blocks):
                tokens = tokens + self.ground_blocks[(i + 1) // every - 1](tokens, ground, ground_mask) * grounded
        out = self.final_layer(tokens, c)
        return self.unpatchify(out, h, w)

    def parse_scene(self, scene: Tensor) -> Any:
        """The scene encoder's parsing heads on a batch of scenes (training and evaluation)."""
        return self.scene_encoder.parse(self.scene_encoder(scene))


def build_scene_dit(
    name: str = "seed-12M", image_size: int = 64, cond: ConditioningConfig | None = None, **overrides: Any
) -> SceneDiT:
    """A fresh scene model: the named DiT shape on ``image_size`` px RGB, velocity output."""
    from scenecraft.model.configs import get_config

    fields: dict[str, Any] = dict(
        in_channels=3, input_size=image_size, num_classes=1, class_dropout_prob=0.0, learn_sigma=False
    )
    fields.update(overrides)
    config = get_config(name, **fields)
    return SceneDiT(config, cond)


def empty_conditions(
    batch: int, size: int, config: ConditioningConfig, device: torch.device | str = "cpu"
) -> Conditions:
    """N samples with every condition absent (the unconditional model)."""
    cfg, M = config, config.max_subjects
    s = cfg.scene.image_size
    return Conditions(
        present=torch.zeros(batch, len(CONDITIONS), dtype=torch.bool, device=device),
        text_tokens=torch.zeros(batch, cfg.max_text_tokens, cfg.text_dim, device=device),
        text_mask=torch.zeros(batch, cfg.max_text_tokens, dtype=torch.bool, device=device),
        text_pooled=torch.zeros(batch, cfg.text_dim, device=device),
        scene=torch.zeros(batch, 3, s, s, device=device),
        boxes=torch.zeros(batch, M, 4, device=device),
        subject_text=torch.zeros(batch, M, cfg.text_dim, device=device),
        subject_mask=torch.zeros(batch, M, dtype=torch.bool, device=device),
        pose=torch.zeros(batch, POSE_CHANNELS, size, size, device=device),
        inpaint=torch.zeros(batch, INPAINT_CHANNELS, size, size, device=device),
    )


def drop_conditions(present: Tensor, rates: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Training-time dropout: each condition of each sample is switched off with its own rate.

    present (B, 5) bool, rates (5,) in 0..1 -> (B, 5) bool.
    """
    u = torch.rand(present.shape, generator=generator, device=present.device)
    return present & (u >= rates.to(present.device))
