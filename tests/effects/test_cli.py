"""`scenecraft effects apply`: still and animated output, clear errors, and no output on failure."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from scenecraft.cli import UsageError
from scenecraft.effects import cli
from scenecraft.effects.render import tensor_to_image
from scenecraft.effects.test_image import make_test_image


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser)
    return cli.run(parser.parse_args(list(argv)))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    tensor_to_image(make_test_image(40, 60)).save(tmp_path / "in.png")
    (tmp_path / "chain.json").write_text(json.dumps([{"op": "exposure", "stops": 0.5}, {"op": "bloom"}]))
    return tmp_path


def test_apply_writes_a_still(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run("apply", "--chain", str(files / "chain.json"), str(files / "in.png"), str(files / "out.png")) == 0
    )
    with Image.open(files / "out.png") as out, Image.open(files / "in.png") as source:
        assert out.size == (60, 40)
        assert out.tobytes() != source.tobytes()
    assert "wrote" in capsys.readouterr().out


def test_apply_writes_an_animated_webp(files: Path) -> None:
    (files / "rain.json").write_text(json.dumps([{"op": "particles", "kind": "rain"}]))
    run(
        "apply",
        "--chain",
        str(files / "rain.json"),
        str(files / "in.png"),
        str(files / "out.webp"),
        "--frames",
        "5",
        "--fps",
        "10",
    )
    with Image.open(files / "out.webp") as out:
        assert out.n_frames == 5


def test_depth_map_file_is_used(files: Path) -> None:
    Image.new("L", (60, 40), 0).save(files / "depth.png")  # everything near: no fog
    (files / "fog.json").write_text(json.dumps([{"op": "fog", "density": 10}]))
    run(
        "apply",
        "--chain",
        str(files / "fog.json"),
        str(files / "in.png"),
        str(files / "out.png"),
        "--depth",
        str(files / "depth.png"),
    )
    with Image.open(files / "out.png") as out, Image.open(files / "in.png") as source:
        assert out.tobytes() == source.convert("RGB").tobytes()


@pytest.mark.parametrize(
    ("chain", "extra", "out_name", "message"),
    [
        ([{"op": "bloom", "strength": 9}], [], "out.png", "op 0 (bloom): parameter 'strength'"),
        ([{"op": "bloom"}], [], "out.bmp", "a still image must end in .jpeg, .jpg, .png, .webp"),
        ([{"op": "particles"}], ["--frames", "3"], "out.png", "animated output must end in .gif, .webp"),
        ([{"op": "particles"}], ["--frames", "3", "--fps", "500"], "out.gif", "fps must be in 1..60"),
        ([{"op": "fog"}], ["--depth", "missing.png"], "out.png", "not a readable image"),
    ],
)
def test_failures_name_the_problem_and_write_nothing(
    files: Path, chain: list, extra: list[str], out_name: str, message: str
) -> None:
    (files / "bad.json").write_text(json.dumps(chain))
    extra = [str(files / e) if e.endswith(".png") else e for e in extra]
    with pytest.raises(UsageError, match=re.escape(message)):
        run("apply", "--chain", str(files / "bad.json"), str(files / "in.png"), str(files / out_name), *extra)
    assert not (files / out_name).exists()
    assert sorted(p.name for p in files.iterdir()) == ["bad.json", "chain.json", "in.png"]


def test_unreadable_input_and_chain(files: Path) -> None:
    (files / "junk.png").write_bytes(b"nope")
    with pytest.raises(UsageError, match=r"junk\.png: not a readable image"):
        run("apply", "--chain", str(files / "chain.json"), str(files / "junk.png"), str(files / "o.png"))
    with pytest.raises(UsageError, match="cannot read"):
        run("apply", "--chain", str(files / "none.json"), str(files / "in.png"), str(files / "o.png"))
