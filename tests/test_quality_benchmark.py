"""benchmarks/quality.py's functions (issue 13 reads quality through them): requests, storage, keys."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from benchmarks import quality
from PIL import Image

from scenecraft.train.validation import held_out_requests


class CountingPipe:
    """Stands in for the pipeline: a flat image per request whose grey level is its seed."""

    def __init__(self) -> None:
        self.made: list[int] = []

    def generate(self, specs: list[Any], **_: Any) -> list[Image.Image]:
        self.made += [s.seed for s in specs]
        return [Image.new("RGB", (8, 8), (s.seed % 256,) * 3) for s in specs]


def test_generate_keeps_each_image_and_a_rerun_makes_only_the_missing_ones(tmp_path: Path) -> None:
    requests = list(range(5))
    pipe = CountingPipe()
    images, _ = quality.generate(pipe, requests, 8, 2, 2, seed0=10, store=tmp_path)
    assert pipe.made == [10, 11, 12, 13, 14] and [int(im[0, 0, 0]) for im in images] == [10, 11, 12, 13, 14]
    (tmp_path / "img_00003.png").unlink()
    again = CountingPipe()
    images2, _ = quality.generate(again, requests, 8, 2, 2, seed0=10, store=tmp_path)
    assert again.made == [13]
    assert all(np.array_equal(a, b) for a, b in zip(images, images2, strict=True))


def test_paraphrase_mode_keeps_boxes_and_poses_and_rewords_every_text() -> None:
    held = held_out_requests(6, 64)
    para = quality.mode_requests("paraphrase", held, 6, 64)
    for plain, other in zip(held.requests, para, strict=True):
        assert other.prompt != plain.prompt
        assert [s.box for s in other.subjects] == [s.box for s in plain.subjects]
        assert [s.pose for s in other.subjects] == [s.pose for s in plain.subjects]
        assert all(a.prompt != b.prompt for a, b in zip(other.subjects, plain.subjects, strict=True))


def test_summary_has_the_full_modes_keys_and_the_named_extras() -> None:
    def row(mode: str, value: float) -> dict[str, Any]:
        return {
            "mode": mode,
            **dict.fromkeys(quality.KEYS, value),
            "seconds_per_image": 1.0,
            "judges_version": "judges-x",
        }

    rows = [row("full", 0.5), row("paraphrase", 0.4), row("context", 0.6), row("ceiling", 0.9)]
    args = argparse.Namespace(checkpoint="bundled", n=64, steps=20)
    out = quality.summary(rows, args, held_out_requests(1, 64), 64)
    assert out["judges_version"] == "judges-x" and out["material_fidelity"] == 0.5
    assert out["count_accuracy"] == 0.5 and out["context_light_agreement"] == 0.6
    assert out["ceiling"]["layout_recall"] == 0.9
    assert abs(out["paraphrase"]["relative_to_full"]["binding"] - 0.8) < 1e-9


def _row(mode: str, judges: str = "judges-x") -> dict[str, Any]:
    return {"mode": mode, **dict.fromkeys(quality.KEYS, 0.5), "judges_version": judges}


def _results(path: Path, rows: list[dict[str, Any]], **settings: Any) -> Path:
    path.write_text(
        json.dumps({"checkpoint": "bundled", "n": 64, "steps": 20, "held_out_seed": 7, **settings, "rows": rows})
    )
    return path


def test_merge_adds_the_other_modes_rows_and_replaces_the_modes_run_again(tmp_path: Path) -> None:
    old = _results(tmp_path / "q.json", [{**_row("full"), "binding": 0.1}, _row("paraphrase"), _row("ceiling")])
    args = argparse.Namespace(checkpoint="bundled", n=64, steps=20)
    new = [_row("prompt"), {**_row("full"), "binding": 0.2}]
    rows = quality.merged_rows(old, new, args, 7)
    assert [r["mode"] for r in rows] == ["full", "prompt", "paraphrase", "ceiling"]
    assert rows[0]["binding"] == 0.2  # the row run here, not the old one


def test_merge_refuses_another_experiment_or_other_judges(tmp_path: Path) -> None:
    args = argparse.Namespace(checkpoint="bundled", n=64, steps=20)
    with pytest.raises(SystemExit, match="n 32 there, 64 here"):
        quality.merged_rows(_results(tmp_path / "a.json", [_row("full")], n=32), [_row("prompt")], args, 7)
    with pytest.raises(SystemExit, match="held_out_seed 7 there, 8 here"):
        quality.merged_rows(_results(tmp_path / "b.json", [_row("full")]), [_row("prompt")], args, 8)
    with pytest.raises(SystemExit, match=r"full row.*other judges than judges-y"):
        quality.merged_rows(_results(tmp_path / "c.json", [_row("full")]), [_row("prompt", "judges-y")], args, 7)
    with pytest.raises(SystemExit, match="does not exist"):
        quality.merged_rows(tmp_path / "missing.json", [_row("prompt")], args, 7)
    (tmp_path / "d.json").write_text("not json")
    with pytest.raises(SystemExit, match=r"not a quality\.py results file"):
        quality.merged_rows(tmp_path / "d.json", [_row("prompt")], args, 7)
