"""One settings object for the whole platform, read once at start-up.

Settings come from, highest priority first: keyword arguments, environment variables
(``SCENECRAFT_*``, nested with ``__``), a TOML file (``SCENECRAFT_CONFIG`` or
``<data_dir>/scenecraft.toml``), then the defaults below. Outside ``environment="development"``
the app refuses to start with a default secret (after full-stack-fastapi-template's
``_enforce_non_default_secrets``): a leaked default would let anyone forge sessions or read blobs.
"""

from __future__ import annotations

import base64
import os
import secrets
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# The int8 modes of model.quantize, here so that the settings and the CLIs need no torch to name them.
QuantMode = Literal["int8-dynamic", "int8-weight"]
QUANT_MODES: tuple[str, ...] = get_args(QuantMode)

# Placeholder secrets: fine on a laptop in development, refused anywhere else.
# bandit B105 waived: a placeholder that _enforce_safe_settings refuses outside development.
DEFAULT_SECRET_KEY = "changethis-development-secret-key"  # nosec B105
DEFAULT_MASTER_KEY = base64.b64encode(b"changethis-dev-master-key-32byte").decode()  # 32 bytes
CONFIG_FILE_NAME = "scenecraft.toml"


# Set by load_settings() for the duration of one Settings() call: the data dir given on the
# command line locates scenecraft.toml without touching the process environment.
_DATA_DIR: ContextVar[Path | None] = ContextVar("scenecraft_data_dir", default=None)


def _config_file_path() -> Path | None:
    given = _DATA_DIR.get()
    if given is not None and not os.environ.get("SCENECRAFT_CONFIG"):
        candidate = given / CONFIG_FILE_NAME
        return candidate if candidate.exists() else None
    explicit = os.environ.get("SCENECRAFT_CONFIG")
    if explicit:
        return Path(explicit)
    data_dir = os.environ.get("SCENECRAFT_DATA_DIR")
    if data_dir:
        candidate = Path(data_dir) / CONFIG_FILE_NAME
        return candidate if candidate.exists() else None
    return None


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the settings file (TOML); missing file = no values."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        if not self.path.exists():
            raise ValueError(f"settings file {self.path} does not exist (set by SCENECRAFT_CONFIG)")
        with self.path.open("rb") as f:
            return tomllib.load(f)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCENECRAFT_", env_nested_delimiter="__", extra="forbid", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    # Empty: SQLite (WAL) at <data_dir>/scenecraft.db. Otherwise any SQLAlchemy URL, e.g.
    # postgresql+psycopg://user@host/db
    database_url: str = ""

    # -- secrets --------------------------------------------------------------------------
    # Signs sessions/CSRF tokens and derives the key that encrypts TOTP and signing secrets.
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    # Master keys that wrap the per-blob data keys: {key_id: base64(32 bytes)}. New blobs use
    # `active_master_key_id`; `scenecraft admin rotate-keys` re-wraps old ones under it.
    master_keys: dict[str, SecretStr] = Field(default_factory=lambda: {"dev": SecretStr(DEFAULT_MASTER_KEY)})
    active_master_key_id: str = "dev"

    # -- storage --------------------------------------------------------------------------
    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_prefix: str = "blobs/"
    # Downloads of version content answer 302 to a presigned URL of a plaintext copy under
    # `s3_download_prefix` (SSE-S3 at rest instead of our envelope; docs/deploy.md). Off by default.
    s3_presigned_downloads: bool = False
    s3_download_prefix: str = "downloads/"
    s3_presign_seconds: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=1 << 31)
    max_upload_pixels: int = Field(default=4096 * 4096, ge=64 * 64, le=1 << 28)

    # -- HTTP -----------------------------------------------------------------------------
    max_body_bytes: int = Field(default=25 * 1024 * 1024, ge=1024, le=1 << 31)
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=24 * 30)
    cookie_secure: bool | None = None  # None: secure everywhere except development
    # TLS served by `scenecraft serve` itself (a single machine; behind an ingress the ingress
    # terminates TLS). Both or neither: PEM certificate chain and its private key.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Strict-Transport-Security. None: sent when TLS is served here or environment="production"
    # (which runs behind a TLS ingress, docs/deploy.md).
    hsts: bool | None = None
    ip_allow: list[str] = Field(default_factory=list)  # CIDRs; empty = everyone (minus deny)
    ip_deny: list[str] = Field(default_factory=list)
    # CIDRs of the reverse proxies in front of the API. Only a request whose TCP peer is in this
    # list has its X-Forwarded-For / X-Forwarded-Proto read (auth/gateway.py). Empty: never read.
    # The client address decides the per-IP limits, login throttles, audit records, ip_allow/deny.
    trusted_proxies: list[str] = Field(default_factory=list)
    signature_window_seconds: int = Field(default=300, ge=10, le=3600)
    # The built web studio served at `/` (`scripts/setup-web` builds web/dist). None: the repository's
    # web/dist when it exists; a missing folder leaves `/` unserved (the API works without it).
    web_dir: Path | None = None

    # -- rate limits (the `limits` library's notation, e.g. "120/minute") -----------------
    redis_url: str = ""  # empty: in-memory limits and in-process events (one process)
    rate_limit_ip: str = "600/minute"
    rate_limit_user: str = "300/minute"
    rate_limit_key: str = "300/minute"
    rate_limit_generation: str = "200/minute"  # cost units; one 64x64, 20-step image = 1 unit
    rate_limit_login: str = "10/minute"  # attempts per (client IP, username)
    # Failed logins per username from any address (a distributed guess at one account), and per
    # client address across all usernames (password spraying). Checked before the password is.
    rate_limit_login_account: str = "20/hour"
    rate_limit_login_ip: str = "60/hour"
    rate_limit_mfa: str = "5/5minute"

    # -- jobs -----------------------------------------------------------------------------
    embedded_workers: int = Field(default=1, ge=0, le=64)
    event_bus: Literal["auto", "memory", "postgres", "redis"] = "auto"
    lease_seconds: float = Field(default=30.0, gt=0.5, le=3600)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_backoff_seconds: float = Field(default=5.0, ge=0.0, le=3600)
    max_batch_size: int = Field(default=4, ge=1, le=64)
    quota_max_queued: int = Field(default=50, ge=1, le=100_000)  # per user, queued + running
    quota_max_running: int = Field(default=2, ge=1, le=1000)  # per user, at a time
    preview_every_steps: int = Field(default=1, ge=1, le=1000)
    # A queued job for a model no worker holds waits at most this long for a worker that holds it;
    # after that any worker claims it and swaps its resident model (jobs/queue.py `claim`).
    affinity_wait_seconds: float = Field(default=30.0, ge=0.0, le=86400)
    webhook_max_attempts: int = Field(default=5, ge=1, le=50)
    webhook_backoff_seconds: float = Field(default=2.0, ge=0.0, le=3600)
    # Webhook targets must resolve to public addresses (jobs/egress.py); these CIDRs are allowed
    # even though they are loopback, private, link-local, ... (e.g. ["10.20.0.0/16"] for an
    # in-cluster receiver). Empty: only public addresses.
    webhook_allow_private: list[str] = Field(default_factory=list)

    # -- fault injection (tests only; refused in production) -----------------------------
    # Seconds the blob store sleeps after writing a blob's bytes and before the caller's
    # transaction commits: the window in which tests/api/test_server_process.py kills the server.
    fault_pause_after_blob_write: float = Field(default=0.0, ge=0.0, le=600.0)

    # -- generation engine ----------------------------------------------------------------
    model: str = "seed-12M"  # the default model of jobs that name none (an id of `scenecraft models list`)
    checkpoint: str | None = None  # None: the bundled weights of the model
    device: str = "cpu"
    # The model library (docs/models.md): diffusers folders of real DiT families. None: <data_dir>/models.
    models_dir: Path | None = None
    model_dtype: Literal["float32", "bfloat16", "float16"] = "float32"  # library models; bfloat16 on GPUs
    attention_backend: str = Field(default="native", pattern=r"^[a-z0-9_]+$")  # diffusers' dispatch name
    cpu_offload: bool = False  # diffusers' model CPU offload: only the running component on the GPU
    img2img_strength: float = Field(default=0.6, gt=0.0, le=1.0)  # how far a context scene is re-noised
    resident_models: int = Field(default=1, ge=1, le=16)  # models a worker keeps loaded (LRU beyond)
    # torch.compile the model at worker start (a warm-up generation compiles it); off: on these
    # CPUs it does not pay for the bundled model (benchmarks/results/speed_compiled.json, docs/results.md).
    compile_model: bool = False
    # int8 the bundled model's linears at worker start (torchao, the "quantize" extra); off: on CPUs
    # without VNNI/AMX int8 measured slower than float32 (benchmarks/results/quantization.json).
    quantize_model: QuantMode | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls, _config_file_path()))

    @field_validator("ip_allow", "ip_deny", "trusted_proxies", "webhook_allow_private")
    @classmethod
    def _check_networks(cls, cidrs: list[str], info: ValidationInfo) -> list[str]:
        from scenecraft.auth.gateway import parse_networks

        parse_networks(cidrs, str(info.field_name))
        return cidrs

    @field_validator("master_keys")
    @classmethod
    def _check_master_keys(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        if not keys:
            raise ValueError("master_keys must hold at least one key: {key_id: base64 of 32 bytes}")
        for key_id, value in keys.items():
            try:
                raw = base64.b64decode(value.get_secret_value(), validate=True)
            except ValueError as exc:
                raise ValueError(f"master_keys[{key_id!r}] is not valid base64") from exc
            if len(raw) != 32:
                raise ValueError(f"master_keys[{key_id!r}] must decode to 32 bytes, got {len(raw)}")
        return keys

    @model_validator(mode="after")
    def _enforce_safe_settings(self) -> Settings:
        if self.active_master_key_id not in self.master_keys:
            raise ValueError(
                f"active_master_key_id {self.active_master_key_id!r} is not one of master_keys "
                f"({', '.join(sorted(self.master_keys))})"
            )
        if self.environment == "production" and self.fault_pause_after_blob_write:
            raise ValueError("fault_pause_after_blob_write is a test hook; it must be 0 in production")
        if self.environment != "development":
            if self.secret_key.get_secret_value() == DEFAULT_SECRET_KEY:
                raise ValueError(
                    f"secret_key is the development default; set SCENECRAFT_SECRET_KEY for "
                    f"environment={self.environment!r} (e.g. `python -c 'import secrets; "
                    f"print(secrets.token_urlsafe(48))'`)"
                )
            if any(v.get_secret_value() == DEFAULT_MASTER_KEY for v in self.master_keys.values()):
                raise ValueError(
                    f"master_keys holds the development default key; set your own for environment={self.environment!r}"
                )
        if len(self.secret_key.get_secret_value()) < 16:
            raise ValueError("secret_key must be at least 16 characters")
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("storage_backend='s3' needs s3_bucket")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both (PEM certificate chain and private key)")
        for name, path in (("tls_cert", self.tls_cert), ("tls_key", self.tls_key)):
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} is not a readable file")
        if self.s3_presigned_downloads and self.storage_backend != "s3":
            raise ValueError("s3_presigned_downloads needs storage_backend='s3'")
        if self.s3_presigned_downloads and self.s3_download_prefix == self.s3_prefix:
            raise ValueError("s3_download_prefix must differ from s3_prefix (it holds plaintext copies)")
        return self

    # -- derived values -------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'scenecraft.db').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def hsts_enabled(self) -> bool:
        return self.hsts if self.hsts is not None else (self.tls or self.environment == "production")

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.environment != "development"

    def master_key_bytes(self) -> dict[str, bytes]:
        return {k: base64.b64decode(v.get_secret_value()) for k, v in self.master_keys.items()}


def generate_secrets_toml(data_dir: Path, environment: str = "development") -> str:
    """A fresh settings file with random secrets, written by `scenecraft serve` on first run."""
    master = base64.b64encode(secrets.token_bytes(32)).decode()
    return (
        "# scenecraft settings, created on first run. Keep this file private (it holds secrets).\n"
        f'environment = "{environment}"\n'
        f'data_dir = "{data_dir.resolve()}"\n'
        f'secret_key = "{secrets.token_urlsafe(48)}"\n'
        'active_master_key_id = "k1"\n'
        "\n[master_keys]\n"
        f'k1 = "{master}"\n'
    )


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings for a command line run: `data_dir` (when given) also locates scenecraft.toml."""
    if data_dir is not None:
        overrides.setdefault("data_dir", data_dir)
    token = _DATA_DIR.set(data_dir)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _DATA_DIR.reset(token)


def write_settings_file(path: Path, values: dict[str, Any]) -> None:
    """Writes a flat TOML settings file (plus the [master_keys] table) atomically, mode 0600."""

    def literal(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(literal(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["# scenecraft settings. Keep this file private (it holds secrets)."]
    tables = {k: v for k, v in values.items() if isinstance(v, dict)}
    lines += [f"{k} = {literal(v)}" for k, v in values.items() if k not in tables]
    for name, table in tables.items():
        lines += ["", f"[{name}]"] + [f"{k} = {literal(v)}" for k, v in table.items()]
    from scenecraft.atomic_write import write_text

    write_text(path, "\n".join(lines) + "\n", perm=0o600)
