"""The scene specification: what a scene holds, validated, JSON-serialisable.

A :class:`SceneSpec` is the single description of a world scene. The renderer turns it into pixels
and labels, the caption writer into words, the DiT conditioning (issue 5) into tokens, and the
metrics compare a generated image against it.

Coordinates are metres in a right-handed world frame: ``x`` to the right of the default camera,
``y`` up, ``z`` towards the default camera. The floor is the plane ``y = 0``; the background wall is
the plane ``z = -background.distance``.

Example::

    spec = SceneSpec(
        ground=Surface(material="marble"),
        subjects=[
            ObjectSubject(shape="cube", material="rubber", colour="red", position=(-0.8, 0, 0)),
            PersonSubject.from_preset("wave", position=(0.7, 0, 0), top_colour="blue"),
        ],
    )
    spec.model_dump_json()  # round-trips through SceneSpec.model_validate_json
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The vocabulary. Order matters: an index into these tuples is a class id for the evaluators.
MATERIALS: tuple[str, ...] = (
    "wood",
    "marble",
    "brushed_metal",
    "chrome",
    "brick",
    "grass",
    "sand",
    "fabric",
    "rubber",
    "glass",
    "plastic",
    "skin",
)
OBJECT_MATERIALS: tuple[str, ...] = MATERIALS[:-1]  # skin is only on people
SHAPES: tuple[str, ...] = ("sphere", "cube", "cylinder", "cone", "torus", "capsule")
KINDS: tuple[str, ...] = (*SHAPES, "person")  # what a detector names a subject
# Named colours, linear-ish RGB in 0..1. Every subject colour is one of these names.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.08, 0.07),
    "orange": (0.95, 0.45, 0.07),
    "yellow": (0.95, 0.85, 0.12),
    "green": (0.13, 0.62, 0.18),
    "blue": (0.12, 0.28, 0.85),
    "purple": (0.48, 0.16, 0.68),
    "pink": (0.96, 0.50, 0.70),
    "white": (0.92, 0.92, 0.90),
    "black": (0.07, 0.07, 0.08),
    "gray": (0.48, 0.48, 0.50),
    "brown": (0.42, 0.25, 0.10),
    "cyan": (0.08, 0.72, 0.78),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

MaterialName = Literal[
    "wood",
    "marble",
    "brushed_metal",
    "chrome",
    "brick",
    "grass",
    "sand",
    "fabric",
    "rubber",
    "glass",
    "plastic",
    "skin",
]
ObjectMaterialName = Literal[
    "wood",
    "marble",
    "brushed_metal",
    "chrome",
    "brick",
    "grass",
    "sand",
    "fabric",
    "rubber",
    "glass",
    "plastic",
]
ShapeName = Literal["sphere", "cube", "cylinder", "cone", "torus", "capsule"]
ColourName = Literal[
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "white",
    "black",
    "gray",
    "brown",
    "cyan",
]
Vec3 = tuple[float, float, float]
Coordinate = Annotated[float, Field(ge=-50.0, le=50.0)]
Position = tuple[Coordinate, Coordinate, Coordinate]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Surface(_Strict):
    """A large flat surface: the floor, or the wall behind the scene."""

    material: ObjectMaterialName = "wood"
    colour: ColourName | None = Field(
        default=None, description="optional tint; None keeps the material's own colour"
    )
    texture_scale: float = Field(
        default=1.0, gt=0.05, le=20.0, description="metres per texture repeat, relative"
    )


class Background(Surface):
    """The wall behind the scene, a vertical plane facing the camera."""

    material: ObjectMaterialName = "brick"
    distance: float = Field(default=4.0, ge=0.5, le=40.0, description="metres from the origin along -z")


class Light(_Strict):
    """One directional light (the sun or a distant lamp) plus ambient light.

    ``azimuth_deg`` 0 lights from the camera's right (+x), 90 from the camera side (+z), 180 from the
    left, 270 from behind the scene; ``elevation_deg`` is the angle above the floor.
    """

    azimuth_deg: float = Field(default=30.0, ge=-360.0, le=360.0)
    elevation_deg: float = Field(default=50.0, ge=5.0, le=90.0)
    colour: tuple[
        Annotated[float, Field(ge=0, le=1)],
        Annotated[float, Field(ge=0, le=1)],
        Annotated[float, Field(ge=0, le=1)],
    ] = (1.0, 0.97, 0.92)
    intensity: float = Field(default=1.0, ge=0.0, le=4.0)
    ambient: float = Field(default=0.35, ge=0.0, le=1.5)

    def direction(self) -> Vec3:
        """Unit vector from a lit point towards the light."""
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        return (math.cos(el) * math.cos(az), math.sin(el), math.cos(el) * math.sin(az))


class Camera(_Strict):
    """A pinhole camera looking at ``look_at``; ``fov_deg`` is the vertical field of view."""

    position: Position = (0.0, 1.7, 5.5)
    look_at: Position = (0.0, 0.6, 0.0)
    fov_deg: float = Field(default=42.0, ge=10.0, le=120.0)

    @model_validator(mode="after")
    def _distinct(self) -> Camera:
        if math.dist(self.position, self.look_at) < 1e-3:
            raise ValueError("camera.position and camera.look_at must differ (the camera needs a direction)")
        return self


class ObjectSubject(_Strict):
    """A solid object resting at ``position`` (x, height of its lowest point above the floor, z)."""

    kind: Literal["object"] = "object"
    shape: ShapeName
    material: ObjectMaterialName
    colour: ColourName
    position: Position = (0.0, 0.0, 0.0)
    size: float = Field(
        default=0.8, ge=0.05, le=10.0, description="overall extent in metres (diameter or edge)"
    )
    yaw_deg: float = Field(default=0.0, ge=-360.0, le=360.0, description="rotation about the vertical axis")


class PersonSubject(_Strict):
    """A person posed by SMPL parameters, standing with the lowest body point at ``position``."""

    kind: Literal["person"] = "person"
    body_pose: tuple[float, ...] = Field(default=(0.0,) * 69, description="axis-angle, 23 joints x 3")
    global_orient: tuple[float, float, float] = (0.0, 0.0, 0.0)
    betas: tuple[float, ...] = Field(default=(0.0,) * 10, description="shape coefficients, 10 values")
    top_colour: ColourName = "blue"
    bottom_colour: ColourName = "gray"
    position: Position = (0.0, 0.0, 0.0)
    scale: float = Field(default=1.0, ge=0.3, le=3.0)
    action: str | None = Field(default=None, max_length=40, description="pose name for captions, e.g. 'wave'")

    @field_validator("body_pose")
    @classmethod
    def _check_pose(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != 69:
            raise ValueError(f"body_pose must hold 69 numbers (23 joints x axis-angle 3), got {len(v)}")
        if any(not math.isfinite(x) or abs(x) > 2 * math.pi for x in v):
            raise ValueError("body_pose values must be finite angles in radians within [-2pi, 2pi]")
        return v

    @field_validator("global_orient")
    @classmethod
    def _check_orient(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not math.isfinite(x) or abs(x) > 2 * math.pi for x in v):
            raise ValueError("global_orient values must be finite angles in radians within [-2pi, 2pi]")
        return v

    @field_validator("betas")
    @classmethod
    def _check_betas(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != 10:
            raise ValueError(f"betas must hold 10 shape coefficients, got {len(v)}")
        if any(not math.isfinite(x) or abs(x) > 5.0 for x in v):
            raise ValueError("betas must be finite and within [-5, 5] (standard deviations of body shape)")
        return v

    @classmethod
    def from_preset(cls, name: str, yaw_deg: float = 0.0, **fields: object) -> PersonSubject:
        """A person in a named pose (:data:`scenecraft.world.smpl.POSE_PRESETS`), turned by ``yaw_deg``."""
        from scenecraft.world.smpl import preset_pose

        body_pose = preset_pose(name)
        orient = (0.0, math.radians(yaw_deg), 0.0)
        return cls(body_pose=tuple(float(x) for x in body_pose), global_orient=orient, action=name, **fields)  # type: ignore[arg-type]


Subject = Annotated[ObjectSubject | PersonSubject, Field(discriminator="kind")]


class SceneSpec(_Strict):
    """A whole scene: surfaces, light, camera and up to 8 subjects."""

    ground: Surface = Surface(material="wood")
    background: Background = Background()
    light: Light = Light()
    camera: Camera = Camera()
    subjects: list[Subject] = Field(default_factory=list, max_length=8)

    @model_validator(mode="after")
    def _in_front_of_wall(self) -> SceneSpec:
        for i, s in enumerate(self.subjects):
            if s.position[2] <= -self.background.distance:
                raise ValueError(
                    f"subjects[{i}].position z={s.position[2]} is behind the background wall at "
                    f"z={-self.background.distance}; move it forward or increase background.distance"
                )
        if self.camera.position[1] <= 0.0:
            raise ValueError("camera.position y must be above the floor (y > 0)")
        return self
