"""Training-free regional prompting: each subject's prompt speaks only to the image tokens in its box.

The prompt sequence a family's DiT attends to becomes the concatenation of segments

    [ base prompt | subject 1 | subject 2 | ... ]      (each segment as the family encodes a prompt)

and an attention mask decides who sees whom (True = may attend):

- image token in box j  -> the base segment and segment j;  outside every box -> the base only;
- segment j (j >= 1)    -> the image tokens in box j, and itself;  the base -> every image token;
- image -> image: everything (the picture stays one picture).

For classifier-free guidance the unconditional rows see only the base segment (the negative
prompt), so the extra segments change nothing there. Padding segments (a batch mate with fewer
subjects) see only themselves and are seen by nobody.

Where the mask goes, per family:

- FLUX.1: joint attention over [text, image]; its attention processor already takes
  ``attention_mask`` from ``joint_attention_kwargs``: nothing to replace.
- SD3: joint attention over [image, text]; diffusers' ``JointAttnProcessor2_0`` takes no mask, so
  :class:`MaskedJointAttention` (the same computation, with the mask) replaces it for the call.
- PixArt-α/Σ: cross-attention from image to text; :class:`MaskedCrossAttention` replaces the
  cross-attention processors for the call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

Box = tuple[float, float, float, float]


def token_boxes(boxes: Sequence[Box], rows: int, cols: int) -> Tensor:
    """(len(boxes), rows * cols) bool: which image tokens (row-major grid) each 0..1 box covers.
    A box always covers at least the token under its centre."""
    out = torch.zeros(len(boxes), rows, cols, dtype=torch.bool)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        r0, r1 = int(y0 * rows), max(int(y0 * rows) + 1, round(y1 * rows))
        c0, c1 = int(x0 * cols), max(int(x0 * cols) + 1, round(x1 * cols))
        out[k, r0:r1, c0:c1] = True
    return out.reshape(len(boxes), rows * cols)


def region_mask(
    boxes: Sequence[Sequence[Box]], segment: int, segments: int, rows: int, cols: int, *, text_first: bool
) -> Tensor:
    """(B, 1, S, S) bool joint-attention masks, S = image tokens + segments * segment text tokens.

    ``boxes[i]`` are sample i's subject boxes (segment j + 1 is subject j); samples with fewer
    subjects than ``segments - 1`` have padding segments."""
    n_img, n_txt = rows * cols, segments * segment
    out = torch.zeros(len(boxes), n_img + n_txt, n_img + n_txt, dtype=torch.bool)
    img = slice(n_txt, n_txt + n_img) if text_first else slice(0, n_img)
    txt0 = 0 if text_first else n_img

    def seg(j: int) -> slice:
        return slice(txt0 + j * segment, txt0 + (j + 1) * segment)

    for i, sample_boxes in enumerate(boxes):
        m = out[i]
        m[img, img] = True
        m[img, seg(0)] = True
        m[seg(0), img] = True
        m[seg(0), seg(0)] = True
        covered = token_boxes(sample_boxes, rows, cols) if sample_boxes else None
        for j in range(1, segments):
            m[seg(j), seg(j)] = True
            if covered is None or j - 1 >= len(sample_boxes):
                continue  # padding: sees itself only
            inside = covered[j - 1]
            idx = torch.arange(n_img)[inside] + img.start
            m[idx[:, None], torch.arange(seg(j).start, seg(j).stop)[None, :]] = True
            m[torch.arange(seg(j).start, seg(j).stop)[:, None], idx[None, :]] = True
    return out[:, None]


def base_only_mask(batch: int, segment: int, segments: int, n_img: int, *, text_first: bool) -> Tensor:
    """The unconditional rows' mask: the base segment only (plus each padding segment to itself)."""
    return region_mask([[] for _ in range(batch)], segment, segments, 1, n_img, text_first=text_first)


def cross_mask(boxes: Sequence[Sequence[Box]], segment: int, segments: int, rows: int, cols: int) -> Tensor:
    """(B, 1, Q, K) bool cross-attention masks: image query -> text key (segment rules above)."""
    n_img = rows * cols
    out = torch.zeros(len(boxes), n_img, segments * segment, dtype=torch.bool)
    out[:, :, :segment] = True
    for i, sample_boxes in enumerate(boxes):
        if not sample_boxes:
            continue
        covered = token_boxes(sample_boxes, rows, cols)
        for j in range(len(sample_boxes)):
            out[i, covered[j], (j + 1) * segment : (j + 2) * segment] = True
    return out[:, None]


class MaskedJointAttention:
    """diffusers' JointAttnProcessor2_0 (SD3's [image, text] joint attention) with a fixed mask."""

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask  # (B, 1, S, S) bool, S = image tokens + text tokens

    def __call__(
        self, attn: Any, hidden_states: Tensor, encoder_hidden_states: Tensor | None = None, **kwargs: Any
    ) -> Any:
        b = hidden_states.shape[0]

        def heads(x: Tensor) -> Tensor:
            return x.view(b, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)  # (B, H, T, d)

        q, k, v = heads(attn.to_q(hidden_states)), heads(attn.to_k(hidden_states)), heads(attn.to_v(hidden_states))
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        assert encoder_hidden_states is not None, "regional masks need the joint (text) stream"
        cq = heads(attn.add_q_proj(encoder_hidden_states))
        ck = heads(attn.add_k_proj(encoder_hidden_states))
        cv = heads(attn.add_v_proj(encoder_hidden_states))
        if attn.norm_added_q is not None:
            cq = attn.norm_added_q(cq)
        if attn.norm_added_k is not None:
            ck = attn.norm_added_k(ck)
        q, k, v = torch.cat([q, cq], 2), torch.cat([k, ck], 2), torch.cat([v, cv], 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask.to(q.device))
        out = out.transpose(1, 2).reshape(b, -1, attn.heads * out.shape[-1]).to(q.dtype)
        n = hidden_states.shape[1]
        image, text = out[:, :n], out[:, n:]
        if not attn.context_pre_only:
            text = attn.to_add_out(text)
        image = attn.to_out[1](attn.to_out[0](image))
        return image, text


class MaskedCrossAttention:
    """Cross-attention (image queries, text keys) with padding and regional masks (PixArt)."""

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask  # (B, 1, Q, K) bool

    def __call__(
        self,
        attn: Any,
        hidden_states: Tensor,
        encoder_hidden_states: Tensor | None = None,
        attention_mask: Tensor | None = None,
        **kwargs: Any,
    ) -> Tensor:
        assert encoder_hidden_states is not None
        b = hidden_states.shape[0]

        def heads(x: Tensor) -> Tensor:
            return x.view(b, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)

        q = heads(attn.to_q(hidden_states))
        k, v = heads(attn.to_k(encoder_hidden_states)), heads(attn.to_v(encoder_hidden_states))
        bias = torch.zeros(self.mask.shape, dtype=q.dtype, device=q.device).masked_fill(
            ~self.mask.to(q.device), float("-inf")
        )
        if attention_mask is not None:  # PixArt's padding bias, (B, 1, K) -> (B, 1, 1, K)
            bias = bias + attention_mask.view(b, 1, 1, -1).to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = out.transpose(1, 2).reshape(b, -1, attn.heads * out.shape[-1]).to(q.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.rescale_output_factor != 1.0:
            out = out / attn.rescale_output_factor
        return out


@contextmanager
def processors(transformer: Any, replace: dict[str, Any]) -> Iterator[None]:
    """Installs `replace` (processor name -> processor) on the transformer for the block's duration."""
    before = dict(transformer.attn_processors)
    transformer.set_attn_processor({**before, **replace})
    try:
        yield
    finally:
        transformer.set_attn_processor(before)
