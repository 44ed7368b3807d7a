"""The trainer: batches with condition dropout and inpainting masks, a short run, resuming, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scenecraft.model.checkpoints import load_scene_model
from scenecraft.model.conditioning import INPAINT, POSE, SCENE, TEXT, ConditioningConfig, SceneDiT, empty_conditions
from scenecraft.model.encoders import SceneViTConfig, TextEncoder
from scenecraft.train.data import SKY, render_chunk
from scenecraft.train.trainer import ExampleBuffer, TrainConfig, Trainer, boxes_to_mask, make_batch

TINY = {"depth": 2, "hidden_size": 64, "num_heads": 2}
TINY_COND = ConditioningConfig(max_text_tokens=16, scene=SceneViTConfig(width=32, depth=1, num_heads=2))


@pytest.fixture(scope="module")
def buffer() -> ExampleBuffer:
    chunk = render_chunk(seed=3, indices=list(range(12)), size=32, max_subjects=8)
    assert chunk.image.shape == (12, 32, 32, 3) and chunk.context.shape == (12, 64, 64, 3)
    assert set(np.unique(chunk.material)) <= set(range(SKY + 1))
    buf = ExampleBuffer(10, 32, 8, TextEncoder(max_tokens=16), torch.device("cpu"))
    buf.add(chunk)  # 12 examples into a ring of 10: the oldest two are replaced
    assert len(buf) == 10 and buf.seen == 12 and buf.head == 2
    return buf


def config(tmp_path: Path, **kw: object) -> TrainConfig:
    fields: dict[str, object] = dict(
        out=tmp_path,
        size=32,
        batch=4,
        buffer=64,
        chunk=8,
        data_limit=16,
        eval_images=0,
        overrides=TINY,
        conditioning=TINY_COND,
        save_every=1e9,
    )
    fields.update(kw)
    return TrainConfig(**fields)  # type: ignore[arg-type]


def test_batch_drops_conditions_and_masks_inpainting(buffer: ExampleBuffer, tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    keep_all = config(tmp_path, batch=400, drop={"text": 0.0, "scene": 0.0, "subjects": 0.0, "pose": 0.0}, inpaint=1.0)
    x0, cond, context, material, light = make_batch(buffer, keep_all, g)
    assert x0.shape == (400, 3, 32, 32) and x0.min() >= -1 and x0.max() <= 1
    assert context.shape == (400, 3, 64, 64) and material.shape == (400, 64, 64) and light.shape == (400, 3)
    assert cond.present[:, TEXT].all() and cond.present[:, SCENE].all() and cond.present[:, INPAINT].all()
    has_subjects = buffer.count[:10] > 0
    assert has_subjects.any()
    # The masked scene is the target outside the mask and zero inside it.
    mask = cond.inpaint[:, :1]
    torch.testing.assert_close(cond.inpaint[:, 1:], x0 * (1 - mask))
    assert ((mask == 0) | (mask == 1)).all() and 0 < mask.mean() < 1
    drop_all = config(tmp_path, batch=400, drop={"text": 1.0, "scene": 1.0, "subjects": 1.0, "pose": 1.0}, inpaint=0.0)
    _, cond, *_ = make_batch(buffer, drop_all, g)
    assert not cond.present.any()
    half = config(tmp_path, batch=4000, drop={"text": 0.5, "scene": 0.2, "subjects": 0.0, "pose": 0.0}, inpaint=0.3)
    _, cond, *_ = make_batch(buffer, half, g)
    share = cond.present.float().mean(0)
    assert abs(share[TEXT] - 0.5) < 0.03 and abs(share[SCENE] - 0.8) < 0.03 and abs(share[INPAINT] - 0.3) < 0.03
    # pose is never dropped here, so it is present exactly where the example has a skeleton drawn
    assert torch.equal(cond.present[:, POSE], cond.pose.flatten(1).amax(1) > 0)


def test_boxes_to_mask() -> None:
    boxes = torch.tensor([[[0.25, 0.5, 0.5, 1.0], [0.0, 0.0, 0.1, 0.1]]])
    valid = torch.tensor([[True, False]])
    mask = boxes_to_mask(boxes, valid, 8, grow=0.0)[0, 0]
    expected = torch.zeros(8, 8)
    expected[4:8, 2:4] = 1
    assert torch.equal(mask, expected)


def test_short_run_saves_resumes_and_generates(tmp_path: Path) -> None:
    result = Trainer(config(tmp_path, max_steps=3)).train()
    assert result["step"] == 3
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["step"] == 3 and state["data_next"] > 0
    result = Trainer(config(tmp_path, max_steps=5)).train()  # resumes from state.pt
    assert result["step"] == 5
    model = load_scene_model(tmp_path / "model.safetensors")
    assert isinstance(model, SceneDiT) and model.extra["step"] == 5
    with pytest.raises(ValueError, match="at 64 px"):
        Trainer(config(tmp_path, max_steps=6, size=64))
    with pytest.raises(ValueError, match="needs an end"):
        Trainer(config(tmp_path, data_limit=None))
    with pytest.raises(ValueError, match="unknown conditions"):
        Trainer(config(tmp_path, max_steps=1, drop={"colour": 0.1}))


def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(
        "import sys, json\n"
        "from pathlib import Path\n"
        "from tests.train.test_trainer import config\n"
        "from scenecraft.train.trainer import Trainer\n"
        "import os\n"
        "if __name__ == '__main__':  # the rendering pool spawns processes that import this file\n"
        "    result = Trainer(config(Path(sys.argv[1]), max_steps=2, batch=2)).train()\n"
        "    Path(sys.argv[1], 'rank' + os.environ['RANK'] + '.json').write_text(json.dumps(result))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path.cwd()), str(Path.cwd() / "src")]),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        str(script),
        str(tmp_path / "run"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = [json.loads((tmp_path / "run" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["step"] == 2 for r in results)  # each rank's own result file
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_dense_layout_grows_from_an_init_without_it(tmp_path: Path) -> None:
    """A run with --dense-layout from weights without it starts where those weights are."""
    Trainer(config(tmp_path / "plain", max_steps=1)).train()
    init = tmp_path / "plain" / "model.safetensors"
    plain = load_scene_model(init).eval()
    assert not plain.cond_config.dense_layout
    # conditioning not given: the init's own is used, so a continued run keeps its shape
    same = config(tmp_path / "same", init=init, conditioning=None, max_steps=1)
    assert same.model_conditioning() == TINY_COND

    grown = Trainer(config(tmp_path / "grown", init=init, conditioning=None, dense_layout=True, max_steps=2))
    assert grown.model.layout_proj is not None and not grown.model.layout_proj.weight.any()
    torch.manual_seed(0)
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([200.0, 800.0])
    cond = empty_conditions(2, 32, TINY_COND)
    cond.present[:] = True
    cond.boxes[:, 0] = torch.tensor([0.2, 0.2, 0.7, 0.9])
    cond.subject_mask[:, 0] = True
    cond.subject_text = torch.randn(cond.subject_text.shape)
    with torch.no_grad():
        torch.testing.assert_close(grown.ema.eval()(x, t, cond), plain(x, t, cond), rtol=0, atol=1e-6)
    grown.train()
    saved = load_scene_model(tmp_path / "grown" / "model.safetensors")
    assert saved.cond_config.dense_layout and saved.layout_proj is not None
    assert saved.layout_proj.weight.abs().max() > 0  # it learnt from the subjects' boxes
    # resuming that run without dense layout does not fit, and says so
    with pytest.raises(ValueError, match="layout_proj"):
        Trainer(config(tmp_path / "grown", init=init, conditioning=None, dense_layout=False, max_steps=3))
