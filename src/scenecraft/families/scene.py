"""Our scene-aware request on a diffusers family: which pipeline runs, with which arguments.

    inpaint (scene + subject boxes)  -> the family's inpaint pipeline (SD3, FLUX) over the union of
                                        the boxes, strength 1; afterwards every pixel outside the
                                        mask is the scene's own, exactly
    context scene                    -> the family's img2img pipeline, strength `img2img_strength`
    subject poses                    -> a pose ControlNet from the library (SD3, FLUX), fed our SMPL
                                        skeleton map (scene_conditions.draw_skeletons) in each box
    subjects with boxes              -> regional prompting (families/regional.py), also with img2img
                                        and poses
    prompt only                      -> the text-to-image pipeline

A batch shares one mode (the queue's batch key includes it), so one pipeline call serves it. The
other pipelines are built with diffusers' ``from_pipe``: they share the loaded weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image
from torch import Tensor

from scenecraft.families import regional

if TYPE_CHECKING:
    from scenecraft.families.runner import FamilyRunner, FamilySample

IMG2IMG = {"sd3": "StableDiffusion3Img2ImgPipeline", "flux": "FluxImg2ImgPipeline"}
INPAINT = {"sd3": "StableDiffusion3InpaintPipeline", "flux": "FluxInpaintPipeline"}
CONTROLNET = {"sd3": "StableDiffusion3ControlNetPipeline", "flux": "FluxControlNetPipeline"}
CONTROLNET_MODEL = {"sd3": "SD3ControlNetModel", "flux": "FluxControlNetModel"}


@dataclass
class Plan:
    pipeline: Any
    kwargs: dict[str, Any]
    strength: float = 1.0
    context: Callable[[], AbstractContextManager[None]] = nullcontext
    finish: Callable[[list[Image.Image]], list[Image.Image]] = field(default=lambda images: images)

    def steps(self, n: int) -> int:
        """Steps the pipeline really runs: img2img skips the first (1 - strength) of them."""
        if self.strength >= 1:
            return n
        return n - int(max(n - n * self.strength, 0))


def boxes_of(sample: FamilySample) -> list[regional.Box]:
    return [(b[0], b[1], b[2], b[3]) for b in (s["box"] for s in sample.subjects if s.get("box"))]


def plan(runner: FamilyRunner, samples: Sequence[FamilySample], *, width: int, height: int, guidance: float) -> Plan:
    prompts = [s.prompt for s in samples]
    if any(s.inpaint for s in samples):
        return _inpaint(runner, samples, width, height)
    out = Plan(runner.pipe, {})
    posed = any(sub.get("pose") for s in samples for sub in s.subjects)
    if posed and any(s.scene is not None for s in samples):
        raise ValueError(f"model {runner.entry.id} cannot combine a context scene with subject poses")
    if posed:
        out = _pose(runner, samples, width, height)
    elif any(s.scene is not None for s in samples):
        out = _img2img(runner, samples, width, height)
    if any(boxes_of(s) for s in samples):
        _regional(runner, out, samples, width, height, guided=guidance > 1.0)
    else:
        out.kwargs["prompt"] = prompts
        if any(s.negative_prompt for s in samples):
            out.kwargs["negative_prompt"] = [s.negative_prompt for s in samples]
    return out


def _derived(runner: FamilyRunner, table: dict[str, str]) -> Any:
    import diffusers

    name = table[runner.family]
    if name not in runner.derived:  # from_pipe shares the loaded modules: no weights are copied
        pipe = getattr(diffusers, name).from_pipe(runner.pipe)
        pipe.set_progress_bar_config(disable=True)
        runner.derived[name] = pipe
    return runner.derived[name]


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    image = image.convert("RGB")
    return image if image.size == (width, height) else image.resize((width, height), Image.Resampling.LANCZOS)


def _img2img(runner: FamilyRunner, samples: Sequence[FamilySample], width: int, height: int) -> Plan:
    if any(s.scene is None for s in samples):
        raise ValueError("a context-scene batch needs a scene for every sample (the batch key keeps them apart)")
    strength = runner.options.img2img_strength
    images = [_fit(s.scene, width, height) for s in samples if s.scene is not None]
    return Plan(_derived(runner, IMG2IMG), {"image": images, "strength": strength}, strength=strength)


def pose_map(sample: FamilySample, width: int, height: int) -> Image.Image:
    """The sample's posed subjects as our skeleton map (left / right / middle bones in R / G / B),
    drawn on a square canvas of the larger side and resized to the image."""
    from scenecraft.scene_conditions import SMPLPose, draw_skeletons, skeleton_in_box

    side = max(width, height)
    skeletons = []
    for sub in sample.subjects:
        pose, box = sub.get("pose"), sub.get("box")
        if pose and box:
            smpl = SMPLPose(tuple(pose["body_pose"]), tuple(pose["global_orient"]), tuple(pose["betas"]))
            skeletons.append(skeleton_in_box(smpl, (box[0], box[1], box[2], box[3]), side))
    rgb = (draw_skeletons(skeletons, side).transpose(1, 2, 0) * 255).round().astype("uint8")
    return _fit(Image.fromarray(rgb, "RGB"), width, height)


def _pose(runner: FamilyRunner, samples: Sequence[FamilySample], width: int, height: int) -> Plan:
    import diffusers

    family, path = runner.family, runner.entry.pose_controlnet
    if path is None or family not in CONTROLNET:
        raise ValueError(f"model {runner.entry.id} has no pose ControlNet installed")
    name = CONTROLNET[family]
    if name not in runner.derived:
        controlnet = getattr(diffusers, CONTROLNET_MODEL[family]).from_pretrained(
            path, local_files_only=True, dtype=runner.pipe.transformer.dtype
        )
        pipe = getattr(diffusers, name).from_pipe(runner.pipe, controlnet=controlnet.to(runner.pipe.device))
        pipe.set_progress_bar_config(disable=True)
        runner.derived[name] = pipe
    return Plan(runner.derived[name], {"control_image": [pose_map(s, width, height) for s in samples]})


def box_mask(boxes: Sequence[regional.Box], width: int, height: int) -> Image.Image:
    """'L' image, 255 inside the union of the 0..1 boxes (edges rounded outwards)."""
    mask = Image.new("L", (width, height), 0)
    for x0, y0, x1, y1 in boxes:
        box = (int(x0 * width), int(y0 * height), -int(-x1 * width // 1), -int(-y1 * height // 1))
        mask.paste(255, box)
    return mask


def _inpaint(runner: FamilyRunner, samples: Sequence[FamilySample], width: int, height: int) -> Plan:
    scenes, masks, prompts = [], [], []
    for s in samples:
        if s.scene is None or not boxes_of(s):
            raise ValueError("inpaint needs a scene and at least one subject box")
        scenes.append(_fit(s.scene, width, height))
        masks.append(box_mask(boxes_of(s), width, height))
        prompts.append(", ".join([s.prompt, *(str(sub["prompt"]) for sub in s.subjects)]))
    kwargs: dict[str, Any] = {"prompt": prompts, "image": scenes, "mask_image": masks, "strength": 1.0}
    if any(s.negative_prompt for s in samples):
        kwargs["negative_prompt"] = [s.negative_prompt for s in samples]

    def finish(images: list[Image.Image]) -> list[Image.Image]:
        # outside the mask the scene is kept exactly: the VAE round trip would change it slightly
        return [
            Image.composite(im.convert("RGB"), scene, mask)
            for im, scene, mask in zip(images, scenes, masks, strict=True)
        ]

    return Plan(_derived(runner, INPAINT), kwargs, finish=finish)


# -- regional prompting -----------------------------------------------------------------------
def _segments(samples: Sequence[FamilySample]) -> tuple[list[str], int]:
    """Every sample's [base, subject 1, ...] prompts, padded with "" to the same count, flattened."""
    most = max(len(boxes_of(s)) for s in samples)
    flat: list[str] = []
    for s in samples:
        texts = [s.prompt] + [str(sub["prompt"]) for sub in s.subjects if sub.get("box")]
        flat += texts + [""] * (most + 1 - len(texts))
    return flat, most + 1


def _join(embeds: Tensor, segments: int) -> Tensor:
    """(B * segments, L, ...) -> (B, segments * L, ...): each sample's segments end to end."""
    b = embeds.shape[0] // segments
    return embeds.reshape(b, segments * embeds.shape[1], *embeds.shape[2:])


def _pad(embeds: Tensor, segments: int) -> Tensor:
    """(B, L, ...) -> (B, segments * L, ...): the base segment, then zeros."""
    pad = torch.zeros(embeds.shape[0], (segments - 1) * embeds.shape[1], *embeds.shape[2:], dtype=embeds.dtype)
    return torch.cat([embeds, pad.to(embeds.device)], dim=1)


def _grid(runner: FamilyRunner, width: int, height: int) -> tuple[int, int]:
    unit = runner.entry.family.multiple_of
    return height // unit, width // unit


def _regional(
    runner: FamilyRunner, out: Plan, samples: Sequence[FamilySample], width: int, height: int, *, guided: bool
) -> None:
    pipe, family = runner.pipe, runner.family
    device = pipe._execution_device
    flat, segments = _segments(samples)
    negatives = [s.negative_prompt for s in samples]
    length = runner.family_kwargs()["max_sequence_length"]
    rows, cols = _grid(runner, width, height)
    boxes = [boxes_of(s) for s in samples]
    if family.startswith("pixart"):
        embeds, mask, _, _ = pipe.encode_prompt(
            flat, do_classifier_free_guidance=False, device=device, max_sequence_length=length
        )
        neg, neg_mask, _, _ = pipe.encode_prompt(
            negatives, do_classifier_free_guidance=False, device=device, max_sequence_length=length
        )
        out.kwargs.update(
            negative_prompt=None,
            prompt_embeds=_join(embeds, segments),
            prompt_attention_mask=_join(mask, segments),
            negative_prompt_embeds=_pad(neg, segments),
            negative_prompt_attention_mask=_pad(neg_mask, segments),
        )
        cond = regional.cross_mask(boxes, embeds.shape[1], segments, rows, cols)
        uncond = regional.cross_mask([[] for _ in samples], embeds.shape[1], segments, rows, cols)
        masks = {"cond": cond, "uncond": uncond}
        names = [n for n in pipe.transformer.attn_processors if ".attn2." in n]
        out.context = _with_processors(pipe, names, masks, regional.MaskedCrossAttention, guided)
    elif family == "sd3":
        embeds, _, pooled, _ = pipe.encode_prompt(
            flat, None, None, device=device, do_classifier_free_guidance=False, max_sequence_length=length
        )
        neg, _, neg_pooled, _ = pipe.encode_prompt(
            [n or "" for n in negatives],
            None,
            None,
            device=device,
            do_classifier_free_guidance=False,
            max_sequence_length=length,
        )
        out.kwargs.update(
            prompt_embeds=_join(embeds, segments),
            pooled_prompt_embeds=pooled[::segments],
            negative_prompt_embeds=_pad(neg, segments),
            negative_pooled_prompt_embeds=neg_pooled,
        )
        seg = embeds.shape[1]
        cond = regional.region_mask(boxes, seg, segments, rows, cols, text_first=False)
        uncond = regional.base_only_mask(len(samples), seg, segments, rows * cols, text_first=False)
        names = [n for n in pipe.transformer.attn_processors if n.endswith(".attn.processor")]
        out.context = _with_processors(
            pipe, names, {"cond": cond, "uncond": uncond}, regional.MaskedJointAttention, guided
        )
    elif family == "flux":
        embeds, pooled, _ = pipe.encode_prompt(flat, None, device=device, max_sequence_length=length)
        out.kwargs.update(prompt_embeds=_join(embeds, segments), pooled_prompt_embeds=pooled[::segments])
        mask = regional.region_mask(boxes, embeds.shape[1], segments, rows, cols, text_first=True)
        out.kwargs["joint_attention_kwargs"] = {"attention_mask": mask.to(device)}
    else:
        raise ValueError(f"no regional prompting for {family}")


def _with_processors(
    pipe: Any, names: list[str], masks: dict[str, Tensor], processor: Any, guided: bool
) -> Callable[[], AbstractContextManager[None]]:
    """The processors for the call: with guidance > 1 the pipeline batches [uncond, cond]."""

    @contextmanager
    def install() -> Iterator[None]:
        mask = torch.cat([masks["uncond"], masks["cond"]]) if guided else masks["cond"]
        with regional.processors(pipe.transformer, {n: processor(mask) for n in names}):
            yield

    return install
