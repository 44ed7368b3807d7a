"""Settings: sources, validation, and refusal of default secrets outside development."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from scenecraft.config import DEFAULT_SECRET_KEY, Settings, generate_secrets_toml

GOOD_KEY = base64.b64encode(b"k" * 32).decode()


def test_development_defaults_work() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.environment == "development"
    assert s.secret_key.get_secret_value() == DEFAULT_SECRET_KEY
    assert s.resolved_database_url.startswith("sqlite:///")
    assert s.resolved_database_url.endswith("scenecraft.db")


@pytest.mark.parametrize("environment", ["production", "test"])
def test_default_secret_key_is_refused_outside_development(environment: str) -> None:
    with pytest.raises(ValidationError, match="secret_key is the development default"):
        Settings(environment=environment, master_keys={"a": GOOD_KEY}, active_master_key_id="a")


def test_default_master_key_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="master_keys holds the development default"):
        Settings(environment="production", secret_key="x" * 32)


def test_master_keys_must_be_32_bytes() -> None:
    short = base64.b64encode(b"k" * 16).decode()
    with pytest.raises(ValidationError, match=r"master_keys\['a'\] must decode to 32 bytes, got 16"):
        Settings(master_keys={"a": short}, active_master_key_id="a")


def test_active_key_must_exist() -> None:
    with pytest.raises(ValidationError, match="active_master_key_id 'b' is not one of master_keys"):
        Settings(master_keys={"a": GOOD_KEY}, active_master_key_id="b")


def test_environment_variables_and_nested_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENECRAFT_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("SCENECRAFT_MASTER_KEYS__z", GOOD_KEY)
    monkeypatch.setenv("SCENECRAFT_ACTIVE_MASTER_KEY_ID", "z")
    s = Settings()
    assert s.max_batch_size == 7
    assert s.master_key_bytes()["z"] == b"k" * 32


def test_settings_file_from_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scenecraft.toml").write_text(generate_secrets_toml(tmp_path, environment="production"))
    monkeypatch.setenv("SCENECRAFT_DATA_DIR", str(tmp_path))
    s = Settings()
    assert s.environment == "production"  # accepted: the file holds fresh random secrets
    assert s.active_master_key_id == "k1" and len(s.master_key_bytes()["k1"]) == 32
    assert s.secret_key.get_secret_value() != DEFAULT_SECRET_KEY


def test_missing_explicit_settings_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENECRAFT_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ValueError, match=r"nope.toml does not exist"):
        Settings()


def test_out_of_bounds_values_name_the_field() -> None:
    with pytest.raises(ValidationError, match="max_batch_size"):
        Settings(max_batch_size=0)


def test_the_fault_hook_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="fault_pause_after_blob_write is a test hook"):
        Settings(
            environment="production",
            secret_key="x" * 32,
            master_keys={"a": GOOD_KEY},
            active_master_key_id="a",
            fault_pause_after_blob_write=5,
        )
    assert Settings(environment="development", fault_pause_after_blob_write=5).fault_pause_after_blob_write == 5


@pytest.mark.parametrize("field", ["trusted_proxies", "webhook_allow_private", "ip_allow", "ip_deny"])
def test_network_lists_must_be_cidrs(field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field}: 'example.com' is not a CIDR block"):
        Settings(**{field: ["example.com"]})  # type: ignore[arg-type]
