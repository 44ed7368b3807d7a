"""A job's size when it gives none: the model's default, which for the bundled model is its upsampled side."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.exceptions import RequestValidationError

from scenecraft.api.job_models import checked_params
from scenecraft.api.schemas import JobCreate
from scenecraft.families import library


@pytest.fixture
def with_upsampler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "seed-12M-x2.safetensors"
    path.write_bytes(b"")  # only its presence is read here (no torch in the API)
    monkeypatch.setattr(library, "BUNDLED_UPSAMPLER", path)
    return path


def test_the_bundled_model_defaults_to_its_upsampled_side(with_upsampler: Path) -> None:
    entry = library.bundled_entry()
    assert entry.native_size == (64, 64) and entry.default_size == (128, 128)
    assert entry.public(True)["default_size"] == [128, 128]
    params = checked_params(JobCreate(prompt="a red cube"), entry)
    assert (params["width"], params["height"]) == (128, 128)
    square = checked_params(JobCreate(prompt="a red cube", width=64), entry)  # one side: a square of it
    assert (square["width"], square["height"]) == (64, 64)
    # a platform serving its own checkpoint has no upsampler: the native side
    own = checked_params(JobCreate(prompt="a red cube"), entry, has_variants=False)
    assert (own["width"], own["height"]) == (64, 64)
    with pytest.raises(RequestValidationError, match=r"width 256 is outside 32\.\.128"):
        checked_params(JobCreate(prompt="a red cube", width=256), entry)


def test_without_the_upsampler_the_default_is_the_native_side(with_upsampler: Path) -> None:
    with_upsampler.unlink()
    entry = library.bundled_entry()
    assert entry.default_size == (64, 64)
    params = checked_params(JobCreate(prompt="a red cube"), entry)
    assert (params["width"], params["height"]) == (64, 64)
