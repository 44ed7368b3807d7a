"""`scenecraft models list | inspect | verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenecraft.cli import main


def test_list_shows_every_model_and_what_it_can_do(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "list", "--models-dir", str(models_dir), "--data-dir", str(tmp_path), "--json"]) == 0
    listed = {m["id"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert listed["sd3"]["family"] == "sd3" and "pose" in listed["sd3"]["can"] and listed["sd3"]["runnable"]
    assert listed["sana"]["can"] == ["text", "negative_prompt"]


def test_inspect_names_what_a_path_is_not(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "inspect", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "is neither a diffusers folder (no model_index.json) nor a DiT checkpoint folder" in capsys.readouterr().err


def test_verify_loads_a_model_and_makes_an_image(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["models", "verify", "pixart-sigma", "--models-dir", str(models_dir), "--data-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "pixart-sigma: needs about" in out and "two 32x32 steps in" in out and out.rstrip().endswith("ok")
