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


def scored_rows(per_image: list[dict[str, list[int]]], mode: str = "full") -> list[dict[str, object]]:
    """A quality row as score_mode writes it: each metric the sum of hits over the sum judged."""
    row: dict[str, object] = {"mode": mode, "per_image": per_image}
    for metric in speed.METRICS:
        key = speed.PER_IMAGE.get(metric, metric)
        judged = sum(r[key][1] for r in per_image if key in r)
        row[metric] = sum(r[key][0] for r in per_image if key in r) / judged if judged else None
    return [row]


def images(rng, n: int, p: float) -> list[dict[str, list[int]]]:
    out = []
    for _ in range(n):
        judged = {k: int(rng.integers(1, 5)) for k in ("material_fidelity", "layout_recall", "pose_pck")}
        record = {k: [int(rng.binomial(v, p)), v] for k, v in judged.items()}
        record["count_accuracy"] = [int(rng.random() < p), 1]
        if rng.random() < 0.5:  # binding is judged only in some images
            record["attribute_binding"] = [int(rng.random() < p), 1]
        out.append(record)
    return out


def test_the_paired_interval_of_identical_or_uniformly_shifted_scores_has_no_width() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    teacher = scored_rows(images(rng, 40, 0.5))
    assert speed.paired_interval(teacher, teacher) == (1.0, 1.0)
    # every image scores the same: resampling cannot move either score
    flat = [{"material_fidelity": [1, 2], "count_accuracy": [0, 1]}] * 10
    better = [{"material_fidelity": [2, 2], "count_accuracy": [0, 1]}] * 10
    lo, hi = speed.paired_interval(scored_rows(flat), scored_rows(better))
    want = speed.quality_score(scored_rows(better)) / speed.quality_score(scored_rows(flat))
    assert lo == pytest.approx(want) and hi == pytest.approx(want) and want == pytest.approx(2.0)


def test_the_paired_interval_holds_the_ratio_and_pairing_narrows_it() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    first = images(rng, 64, 0.4)
    teacher = scored_rows(first)
    near = [dict(r) for r in first]  # the same images but for four, which lose a layout hit
    for r in near[:4]:
        r["layout_recall"] = [max(r["layout_recall"][0] - 1, 0), r["layout_recall"][1]]
    unrelated = scored_rows(images(rng, 64, 0.4))
    ratio = speed.quality_score(scored_rows(near)) / speed.quality_score(teacher)
    lo, hi = speed.paired_interval(teacher, scored_rows(near))
    assert lo <= ratio <= hi <= 1.0
    lo2, hi2 = speed.paired_interval(teacher, unrelated)
    assert lo2 <= speed.quality_score(unrelated) / speed.quality_score(teacher) <= hi2
    assert hi - lo < (hi2 - lo2) / 3  # a paired comparison of near-identical images is far tighter


def test_no_paired_interval_without_comparable_per_image_records() -> None:
    import numpy as np

    rng = np.random.default_rng(2)
    rows = scored_rows(images(rng, 8, 0.5))
    assert speed.paired_interval([{k: v for k, v in rows[0].items() if k != "per_image"}], rows) is None
    assert speed.paired_interval(rows, scored_rows(images(rng, 9, 0.5))) is None  # other requests
    assert speed.paired_interval(rows, scored_rows(images(rng, 8, 0.5), mode="context")) is None
