"""`scenecraft generate`: end to end on a small checkpoint, and its error messages."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scenecraft.cli import main
from scenecraft.model import build_dit
from scenecraft.model.checkpoints import save_weights


@pytest.fixture(scope="module")
def pixel_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_dit("DiT-S/8", in_channels=3, input_size=32)
    with torch.no_grad():
        model.final_layer.linear.weight.normal_(0, 0.02)
    path = tmp_path_factory.mktemp("ckpt") / "s8.safetensors"
    save_weights(model, path)
    return path


def run_cli(*args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "scenecraft", *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def test_generate_writes_deterministic_pngs(pixel_checkpoint: Path, tmp_path: Path) -> None:
    common = [
        "generate",
        "--model",
        "DiT-S/8",
        "--checkpoint",
        str(pixel_checkpoint),
        "--steps",
        "3",
        "--size",
        "32",
        "--seed",
        "4",
        "--guidance",
        "2",
    ]
    assert main([*common, "--class-label", "3", "--class-label", "9", "--out", str(tmp_path / "a.png")]) == 0
    assert main([*common, "--class-label", "3", "--out", str(tmp_path / "b.png")]) == 0
    with Image.open(tmp_path / "a-0.png") as first:
        assert first.size == (32, 32)
    assert (tmp_path / "a-1.png").exists()
    # Image 0 of the batch has seed 4 and label 3, as the single image does: identical bytes.
    assert (tmp_path / "a-0.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "DiT-XXL/2"], "unknown model 'DiT-XXL/2'; valid names: DiT-XL/2, DiT-XL/4"),
        (["--checkpoint", "/nonexistent/ckpt.pt"], "checkpoint not found: /nonexistent/ckpt.pt"),
        (
            ["--size", "36"],
            "--size 36 is not divisible by the patch grid: DiT-S/8 in pixel space needs a multiple of 8",
        ),
        (["--sampler", "heun"], "sampler 'heun' is for flow models"),
    ],
)
def test_errors_are_clear(pixel_checkpoint: Path, tmp_path: Path, args: list[str], message: str) -> None:
    base = {"--model": "DiT-S/8", "--checkpoint": str(pixel_checkpoint), "--size": "32", "--steps": "1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [x for kv in base.items() for x in kv]
    code, output = run_cli("generate", *argv, "--out", str(tmp_path / "x.png"))
    assert code == 2
    assert message in output
    assert not (tmp_path / "x.png").exists()


def test_mismatched_checkpoint_names_the_difference(pixel_checkpoint: Path, tmp_path: Path) -> None:
    code, output = run_cli(
        "generate",
        "--model",
        "DiT-B/8",
        "--checkpoint",
        str(pixel_checkpoint),
        "--size",
        "32",
        "--out",
        str(tmp_path / "x.png"),
    )
    assert code == 2
    assert "x_embedder.proj.weight: checkpoint (384, 3, 8, 8) vs model (768, 3, 8, 8)" in output
    assert "looks like DiT-S/8" in output


def test_pixel_checkpoint_with_a_vae_is_explained(pixel_checkpoint: Path, tmp_path: Path) -> None:
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text("{}")
    code, output = run_cli(
        "generate",
        "--model",
        "DiT-S/8",
        "--checkpoint",
        str(pixel_checkpoint),
        "--size",
        "64",
        "--vae",
        str(tmp_path / "vae"),
        "--out",
        str(tmp_path / "x.png"),
    )
    assert code == 2
    assert "works on 3-channel pixels: give no VAE" in output


def test_list_models() -> None:
    code, output = run_cli("generate", "--list-models")
    assert code == 0 and "DiT-XL/2" in output and "675.1M" in output and "seed-12M" in output


def test_list_variants_and_variant_errors(tmp_path: Path) -> None:
    code, output = run_cli("generate", "--list-variants")
    assert code == 0 and "teacher-20" in output and "(default)" in output and "fast-4" in output
    code, output = run_cli("generate", "a cube", "--variant", "turbo", "--out", str(tmp_path / "x.png"))
    assert code == 2 and "unknown variant 'turbo'; valid variants: teacher-20" in output
    code, output = run_cli("generate", "a cube", "--variant", "teacher-20", "--vae", str(tmp_path))
    assert code == 2 and "--variant picks a variant of the bundled model" in output


def test_prompt_with_the_bundled_model(tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    code = main(
        [
            "generate",
            "a person waving next to a red metal sphere on grass",
            "--seed",
            "5",
            "--steps",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    with Image.open(out) as im:
        assert im.size == (128, 128)  # sampled at 64 px, then the shipped learned x2 upsampler
    again = tmp_path / "b.png"
    assert (
        main(
            [
                "generate",
                "a person waving next to a red metal sphere on grass",
                "--seed",
                "5",
                "--steps",
                "2",
                "--out",
                str(again),
            ]
        )
        == 0
    )
    assert out.read_bytes() == again.read_bytes()
    small = tmp_path / "c.png"  # --size 64: the samples themselves, which the 128-px image upsamples
    args = ["generate", "a person waving next to a red metal sphere on grass", "--seed", "5", "--steps", "2"]
    assert main([*args, "--size", "64", "--out", str(small)]) == 0
    from scenecraft.model.upsampler import load_upsampler
    from scenecraft.pipeline import BUNDLED_UPSAMPLER, to_pil

    with Image.open(small) as im, Image.open(out) as big:
        assert im.size == (64, 64)
        x = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)[None].float() / 127.5 - 1
        upsampled = np.asarray(to_pil(load_upsampler(BUNDLED_UPSAMPLER).upsample(x))[0], np.int16)
        diff = np.abs(upsampled - np.asarray(big.convert("RGB"), np.int16))
    # the 64-px PNG is rounded to 8 bits (the pipeline's samples are not): a few edge pixels move a few levels
    assert diff.mean() < 0.5 and (diff > 4).mean() < 0.001 and diff.max() <= 16


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a cube", "--inpaint"], "--inpaint needs --scene"),
        (["a cube", "--subject", "a cube@0.5,0.1,0.2,0.9"], "x0 < x1 and y0 < y1"),
        (["a cube", "--subject", "a person@0.1,0.1,0.4,0.9@moonwalk"], "unknown pose 'moonwalk'"),
        (["a cube", "--class-label", "3"], "scene models take a prompt"),
        (["a cube", "--scene", "/nonexistent.png"], "scene image not found"),
        (["a cube", "--scale", "subjects=lots"], "expected CONDITION=NUMBER"),
        (["a cube", "--sampler", "ddim"], "sampler 'ddim' is for epsilon models"),
        ([], "give a prompt"),
    ],
)
def test_scene_errors_are_clear(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = run_cli("generate", *args, "--steps", "1", "--out", str(tmp_path / "x.png"))
    assert code == 2, output
    assert message in output
    assert not (tmp_path / "x.png").exists()
