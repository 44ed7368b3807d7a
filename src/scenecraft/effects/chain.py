"""Effects chains: a JSON list of ops, validated into typed, bounded pydantic models.

    [{"op": "exposure", "stops": 0.5}, {"op": "bloom", "strength": 0.6}, {"op": "vignette", "amount": 0.4}]

This module is the chain's schema and imports no torch, so the API process can validate a chain
(and answer 422) without loading the renderer. The ops' pixel maths lives in grading.py, lens.py,
light.py and particles.py; render.py runs it.

``parse_chain`` turns a list (or its JSON text) into a ``Chain`` or raises ``ChainError``, whose
message names each fault by op index, op name and parameter, with what is allowed, e.g.

    op 1 (bloom): parameter 'strength': Input should be less than or equal to 3 (got 5.0)
    op 2: unknown op 'blom'; ops are: bloom, chromatic_aberration, contrast, ...

Class attributes tell the renderer how to run an op:

- ``pointwise``: the output pixel depends only on the input pixel at the same place (and on its
  coordinates, the depth/normals there and the time); runs of these are rendered in bands of rows.
- ``animated_op``: the op changes with time (``is_animated`` may depend on a parameter).
- ``uses_depth`` / ``uses_normals``: estimated from the chain's input image when not supplied.

Sizes are fractions of the image (of max(H, W) for blurs, of the height for particles), so a chain
looks the same on a 512² preview and a 4096² render.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

MAX_OPS = 32

# An RGB colour, each channel in [0, 1].
Colour = Annotated[
    tuple[
        Annotated[float, Field(ge=0.0, le=1.0)],
        Annotated[float, Field(ge=0.0, le=1.0)],
        Annotated[float, Field(ge=0.0, le=1.0)],
    ],
    Field(description="RGB colour, three numbers in [0, 1]"),
]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1, description="0 .. 2^31-1; same seed, same pattern")]


def _op_is_required(schema: dict[str, Any]) -> None:
    """`op` has a default (so ``Exposure(stops=1)`` works in Python) but a chain item must name it:
    the JSON schema says so, as the discriminated union demands."""
    required = schema.setdefault("required", [])
    if "op" not in required:
        required.insert(0, "op")


class EffectOp(BaseModel):
    """Base of all ops; ``op`` (a Literal in each subclass) is the chain's discriminator."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_op_is_required)

    pointwise: ClassVar[bool] = True
    animated_op: ClassVar[bool] = False
    uses_depth: ClassVar[bool] = False
    uses_normals: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return str(getattr(self, "op"))  # noqa: B009 (every subclass declares `op`)

    @property
    def is_animated(self) -> bool:
        """True when the op's output changes with time."""
        return self.animated_op


# ---- grading (grading.py) ---------------------------------------------------------------------

class Exposure(EffectOp):
    """Exposure in photographic stops: linear light x 2^stops."""

    op: Literal["exposure"] = "exposure"
    stops: float = Field(0.0, ge=-6.0, le=6.0, description="stops of exposure; +1 doubles the light")


class Contrast(EffectOp):
    """Contrast about a pivot: (x - pivot) * amount + pivot; amount 1 is identity."""

    op: Literal["contrast"] = "contrast"
    amount: float = Field(1.0, ge=0.0, le=3.0, description="1 = unchanged, 0 = flat grey at the pivot")
    pivot: float = Field(0.5, ge=0.0, le=1.0, description="the level contrast turns around")


class Saturation(EffectOp):
    """Saturation: luma + (x - luma) * amount; 0 is greyscale, 1 identity."""

    op: Literal["saturation"] = "saturation"
    amount: float = Field(1.0, ge=0.0, le=3.0, description="1 = unchanged, 0 = greyscale")


class Temperature(EffectOp):
    """White balance: warm/cool and green/magenta channel gains in linear light, luma kept."""

    op: Literal["temperature"] = "temperature"
    warmth: float = Field(0.0, ge=-1.0, le=1.0, description="+ warmer (amber), - cooler (blue)")
    tint: float = Field(0.0, ge=-1.0, le=1.0, description="+ magenta, - green")

    def gains(self) -> tuple[float, float, float]:
        """(1 + 0.3 warmth, 1 - 0.2 tint, 1 - 0.3 warmth) divided by its Rec. 709 luma."""
        r, g, b = 1.0 + 0.3 * self.warmth, 1.0 - 0.2 * self.tint, 1.0 - 0.3 * self.warmth
        norm = 0.2126 * r + 0.7152 * g + 0.0722 * b
        return r / norm, g / norm, b / norm


LutPreset = Literal["teal_orange", "sepia", "bleach_bypass", "cross_process"]
LutEntry = Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=3, max_length=3)]


class Lut(EffectOp):
    """A 3-D colour look-up table, trilinearly interpolated, blended by ``strength``.

    Give either ``preset`` or ``size`` and ``table``: size³ RGB triples in [0, 1], red varying
    fastest, then green, then blue (the .cube file order).
    """

    op: Literal["lut"] = "lut"
    preset: LutPreset | None = None
    size: int | None = Field(None, ge=2, le=33, description="lattice points per axis (2-33)")
    table: list[LutEntry] | None = Field(None, max_length=33**3, description="size³ RGB triples, red fastest")
    strength: float = Field(1.0, ge=0.0, le=1.0, description="blend of the graded image over the input")

    @model_validator(mode="after")
    def _one_source(self) -> Lut:
        if (self.preset is None) == (self.table is None):
            raise ValueError("give exactly one of 'preset' or 'table' (with 'size')")
        if self.table is not None:
            if self.size is None:
                raise ValueError("'size' is required with 'table'")
            if len(self.table) != self.size**3:
                raise ValueError(
                    f"'table' must hold size³ = {self.size**3} RGB triples for size {self.size}, "
                    f"got {len(self.table)}"
                )
        return self


# ---- lens and film (lens.py) ------------------------------------------------------------------

class Vignette(EffectOp):
    """Darkens towards the corners: x * (1 - amount * smoothstep(radius, radius + softness, d))."""

    op: Literal["vignette"] = "vignette"
    amount: float = Field(0.5, ge=0.0, le=1.0, description="darkening at the corners, 1 = black")
    radius: float = Field(0.5, ge=0.0, le=1.5, description="distance (0 centre, 1 corner) where it starts")
    softness: float = Field(0.5, ge=0.05, le=1.5, description="width of the falloff")


class Grain(EffectOp):
    """Monochrome film grain: hashed value noise on a lattice of ``size`` px."""

    op: Literal["grain"] = "grain"
    amount: float = Field(0.08, ge=0.0, le=0.5, description="grain amplitude in [0, 1] units")
    size: float = Field(1.5, ge=1.0, le=8.0, description="grain size in pixels")
    seed: Seed = 0
    animated: bool = Field(False, description="draw new grain every 1/24 s of frame time")

    @property
    def is_animated(self) -> bool:
        return self.animated

    def frame_seed(self, time: float) -> int:
        """The hash seed at a frame time: seed + frame * 0x9E3779B9 (mod 2^32), frame = floor(24 t)."""
        frame = math.floor(time * 24.0) if self.animated else 0
        return (self.seed + frame * 0x9E3779B9) & 0xFFFFFFFF


class ChromaticAberration(EffectOp):
    """Lateral chromatic aberration: red magnified by (1 + amount) about the centre, blue by (1 - amount)."""

    op: Literal["chromatic_aberration"] = "chromatic_aberration"
    pointwise = False
    amount: float = Field(0.005, ge=0.0, le=0.03, description="relative magnification difference")


class Bloom(EffectOp):
    """Glow around highlights: x + strength * blur(max(x - threshold, 0))."""

    op: Literal["bloom"] = "bloom"
    pointwise = False
    strength: float = Field(0.6, ge=0.0, le=3.0, description="how much glow is added")
    threshold: float = Field(0.7, ge=0.0, le=1.0, description="level above which a pixel glows")
    radius: float = Field(0.03, ge=0.002, le=0.25, description="glow sigma as a fraction of max(H, W)")


class MotionBlur(EffectOp):
    """Directional motion blur: the mean of N = 2^k bilinear samples along a line of ``length``."""

    op: Literal["motion_blur"] = "motion_blur"
    pointwise = False
    angle: float = Field(0.0, ge=0.0, le=360.0, description="direction in degrees, counter-clockwise from +x")
    length: float = Field(0.02, ge=0.0, le=0.1, description="streak length as a fraction of max(H, W)")

    def passes(self, height: int, width: int) -> list[tuple[float, float, float, float]]:
        """The passes as (dx1, dy1, dx2, dy2) in px: each pass is (sample at +d1 + sample at +d2) / 2.

        k = ceil(log2(L + 1)) passes (1..7) for a length of L px; tap spacing s = L / (2^k - 1).
        The first pass averages the samples at -L/2 and -L/2 + s (centring the line on the pixel),
        pass j > 0 the samples at 0 and 2^j s: together the mean of 2^k taps spanning [-L/2, L/2].
        """
        length = self.length * max(height, width)
        if length < 0.5:
            return []
        k = min(7, max(1, math.ceil(math.log2(length + 1.0))))
        step = length / (2**k - 1)
        ux, uy = math.cos(math.radians(self.angle)), -math.sin(math.radians(self.angle))  # image y is down
        start = -0.5 * length
        out = [(start * ux, start * uy, (start + step) * ux, (start + step) * uy)]
        out += [(0.0, 0.0, (2**j) * step * ux, (2**j) * step * uy) for j in range(1, k)]
        return out


class DepthOfField(EffectOp):
    """Depth of field: per-pixel blur from the distance to the focus depth."""

    op: Literal["depth_of_field"] = "depth_of_field"
    pointwise = False
    uses_depth = True
    focus: float = Field(0.3, ge=0.0, le=1.0, description="depth in focus (0 near, 1 far)")
    range: float = Field(0.1, ge=0.0, le=1.0, description="half-width of the sharp depth band")
    transition: float = Field(0.3, ge=0.01, le=1.0, description="depth over which blur ramps to max")
    max_blur: float = Field(0.01, ge=0.0, le=0.05, description="largest blur sigma, fraction of max(H, W)")


# ---- light (light.py) -------------------------------------------------------------------------

class Relight(EffectOp):
    """A directional light added to the scene, shaded with the surface normals."""

    op: Literal["relight"] = "relight"
    uses_normals = True
    azimuth: float = Field(45.0, ge=0.0, le=360.0, description="light direction in the image plane, degrees")
    elevation: float = Field(35.0, ge=0.0, le=90.0, description="light height above the image plane, degrees")
    strength: float = Field(0.6, ge=0.0, le=1.0, description="0 = unchanged, 1 = fully relit")
    ambient: float = Field(0.3, ge=0.0, le=1.0, description="light reaching surfaces facing away")
    colour: Colour = (1.0, 0.95, 0.85)
    normal_strength: float = Field(
        1.0, ge=0.0, le=4.0, description="exaggerates (>1) or flattens (<1) the normals"
    )

    def light_direction(self) -> tuple[float, float, float]:
        """L = (cos e cos a, cos e sin a, sin e): x right, y up, z towards the viewer."""
        a, e = math.radians(self.azimuth), math.radians(self.elevation)
        return math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)


class Fog(EffectOp):
    """Exponential depth fog towards a colour."""

    op: Literal["fog"] = "fog"
    uses_depth = True
    density: float = Field(1.5, ge=0.0, le=10.0, description="fog thickness per unit of depth")
    start: float = Field(0.2, ge=0.0, le=1.0, description="depth where the fog begins (0 near, 1 far)")
    colour: Colour = (0.8, 0.84, 0.9)


# ---- particles (particles.py) -----------------------------------------------------------------

class Particles(EffectOp):
    """Animated rain, snow, sparks or dust over the image, deterministic in (seed, time)."""

    op: Literal["particles"] = "particles"
    animated_op = True
    kind: Literal["rain", "snow", "sparks", "dust"] = "rain"
    density: float = Field(0.5, ge=0.0, le=1.0, description="share of lattice cells holding a particle")
    speed: float = Field(1.0, ge=0.0, le=4.0, description="multiplies the kind's fall/rise speed")
    size: float = Field(1.0, ge=0.25, le=4.0, description="multiplies the particle size and spacing")
    wind: float = Field(0.0, ge=-1.0, le=1.0, description="sideways drift, + to the right")
    opacity: float = Field(0.8, ge=0.0, le=1.0)
    colour: Colour | None = Field(None, description="defaults to the kind's colour")
    seed: Seed = 0


# ---- the chain --------------------------------------------------------------------------------

OP_TYPES: tuple[type[EffectOp], ...] = (
    Exposure, Contrast, Saturation, Temperature, Lut,
    Vignette, Grain, ChromaticAberration, Bloom, MotionBlur, DepthOfField,
    Relight, Fog, Particles,
)
OPS: dict[str, type[EffectOp]] = {t.model_fields["op"].default: t for t in OP_TYPES}

AnyOp = Annotated[
    Exposure | Contrast | Saturation | Temperature | Lut
    | Vignette | Grain | ChromaticAberration | Bloom | MotionBlur | DepthOfField
    | Relight | Fog | Particles,
    Field(discriminator="op"),
]


class Chain(RootModel[list[AnyOp]]):
    """An ordered list of ops, at most MAX_OPS long; applied first to last."""

    root: list[AnyOp] = Field(default_factory=list, max_length=MAX_OPS)

    @property
    def ops(self) -> list[EffectOp]:
        return list(self.root)

    @property
    def is_animated(self) -> bool:
        """True when some op changes with time: render frames (WebP/GIF) to see it."""
        return any(op.is_animated for op in self.root)

    @property
    def uses_depth(self) -> bool:
        return any(op.uses_depth for op in self.root)

    @property
    def uses_normals(self) -> bool:
        return any(op.uses_normals for op in self.root)

    def to_json(self) -> list[dict[str, Any]]:
        """The chain as plain JSON data, every parameter written out (defaults included)."""
        return [op.model_dump(mode="json") for op in self.root]


class ChainError(ValueError):
    """An invalid chain. ``problems`` lists one message per fault; str() joins them."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid effects chain: " + "; ".join(problems))


def _describe(error: Any, data: Any) -> str:
    """One pydantic error as 'op <i> (<name>): parameter '<p>': <what is wrong> (got <value>)'."""
    loc = error["loc"]
    if not loc:
        if error["type"] == "too_long":
            return f"a chain holds at most {MAX_OPS} ops"
        return f"the chain must be a JSON list of ops: {error['msg']}"
    index = loc[0]
    item = data[index] if isinstance(data, list) and isinstance(index, int) and index < len(data) else None
    if error["type"] == "union_tag_invalid":
        tag = item.get("op") if isinstance(item, dict) else None
        return f"op {index}: unknown op {tag!r}; ops are: {', '.join(sorted(OPS))}"
    if error["type"] == "union_tag_not_found":
        return f"op {index}: missing 'op' (the op's name); ops are: {', '.join(sorted(OPS))}"
    if error["type"] == "model_attributes_type":
        return f"op {index}: must be an object like {{\"op\": \"exposure\", \"stops\": 0.5}}"
    name = loc[1] if len(loc) > 1 else "?"
    where = f"op {index} ({name})"
    if len(loc) <= 2:  # a check across parameters (model validator)
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    param = ".".join(str(p) for p in loc[2:])
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(f for f in OPS[str(name)].model_fields if f != "op")
        return f"{where}: unknown parameter {param!r}; parameters are: {allowed}"
    got = error.get("input")
    got_text = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"{where}: parameter {param!r}: {error['msg']}{got_text}"


def parse_chain(obj: Any, *, strict: bool = False) -> Chain:
    """Validate a chain given as a list of op objects, or as JSON text/bytes of one.

    Also accepts ``{"ops": [...]}``. Raises ChainError naming every fault (op index, op name,
    parameter, what is allowed). ``strict`` takes JSON types exactly as the schema says them (the
    API's choice): no ``true`` for a number or ``1`` for a boolean.
    """
    if isinstance(obj, Chain):
        return obj
    if isinstance(obj, str | bytes | bytearray):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise ChainError([f"the chain is not valid JSON: {exc}"]) from None
    if isinstance(obj, dict) and set(obj) == {"ops"}:
        obj = obj["ops"]
    if not isinstance(obj, list):
        raise ChainError([f"the chain must be a JSON list of ops, got {type(obj).__name__}"])
    try:
        if strict:  # through JSON, where strict mode still reads arrays as tuples (colours)
            return Chain.model_validate_json(json.dumps(obj, allow_nan=False), strict=True)
        return Chain.model_validate(obj)
    except ValueError as exc:
        if not isinstance(exc, ValidationError):  # json.dumps: NaN or infinity
            raise ChainError([f"the chain holds a number JSON cannot carry: {exc}"]) from None
        raise ChainError([_describe(e, obj) for e in exc.errors()]) from None
