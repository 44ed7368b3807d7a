"""`scenecraft world render|sample` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from scenecraft.cli import main
from scenecraft.world.spec import SceneSpec


def test_render_writes_image_and_annotations(tmp_path: Path, two_objects: SceneSpec, capsys) -> None:
    spec = tmp_path / "scene.json"
    spec.write_text(two_objects.model_dump_json())
    out = tmp_path / "img.png"
    assert main(["world", "render", "--spec", str(spec), "--size", "96", "--out", str(out)]) == 0
    with Image.open(out) as img:
        assert img.size == (96, 96)
    ann = json.loads(out.with_suffix(".json").read_text())
    assert [s["shape"] for s in ann["subjects"]] == ["cube", "sphere"] and ann["caption"]
    assert ann["caption"] in capsys.readouterr().out


def test_sample_writes_pairs_and_a_contact_sheet(tmp_path: Path) -> None:
    out = tmp_path / "set"
    assert main(["world", "sample", "--n", "3", "--seed", "0", "--size", "48", "--out", str(out)]) == 0
    stems = sorted(p.stem for p in out.glob("scene_*.png"))
    assert stems == ["scene_00000", "scene_00001", "scene_00002"]
    assert sorted(p.stem for p in out.glob("scene_*.json")) == stems
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (2 + 2 * 50, 2 + 2 * 50)


def test_bad_input_exits_2_with_the_reason(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["world", "render", "--spec", str(tmp_path / "x.json"), "--size", "2000", "--out", "a.png"])
    assert e.value.code == 2 and "--size must be between 32 and 1024" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"subjects": [{"kind": "object", "shape": "cube", "material": "cheese", "colour": "red"}]}')
    with pytest.raises(SystemExit) as e:
        main(["world", "render", "--spec", str(bad), "--out", str(tmp_path / "a.png")])
    assert e.value.code == 2 and "material" in capsys.readouterr().err
