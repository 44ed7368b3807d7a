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


def word_tokenizer(max_length: int = MAX_TOKENS, *, bos: bool = False) -> Any:
    """A word-level fast tokenizer trained in memory on :data:`WORDS` (with pad, eos, unk, bos)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>", "<s>"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
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
        pad_token="<pad>",
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


def _vae(latent_channels: int, **extra: Any) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=latent_channels,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=32,
        **extra,
    )


def _pixart(folder: Path, size: int, sigma: bool) -> Any:
    from diffusers import (
        DPMSolverMultistepScheduler,
        PixArtAlphaPipeline,
        PixArtSigmaPipeline,
        PixArtTransformer2DModel,
    )

    transformer = PixArtTransformer2DModel(
        sample_size=size // 2,
        num_layers=2,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_channels=32,
        in_channels=4,
        cross_attention_dim=32,
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
        text_encoder=_t5(),
        vae=_vae(4),
        transformer=transformer,
        scheduler=DPMSolverMultistepScheduler(),
    )


def _sana(folder: Path, size: int) -> Any:
    from diffusers import AutoencoderDC, DPMSolverMultistepScheduler, SanaPipeline, SanaTransformer2DModel
    from transformers import Gemma2Config, Gemma2Model

    transformer = SanaTransformer2DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=2,
        num_cross_attention_heads=2,
        cross_attention_head_dim=8,
        cross_attention_dim=16,
        caption_channels=16,
        sample_size=size // 2,
        patch_size=1,
    )
    vae = AutoencoderDC(
        in_channels=3,
        latent_channels=4,
        attention_head_dim=2,
        encoder_block_types=("ResBlock", "ResBlock"),
        decoder_block_types=("ResBlock", "ResBlock"),
        encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        encoder_qkv_multiscales=((), ()),
        decoder_qkv_multiscales=((), ()),
        encoder_layers_per_block=(1, 1),
        decoder_layers_per_block=(1, 1),
        upsample_block_type="interpolate",
        downsample_block_type="stride_conv",
        decoder_norm_types="batch_norm",
        decoder_act_fns="silu",
        scaling_factor=0.41407,
    )
    gemma = Gemma2Config(
        vocab_size=_vocab(),
        hidden_size=16,
        intermediate_size=32,
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


def _sd3(folder: Path, size: int) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    transformer = SD3Transformer2DModel(
        sample_size=size // 2,
        patch_size=2,
        in_channels=16,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=32,
        pooled_projection_dim=64,
        out_channels=16,
        pos_embed_max_size=max(size // 2, 16),
    )
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_vae(16, shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False, use_post_quant_conv=False),
        text_encoder=_clip(),
        tokenizer=word_tokenizer(),
        text_encoder_2=_clip(),
        tokenizer_2=word_tokenizer(),
        text_encoder_3=_t5(),
        tokenizer_3=word_tokenizer(),
    )


def _flux(folder: Path, size: int, guidance_embeds: bool = True) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=guidance_embeds,
        axes_dims_rope=(4, 6, 6),
    )
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=False),
        vae=_vae(16, shift_factor=0.1159, scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False),
        text_encoder=_clip_plain(),
        tokenizer=word_tokenizer(),
        text_encoder_2=_t5(),
        tokenizer_2=word_tokenizer(),
        transformer=transformer,
    )


BUILDERS: dict[str, Callable[[Path, int], Any]] = {
    "pixart-alpha": lambda folder, size: _pixart(folder, size, sigma=False),
    "pixart-sigma": lambda folder, size: _pixart(folder, size, sigma=True),
    "sana": _sana,
    "sd3": _sd3,
    "flux": _flux,
    "flux-schnell": lambda folder, size: _flux(folder, size, guidance_embeds=False),
}


def build(family: str, folder: Path, *, size: int = 32, seed: int = 0) -> Path:
    """Saves a tiny random pipeline of `family` (native size `size` px) to `folder`."""
    if family not in BUILDERS:
        raise ValueError(f"no tiny builder for {family!r}; known: {', '.join(BUILDERS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pipe = BUILDERS[family](folder, size)
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
                SD3Transformer2DModel.from_pretrained(transformer / "transformer"), num_layers=1
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
