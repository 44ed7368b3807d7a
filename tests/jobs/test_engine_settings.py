"""The generation engine's int8 setting is checked when a worker starts, not at its first job."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scenecraft.config import Settings
from scenecraft.jobs.engine import PipelineEngine
from scenecraft.model.quantize import QuantizationError


def test_an_unknown_int8_mode_fails_at_start() -> None:
    with pytest.raises(QuantizationError, match="unknown quantization 'int4'; valid: int8-dynamic, int8-weight"):
        PipelineEngine(None, "cpu", quantize="int4")


def test_the_setting_takes_only_the_int8_modes(tmp_path) -> None:
    with pytest.raises(ValidationError, match="quantize_model"):
        Settings(data_dir=tmp_path, quantize_model="int4")
    assert Settings(data_dir=tmp_path).quantize_model is None  # off by default


def test_without_torchao_the_worker_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torchao", None)  # import torchao -> ImportError
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)
    with pytest.raises(QuantizationError, match=r'pip install -e "\.\[quantize\]"'):
        PipelineEngine(None, "cpu", quantize="int8-dynamic")
