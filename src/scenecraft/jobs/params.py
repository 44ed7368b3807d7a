"""What a job asks for, by kind: one discriminated pydantic model instead of string checks.

    JobParams = GenerateParams | EffectsParams     (discriminator: ``kind``)

The API validates a request (api/schemas.py, with bounds and readable messages) and stores its
``JobParams`` as the job row's ``params`` JSON and its ``kind`` in the row's own column. The worker
parses the row back with :func:`parse_params` and hands it to the handler of its kind
(jobs/handlers/). Rows written before the ``kind`` column existed (migration 0002) have no kind
there; :func:`parse_params` then reads ``params["kind"]``, and a row without either is a generate
job, which is what every such row was.

``batch_key`` is a method of each kind: generate jobs with equal keys share one forward pass;
an effects job has no forward pass to share, so each gets a key of its own.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Params(BaseModel):
    # Stored rows outlive code versions: a field a newer API wrote is ignored here, not fatal.
    model_config = ConfigDict(extra="ignore", frozen=True)


class GenerateParams(_Params):
    """A text-to-image job (prompt, optional context scene, subjects, effects on the result)."""

    kind: Literal["generate"] = "generate"
    prompt: str = ""
    negative_prompt: str = ""
    model: str = "seed-12M"
    variant: str | None = None  # a variant of the bundled model (scenecraft.variants); None: none/default
    width: int = 64
    height: int = 64
    steps: int = 20
    sampler: str = "euler"
    guidance: float = 3.0
    seed: int = 0
    class_label: int | None = None  # class-conditional models (family dit) only
    scene_asset_id: str | None = None
    subjects: list[dict[str, Any]] = Field(default_factory=list)  # {"prompt", "box"?, "pose"?}, API-validated
    inpaint: bool = False
    effects: list[dict[str, Any]] | None = None  # a chain rendered on the result (version 2)

    @property
    def mode(self) -> str:
        """Which pipeline a family model runs for it: inpaint, img2img (a context scene), pose
        (a ControlNet) or text."""
        if self.inpaint:
            return "inpaint"
        if self.scene_asset_id:
            return "scene"
        return "pose" if any(s.get("pose") for s in self.subjects) else "text"

    def batch_key(self) -> str:
        """Jobs with equal keys can share one forward pass: same model, variant, size, steps,
        sampler, guidance and mode (families run a different diffusers pipeline per mode)."""
        values = (self.model, self.variant, self.width, self.height, self.steps, self.sampler, self.guidance, self.mode)
        return "|".join(str(v) for v in values)


class EffectsParams(_Params):
    """Render ``chain`` on version ``version`` of ``asset_id``; the result is the asset's next version."""

    kind: Literal["effects"] = "effects"
    asset_id: str
    version: int
    chain: list[dict[str, Any]]

    def batch_key(self) -> str:
        return f"effects:{uuid.uuid4().hex}"


JobParams = Annotated[GenerateParams | EffectsParams, Field(discriminator="kind")]
JobKind = Literal["generate", "effects"]
KINDS: tuple[str, ...] = ("generate", "effects")
_ADAPTER: TypeAdapter[GenerateParams | EffectsParams] = TypeAdapter(JobParams)


def parse_params(params: dict[str, Any], kind: str | None = None) -> GenerateParams | EffectsParams:
    """A stored job's params as its typed model; ``kind`` is the row's column (None on old rows)."""
    resolved = kind or params.get("kind") or "generate"
    return _ADAPTER.validate_python({**params, "kind": resolved})


def to_row(params: GenerateParams | EffectsParams) -> dict[str, Any]:
    """The JSON stored in the row's ``params`` (``kind`` included, so older workers, which read
    ``params["kind"]``, still tell an effects job from a generate job during a rolling update)."""
    return params.model_dump(mode="json")
