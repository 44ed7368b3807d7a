"""Single-file transformer checkpoints: run with a base diffusers folder of their family and shape,
or listed as not runnable with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from scenecraft.families import tiny
from scenecraft.families.library import scan
from scenecraft.families.runner import FamilyRunner, FamilySample


def finetuned(base: Path, family: str) -> dict[str, torch.Tensor]:
    """The base's transformer with every weight moved: a stand-in for a fine-tune's one file."""
    import diffusers

    cls = getattr(diffusers, {"sd3": "SD3Transformer2DModel", "flux": "FluxTransformer2DModel"}[family])
    transformer = cls.from_pretrained(base / "transformer", local_files_only=True)
    g = torch.Generator().manual_seed(7)
    return {k: (v + 0.05 * torch.randn(v.shape, generator=g)).contiguous() for k, v in transformer.state_dict().items()}


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("single-file")
    for family in ("sd3", "flux"):
        tiny.build(family, root / f"{family}-base", size=32)
        save_file(finetuned(root / f"{family}-base", family), str(root / f"{family}-finetune.safetensors"))
    # a FLUX file one double block short of the only FLUX base: no base fits it
    state = finetuned(root / "flux-base", "flux")
    last = max(int(k.split(".")[1]) for k in state if k.startswith("transformer_blocks."))
    save_file(
        {k: v for k, v in state.items() if not k.startswith(f"transformer_blocks.{last}.")},
        str(root / "odd.safetensors"),
    )
    save_file({"transformer_blocks.0.attn2.to_q.weight": torch.zeros(4, 4)}, str(root / "pixart-one.safetensors"))
    return root


def test_a_single_file_gets_a_base_of_its_shape_or_says_what_is_missing(library_dir: Path) -> None:
    library = scan(library_dir)
    for family in ("sd3", "flux"):
        entry = library.entries[f"{family}-finetune"]
        assert entry.runnable and entry.base == library_dir / f"{family}-base" and entry.layout == "single-file"
        assert set(entry.components) == set(library.entries[f"{family}-base"].components)
    odd = library.entries["odd"]
    assert (
        odd.problem is not None and "there is none in the model library" in odd.problem and "blocks 0+1" in odd.problem
    )
    pixart = library.entries["pixart-one"]
    assert (
        pixart.problem is not None
        and "diffusers cannot load a PixArt-Σ transformer from a single file" in pixart.problem
    )
    assert {m["id"] for m in library.public()} >= {"sd3-finetune", "flux-finetune"}
    assert "odd" not in {m["id"] for m in library.public()}


@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_a_single_file_makes_the_image_of_its_weights(library_dir: Path, family: str) -> None:
    import diffusers

    entry = scan(library_dir).entries[f"{family}-finetune"]
    guidance = entry.family.guidance_default
    (image,) = FamilyRunner(entry).generate(
        [FamilySample(3, "a red cube")], width=32, height=32, steps=3, guidance=guidance
    )
    # reference: the base pipeline with the file's tensors put into its transformer by hand
    cls = getattr(diffusers, entry.family.pipelines[0])
    reference = cls.from_pretrained(library_dir / f"{family}-base", local_files_only=True)
    reference.transformer.load_state_dict(finetuned(library_dir / f"{family}-base", family), strict=True)
    reference.set_progress_bar_config(disable=True)
    expected = reference(
        prompt="a red cube",
        height=32,
        width=32,
        num_inference_steps=3,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(3),
        max_sequence_length=16,
    ).images[0]
    base = cls.from_pretrained(library_dir / f"{family}-base", local_files_only=True)
    base.set_progress_bar_config(disable=True)
    unchanged = base(
        prompt="a red cube",
        height=32,
        width=32,
        num_inference_steps=3,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(3),
        max_sequence_length=16,
    ).images[0]
    ours, want = np.asarray(image, np.int16), np.asarray(expected, np.int16)
    assert np.abs(ours - want).max() <= 1
    assert np.abs(want - np.asarray(unchanged, np.int16)).mean() > 1  # the file's weights, not the base's
