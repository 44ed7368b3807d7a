"""Request and response models of the public API: bounds on every field (they become the OpenAPI
spec), separate Create / Public models, and checks that say what is wrong and what is allowed.

Every request model derives from `Strict`, which holds the rules common to all of them, so no field
can miss one: unknown fields are refused, JSON types are taken exactly (`true` is not a number, `1`
is not a boolean), and no text anywhere may hold a control character other than tab, newline and
carriage return (NUL included: PostgreSQL cannot store it), nor a lone surrogate. The spec says so
too: every string property carries TEXT_PATTERN unless it has a stricter pattern or an enum.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from scenecraft.auth.api_keys import SCOPES
from scenecraft.effects.chain import Chain, ChainError, parse_chain
from scenecraft.world.spec import ObjectMaterialName

Scope = Literal["jobs:read", "jobs:write", "assets:read", "assets:write"]
assert set(SCOPES) == set(Scope.__args__)  # type: ignore[attr-defined]

Id = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]
Username = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Password = Annotated[str, Field(min_length=8, max_length=256)]
TotpCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit TOTP code")]
# Every sampler name any family uses; which ones a model takes is in GET /v1/models (`samplers`).
Sampler = Literal["ddim", "ddpm", "euler", "heun", "dpm-solver++", "flow-dpm-solver", "flow-euler"]
ModelId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]


# Refused in text: C0 controls but tab, newline and carriage return; DEL and the C1 controls; lone
# surrogates (which no UTF-8 text can hold). TEXT_PATTERN says the same to clients (JSON Schema
# patterns cannot name surrogates, which JSON encoders do not produce anyway).
_FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"


def text_problem(value: str) -> str | None:
    """What is wrong with `value` as text of this API, or None."""
    found = _FORBIDDEN_TEXT.search(value)
    if found is None:
        return None
    return (
        f"contains the control character U+{ord(found.group()):04X} at position {found.start()}; "
        f"text may hold tabs and line breaks but no other control characters"
    )


def _check_texts(value: Any) -> None:
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_texts(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_texts(key)
            _check_texts(item)


def _integers(value: Any) -> Any:
    """JSON Schema's rule: a number with no fractional part (`64.0`) is an integer. Strict mode
    alone would refuse it for an integer field; booleans and strings stay what they are."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _integers(v) for k, v in value.items()}
    return value


def _text_pattern_in_schema(schema: dict[str, Any]) -> None:
    """Adds TEXT_PATTERN to every free string in a model's JSON schema (properties, items, anyOf)."""
    if schema.get("type") == "string" and not ({"pattern", "enum", "const", "format"} & set(schema)):
        schema["pattern"] = TEXT_PATTERN
    for key in ("properties",):
        for sub in schema.get(key, {}).values():
            _text_pattern_in_schema(sub)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in schema.get(key, []):
            _text_pattern_in_schema(sub)
    if isinstance(schema.get("items"), dict):
        _text_pattern_in_schema(schema["items"])
RecoveryCodeText = Annotated[
    str, Field(min_length=8, max_length=24, pattern=r"^[0-9A-Za-z -]+$", description="an MFA recovery code")
]


class Strict(BaseModel):
    """Base of every request model (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_text_pattern_in_schema)

    @model_validator(mode="before")
    @classmethod
    def _integral_numbers_are_integers(cls, data: Any) -> Any:
        return _integers(data)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        _check_texts(value)
        return value


# -- auth -------------------------------------------------------------------------------------
class LoginRequest(Strict):
    username: Username
    password: Annotated[str, Field(min_length=1, max_length=256)]
    totp: TotpCode | None = None
    recovery_code: RecoveryCodeText | None = Field(
        default=None, description="instead of `totp`: one of the recovery codes shown when MFA was turned on"
    )


class UserPublic(BaseModel):
    id: str
    username: str
    role: Literal["user", "admin"]
    mfa_enabled: bool
    created_at: datetime


class LoginResponse(BaseModel):
    csrf_token: str = Field(description="send as X-CSRF-Token on cookie-authenticated writes")
    user: UserPublic


class MfaEnrollResponse(BaseModel):
    provisioning_uri: str = Field(description="otpauth:// URI for an authenticator app (holds the secret)")


class MfaConfirm(Strict):
    code: TotpCode


class MfaConfirmed(BaseModel):
    user: UserPublic
    recovery_codes: list[str] = Field(description="single-use codes for when the authenticator is lost; shown once")


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="the new codes (the old ones no longer work); shown once")


class MfaStatus(BaseModel):
    enabled: bool
    recovery_codes_left: int


class MfaDisable(Strict):
    password: Annotated[str, Field(min_length=1, max_length=256)]
    code: Annotated[str, Field(min_length=6, max_length=24, pattern=r"^[0-9A-Za-z -]+$")] = Field(
        description="a TOTP code or an unused recovery code"
    )


class PasswordCurrent(Strict):
    password: Annotated[str, Field(min_length=1, max_length=256)]


class PasswordChange(Strict):
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class PasswordChanged(BaseModel):
    sessions_ended: int = Field(description="your other sessions, now signed out")


class UserCreate(Strict):
    username: Username
    password: Password
    role: Literal["user", "admin"] = "user"


class SessionPublic(BaseModel):
    id: str = Field(description="the session's id (a hash of its cookie; the cookie itself is never shown)")
    created_at: datetime
    last_seen_at: datetime
    current: bool = Field(description="the session this request came with")
    device: str = Field(description="browser and platform from the User-Agent at login, e.g. 'Firefox on Linux'")


class QueueStatus(BaseModel):
    depth: dict[str, int] = Field(description="jobs per status, all users")
    workers: int = Field(description="in-process workers of this API process (0: separate `scenecraft worker`s)")


class WebhookSecret(BaseModel):
    secret: str = Field(description="HMAC-SHA256 key for the Scenecraft-Signature header of your webhooks")


# -- keys -------------------------------------------------------------------------------------
class KeyCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=4)] = list(Scope.__args__)  # type: ignore[attr-defined]
    signed: bool = Field(default=False, description="requests must be HMAC-signed; the key is never sent")


class KeyPublic(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    signed: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="shown once; store it now")


# -- effects ----------------------------------------------------------------------------------
def checked_chain(value: Any) -> Chain:
    """parse_chain as a pydantic check: the 422 names every faulty op and parameter. The API takes
    the chain as the schema says, a JSON array of ops (not JSON text, not {"ops": ...}), strictly typed."""
    if not isinstance(value, list):
        raise ValueError(f"the chain must be a JSON array of ops, got {type(value).__name__}")
    if not value:
        raise ValueError("the chain is empty: give at least one op")
    try:
        return parse_chain(value, strict=True)
    except ChainError as exc:
        raise ValueError("; ".join(exc.problems)) from None


ChainField = Annotated[Chain, BeforeValidator(checked_chain), Field(json_schema_extra={"minItems": 1})]


class EffectsRequest(Strict):
    chain: ChainField = Field(description="ops applied first to last (see docs/effects.md); at most 32")
    version: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None, description="the version to render on; omit for the latest"
    )



# -- jobs -------------------------------------------------------------------------------------
class Pose(Strict):
    """SMPL pose: axis-angle per joint (radians) and shape coefficients."""

    body_pose: Annotated[list[Annotated[float, Field(ge=-6.3, le=6.3)]], Field(min_length=69, max_length=69)]
    global_orient: Annotated[list[Annotated[float, Field(ge=-6.3, le=6.3)]], Field(min_length=3, max_length=3)]
    betas: Annotated[list[Annotated[float, Field(ge=-10.0, le=10.0)]], Field(min_length=10, max_length=10)]


class Subject(Strict):
    prompt: Annotated[str, Field(min_length=1, max_length=500)]
    box: Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=4, max_length=4)] | None = Field(
        default=None, description="[x0, y0, x1, y1] in 0..1 of the frame, x0 < x1, y0 < y1"
    )
    pose: Pose | None = None

    @field_validator("box")
    @classmethod
    def _ordered(cls, box: list[float] | None) -> list[float] | None:
        if box is not None and not (box[0] < box[2] and box[1] < box[3]):
            raise ValueError(f"box must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1, got {box}")
        return box


class JobCreate(Strict):
    prompt: Annotated[str, Field(min_length=1, max_length=2000)]
    negative_prompt: Annotated[str, Field(max_length=2000)] = Field(
        default="", description="what to steer away from; models without support (see GET /v1/models) refuse it"
    )
    width: Annotated[int, Field(ge=32, le=4096, multiple_of=8)] | None = Field(
        default=None,
        description="pixels; omit both for the model's default (GET /v1/models `default_size`: 128 for the "
        "bundled model, sampled at 64 px and upsampled by its learned x2), one alone for a square; each "
        "model's range and multiple are its `size`",
    )
    height: Annotated[int, Field(ge=32, le=4096, multiple_of=8)] | None = Field(
        default=None, description="pixels; omit both for the model's default, one alone for a square"
    )
    steps: Annotated[int, Field(ge=1, le=200)] | None = Field(
        default=None, description="omit for the model's default (GET /v1/models `steps`)"
    )
    guidance: Annotated[float, Field(ge=0.0, le=30.0)] | None = Field(
        default=None,
        description="guidance of the prompt (1 = off); omit for the model's default; other conditions use "
        "the model's defaults",
    )
    seed: Annotated[int, Field(ge=0, le=2**53 - 1)] | None = Field(
        default=None,
        description="omit for a random seed; the chosen seed is stored, so reruns match. At most 2^53-1: "
        "every JSON number up to there is exact (JavaScript's Number.MAX_SAFE_INTEGER)",
    )
    sampler: Sampler | None = Field(
        default=None, description="omit for the model's own; the ones each model takes are in GET /v1/models"
    )
    model: ModelId | None = Field(
        default=None, description="an installed model's id (GET /v1/models); omit for the platform default"
    )
    variant: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None,
        description="variant of the bundled model (GET /v1/models `variants`: teacher-20, fast-4, ...); omit for "
        "the platform's default; other models have none",
    )
    class_label: Annotated[int, Field(ge=0, le=99_999)] | None = Field(
        default=None,
        description="the class of a class-conditional model (family dit, e.g. ImageNet 207); required there, "
        "refused by text models. The prompt does not steer such a model: it is stored as the job's caption",
    )
    scene_asset_id: Id | None = None
    subjects: Annotated[list[Subject], Field(max_length=8)] = []
    inpaint: bool = Field(
        default=False,
        description="paint the subjects into the scene asset: inside their boxes only, the rest of the scene is kept",
    )
    priority: Annotated[int, Field(ge=-10, le=10, description="orders your own jobs; higher first")] = 0
    webhook_url: AnyHttpUrl | None = Field(default=None, description="POSTed when the job ends (signed)")
    effects: ChainField | None = Field(
        default=None, description="rendered on the result: version 1 is the raw image, version 2 the effects"
    )


    @field_validator("webhook_url")
    @classmethod
    def _url_length(cls, url: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if url is not None and len(str(url)) > 2048:
            raise ValueError("webhook_url must be at most 2048 characters")
        return url

    @model_validator(mode="after")
    def _inpaint_needs_scene_and_boxes(self) -> JobCreate:
        if self.inpaint and self.scene_asset_id is None:
            raise ValueError("inpaint needs scene_asset_id: the scene to paint the subjects into")
        if self.inpaint and not any(s.box is not None for s in self.subjects):
            raise ValueError("inpaint needs at least one subject with a box: the boxes are where it paints")
        for i, s in enumerate(self.subjects):
            if s.pose is not None and s.box is None:
                raise ValueError(f"subjects[{i}] has a pose but no box: a pose is drawn into its subject's box")
        return self


class JobAccepted(BaseModel):
    id: str
    status: str


class Progress(BaseModel):
    step: int
    total: int


class JobPublic(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "dead", "cancelled"]
    priority: int
    params: dict[str, Any]
    attempts: int
    max_attempts: int
    cancel_requested: bool
    progress: Progress
    error: str | None
    asset_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_position: int | None = Field(
        default=None, description="for a queued job: 1 = next to run (approximate: fair share across users)"
    )


class JobPage(BaseModel):
    items: list[JobPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


# -- assets -----------------------------------------------------------------------------------
class AssetPublic(BaseModel):
    id: str
    kind: Literal["upload", "generated"]
    name: str
    latest_version: int
    source_job_id: str | None
    created_at: datetime


class AssetVersionPublic(BaseModel):
    number: int
    parent_number: int | None
    content_type: str
    width: int
    height: int
    sha256: str
    operation: dict[str, Any]
    created_at: datetime


class AssetPage(BaseModel):
    items: list[AssetPublic]
    next_cursor: str | None


class WorldSceneCreate(Strict):
    """A context scene rendered by the scene world (docs/world.md): a few choices, the rest defaults."""

    ground: ObjectMaterialName = "wood"
    background: ObjectMaterialName = "brick"
    light_azimuth_deg: Annotated[float, Field(ge=-360.0, le=360.0)] = 30.0
    light_elevation_deg: Annotated[float, Field(ge=5.0, le=90.0)] = 50.0
    size: Annotated[int, Field(ge=32, le=256, multiple_of=8)] = 128
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


# -- models -----------------------------------------------------------------------------------
class SizeRange(BaseModel):
    min: int
    max: int
    multiple_of: int


class StepRange(BaseModel):
    min: int
    max: int
    default: int


class GuidanceDefault(BaseModel):
    default: float


class ModelCapabilities(BaseModel):
    text: bool
    negative_prompt: bool
    context_scene: bool
    inpaint: bool
    regional_subjects: bool
    pose: bool
    image_prompt: bool


class ModelVariant(BaseModel):
    id: str
    steps: int
    passes_per_step: int
    default: bool


class ModelPublic(BaseModel):
    id: str
    family: str = Field(
        description="pixart-alpha, pixart-sigma, sana, sd3, flux, dit (class-conditional) or scene-dit (bundled)"
    )
    default: bool = Field(description="the model of jobs that name none")
    params: int = Field(description="parameters of the DiT itself")
    dtype: str
    native_size: list[int] = Field(description="[width, height] the model was trained at")
    default_size: list[int] = Field(
        description="[width, height] of a job that gives none (the bundled model: twice native_size, "
        "sampled at native_size and upsampled by its learned x2 upsampler)"
    )
    size: SizeRange
    square_only: bool = Field(default=False, description="width must equal height (the studio offers 1:1 only)")
    steps: StepRange
    samplers: list[str]
    guidance: GuidanceDefault
    capabilities: ModelCapabilities
    variants: list[ModelVariant]
    classes: int = Field(
        default=0, description="class-conditional models (family dit): jobs give class_label 0..classes-1; else 0"
    )


class ModelList(BaseModel):
    models: list[ModelPublic]


# -- service ----------------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]
