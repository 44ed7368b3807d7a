"""Effects chains: a JSON list of ops, validated into typed, bounded pydantic models.

    [{"op": "exposure", "stops": 0.5}, {"op": "bloom", "strength": 0.6}, {"op": "vignette", "amount": 0.4}]

``parse_chain`` turns such a list (or its JSON text) into a ``Chain`` or raises ``ChainError``, whose
message names each fault by op index, op name and parameter, with what is allowed, e.g.

    op 1 (bloom): parameter 'strength': Input should be less than or equal to 3 (got 5.0)
    op 2: unknown op 'blom'; ops are: bloom, chromatic_aberration, contrast, ...
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, RootModel, ValidationError

from scenecraft.effects.grading import Contrast, Exposure, Lut, Saturation, Temperature
from scenecraft.effects.lens import Bloom, ChromaticAberration, DepthOfField, Grain, MotionBlur, Vignette
from scenecraft.effects.light import Fog, Relight
from scenecraft.effects.op import EffectOp
from scenecraft.effects.particles import Particles

OP_TYPES: tuple[type[EffectOp], ...] = (
    Exposure, Contrast, Saturation, Temperature, Lut,
    Vignette, Grain, ChromaticAberration, Bloom, MotionBlur, DepthOfField,
    Relight, Fog, Particles,
)
OPS: dict[str, type[EffectOp]] = {t.model_fields["op"].default: t for t in OP_TYPES}
MAX_OPS = 32

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


def parse_chain(obj: Any) -> Chain:
    """Validate a chain given as a list of op objects, or as JSON text/bytes of one.

    Raises ChainError naming every fault (op index, op name, parameter, what is allowed).
    """
    if isinstance(obj, Chain):
        return obj
    if isinstance(obj, str | bytes | bytearray):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise ChainError([f"the chain is not valid JSON: {exc}"]) from None
    if isinstance(obj, dict) and set(obj) == {"ops"}:
        obj = obj["ops"]  # also accept {"ops": [...]}
    if not isinstance(obj, list):
        raise ChainError([f"the chain must be a JSON list of ops, got {type(obj).__name__}"])
    try:
        return Chain.model_validate(obj)
    except ValidationError as exc:
        raise ChainError([_describe(e, obj) for e in exc.errors()]) from None
