"""benchmarks/speed.py reuses a teacher's quality rows only when they are comparable with the students'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks import speed

from scenecraft.evaluate.judges import WEIGHTS_DIR, read_version


def results_file(tmp_path: Path, judges: str, n: int = 32, steps: int = 20) -> Path:
    rows = [{"mode": "full", "material_fidelity": 0.5, "judges_version": judges}]
    path = tmp_path / "quality.json"
    path.write_text(json.dumps({"n": n, "steps": steps, "checkpoint": "bundled", "rows": rows}))
    return path


def test_teacher_rows_of_the_current_judges_are_reused(tmp_path: Path) -> None:
    rows = speed.teacher_rows_from(results_file(tmp_path, read_version(WEIGHTS_DIR)), 32, ["full"])
    assert [r["mode"] for r in rows] == ["full"]


def test_teacher_rows_of_other_judges_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"scored by judges \['judges-1'\], not the current"):
        speed.teacher_rows_from(results_file(tmp_path, "judges-1"), 32, ["full"])


def test_teacher_rows_of_another_run_are_refused(tmp_path: Path) -> None:
    current = read_version(WEIGHTS_DIR)
    with pytest.raises(SystemExit, match="not a 20-step run"):
        speed.teacher_rows_from(results_file(tmp_path, current, steps=30), 32, ["full"])
    with pytest.raises(SystemExit, match="lacks one of the modes"):
        speed.teacher_rows_from(results_file(tmp_path, current), 32, ["full", "context"])


class FlatPipe:
    """Stands in for a pipeline: every image one grey level."""

    def __init__(self, level: int) -> None:
        self.level = level

    def generate(self, specs: list[object], **_: object) -> list[object]:
        from PIL import Image

        return [Image.new("RGB", (4, 4), (self.level,) * 3) for _ in specs]


def test_image_difference_is_the_largest_level_difference() -> None:
    assert speed.image_difference(FlatPipe(10), FlatPipe(13), 4, [object()]) == 3
    assert speed.image_difference(FlatPipe(13), FlatPipe(10), 4, [object()]) == 3
    assert speed.image_difference(FlatPipe(7), FlatPipe(7), 4, [object()]) == 0


def test_pruned_weights_from_the_command_line_serve_pruned_4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scenecraft.model.checkpoints import load_scene_model
    from scenecraft.model.student import drop_blocks, save_student, student_from
    from scenecraft.variants import TEACHER_WEIGHTS
    from scenecraft.variants import WEIGHTS_DIR as BUNDLED

    path = tmp_path / "pruned.safetensors"  # the bundled teacher's student, two of its eight blocks kept
    save_student(drop_blocks(student_from(load_scene_model(BUNDLED / TEACHER_WEIGHTS)), [0, 7]), path)
    monkeypatch.setattr(speed, "PRUNED", path)
    monkeypatch.setattr(speed, "STUDENT", None)
    pipe, steps = speed.load("pruned-4")
    assert (pipe.variant.id, steps, len(pipe.model.blocks)) == ("pruned-4", 4, 2)
    assert speed.weight_paths() == {"PRUNED": path}
