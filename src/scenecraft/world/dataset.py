"""Random scenes, deterministic by seed, and a torch ``IterableDataset`` of renders.

- :class:`SamplerConfig` holds every distribution the sampler draws from (subject counts, shape,
  material and colour weights, pose presets, camera and light ranges), with bounds.
- :func:`sample_scene` draws one :class:`SceneSpec` from a numpy generator.
- :class:`WorldSampler` maps ``(seed, index)`` to a scene: scene ``i`` of seed ``s`` is always the
  same, whatever order or process asks for it, so datasets shard without coordination.
- :class:`WorldDataset` renders those scenes for a DataLoader; each worker (and each distributed
  rank) takes every ``n``-th index, so no scene is produced twice.

Example::

    loader = DataLoader(WorldDataset(seed=0, size=64, length=10_000), batch_size=32,
                        num_workers=2, collate_fn=collate_renders)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch.utils.data import IterableDataset

from scenecraft.world.render import Render, View, render
from scenecraft.world.smpl import POSE_PRESETS, preset_pose, random_pose
from scenecraft.world.spec import (
    COLOUR_NAMES,
    OBJECT_MATERIALS,
    SHAPES,
    Background,
    Camera,
    Light,
    ObjectSubject,
    PersonSubject,
    SceneSpec,
    Surface,
)

Range = tuple[float, float]


def _weights(names: tuple[str, ...]) -> dict[str, float]:
    return dict.fromkeys(names, 1.0)


class SamplerConfig(BaseModel):
    """Distributions of the random scene sampler. Weights need not sum to one; zero excludes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_subjects: int = Field(default=1, ge=0, le=8)
    max_subjects: int = Field(default=4, ge=0, le=8)
    person_probability: float = Field(
        default=0.3, ge=0, le=1, description="chance that a subject is a person"
    )
    max_people: int = Field(default=2, ge=0, le=8)
    shapes: dict[str, float] = Field(default_factory=lambda: _weights(SHAPES))
    materials: dict[str, float] = Field(default_factory=lambda: _weights(OBJECT_MATERIALS))
    colours: dict[str, float] = Field(default_factory=lambda: _weights(COLOUR_NAMES))
    ground_materials: dict[str, float] = Field(
        default_factory=lambda: {
            "wood": 1,
            "marble": 1,
            "grass": 1,
            "sand": 1,
            "brick": 0.6,
            "fabric": 0.6,
            "rubber": 0.3,
            "plastic": 0.3,
            "brushed_metal": 0.3,
        }
    )
    background_materials: dict[str, float] = Field(
        default_factory=lambda: {
            "brick": 1,
            "marble": 0.6,
            "wood": 0.8,
            "fabric": 0.6,
            "plastic": 0.8,
            "sand": 0.4,
            "brushed_metal": 0.3,
            "grass": 0.3,
        }
    )
    surface_tint_probability: float = Field(default=0.15, ge=0, le=1)
    pose_presets: dict[str, float] = Field(default_factory=lambda: _weights(tuple(POSE_PRESETS)))
    random_pose_probability: float = Field(
        default=0.5, ge=0, le=1, description="perturb the preset within joint limits"
    )
    pose_spread: float = Field(
        default=0.2, ge=0, le=1, description="perturbation, as a share of each joint's range"
    )
    object_size: Range = (0.6, 1.15)
    person_scale: Range = (0.9, 1.1)
    x_range: Range = (-1.8, 1.8)
    z_range: Range = (-1.4, 1.4)
    camera_distance: Range = (4.0, 5.2)
    camera_height: Range = (1.2, 2.4)
    camera_azimuth_deg: Range = (-12.0, 12.0)
    fov_deg: Range = (38.0, 46.0)
    light_azimuth_deg: Range = (-30.0, 210.0)
    light_elevation_deg: Range = (25.0, 75.0)
    light_intensity: Range = (0.75, 1.3)
    ambient: Range = (0.25, 0.5)
    max_box_overlap: float = Field(
        default=0.35, ge=0, le=1, description="largest share of a subject hidden by another"
    )

    @model_validator(mode="after")
    def _check(self) -> SamplerConfig:
        if self.min_subjects > self.max_subjects:
            raise ValueError(
                f"min_subjects ({self.min_subjects}) must not exceed max_subjects ({self.max_subjects})"
            )
        vocab = {
            "shapes": SHAPES,
            "materials": OBJECT_MATERIALS,
            "colours": COLOUR_NAMES,
            "ground_materials": OBJECT_MATERIALS,
            "background_materials": OBJECT_MATERIALS,
            "pose_presets": tuple(POSE_PRESETS),
        }
        for name, allowed in vocab.items():
            weights: dict[str, float] = getattr(self, name)
            bad = sorted(set(weights) - set(allowed))
            if bad:
                raise ValueError(f"{name}: unknown names {bad}; allowed: {', '.join(allowed)}")
            if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise ValueError(f"{name}: weights must be >= 0 with a positive sum")
        for name in (
            "object_size",
            "person_scale",
            "x_range",
            "z_range",
            "camera_distance",
            "camera_height",
            "camera_azimuth_deg",
            "fov_deg",
            "light_azimuth_deg",
            "light_elevation_deg",
            "light_intensity",
            "ambient",
        ):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"{name}: range ({lo}, {hi}) must have low <= high")
        return self


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> Any:  # a name from the vocabulary
    names = [k for k, w in weights.items() if w > 0]
    p = np.array([weights[k] for k in names], float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _uniform(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def _footprint(s: ObjectSubject | PersonSubject) -> tuple[float, float]:
    """Floor radius and height (metres) of a subject, for spacing and visibility checks."""
    if isinstance(s, ObjectSubject):
        return 0.55 * s.size, 1.1 * s.size
    return 0.45 * s.scale, 1.75 * s.scale


def _screen_box(view: View, s: ObjectSubject | PersonSubject) -> np.ndarray:
    r, h = _footprint(s)
    x, y, z = s.position
    corners = np.array([[x + dx, y + dy, z + dz] for dx in (-r, r) for dy in (0, h) for dz in (-r, r)])
    uv, _ = view.project(corners)
    return np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])


def sample_scene(rng: np.random.Generator, config: SamplerConfig | None = None) -> SceneSpec:
    """One random scene drawn from ``config``'s distributions."""
    c = config or SamplerConfig()
    az = math.radians(_uniform(rng, c.camera_azimuth_deg))
    dist, height = _uniform(rng, c.camera_distance), _uniform(rng, c.camera_height)
    camera = Camera(
        position=(dist * math.sin(az), height, dist * math.cos(az)),
        look_at=(0.0, float(rng.uniform(0.45, 0.75)), float(rng.uniform(-0.3, 0.1))),
        fov_deg=_uniform(rng, c.fov_deg),
    )
    view = View.from_camera(camera, 100)

    def tint() -> Any:
        return _choice(rng, c.colours) if rng.random() < c.surface_tint_probability else None

    ground = Surface(material=_choice(rng, c.ground_materials), colour=tint())
    background = Background(
        material=_choice(rng, c.background_materials),
        colour=tint(),
        distance=float(rng.uniform(2.6, 4.0)),
    )
    warm = rng.uniform(-0.12, 0.12)
    light = Light(
        azimuth_deg=_uniform(rng, c.light_azimuth_deg),
        elevation_deg=_uniform(rng, c.light_elevation_deg),
        colour=(min(1.0, 0.95 + warm), 0.95, min(1.0, 0.95 - warm)),
        intensity=_uniform(rng, c.light_intensity),
        ambient=_uniform(rng, c.ambient),
    )
    n_target = int(rng.integers(c.min_subjects, c.max_subjects + 1))
    subjects: list[ObjectSubject | PersonSubject] = []
    boxes: list[np.ndarray] = []
    people = 0
    for _ in range(n_target * 25):  # rejection sampling of free spots
        if len(subjects) == n_target:
            break
        pos = (_uniform(rng, c.x_range), 0.0, min(_uniform(rng, c.z_range), background.distance - 0.7))
        s: ObjectSubject | PersonSubject
        if people < c.max_people and rng.random() < c.person_probability:
            preset = _choice(rng, c.pose_presets)
            pose = (
                random_pose(rng, c.pose_spread, base=preset)
                if rng.random() < c.random_pose_probability
                else preset_pose(preset)
            )
            yaw = float(rng.uniform(-100, 100)) if rng.random() < 0.7 else float(rng.uniform(100, 260))
            betas = np.clip(rng.normal(0, 1, 10), -2.5, 2.5)
            s = PersonSubject(
                body_pose=tuple(float(v) for v in pose),
                global_orient=(0.0, math.radians(yaw), 0.0),
                betas=tuple(float(v) for v in betas),
                top_colour=_choice(rng, c.colours),
                bottom_colour=_choice(rng, c.colours),
                position=pos,
                scale=_uniform(rng, c.person_scale),
                action=preset,
            )
        else:
            s = ObjectSubject(
                shape=_choice(rng, c.shapes),
                material=_choice(rng, c.materials),
                colour=_choice(rng, c.colours),
                position=pos,
                size=_uniform(rng, c.object_size),
                yaw_deg=float(rng.uniform(0, 90)),
            )
        r = _footprint(s)[0]
        if any(
            math.hypot(pos[0] - o.position[0], pos[2] - o.position[2]) < r + _footprint(o)[0] + 0.1
            for o in subjects
        ):
            continue
        box = _screen_box(view, s)
        if box[0] < 2 or box[1] < 2 or box[2] > 98 or box[3] > 98:
            continue  # keep every subject fully in frame
        if any(
            _hidden_share(box, b) > c.max_box_overlap or _hidden_share(b, box) > c.max_box_overlap
            for b in boxes
        ):
            continue
        subjects.append(s)
        boxes.append(box)
        people += isinstance(s, PersonSubject)
    return SceneSpec(ground=ground, background=background, light=light, camera=camera, subjects=subjects)


def _hidden_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of box a covered by box b."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / max((a[2] - a[0]) * (a[3] - a[1]), 1e-9)


class WorldSampler:
    """Scene ``index`` of ``seed``, always the same: ``WorldSampler(cfg, 7).spec(3)``."""

    def __init__(self, config: SamplerConfig | None = None, seed: int = 0) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.config = config or SamplerConfig()
        self.seed = seed

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index])

    def spec(self, index: int) -> SceneSpec:
        return sample_scene(self.rng(index), self.config)

    def render(self, index: int, size: int = 128, **kwargs: Any) -> Render:
        """Render scene ``index``; its noise and caption are seeded by (seed, index) too."""
        render_seed = int(self.rng(index).integers(2**31)) ^ 0x5EED
        return render(self.spec(index), size=size, seed=render_seed, **kwargs)

    def __iter__(self) -> Iterator[SceneSpec]:
        i = 0
        while True:
            yield self.spec(i)
            i += 1


def _shard(rank: int, world_size: int) -> tuple[int, int]:
    """This process's (offset, stride) over scene indices, across DataLoader workers and ranks."""
    import torch.utils.data

    info = torch.utils.data.get_worker_info()
    workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
    return rank * workers + worker, world_size * workers


def render_to_sample(r: Render) -> dict[str, Any]:
    """A Render as tensors: image (3, H, W) float in 0..1, material/instance (H, W) long, depth."""
    import torch

    return {
        "image": torch.from_numpy(r.image).permute(2, 0, 1).float() / 255.0,
        "material": torch.from_numpy(r.material.astype(np.int64)),
        "instance": torch.from_numpy(r.instance.astype(np.int64)),
        "depth": torch.from_numpy(r.depth),
        "caption": r.caption,
        "annotations": r.annotations(),
    }


def collate_renders(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors, keep captions and annotations as lists."""
    import torch

    out: dict[str, Any] = {}
    for key in batch[0]:
        vals = [b[key] for b in batch]
        out[key] = torch.stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out


class WorldDataset(IterableDataset):
    """Rendered world scenes as a torch ``IterableDataset``, sharded over workers and ranks.

    ``length=None`` is an endless stream. With ``length`` N, the indices 0..N-1 are split so that
    every DataLoader worker of every rank renders a disjoint share and together they cover all N.
    """

    def __init__(
        self,
        seed: int = 0,
        size: int = 64,
        length: int | None = None,
        config: SamplerConfig | None = None,
        rank: int = 0,
        world_size: int = 1,
        **render_kwargs: Any,
    ) -> None:
        super().__init__()
        if length is not None and length < 0:
            raise ValueError(f"length must be >= 0 or None, got {length}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}")
        self.sampler = WorldSampler(config, seed)
        self.size, self.length, self.rank, self.world_size = size, length, rank, world_size
        self.render_kwargs = render_kwargs

    def indices(self) -> Iterator[int]:
        offset, stride = _shard(self.rank, self.world_size)
        i = offset
        while self.length is None or i < self.length:
            yield i
            i += stride

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in self.indices():
            sample = render_to_sample(self.sampler.render(i, self.size, **self.render_kwargs))
            sample["index"] = i
            yield sample
