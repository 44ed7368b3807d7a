"""Request and response models of the public API: bounds on every field (they become the OpenAPI
spec), separate Create / Public models, and checks that say what is wrong and what is allowed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from scenecraft.auth.api_keys import SCOPES
from scenecraft.effects.chain import Chain, ChainError, parse_chain
from scenecraft.variants import get_variant
from scenecraft.world.spec import ObjectMaterialName

Scope = Literal["jobs:read", "jobs:write", "assets:read", "assets:write"]
assert set(SCOPES) == set(Scope.__args__)  # type: ignore[attr-defined]

Id = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]
Username = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Password = Annotated[str, Field(min_length=8, max_length=256)]
TotpCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit TOTP code")]
MODELS = ("seed-12M",)
SAMPLERS = ("ddim",)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- auth -------------------------------------------------------------------------------------
class LoginRequest(Strict):
    username: Username
    password: Annotated[str, Field(min_length=1, max_length=256)]
    totp: TotpCode | None = None


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


class UserCreate(Strict):
    username: Username
    password: Password
    role: Literal["user", "admin"] = "user"


class SessionPublic(BaseModel):
    id: str = Field(description="the session's id (a hash of its cookie; the cookie itself is never shown)")
    created_at: datetime
    last_seen_at: datetime
    current: bool = Field(description="the session this request came with")


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
    """parse_chain as a pydantic check: the 422 names every faulty op and parameter."""
    try:
        return parse_chain(value)
    except ChainError as exc:
        raise ValueError("; ".join(exc.problems)) from None


ChainField = Annotated[Chain, BeforeValidator(checked_chain)]


class EffectsRequest(Strict):
    chain: ChainField = Field(description="ops applied first to last (see docs/effects.md); at most 32")
    version: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None, description="the version to render on; omit for the latest"
    )

    @field_validator("chain")
    @classmethod
    def _not_empty(cls, chain: Chain) -> Chain:
        if not chain.ops:
            raise ValueError("the chain is empty: give at least one op")
        return chain


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
    negative_prompt: Annotated[str, Field(max_length=2000)] = ""
    width: Annotated[int, Field(ge=32, le=1024, multiple_of=8)] = 64
    height: Annotated[int, Field(ge=32, le=1024, multiple_of=8)] = 64
    steps: Annotated[int, Field(ge=1, le=200)] | None = Field(
        default=None, description="sampling steps; omit for the variant's own (the bundled model's default: fast)"
    )
    guidance: Annotated[float, Field(ge=0.0, le=30.0)] = Field(
        default=3.0, description="guidance of the prompt (1 = off); other conditions use the model's defaults"
    )
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = Field(
        default=None, description="omit for a random seed; the chosen seed is stored, so reruns match"
    )
    sampler: Literal["ddim", "ddpm", "euler", "heun"] = Field(
        default="euler", description="euler or heun for flow models (seed-12M); ddim or ddpm for epsilon models"
    )
    model: Literal["seed-12M"] = "seed-12M"
    variant: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None,
        description="variant of the bundled model (teacher-20, fast-4, ...); omit for the platform's default",
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

    @field_validator("effects")
    @classmethod
    def _effects_not_empty(cls, chain: Chain | None) -> Chain | None:
        if chain is not None and not chain.ops:
            raise ValueError("the chain is empty: give at least one op, or leave effects out")
        return chain

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, variant: str | None) -> str | None:
        if variant is not None:
            get_variant(variant)  # a VariantError (a ValueError) names the valid ones
        return variant

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

    @model_validator(mode="after")
    def _square(self) -> JobCreate:
        if self.width != self.height:
            raise ValueError(
                f"width and height must be equal for now (the engine makes square images), "
                f"got {self.width}x{self.height}"
            )
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


# -- service ----------------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]
