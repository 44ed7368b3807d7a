"""Students: made from a teacher they compute its conditional velocity exactly, the scales and
step size are real inputs, depth pruning equals the teacher with the dropped blocks switched off,
and a saved student loads back bit for bit."""

from __future__ import annotations

import pytest
import torch

from scenecraft.model.checkpoints import CheckpointError, save_scene_model
from scenecraft.model.conditioning import CONDITIONS, SceneDiT
from scenecraft.model.dit import DiTConfig
from scenecraft.model.student import (
    PACKED,
    drop_blocks,
    is_student,
    load_student,
    pack,
    save_student,
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
