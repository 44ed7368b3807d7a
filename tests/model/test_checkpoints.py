"""Checkpoints written in the official key layout load strictly; mismatches are explained."""

import argparse
from pathlib import Path

import pytest
import torch

from scenecraft.model import build_dit
from scenecraft.model.checkpoints import CheckpointError, infer_dit_config, load_weights, read_state_dict, save_weights


def official_layout(depth: int, D: int, patch: int, grid: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the key names and shapes of the official DiT code (models.py), written out
    by hand from that layout, with random values."""
    g = torch.Generator().manual_seed(seed)
    shapes: dict[str, tuple[int, ...]] = {
        "pos_embed": (1, grid * grid, D),
        "x_embedder.proj.weight": (D, 4, patch, patch),
        "x_embedder.proj.bias": (D,),
        "t_embedder.mlp.0.weight": (D, 256),
        "t_embedder.mlp.0.bias": (D,),
        "t_embedder.mlp.2.weight": (D, D),
        "t_embedder.mlp.2.bias": (D,),
        "y_embedder.embedding_table.weight": (1001, D),
        "final_layer.linear.weight": (patch * patch * 8, D),
        "final_layer.linear.bias": (patch * patch * 8,),
        "final_layer.adaLN_modulation.1.weight": (2 * D, D),
        "final_layer.adaLN_modulation.1.bias": (2 * D,),
    }
    for i in range(depth):
        shapes |= {
            f"blocks.{i}.attn.qkv.weight": (3 * D, D),
            f"blocks.{i}.attn.qkv.bias": (3 * D,),
            f"blocks.{i}.attn.proj.weight": (D, D),
            f"blocks.{i}.attn.proj.bias": (D,),
            f"blocks.{i}.mlp.fc1.weight": (4 * D, D),
            f"blocks.{i}.mlp.fc1.bias": (4 * D,),
            f"blocks.{i}.mlp.fc2.weight": (D, 4 * D),
            f"blocks.{i}.mlp.fc2.bias": (D,),
            f"blocks.{i}.adaLN_modulation.1.weight": (6 * D, D),
            f"blocks.{i}.adaLN_modulation.1.bias": (6 * D,),
        }
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


def test_official_layout_loads_strict(tmp_path: Path) -> None:
    state = official_layout(depth=12, D=384, patch=2, grid=16)
    path = tmp_path / "DiT-S-2-256x256.pt"
    torch.save(state, path)
    model = build_dit("DiT-S/2", input_size=32)
    load_weights(model, read_state_dict(path))
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_training_checkpoint_loads_its_ema_weights(tmp_path: Path) -> None:
    raw = official_layout(depth=2, D=64, patch=4, grid=4, seed=1)
    ema = official_layout(depth=2, D=64, patch=4, grid=4, seed=2)
    path = tmp_path / "0400000.pt"
    # As the official train.py writes it, DDP prefix and argparse.Namespace included.
    torch.save(
        {
            "model": {f"module.{k}": v for k, v in raw.items()},
            "ema": ema,
            "opt": {"state": {}, "param_groups": []},
            "args": argparse.Namespace(model="DiT-S/4", image_size=128),
        },
        path,
    )
    state = read_state_dict(path)
    assert torch.equal(state["blocks.1.attn.qkv.weight"], ema["blocks.1.attn.qkv.weight"])


def test_safetensors_round_trip(tmp_path: Path) -> None:
    model = build_dit("DiT-S/8", input_size=16)
    save_weights(model, tmp_path / "m.safetensors")
    other = build_dit("DiT-S/8", input_size=16)
    load_weights(other, read_state_dict(tmp_path / "m.safetensors"))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True))


def test_infer_config_from_official_layout() -> None:
    config = infer_dit_config(official_layout(depth=3, D=384, patch=4, grid=8))
    assert config is not None
    assert (config.depth, config.hidden_size, config.patch_size, config.input_size, config.num_heads) == (
        3,
        384,
        4,
        32,
        6,
    )
    assert config.learn_sigma and config.num_classes == 1000


def test_mismatch_names_keys_and_shapes(tmp_path: Path) -> None:
    state = official_layout(depth=12, D=384, patch=2, grid=16)  # DiT-S/2 at 256 px
    del state["blocks.3.mlp.fc1.bias"]
    state["extra.weight"] = torch.zeros(1)
    model = build_dit("DiT-B/2")
    with pytest.raises(CheckpointError) as exc:
        load_weights(model, state, source="checkpoint s2.pt")
    message = str(exc.value)
    assert "1 missing keys: blocks.3.mlp.fc1.bias" in message
    assert "1 unexpected keys: extra.weight" in message
    assert "x_embedder.proj.weight: checkpoint (384, 4, 2, 2) vs model (768, 4, 2, 2)" in message
    assert "looks like DiT-S/2 at 256 px" in message and "the model is DiT-B/2" in message


def test_missing_unreadable_and_unsafe_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        read_state_dict(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_state_dict(tmp_path / "junk.pt")
    torch.save({"w": torch.zeros(1), "hook": Path("/etc/passwd")}, tmp_path / "unsafe.pt")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_state_dict(tmp_path / "unsafe.pt")  # weights_only refuses arbitrary objects


def test_a_meta_built_model_takes_the_checkpoint_tensors_in_the_model_dtypes() -> None:
    """assign=True (how the pipeline loads, holding the weights once): equal values, model dtypes,
    frozen pos_embed still frozen, nothing left on the meta device."""
    state = {k: v.half() for k, v in official_layout(depth=2, D=64, patch=4, grid=4, seed=3).items()}
    with torch.device("meta"):
        model = build_dit("DiT-S/4", depth=2, hidden_size=64, num_heads=4, input_size=16)
    load_weights(model, state, assign=True)
    for key, value in model.state_dict().items():
        assert value.device.type == "cpu" and value.dtype == torch.float32, key
        assert torch.equal(value, state[key].float()), key
    assert not model.pos_embed.requires_grad and model.blocks[0].attn.qkv.weight.requires_grad


def test_a_scene_model_file_derives_its_sin_cos_table_bit_for_bit(tmp_path: Path) -> None:
    import json

    from safetensors import safe_open

    from scenecraft.model.checkpoints import load_scene_model, save_scene_model
    from tests.model.test_student import teacher

    model = teacher()
    path = tmp_path / "m.safetensors"
    save_scene_model(model, path, dtype=torch.float16)
    with safe_open(str(path), framework="pt") as f:
        assert "pos_embed" not in list(f.keys())
        assert json.loads(f.metadata()["derived"]) == {"pos_embed": "float16"}
    read = read_state_dict(path)["pos_embed"]
    assert read.dtype == torch.float16 and torch.equal(read, model.pos_embed.detach().half())
    loaded = load_scene_model(path)
    assert torch.equal(loaded.pos_embed, model.pos_embed.detach().half().float())
    # a table that is not the sin-cos one is kept in the file, never replaced
    with torch.no_grad():
        model.pos_embed.add_(0.5)
    save_scene_model(model, path)
    with safe_open(str(path), framework="pt") as f:
        assert "pos_embed" in list(f.keys()) and "derived" not in f.metadata()
    assert torch.equal(load_scene_model(path).pos_embed, model.pos_embed)


def test_the_bundled_model_loads_its_derived_table_as_once_stored() -> None:
    from scenecraft.model.checkpoints import load_scene_model
    from scenecraft.model.dit import get_2d_sincos_pos_embed
    from scenecraft.variants import TEACHER_WEIGHTS, WEIGHTS_DIR

    model = load_scene_model(WEIGHTS_DIR / TEACHER_WEIGHTS)
    table = torch.from_numpy(get_2d_sincos_pos_embed(256, 32, 32)).float().half().float()
    assert torch.equal(model.pos_embed[0], table)  # what the file held before the table was derived
