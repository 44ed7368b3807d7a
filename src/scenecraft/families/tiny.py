"""Tiny random models of every family, saved as real diffusers folders (for tests and benchmarks).

Each folder is what `save_pretrained` of diffusers' own pipeline class writes, so the library
detects it and loads it exactly as it loads downloaded weights. The text encoders are
transformers' own classes with random weights; their tokenizers are word-level vocabularies
trained in memory by the `tokenizers` library from :data:`WORDS` (nothing is downloaded).
Images from these models are noise-like: they test plumbing, never quality.

    build(family, folder, size=...)      -> the folder, ready for `scenecraft models inspect`
    build_pose_controlnet(family, folder) -> a pose ControlNet folder matching that tiny model
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

WORDS = [
    "a",
    "an",
    "the",
    "of",
    "on",
    "in",
    "with",
    "and",
    "red",
    "blue",
    "green",
    "white",
    "black",
    "metal",
    "glass",
    "wood",
    "rubber",
    "cube",
    "sphere",
    "ball",
    "chair",
    "person",
    "cat",
    "dog",
    "room",
    "table",
    "lamp",
    "sunlit",
    "dark",
    "garden",
    "grass",
    "brick",
    "floor",
    "sky",
    "tree",
    "car",
    "house",
    "waving",
    "standing",
    "photo",
    "painting",
    "of",
    "small",
    "big",
    "bright",
    "soft",
    "light",
    "blurry",
    "ugly",
]
MAX_TOKENS = 16


@dataclass(frozen=True)
class Scale:
    """How big the random model is: overrides of the transformer's and the VAE's configs, and the
    width of the long text encoder (T5 / Gemma) that the transformer's caption input must match.
    The default is tiny (tests); benchmarks/families.py passes the real families' configs."""

    transformer: dict[str, Any] = field(default_factory=dict)
    vae: dict[str, Any] = field(default_factory=dict)
    text_dim: int = 32

    def factor(self) -> int:
        """The VAE's downsampling: 2^(levels - 1)."""
        levels = self.vae.get("block_out_channels") or self.vae.get("encoder_block_out_channels") or (8, 16)
        return int(2 ** (len(levels) - 1))


TINY = Scale()


def word_tokenizer(max_length: int = MAX_TOKENS, *, bos: bool = False) -> Any:
    """A word-level fast tokenizer trained in memory on :data:`WORDS` (with pad, eos, unk, bos)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    # bandit B106 (hard-coded password) waived below: these are a tokenizer's special tokens, not secrets
    specials = ["<pad>", "</s>", "<unk>", "<s>"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))  # nosec B106
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(WORDS)] * 2, trainers.WordLevelTrainer(special_tokens=specials))
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))]
        )
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",  # nosec B106
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="<s>",
        model_max_length=max_length,
    )


def _vocab() -> int:
    return len(WORDS) + 8


def _t5(d_model: int = 32) -> Any:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=_vocab(), d_model=d_model, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    return T5EncoderModel(config)


def _clip(hidden: int = 32, projection: int = 32) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=_vocab(),
        hidden_size=hidden,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        projection_dim=projection,
        bos_token_id=3,
        eos_token_id=1,
        pad_token_id=0,
    )
    return CLIPTextModelWithProjection(config)


def _clip_plain(hidden: int = 32) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=_vocab(),
        hidden_size=hidden,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        bos_token_id=3,
        eos_token_id=1,
        pad_token_id=0,
    )
    return CLIPTextModel(config)


def _vae(scale: Scale, latent_channels: int, **extra: Any) -> Any:
    from diffusers import AutoencoderKL

    config: dict[str, Any] = {
        "block_out_channels": (8, 16),
        "norm_num_groups": 8,
        "layers_per_block": 1,
        **scale.vae,
    }
    levels = len(config["block_out_channels"])
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        latent_channels=latent_channels,
        sample_size=32,
        **config,
        **extra,
    )


def _pixart(scale: Scale, size: int, sigma: bool) -> Any:
    from diffusers import (
        DPMSolverMultistepScheduler,
        PixArtAlphaPipeline,
        PixArtSigmaPipeline,
        PixArtTransformer2DModel,
    )

    transformer = PixArtTransformer2DModel(
        **{
            "sample_size": size // scale.factor(),
            "num_layers": 2,
            "patch_size": 2,
            "attention_head_dim": 8,
            "num_attention_heads": 4,
            "cross_attention_dim": 32,
            "caption_channels": scale.text_dim,
            **scale.transformer,
        },
        in_channels=4,
        out_channels=8,
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    )
    cls = PixArtSigmaPipeline if sigma else PixArtAlphaPipeline
    return cls(
        tokenizer=word_tokenizer(),
        text_encoder=_t5(scale.text_dim),
        vae=_vae(scale, 4),
        transformer=transformer,
        scheduler=DPMSolverMultistepScheduler(),
    )


def _sana(scale: Scale, size: int) -> Any:
    from diffusers import AutoencoderDC, DPMSolverMultistepScheduler, SanaPipeline, SanaTransformer2DModel
    from transformers import Gemma2Config, Gemma2Model

    transformer = SanaTransformer2DModel(
        **{
            "num_attention_heads": 2,
            "attention_head_dim": 8,
            "num_layers": 2,
            "num_cross_attention_heads": 2,
            "cross_attention_head_dim": 8,
            "cross_attention_dim": 16,
            "sample_size": size // scale.factor(),
            **scale.transformer,
        },
        in_channels=4,
        out_channels=4,
        caption_channels=scale.text_dim,
        patch_size=1,
    )
    vae = AutoencoderDC(
        in_channels=3,
        latent_channels=4,
        attention_head_dim=2,
        encoder_block_types="ResBlock",
        decoder_block_types="ResBlock",
        encoder_block_out_channels=scale.vae.get("encoder_block_out_channels", (8, 8)),
        decoder_block_out_channels=scale.vae.get("encoder_block_out_channels", (8, 8)),
        encoder_qkv_multiscales=((),) * scale.factor().bit_length(),
        decoder_qkv_multiscales=((),) * scale.factor().bit_length(),
        encoder_layers_per_block=(1,) * scale.factor().bit_length(),
        decoder_layers_per_block=(1,) * scale.factor().bit_length(),
        upsample_block_type="interpolate",
        downsample_block_type="stride_conv",
        decoder_norm_types="batch_norm",
        decoder_act_fns="silu",
        scaling_factor=0.41407,
    )
    gemma = Gemma2Config(
        vocab_size=_vocab(),
        hidden_size=scale.text_dim,
        intermediate_size=2 * scale.text_dim,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=3,
    )
    scheduler = DPMSolverMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return SanaPipeline(
        tokenizer=word_tokenizer(512, bos=True),
        text_encoder=Gemma2Model(gemma),
        vae=vae,
        transformer=transformer,
        scheduler=scheduler,
    )


def _sd3(scale: Scale, size: int) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    transformer = SD3Transformer2DModel(
        **{
            "sample_size": size // scale.factor(),
            "num_layers": 2,
            "attention_head_dim": 8,
            "num_attention_heads": 4,
            "caption_projection_dim": 32,
            "pos_embed_max_size": max(size // scale.factor(), 16),
            **scale.transformer,
        },
        patch_size=2,
        in_channels=16,
        joint_attention_dim=scale.text_dim,
        pooled_projection_dim=64,
        out_channels=16,
    )
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_vae(
            scale, 16, shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False, use_post_quant_conv=False
        ),
        text_encoder=_clip(),
        tokenizer=word_tokenizer(),
        text_encoder_2=_clip(),
        tokenizer_2=word_tokenizer(),
        text_encoder_3=_t5(scale.text_dim),
        tokenizer_3=word_tokenizer(),
    )


def _flux(scale: Scale, size: int, guidance_embeds: bool = True) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    transformer = FluxTransformer2DModel(
        **{
            "num_layers": 1,
            "num_single_layers": 1,
            "attention_head_dim": 16,
            "num_attention_heads": 2,
            "axes_dims_rope": (4, 6, 6),
            **scale.transformer,
        },
        patch_size=1,
        in_channels=64,
        joint_attention_dim=scale.text_dim,
        pooled_projection_dim=32,
        guidance_embeds=guidance_embeds,
    )
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=False),
        vae=_vae(
            scale, 16, shift_factor=0.1159, scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False
        ),
        text_encoder=_clip_plain(),
        tokenizer=word_tokenizer(),
        text_encoder_2=_t5(scale.text_dim),
        tokenizer_2=word_tokenizer(),
        transformer=transformer,
    )


BUILDERS: dict[str, Callable[[Scale, int], Any]] = {
    "pixart-alpha": lambda scale, size: _pixart(scale, size, sigma=False),
    "pixart-sigma": lambda scale, size: _pixart(scale, size, sigma=True),
    "sana": _sana,
    "sd3": _sd3,
    "flux": _flux,
    "flux-schnell": lambda scale, size: _flux(scale, size, guidance_embeds=False),
}


def build(family: str, folder: Path, *, size: int = 32, seed: int = 0, scale: Scale = TINY) -> Path:
    """Saves a random pipeline of `family` (native size `size` px; tiny unless `scale` says) to `folder`."""
    if family not in BUILDERS:
        raise ValueError(f"no tiny builder for {family!r}; known: {', '.join(BUILDERS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pipe = BUILDERS[family](scale, size)
        _randomize_zero_init(pipe.transformer)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_pose_controlnet(family: str, folder: Path, transformer: Path, *, seed: int = 0) -> Path:
    """A random pose ControlNet folder shaped for the tiny `family` transformer saved in `transformer`."""
    from diffusers import FluxControlNetModel, SD3ControlNetModel, SD3Transformer2DModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "sd3":
            net = SD3ControlNetModel.from_transformer(
                SD3Transformer2DModel.from_pretrained(transformer / "transformer"),
                num_layers=1,
                num_extra_conditioning_channels=0,
            )
        elif family == "flux":
            config = dict(
                patch_size=1,
                in_channels=64,
                num_layers=1,
                num_single_layers=0,
                attention_head_dim=16,
                num_attention_heads=2,
                joint_attention_dim=32,
                pooled_projection_dim=32,
                axes_dims_rope=(4, 6, 6),
            )
            net = FluxControlNetModel(**config)
        else:
            raise ValueError(f"no pose ControlNet for {family!r}: sd3 or flux")
        for p in net.parameters():  # ControlNets start at zero: give them an effect to test
            if p.abs().sum() == 0:
                p.data.normal_(0, 0.02)
    net.save_pretrained(folder, safe_serialization=True)
    return folder


def _randomize_zero_init(module: torch.nn.Module) -> None:
    """Zero-initialised layers (adaLN-Zero, output projections) get small random weights, so an
    untrained model's output depends on its input and prompt."""
    g = torch.Generator("cpu").manual_seed(1)
    for p in module.parameters():
        if p.abs().sum() == 0:
            p.data.copy_(torch.randn(p.shape, generator=g) * 0.05)
