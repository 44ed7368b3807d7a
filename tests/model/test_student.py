"""Students: made from a teacher they compute its conditional velocity exactly, the scales and
step size are real inputs, depth pruning equals the teacher with the dropped blocks switched off,
and a saved student loads back bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scenecraft.model.checkpoints import CheckpointError, read_scene_metadata, save_scene_model
from scenecraft.model.conditioning import CONDITIONS, SceneDiT
from scenecraft.model.dit import DiTConfig
from scenecraft.model.student import (
    LORA_FORMAT,
    PACKED,
    adapter_tensors,
    add_lora,
    drop_blocks,
    has_lora,
    is_student,
    load_student,
    merge_lora,
    pack,
    save_student,
    save_student_adapter,
    student_from,
)
from tests.model.test_conditioning import BASE, COND, random_conditions


def teacher(depth: int = 2, seed: int = 0) -> SceneDiT:
    torch.manual_seed(seed)
    config = DiTConfig(**{**BASE.__dict__, "depth": depth})
    model = SceneDiT(config, COND)
    with torch.no_grad():  # every zero-initialised path gets weights, so each module matters
        for p in model.parameters():
            if p.requires_grad and not p.any():
                p.normal_(0, 0.05)
    return model.eval()


def inputs(n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 16, 16, generator=g), torch.rand(n, generator=g) * 1000


def test_student_from_teacher_is_the_teacher_before_training() -> None:
    model = teacher()
    student = student_from(model).eval()
    assert is_student(student) and not is_student(model)
    x, t = inputs()
    cond = random_conditions(3)
    scales = torch.tensor([3.0, 1.5, 2.0, 1.5, 1.0])
    with torch.no_grad():
        expected = model(x, t, cond)
        got = student(x, pack(t, scales, 0.25), cond)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_scales_and_step_size_are_inputs() -> None:
    student = student_from(teacher()).eval()
    with torch.no_grad():
        student.t_embedder.guidance.mlp[-1].weight.normal_(0, 0.1)
    x, t = inputs()
    cond = random_conditions(3)
    base = torch.ones(len(CONDITIONS))
    with torch.no_grad():
        a = student(x, pack(t, base, 0.25), cond)
        b = student(x, pack(t, base * 3, 0.25), cond)
        c = student(x, pack(t, base, 1.0), cond)
    assert (a - b).abs().max() > 1e-4 and (a - c).abs().max() > 1e-4


def test_a_plain_timestep_is_refused() -> None:
    student = student_from(teacher()).eval()
    x, t = inputs()
    with pytest.raises(ValueError, match=f"packed as \\(N, {PACKED}\\)"):
        student(x, t, random_conditions(3))


def test_pruning_equals_the_model_with_the_dropped_blocks_switched_off() -> None:
    model = student_from(teacher(depth=4)).eval()
    pruned = drop_blocks(model, [0, 1]).eval()
    assert len(pruned.blocks) == 2 and len(pruned.ground_blocks) == 1
    # Reference: the full model with blocks 2, 3 made the identity (adaLN gates and cross-attention
    # outputs at zero) and the grounding after block 3 gated off.
    with torch.no_grad():
        for i in (2, 3):
            model.blocks[i].adaLN_modulation[-1].weight.zero_()
            model.blocks[i].adaLN_modulation[-1].bias.zero_()
            model.cross_blocks[i].proj.weight.zero_()
            model.cross_blocks[i].proj.bias.zero_()
        model.ground_blocks[1].gamma.zero_()
    x, t = inputs()
    cond = random_conditions(3)
    packed = pack(t, torch.full((5,), 2.0), 0.5)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x, packed, cond), model(x, packed, cond), rtol=1e-5, atol=1e-6)


def test_pruning_refuses_bad_indices() -> None:
    with pytest.raises(ValueError, match="increasing block indices"):
        drop_blocks(teacher(depth=4), [2, 1])
    with pytest.raises(ValueError, match="increasing block indices"):
        drop_blocks(teacher(depth=4), [0, 4])


def test_save_and_load(tmp_path) -> None:
    student = student_from(teacher()).eval()
    with torch.no_grad():
        student.t_embedder.guidance.mlp[-1].weight.normal_(0, 0.1)
    path = tmp_path / "s.safetensors"
    save_student(student, path, extra={"step_counts": [1, 4]})
    loaded = load_student(path).eval()
    assert loaded.extra["step_counts"] == [1, 4]
    x, t = inputs()
    cond = random_conditions(3)
    packed = pack(t, torch.full((5,), 2.0), 0.25)
    with torch.no_grad():  # stored in float16: equal to the float16-rounded weights
        student.half().float()
        torch.testing.assert_close(loaded(x, packed, cond), student(x, packed, cond), rtol=0, atol=0)
    plain = tmp_path / "teacher.safetensors"
    save_scene_model(teacher(), plain)
    with pytest.raises(CheckpointError, match="not a student"):
        load_student(plain)


def adapter_run(tmp_path: Path, rank: int = 2) -> tuple[SceneDiT, SceneDiT, Path]:
    """A teacher saved as the adapter's base, and a student being trained as an adapter on it, its
    updates, biases and guidance embedder set to float16-exact values (what a saved adapter holds)."""
    from scenecraft.model.checkpoints import load_scene_model

    base = tmp_path / "teacher.safetensors"
    save_scene_model(teacher(), base, dtype=torch.float16)
    loaded_teacher = load_scene_model(base).eval()
    student = add_lora(student_from(load_scene_model(base)), rank).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name in adapter_tensors(student):
            source = dict(student.named_parameters()).get(name)
            if source is None:  # a low-rank factor: find the parameter behind it
                module, part = name.rsplit(".", 1)
                source = getattr(student.get_submodule(module).parametrizations.weight[0], part)
            source.copy_((source + torch.randn(source.shape, generator=g) * 0.05).half().float())
    return loaded_teacher, student, base


def test_an_adapter_starts_as_the_teacher_and_trains_only_its_own_tensors(tmp_path) -> None:
    from scenecraft.model.checkpoints import load_scene_model

    base = tmp_path / "teacher.safetensors"
    save_scene_model(teacher(), base)
    model = load_scene_model(base).eval()
    student = add_lora(student_from(load_scene_model(base)), 4).eval()
    assert has_lora(student)
    x, t = inputs()
    cond = random_conditions(3)
    with torch.no_grad():
        torch.testing.assert_close(student(x, pack(t, torch.full((5,), 2.0), 0.25), cond), model(x, t, cond))
    trained = {n for n, p in student.named_parameters() if p.requires_grad}
    assert "blocks.0.attn.qkv.parametrizations.weight.0.lora_A" in trained
    assert "blocks.0.attn.qkv.bias" in trained and "t_embedder.guidance.mlp.2.weight" in trained
    assert not any(".original" in n for n in trained)  # the teacher's weights stay
    assert "scene_encoder.patch.weight" not in trained and "pos_embed" not in trained
    with pytest.raises(ValueError, match="rank must be >= 1"):
        add_lora(student_from(model), 0)


def test_a_saved_adapter_loads_merged_and_computes_what_it_trained(tmp_path) -> None:
    _, student, base = adapter_run(tmp_path)
    path = tmp_path / "adapter.safetensors"
    save_student_adapter(student, path, base=base, extra={"step_counts": [4]})
    assert path.stat().st_size < base.stat().st_size / 4  # no copy of the teacher's weights
    loaded = load_student(path).eval()
    assert loaded.extra["format"] == LORA_FORMAT and loaded.extra["base"] == "teacher.safetensors"
    assert not has_lora(loaded)  # plain linears: runs as fast as a whole student
    x, t = inputs()
    cond = random_conditions(3)
    packed = pack(t, torch.full((5,), 2.0), 0.25)
    with torch.no_grad():
        want = student(x, packed, cond)
        torch.testing.assert_close(loaded(x, packed, cond), want, rtol=1e-5, atol=1e-5)
        merged = merge_lora(student)
        assert not has_lora(merged)
        torch.testing.assert_close(merged(x, packed, cond), want, rtol=1e-5, atol=1e-5)


def test_an_adapter_refuses_a_different_or_missing_teacher(tmp_path) -> None:
    _, student, base = adapter_run(tmp_path)
    (tmp_path / "a").mkdir()
    path = tmp_path / "a" / "adapter.safetensors"
    save_student_adapter(student, path, base=base)
    load_student(path)  # found where it was when trained
    base.rename(tmp_path / "moved.safetensors")
    with pytest.raises(CheckpointError, match="not found beside it, among the bundled weights or where it was"):
        load_student(path)
    save_scene_model(teacher(seed=5), tmp_path / "a" / "teacher.safetensors", dtype=torch.float16)
    with pytest.raises(CheckpointError, match="is a different file"):
        load_student(path)
    (tmp_path / "moved.safetensors").rename(tmp_path / "a" / "teacher.safetensors")
    load_student(path)  # the right teacher, moved beside it


def test_installing_an_adapter_drops_the_training_path_and_needs_its_teacher_there(tmp_path) -> None:
    from safetensors import safe_open

    from scenecraft.model.student import install_student

    _, student, base = adapter_run(tmp_path)
    trained = tmp_path / "run" / "adapter.safetensors"
    trained.parent.mkdir()
    save_student_adapter(student, trained, base=base, extra={"step_counts": [1, 4]})
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    with pytest.raises(CheckpointError, match=r"bundled/teacher.safetensors is not there: install it beside"):
        install_student(trained, bundled, "s.safetensors")
    save_scene_model(teacher(seed=5), bundled / "teacher.safetensors", dtype=torch.float16)
    with pytest.raises(CheckpointError, match="is a different file"):
        install_student(trained, bundled, "s.safetensors")
    assert sorted(p.name for p in bundled.iterdir()) == ["teacher.safetensors"]  # nothing half-written
    (bundled / "teacher.safetensors").write_bytes(base.read_bytes())
    installed = install_student(trained, bundled, "s.safetensors")
    assert sorted(p.name for p in bundled.iterdir()) == ["s.safetensors", "teacher.safetensors"]
    extra = read_scene_metadata(installed)["extra"]
    assert "base_path" not in extra and extra["base"] == "teacher.safetensors" and extra["step_counts"] == [1, 4]
    with safe_open(str(trained), framework="pt") as a, safe_open(str(installed), framework="pt") as b:
        assert set(a.keys()) == set(b.keys())
        for key in a.keys():  # noqa: SIM118 (safe_open is not iterable)
            assert torch.equal(a.get_tensor(key), b.get_tensor(key))
    base.unlink()  # the training machine's teacher is gone: the installed copy uses the one beside it
    x, t = inputs()
    cond = random_conditions(3)
    packed = pack(t, torch.full((5,), 2.0), 0.25)
    with torch.no_grad():
        torch.testing.assert_close(
            load_student(installed).eval()(x, packed, cond), student(x, packed, cond), rtol=1e-5, atol=1e-5
        )


def test_installing_refuses_what_is_not_a_student(tmp_path) -> None:
    from scenecraft.model.student import install_student

    plain = tmp_path / "teacher.safetensors"
    save_scene_model(teacher(), plain)
    with pytest.raises(CheckpointError, match="not a student checkpoint"):
        install_student(plain, tmp_path, "s.safetensors")
    assert not (tmp_path / "s.safetensors").exists()
