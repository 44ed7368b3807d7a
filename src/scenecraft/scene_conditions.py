"""Requests -> model conditions: what a person asks for, as the tensors :class:`SceneDiT` reads.

    SceneRequest(prompt, subjects=[SubjectRequest(prompt, box, pose)], scene, inpaint)
      -> text tokens and pooled prompt (the text encoder)
      -> grounding: each subject's box and pooled text
      -> pose map: each posed person's SMPL skeleton, fitted into its box and drawn
      -> inpainting: mask = the union of the subject boxes, and the scene outside it

The trainer builds the same tensors from world renders (true boxes, true projected joints), so
training and inference share :func:`draw_skeletons` and :class:`ConditionEncoder`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from scenecraft.model.conditioning import (
    INPAINT,
    POSE,
    SCENE,
    SUBJECTS,
    TEXT,
    ConditioningConfig,
    Conditions,
    empty_conditions,
)
from scenecraft.model.encoders import TextEncoder
from scenecraft.world.smpl import JOINT_NAMES, PARENTS, posed_body

# Skeleton map channels: the left side, the right side, the middle (spine, neck, head, pelvis).
_SIDE = np.array([0 if n.startswith("left") else 1 if n.startswith("right") else 2 for n in JOINT_NAMES])
BONE_WIDTH = 1.2  # line half-width in pixels at 64 px, scaled with the image


class RequestError(ValueError):
    """A request whose conditions cannot be built; the message names the field."""


@dataclass(frozen=True)
class SMPLPose:
    body_pose: tuple[float, ...]  # 69 axis-angle values
    global_orient: tuple[float, float, float] = (0.0, 0.0, 0.0)
    betas: tuple[float, ...] = (0.0,) * 10


@dataclass(frozen=True)
class SubjectRequest:
    prompt: str
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 in 0..1
    pose: SMPLPose | None = None


@dataclass(frozen=True)
class SceneRequest:
    prompt: str = ""
    subjects: tuple[SubjectRequest, ...] = ()
    scene: np.ndarray | None = field(default=None, compare=False)  # (H, W, 3) uint8 context scene
    inpaint: bool = False  # paint the subjects into ``scene``; outside their boxes it is kept

    def validate(self, max_subjects: int) -> None:
        if len(self.subjects) > max_subjects:
            raise RequestError(f"at most {max_subjects} subjects, got {len(self.subjects)}")
        for i, s in enumerate(self.subjects):
            if not s.prompt.strip():
                raise RequestError(f"subjects[{i}].prompt is empty")
            if s.box is not None:
                x0, y0, x1, y1 = s.box
                if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                    raise RequestError(f"subjects[{i}].box must be x0 < x1, y0 < y1 within 0..1, got {s.box}")
            if s.pose is not None and len(s.pose.body_pose) != 69:
                raise RequestError(f"subjects[{i}].pose.body_pose needs 69 values, got {len(s.pose.body_pose)}")
            if s.pose is not None and s.box is None:
                raise RequestError(f"subjects[{i}] has a pose but no box: a pose is drawn into its box")
        if self.scene is not None and (self.scene.ndim != 3 or self.scene.shape[2] != 3):
            raise RequestError(f"scene must be an (H, W, 3) RGB image, got shape {self.scene.shape}")
        if self.inpaint:
            if self.scene is None:
                raise RequestError("inpaint needs a context scene to paint into")
            if not any(s.box is not None for s in self.subjects):
                raise RequestError("inpaint needs at least one subject with a box: the mask is the union of the boxes")


# --------------------------------------------------------------------------------------------
# Pose maps
# --------------------------------------------------------------------------------------------


def draw_skeletons(skeletons: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Skeletons, each (24, 2) pixel (x, y) at ``size``, -> (3, size, size) float32 map in 0..1.

    Each bone (joint to parent) is a line with a soft edge in the channel of its side.
    """
    out = np.zeros((3, size * size), np.float32)
    if not skeletons:
        return out.reshape(3, size, size)
    width = BONE_WIDTH * size / 64
    ys, xs = np.mgrid[0:size, 0:size]
    pix = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1).astype(np.float32)  # (P, 2)
    child = np.arange(1, 24)
    for joints in skeletons:
        a = joints[np.asarray(PARENTS)[child]].astype(np.float32)  # (23, 2)
        b = joints[child].astype(np.float32)
        ab = b - a
        t = ((pix[None] - a[:, None]) * ab[:, None]).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-6)[:, None]
        closest = a[:, None] + np.clip(t, 0, 1)[..., None] * ab[:, None]  # (23, P, 2)
        dist = np.linalg.norm(pix[None] - closest, axis=-1)  # (23, P)
        value = np.clip(1.0 - (dist - width) / 1.0, 0.0, 1.0)  # 1 inside, 1-px soft edge
        for side in range(3):
            bones = _SIDE[child] == side
            if bones.any():
                out[side] = np.maximum(out[side], value[bones].max(0))
    return out.reshape(3, size, size)


def skeleton_in_box(pose: SMPLPose, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """A requested pose as (24, 2) pixels: the body seen from the front, fitted into ``box``.

    The body's extent (its lowest point to the top of the head or of a raised hand) fills the
    box's height; it is centred horizontally. This matches how world renders frame people (boxes
    are the visible body).
    """
    body = posed_body(pose.body_pose, pose.global_orient, pose.betas)
    xy = body.joints[:, :2].copy()
    xy[:, 1] *= -1  # image y grows downwards
    top = min(-(body.head_centre[1] + body.head_radius), float(xy[:, 1].min()) - 0.05)
    bottom = 0.0  # posed_body puts the lowest point at height 0
    x0, y0, x1, y1 = (v * size for v in box)
    scale = (y1 - y0) / max(bottom - top, 1e-6)
    centre = (xy[:, 0].min() + xy[:, 0].max()) / 2
    out = np.empty_like(xy)
    out[:, 0] = (x0 + x1) / 2 + (xy[:, 0] - centre) * scale
    out[:, 1] = y0 + (xy[:, 1] - top) * scale
    return out.astype(np.float32)


def box_mask(boxes: Sequence[tuple[float, float, float, float]], size: int, grow: float = 0.0) -> np.ndarray:
    """(size, size) float32, 1 inside the union of ``boxes`` (0..1 units), each grown by ``grow`` px."""
    mask = np.zeros((size, size), np.float32)
    for x0, y0, x1, y1 in boxes:
        c0, r0 = int(np.floor(x0 * size - grow)), int(np.floor(y0 * size - grow))
        c1, r1 = int(np.ceil(x1 * size + grow)), int(np.ceil(y1 * size + grow))
        mask[max(r0, 0) : min(r1, size), max(c0, 0) : min(c1, size)] = 1.0
    return mask


def image_to_tensor(image: np.ndarray, size: int) -> Tensor:
    """(H, W, 3) uint8 -> (3, size, size) float in [-1, 1], resized with antialiasing if needed."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 127.5 - 1
    if x.shape[1:] != (size, size):
        x = torch.nn.functional.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True)[0]
    return x


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


class ConditionEncoder:
    """Turns requests into a :class:`Conditions` batch; prompt encodings are cached."""

    def __init__(self, text_encoder: TextEncoder, config: ConditioningConfig, cache_size: int = 4096):
        if text_encoder.dim != config.text_dim:
            raise RequestError(
                f"the text encoder gives {text_encoder.dim}-wide tokens but the model expects {config.text_dim}"
            )
        self.text_encoder = text_encoder
        self.config = config
        self._cache: OrderedDict[str, tuple[Tensor, Tensor, Tensor]] = OrderedDict()
        self._cache_size = cache_size

    def encode_texts(self, texts: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
        """(tokens (N, L, E), mask (N, L), pooled (N, E)) on the CPU, through the cache."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            batch = self.text_encoder.encode(missing)
            for i, text in enumerate(missing):
                self._cache[text] = (batch.tokens[i].cpu(), batch.mask[i].cpu(), batch.pooled[i].cpu())
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        rows = [self._cache[t] for t in texts]
        return tuple(torch.stack([r[k] for r in rows]) for k in range(3))  # type: ignore[return-value]

    def encode(self, requests: Sequence[SceneRequest], size: int) -> Conditions:
        """The conditions of ``requests`` for ``size`` x ``size`` images (CPU tensors)."""
        cfg = self.config
        for r in requests:
            r.validate(cfg.max_subjects)
        cond = empty_conditions(len(requests), size, cfg)
        present = cond.present
        prompts = [r.prompt.strip() for r in requests]
        if any(prompts):
            tokens, mask, pooled = self.encode_texts([p or "." for p in prompts])
            cond.text_tokens, cond.text_mask, cond.text_pooled = tokens, mask, pooled
            present[:, TEXT] = torch.tensor([bool(p) for p in prompts])
        phrases = [s.prompt.strip() for r in requests for s in r.subjects if s.box is not None]
        encoded = iter(self.encode_texts(phrases)[2]) if phrases else iter(())
        for i, r in enumerate(requests):
            grounded = [s for s in r.subjects if s.box is not None]
            for j, s in enumerate(grounded):
                assert s.box is not None
                cond.boxes[i, j] = torch.tensor(s.box)
                cond.subject_text[i, j] = next(encoded)
                cond.subject_mask[i, j] = True
            present[i, SUBJECTS] = bool(grounded)
            skeletons = [skeleton_in_box(s.pose, s.box, size) for s in grounded if s.pose is not None and s.box]
            if skeletons:
                cond.pose[i] = torch.from_numpy(draw_skeletons(skeletons, size))
                present[i, POSE] = True
            if r.scene is not None:
                cond.scene[i] = image_to_tensor(r.scene, cfg.scene.image_size)
                present[i, SCENE] = True
            if r.inpaint:
                assert r.scene is not None
                mask = torch.from_numpy(box_mask([s.box for s in grounded if s.box], size, grow=1.0))
                scene = image_to_tensor(r.scene, size)
                cond.inpaint[i, 0] = mask
                cond.inpaint[i, 1:] = scene * (1 - mask)
                present[i, INPAINT] = True
        return cond


__all__ = [
    "INPAINT",
    "POSE",
    "SCENE",
    "SUBJECTS",
    "TEXT",
    "ConditionEncoder",
    "RequestError",
    "SMPLPose",
    "SceneRequest",
    "SubjectRequest",
    "box_mask",
    "draw_skeletons",
    "image_to_tensor",
    "skeleton_in_box",
]
