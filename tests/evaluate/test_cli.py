"""`scenecraft eval score|freeze` end to end, and the versioned weights' manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scenecraft.cli import main
from scenecraft.evaluate.judges import WEIGHTS_DIR, Evaluators, JudgesError, freeze, read_version


def test_score_prints_and_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    assert main(["eval", "score", "--n", "2", "--seed", "5", "--size", "64", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert f"judges {Evaluators.load().version}" in printed and "material accuracy" in printed
    for key in ("material_accuracy", "detection_recall", "keypoint_pck"):
        assert 0.0 <= report[key] <= 1.0
    with pytest.raises(SystemExit) as exc:
        main(["eval", "score", "--n", "0"])
    assert exc.value.code == 2 and "--n must be >= 1, got 0" in capsys.readouterr().err


def test_the_shipped_judges_are_frozen_and_changed_weights_are_refused(tmp_path: Path) -> None:
    manifest = json.loads((WEIGHTS_DIR / "judges.json").read_text())
    assert read_version(WEIGHTS_DIR) == manifest["version"] == Evaluators.load().version
    d = tmp_path / "w"
    shutil.copytree(WEIGHTS_DIR, d)
    (d / "judges.json").unlink()
    assert read_version(d).startswith("unversioned-")
    freeze(d, "test-1")
    assert read_version(d) == "test-1"
    data = bytearray((d / "material.safetensors").read_bytes())
    data[-1] ^= 1  # one bit of one weight
    (d / "material.safetensors").write_bytes(bytes(data))
    with pytest.raises(JudgesError, match=r"material\.safetensors does not match .*version test-1"):
        Evaluators.load(d)
    (d / "material.safetensors").unlink()
    with pytest.raises(JudgesError, match=r"material\.safetensors is missing"):
        freeze(d, "test-2")
