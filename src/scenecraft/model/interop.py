"""Moving DiT weights to diffusers' ``DiTTransformer2DModel``, key by key.

Used by the speed benchmark (the same weights in both pipelines) and by the tests, where diffusers'
independent implementation is the reference our forward pass is checked against.

Where the two implementations differ by design (not by weights), ``align_diffusers_with_official``
makes diffusers compute what the official code computes:

- diffusers' timestep features use frequencies ``exp(-ln(10000) k / (half - 1))``; the official
  code divides by ``half`` (``downscale_freq_shift`` 1 vs 0);
- diffusers' ``DiTPipeline`` guides all 4 latent channels; the official code guides 3 (that one
  lives in the pipeline, not the model: see ``scenecraft.sampling.guidance``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from scenecraft.model.dit import DiT


def diffusers_state_dict(model: DiT) -> dict[str, Tensor]:
    """Our (official-layout) state dict renamed and split into diffusers' layout."""
    sd = model.state_dict()
    out: dict[str, Tensor] = {
        "pos_embed.proj.weight": sd["x_embedder.proj.weight"],
        "pos_embed.proj.bias": sd["x_embedder.proj.bias"],
        "proj_out_1.weight": sd["final_layer.adaLN_modulation.1.weight"],
        "proj_out_1.bias": sd["final_layer.adaLN_modulation.1.bias"],
        "proj_out_2.weight": sd["final_layer.linear.weight"],
        "proj_out_2.bias": sd["final_layer.linear.bias"],
    }
    for i in range(model.config.depth):
        b, d = f"blocks.{i}.", f"transformer_blocks.{i}."
        # diffusers keeps a copy of the timestep and class embedders in every block.
        out[d + "norm1.emb.timestep_embedder.linear_1.weight"] = sd["t_embedder.mlp.0.weight"]
        out[d + "norm1.emb.timestep_embedder.linear_1.bias"] = sd["t_embedder.mlp.0.bias"]
        out[d + "norm1.emb.timestep_embedder.linear_2.weight"] = sd["t_embedder.mlp.2.weight"]
        out[d + "norm1.emb.timestep_embedder.linear_2.bias"] = sd["t_embedder.mlp.2.bias"]
        out[d + "norm1.emb.class_embedder.embedding_table.weight"] = sd["y_embedder.embedding_table.weight"]
        out[d + "norm1.linear.weight"] = sd[b + "adaLN_modulation.1.weight"]
        out[d + "norm1.linear.bias"] = sd[b + "adaLN_modulation.1.bias"]
        q, k, v = sd[b + "attn.qkv.weight"].chunk(3, dim=0)
        qb, kb, vb = sd[b + "attn.qkv.bias"].chunk(3, dim=0)
        out |= {
            d + "attn1.to_q.weight": q, d + "attn1.to_q.bias": qb,
            d + "attn1.to_k.weight": k, d + "attn1.to_k.bias": kb,
            d + "attn1.to_v.weight": v, d + "attn1.to_v.bias": vb,
            d + "attn1.to_out.0.weight": sd[b + "attn.proj.weight"],
            d + "attn1.to_out.0.bias": sd[b + "attn.proj.bias"],
            d + "ff.net.0.proj.weight": sd[b + "mlp.fc1.weight"],
            d + "ff.net.0.proj.bias": sd[b + "mlp.fc1.bias"],
            d + "ff.net.2.weight": sd[b + "mlp.fc2.weight"],
            d + "ff.net.2.bias": sd[b + "mlp.fc2.bias"],
        }  # fmt: skip
    return {k: v.clone() for k, v in out.items()}


def to_diffusers(model: DiT) -> Any:
    """A ``DiTTransformer2DModel`` holding exactly our weights (strict load)."""
    from diffusers import DiTTransformer2DModel

    c = model.config
    transformer: Any = DiTTransformer2DModel(
        num_attention_heads=c.num_heads,
        attention_head_dim=c.hidden_size // c.num_heads,
        in_channels=c.in_channels,
        out_channels=c.out_channels,
        num_layers=c.depth,
        sample_size=c.input_size,
        patch_size=c.patch_size,
        num_embeds_ada_norm=c.num_classes,
        norm_eps=1e-6,  # the official LayerNorm eps
    )
    transformer.load_state_dict(diffusers_state_dict(model), strict=True)
    if model.pos_embed.dtype != torch.float32:
        transformer = transformer.to(model.pos_embed.dtype)
    return transformer.eval()


def align_diffusers_with_official(transformer: Any) -> None:
    """Makes diffusers' timestep features use the official frequencies (see the module doc)."""
    for block in transformer.transformer_blocks:
        block.norm1.emb.time_proj.downscale_freq_shift = 0


@torch.no_grad()
def max_abs_difference(a: Tensor, b: Tensor) -> float:
    return float((a.float() - b.float()).abs().max())
