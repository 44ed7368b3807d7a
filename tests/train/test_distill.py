"""Distillation: targets are the average velocity between a trajectory's grid points, a short run
lowers the held-out loss, saves a loadable student and resumes; the CLI checks its inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scenecraft.model.checkpoints import save_scene_model
from scenecraft.model.student import load_student
from scenecraft.train.distill import DistillConfig, Distiller, Examples
from scenecraft.train.trajectories import Shard, load_shard, save_shard, shard_scales
from tests.model.test_conditioning import random_conditions
from tests.model.test_student import teacher


def straight_shard(n: int, seed: int, steps: int = 4) -> Shard:
    """Trajectories on straight lines x_t = (1 - t) x0 + t e: the velocity is e - x0 everywhere."""
    g = torch.Generator().manual_seed(seed)
    x0, e = torch.randn(n, 3, 16, 16, generator=g) * 0.5, torch.randn(n, 3, 16, 16, generator=g)
    times = torch.linspace(1, 0, steps + 1)
    x = torch.stack([(1 - t) * x0 + t * e for t in times], dim=1)
    cond = random_conditions(n, seed=seed).map(lambda v: v.half() if v.is_floating_point() else v)
    return Shard(x.half(), cond, torch.tensor([3.0, 1.5, 2.0, 1.5, 1.0]), "full")


def test_targets_are_average_velocities() -> None:
    shard = straight_shard(3, 0)
    examples = Examples([shard])
    rows = torch.tensor([0, 1, 2])
    xa, packed, _, target = examples.batch(rows, torch.tensor([1, 2, 4]), torch.tensor([0, 1, 3]))
    x = shard.x.float()
    expected = torch.stack([x[0, 0] - x[0, 4], (x[1, 2] - x[1, 4]) * 2, (x[2, 3] - x[2, 4]) * 4])
    torch.testing.assert_close(target, expected)
    torch.testing.assert_close(xa, torch.stack([x[0, 0], x[1, 2], x[2, 3]]))
    # packed t: timestep, five scales, step size
    torch.testing.assert_close(packed[:, 0], torch.tensor([1000.0, 500.0, 250.0]))
    torch.testing.assert_close(packed[:, -1], torch.tensor([1.0, 0.5, 0.25]))


def test_default_scales_for_most_shards() -> None:
    defaults = {"inpaint": 1.0, "scene": 1.5, "pose": 1.5, "subjects": 2.0, "text": 3.0}
    assert shard_scales(0, defaults) == defaults and shard_scales(1, defaults) == defaults
    drawn = shard_scales(2, defaults)
    assert drawn != defaults and drawn["inpaint"] == 1.0 and 1 <= drawn["text"] <= 5


@pytest.mark.slow
def test_short_run_learns_saves_and_resumes(tmp_path: Path) -> None:
    init = tmp_path / "teacher.safetensors"
    save_scene_model(teacher(), init)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"shard-{i}.pt")
        save_shard(straight_shard(4, i), paths[-1])
    assert load_shard(paths[0]).x.shape == (4, 5, 3, 16, 16)
    out = tmp_path / "run"
    cfg = DistillConfig(out=out, shards=paths, init=init, step_counts=(1, 2, 4), step_weights=(1, 1, 1))
    cfg.batch, cfg.lr, cfg.warmup, cfg.max_steps = 8, 1e-3, 1, 30
    first = Distiller(cfg)
    from scenecraft.train.distill import held_out_loss

    before = held_out_loss(first.model, first.held, cfg.step_counts)
    result = first.train()
    assert result["step"] == 30
    after = result["held_out_loss"]
    assert sum(after[k] for k in before) < sum(before.values())
    assert set(after) == {"K1", "K2", "K4", "end1", "end2", "end4"}
    assert after["end1"] == pytest.approx(after["K1"])  # one step from the noise: the same error
    student = load_student(out / "student.safetensors")
    assert student.extra["step_counts"] == [1, 2, 4] and student.extra["step"] == 30
    cfg.max_steps = 32
    again = Distiller(cfg)
    assert again.step == 30 and again.train()["step"] == 32


def test_quantization_aware_run_saves_float_weights_marked_for_int8(tmp_path: Path) -> None:
    pytest.importorskip("torchao", reason='QAT needs the "quantize" extra (torchao)')
    from torch import nn

    init = tmp_path / "teacher.safetensors"
    save_scene_model(teacher(), init)
    paths = [tmp_path / f"shard-{i}.pt" for i in range(2)]
    for i, path in enumerate(paths):
        save_shard(straight_shard(2, i), path)
    cfg = DistillConfig(out=tmp_path / "run", shards=paths, init=init, step_counts=(2,), step_weights=(1,))
    cfg.batch, cfg.warmup, cfg.max_steps, cfg.qat = 2, 1, 2, "int8-weight"
    run = Distiller(cfg)
    assert type(run.model.blocks[0].mlp.fc1).__name__ == "FakeQuantizedLinear"
    result = run.train()
    assert result["step"] == 2 and result["held_out_loss"]["K2"] > 0
    student = load_student(tmp_path / "run" / "student.safetensors")
    assert student.extra["qat"] == "int8-weight"
    assert type(student.blocks[0].mlp.fc1) is nn.Linear  # float weights, int8'd when served
    saved, trained = student.blocks[0].mlp.fc1.weight, run.ema.blocks[0].mlp.fc1.weight
    torch.testing.assert_close(saved, trained.half().to(saved.dtype))  # students are saved in float16


def test_unknown_qat_mode_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown quantization 'int4'"):
        DistillConfig(out=tmp_path, shards=[tmp_path, tmp_path], init=tmp_path, max_steps=1, qat="int4").validate()


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2 trajectory shards"):
        DistillConfig(out=tmp_path, shards=[tmp_path], init=tmp_path, max_steps=1).validate()
    with pytest.raises(ValueError, match="needs an end"):
        DistillConfig(out=tmp_path, shards=[tmp_path, tmp_path], init=tmp_path).validate()


def test_pruning_drops_the_block_that_does_nothing_first() -> None:
    from scenecraft.model.student import pack, student_from
    from scenecraft.train.prune import choose_blocks

    model = student_from(teacher(depth=4)).eval()
    with torch.no_grad():  # block 2 becomes the identity and the last grounding (which a depth of
        # 3 has no room for) is gated off: removing block 2 changes nothing
        model.ground_blocks[1].gamma.zero_()
        model.blocks[2].adaLN_modulation[-1].weight.zero_()
        model.blocks[2].adaLN_modulation[-1].bias.zero_()
        model.cross_blocks[2].proj.weight.zero_()
        model.cross_blocks[2].proj.bias.zero_()
        # One-step trajectories made by the model itself: the full model's loss is (nearly) zero.
        shard = straight_shard(2, 0, steps=1)
        x1 = shard.x[:, 0].float()
        scales = torch.tensor([3.0, 1.5, 2.0, 1.5, 1.0]).expand(2, -1)
        v = model(
            x1,
            pack(torch.full((2,), 1000.0), scales, 1.0),
            shard.cond.map(lambda t: t.float() if t.is_floating_point() else t),
        )
        shard.x = torch.stack([x1, x1 - v], dim=1).half()
    held = Examples([shard])
    keep, log = choose_blocks(model, held, drop=1, step_counts=(1,))
    assert keep == [0, 1, 3]
    assert log[0]["keep"] == [0, 1, 2, 3] and len(log) == 5
    losses = {m["drop"]: m["loss"] for m in log[1:]}
    assert losses[2] < 1e-4 and min(losses[0], losses[1], losses[3]) > 100 * losses[2]
    with pytest.raises(ValueError, match="can drop 1 to 3"):
        choose_blocks(model, held, drop=4)


def test_adapter_run_learns_and_saves_an_adapter_on_its_teacher(tmp_path: Path) -> None:
    init = tmp_path / "teacher.safetensors"
    save_scene_model(teacher(), init, dtype=torch.float16)
    paths = [tmp_path / f"shard-{i}.pt" for i in range(3)]
    for i, path in enumerate(paths):
        save_shard(straight_shard(4, i), path)
    cfg = DistillConfig(out=tmp_path / "run", shards=paths, init=init, step_counts=(1, 4), step_weights=(1, 1))
    cfg.batch, cfg.lr, cfg.warmup, cfg.max_steps, cfg.lora_rank = 8, 3e-3, 1, 12, 2
    run = Distiller(cfg)
    from scenecraft.train.distill import held_out_loss

    before = held_out_loss(run.ema, run.held, cfg.step_counts)
    frozen = run.model.blocks[0].attn.qkv.parametrizations.weight.original.clone()
    result = run.train()
    assert sum(result["held_out_loss"][k] for k in before) < sum(before.values())
    torch.testing.assert_close(run.model.blocks[0].attn.qkv.parametrizations.weight.original, frozen, rtol=0, atol=0)
    path = tmp_path / "run" / "student.safetensors"
    assert path.stat().st_size < init.stat().st_size / 2
    student = load_student(path).eval()  # merged onto the teacher, found beside it
    assert student.extra["lora_rank"] == 2 and student.extra["step"] == 12
    again = Distiller(cfg)  # resumes from state.pt with the adapter
    assert again.step == 12


def test_adapter_runs_refuse_pruning_qat_and_a_student_to_start_from(tmp_path: Path) -> None:
    from scenecraft.model.student import save_student, student_from

    init = tmp_path / "teacher.safetensors"
    save_scene_model(teacher(), init)
    student = tmp_path / "student.safetensors"
    save_student(student_from(teacher()), student)
    base = {"out": tmp_path, "shards": [tmp_path, tmp_path], "max_steps": 1, "lora_rank": 2}
    with pytest.raises(ValueError, match="no depth pruning or QAT"):
        DistillConfig(init=init, keep_blocks=[0], **base).validate()
    with pytest.raises(ValueError, match="starts from its teacher"):
        DistillConfig(init=student, **base).validate()
    with pytest.raises(ValueError, match="lora_rank must be >= 1"):
        DistillConfig(init=init, **{**base, "lora_rank": 0}).validate()


def test_the_cli_installs_a_trained_adapter_and_says_what_is_wrong(tmp_path: Path, capsys) -> None:
    import json

    from scenecraft.cli import main
    from scenecraft.model.student import save_student_adapter
    from scenecraft.variants import STUDENT_WEIGHTS
    from tests.model.test_student import adapter_run

    _, student, base = adapter_run(tmp_path)
    trained = tmp_path / "adapter.safetensors"
    save_student_adapter(student, trained, base=base, extra={"step_counts": [1, 2, 4]})
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / base.name).write_bytes(base.read_bytes())
    assert main(["distill", "--install", str(trained), "--weights-dir", str(bundled)]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["installed"] == str(bundled / STUDENT_WEIGHTS) and said["step_counts"] == [1, 2, 4]
    assert load_student(bundled / STUDENT_WEIGHTS).extra["step_counts"] == [1, 2, 4]
    for argv, message in (
        (["--install", str(tmp_path / "none.safetensors")], "student weights not found"),
        (["--install", str(trained), "--out", str(tmp_path)], "--install takes the student file alone"),
        (["--install", str(base), "--weights-dir", str(bundled)], "not a student checkpoint"),
        (["--out", str(tmp_path)], "give --teacher and --out"),
        (["--teacher", str(base), "--out", str(tmp_path), "--weights-dir", str(bundled)], "goes with --install"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["distill", *argv])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_off_grid_jumps_start_anywhere_a_jump_stays_on_the_trajectory(tmp_path: Path) -> None:
    shard = straight_shard(2, 0, steps=20)
    examples = Examples([shard])
    x = shard.x.float()
    rows, counts, starts = torch.tensor([0, 1, 1]), torch.tensor([4, 2, 1]), torch.tensor([3, 7, 0])
    xa, packed, _, target = examples.jumps(rows, counts, starts)
    want = torch.stack([(x[0, 3] - x[0, 8]) * 4, (x[1, 7] - x[1, 17]) * 2, x[1, 0] - x[1, 20]])
    torch.testing.assert_close(target, want)
    torch.testing.assert_close(xa, torch.stack([x[0, 3], x[1, 7], x[1, 0]]))
    torch.testing.assert_close(packed[:, 0], torch.tensor([850.0, 650.0, 1000.0]))
    torch.testing.assert_close(packed[:, -1], torch.tensor([0.25, 0.5, 1.0]))
    # on straight lines every jump's average velocity is the line's, e - x0 (to the float16 cache's
    # rounding, times K)
    line = torch.stack([x[0, 0] - x[0, 20], x[1, 0] - x[1, 20], x[1, 0] - x[1, 20]])
    torch.testing.assert_close(target, line, rtol=0, atol=1e-2)
    with pytest.raises(ValueError, match="start and end on the teacher's 20 steps"):
        examples.jumps(rows[:1], counts[:1], torch.tensor([16]))  # 16 + 5 > 20
    # the grid points are the jumps that start on the grid
    on_grid = examples.batch(rows, counts, torch.tensor([1, 1, 0]))
    for a, b in zip(on_grid, examples.jumps(rows, counts, torch.tensor([5, 10, 0])), strict=True):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="off_grid is a share"):
        DistillConfig(out=tmp_path, shards=[tmp_path, tmp_path], init=tmp_path, max_steps=1, off_grid=1.5).validate()


def test_the_endpoint_error_follows_the_students_own_steps() -> None:
    from scenecraft.train.distill import held_out_endpoint

    held = Examples([straight_shard(3, 1, steps=20)])
    x = held.x.float()
    line = x[:, 0] - x[:, -1]  # the straight lines' velocity: a student that predicts it lands exactly

    class Exact(torch.nn.Module):
        def __init__(self, scale: float = 1.0) -> None:
            super().__init__()
            self.scale, self.calls = scale, []

        def forward(self, xt: torch.Tensor, packed: torch.Tensor, cond: object) -> torch.Tensor:
            self.calls.append(packed[:, [0, -1]].clone())
            return line * self.scale

    exact = Exact()
    losses = held_out_endpoint(exact, held, (1, 4))
    assert set(losses) == {"end1", "end4"} and max(losses.values()) < 1e-10
    # the student is called at t = 1, 3/4, 1/2, 1/4 with step 1/4 after its call at t = 1 with step 1
    times = torch.cat([c[:1] for c in exact.calls])
    torch.testing.assert_close(times, torch.tensor([[1000.0, 1], [1000, 0.25], [750, 0.25], [500, 0.25], [250, 0.25]]))
    # a velocity 10 % too large lands 10 % of the way too far, whatever K
    far = held_out_endpoint(Exact(1.1), held, (1, 4))
    want = float((0.1 * line).pow(2).mean())
    assert abs(far["end1"] - want) < 1e-6 and abs(far["end4"] - want) < 1e-6


def test_a_resumed_run_draws_on_where_it_stopped(tmp_path: Path) -> None:
    init = tmp_path / "teacher.safetensors"
    save_scene_model(teacher(), init)
    paths = [tmp_path / f"shard-{i}.pt" for i in range(2)]
    for i, path in enumerate(paths):
        save_shard(straight_shard(4, i), path)

    def run(out: str, *stops: int) -> dict[str, torch.Tensor]:
        for stop in stops:
            cfg = DistillConfig(
                out=tmp_path / out, shards=paths, init=init, step_counts=(1, 2, 4), step_weights=(1, 1, 1)
            )
            cfg.batch, cfg.lr, cfg.warmup, cfg.max_steps = 4, 1e-3, 1, stop
            distiller = Distiller(cfg)
            distiller.train()
        return distiller.ema.state_dict()

    straight, resumed = run("straight", 4), run("resumed", 2, 4)
    for key, value in straight.items():  # the same four batches, so the same weights
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0, msg=key)
