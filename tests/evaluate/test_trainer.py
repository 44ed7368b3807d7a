"""The judges' trainer: device buffers, losses, examples from renders and chunks, the run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from scenecraft.cli import main
from scenecraft.evaluate.examples import (
    GENERAL_SEED,
    PEOPLE_SEED,
    PERSON_HEAVY,
    box_targets,
    render_examples,
    scene_labels,
    segment_targets,
)
from scenecraft.evaluate.judges import Evaluators
from scenecraft.evaluate.nets import ARCHITECTURES, EVALUATOR_NAMES, build
from scenecraft.evaluate.sources import StoredChunks, build_chunks, chunk_files
from scenecraft.evaluate.trainer import DeviceBuffer, box_iou_loss, export, mirror_boxes, segmenter_loss, start_from
from scenecraft.evaluate.views import grid_image
from scenecraft.world.dataset import WorldSampler


def test_device_buffer_keeps_every_row_across_growth() -> None:
    buf = DeviceBuffer(torch.device("cpu"))
    rows = [np.arange(k * 700, (k + 1) * 700, dtype=np.int64) for k in range(3)]  # 2100 rows > first capacity
    for r in rows:
        buf.append({"v": r, "w": r.astype(np.float32)[:, None] * 2})
    buf.append({"v": np.zeros(0, np.int64), "w": np.zeros((0, 1), np.float32)})
    assert buf.n == 2100
    np.testing.assert_array_equal(buf.data["v"][: buf.n].numpy(), np.concatenate(rows))
    batch = buf.sample(64)
    assert batch["v"].dtype == torch.int64 and (batch["w"][:, 0] == 2 * batch["v"].float()).all()
    assert batch["v"].max() < 2100


def test_segment_targets_grow_a_small_map_by_repeating_pixels() -> None:
    inst = np.full((64, 64), -1, np.int16)
    inst[10:20, 5:30] = 0
    lab = {"subjects": [{"shape": "cone", "colour": "green"}]}
    kind, colour, _ = segment_targets(inst, lab, 128)
    kind64, colour64, _ = segment_targets(inst, lab, 64)
    np.testing.assert_array_equal(kind, kind64.repeat(2, 0).repeat(2, 1))
    np.testing.assert_array_equal(colour, colour64.repeat(2, 0).repeat(2, 1))


def test_box_iou_loss_is_one_minus_the_iou_on_masked_pixels() -> None:
    target = torch.ones(1, 4, 2, 2)  # a 2 x 2 box around each pixel
    pred = target.clone()
    pred[0, 2, 0, 0] = 3.0  # pixel (0, 0) predicts a 4 x 2 box: IoU 4 / 8
    pred[0, :, 1, 1] = 9.0  # pixel (1, 1) is off the mask: not counted
    mask = torch.tensor([[[True, True], [True, False]]])
    torch.testing.assert_close(box_iou_loss(pred, target, mask), torch.tensor(0.5 / 3))
    assert box_iou_loss(target, target, mask) == 0.0
    assert box_iou_loss(pred, target, torch.zeros_like(mask)) == 0.0


def test_mirrored_box_targets_are_the_targets_of_the_mirrored_render() -> None:
    r = WorldSampler(seed=GENERAL_SEED).render(5, 64)
    lab = scene_labels(r)
    mirrored = {
        "subjects": [
            dict(s, box=None if s["box"] is None else (64 - s["box"][2], s["box"][1], 64 - s["box"][0], s["box"][3]))
            for s in lab["subjects"]
        ]
    }
    want = box_targets(r.instance[:, ::-1], mirrored, 128)
    got = mirror_boxes(torch.from_numpy(box_targets(r.instance, lab, 128))[None].float())[0]
    np.testing.assert_array_equal(got.numpy(), want.astype(np.float32))
    assert (want > 0).any()


def test_segmenter_loss_trains_the_box_head_and_init_keeps_matching_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    old = build("segmenter", {"widths": [8, 8, 8], "size": 64})
    export(old, "segmenter", tmp_path)
    net = build("segmenter", {"widths": [8, 8, 8], "size": 64, "boxes": True})
    message, loaded = start_from(net, tmp_path / "segmenter.safetensors")
    assert (
        "start fresh (box_head." in message
        and "enc1.0.weight" in loaded
        and not any(k.startswith("box_head") for k in loaded)
    )
    torch.testing.assert_close(net.state_dict()["enc1.0.weight"], old.state_dict()["enc1.0.weight"].half().float())
    ex = render_examples((0, 2, 64), ("segmenter",))
    assert set(ex) == {"segmenter"} and ex["segmenter"]["box"].shape == (2, 4, 64, 64)
    batch = {k: torch.from_numpy(v) for k, v in ex["segmenter"].items()}
    loss = segmenter_loss(net, batch, torch.tensor([False, True]))
    loss.backward()
    assert loss.item() > 0 and net.box_head is not None and net.box_head[-1].weight.grad.abs().sum() > 0


def test_scene_examples_match_renders_made_directly() -> None:
    ex = render_examples((0, 4, 128))
    seg = ex["segmenter"]
    assert seg["image"].shape == (4, 128, 128, 3) and seg["kind"].shape == (4, 128, 128)
    # Scene 1 is rendered at 64 px and enlarged as Evaluators.segment enlarges it; scene 3 is person-heavy.
    small = WorldSampler(seed=GENERAL_SEED).render(1, 64)
    want = grid_image(small.image, 128)
    np.testing.assert_array_equal(seg["image"][1], want)
    people = WorldSampler(PERSON_HEAVY, PEOPLE_SEED).render(3, 128)
    np.testing.assert_array_equal(seg["image"][3], people.image)
    kind, _, _ = segment_targets(people.instance, scene_labels(people), 128)
    np.testing.assert_array_equal(seg["kind"][3], kind)
    mat, kp = ex["material"], ex["keypoints"]
    assert mat["image"].shape[1:] == (32, 32, 3) and len(mat["label"]) == len(mat["image"]) > 0
    assert kp["image"].shape[1:] == (64, 64, 3) and kp["joints"].shape == (len(kp["image"]), 24, 2)


def test_weights_without_a_config_load_as_v1(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    for name in EVALUATOR_NAMES:  # bare state dicts, as the first shipped weights were
        net = build(name, ARCHITECTURES["v1"][name])
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / f"{name}.safetensors"))
    ev = Evaluators.load(tmp_path)
    assert ev.segmenter.size == 64 and ev.segmenter.config == ARCHITECTURES["v1"]["segmenter"]


def test_shipped_weights_are_v3_with_v2_material_and_keypoint_nets() -> None:
    ev = Evaluators.load()
    assert ev.segmenter.size == 128 and ev.segmenter.config == ARCHITECTURES["v3"]["segmenter"]
    assert ev.segmenter.box_head is not None
    assert ev.material.config == ARCHITECTURES["v2"]["material"] == ARCHITECTURES["v3"]["material"]


def test_exported_v2_nets_load_back_with_their_architecture(tmp_path: Path) -> None:
    torch.manual_seed(0)
    nets = {name: build(name, ARCHITECTURES["v2"][name]).eval() for name in EVALUATOR_NAMES}
    for name, net in nets.items():
        export(net, name, tmp_path)
    ev = Evaluators.load(tmp_path)
    assert ev.segmenter.size == 128
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        want, got = nets["segmenter"](x)[0], ev.segmenter(x)[0]
    torch.testing.assert_close(got, want, atol=0.05, rtol=0.02)  # float16 weights
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    for d in ev.detect(image):
        assert 0 <= d.box[0] < d.box[2] <= 64 and 0 <= d.box[1] < d.box[3] <= 64


def test_bad_settings_are_refused_with_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", "train", "--seconds", "5", "--out", "x", "--device", "cpu"]
    for extra, rule in (
        (["--workers", "0"], "--workers must be >= 1, got 0"),
        (["--size", "100"], "--size must be 64..256 and a multiple of 32, got 100"),
    ):
        with pytest.raises(SystemExit) as exc:
            main([*base, *extra])
        assert exc.value.code == 2 and rule in capsys.readouterr().err


def test_stored_chunks_give_the_examples_of_the_renders_they_hold(tmp_path: Path) -> None:
    """build_chunks -> StoredChunks: the same segmenter examples as cutting the renders directly."""
    paths = build_chunks(tmp_path, seed=GENERAL_SEED, n_scenes=3, size=64, chunk=2, log=False)
    assert [p.name for p in paths] == ["chunk_0000.npz", "chunk_0001.npz"]
    assert {p.name for p in tmp_path.iterdir()} == {f"chunk_000{i}.{e}" for i in (0, 1) for e in ("npz", "json")}
    source = StoredChunks(chunk_files([tmp_path]), 64, ("segmenter",))
    got = source.poll()
    assert len(got) == 3 and source.scenes == 3 and source.done and source.poll() == []
    r = WorldSampler(seed=GENERAL_SEED).render(2, 64)
    kind, _, _ = segment_targets(r.instance, scene_labels(r), 64)
    np.testing.assert_array_equal(got[2]["segmenter"]["image"][0], r.image)
    np.testing.assert_array_equal(got[2]["segmenter"]["kind"][0], kind)
    with pytest.raises(FileNotFoundError, match="no chunk files"):
        chunk_files([tmp_path / "empty"])


@pytest.mark.slow
def test_train_command_checkpoints_and_leaves_loadable_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole run at tiny scale on the CPU: one render worker, small batches, 30 seconds (the
    first renders take 10 s on a busy 2-core machine: a spawned process imports torch)."""
    threads = os.environ.get("OMP_NUM_THREADS")
    args = ["eval", "train", "--seconds", "30", "--workers", "1", "--device", "cpu", "--size", "64"]
    assert (
        main([*args, "--batch-scale", "0.04", "--save-every", "4", "--render-share", "0.4", "--out", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert os.environ.get("OMP_NUM_THREADS") == threads  # the workers' single-thread setting stays theirs
    assert "training starts" in out and "checkpoint written" in out and "rendering stopped" in out
    assert {p.name for p in tmp_path.iterdir()} == {f"{n}.safetensors" for n in EVALUATOR_NAMES} | {"run.json"}
    ev = Evaluators.load(tmp_path)
    assert ev.segmenter.size == 64 and ev.material.config == ARCHITECTURES["v3"]["material"]
    assert ev.version.startswith("unversioned-")
    r = WorldSampler(seed=11).render(0, 64)
    assert ev.keypoints(r.image, [(10.0, 10.0, 30.0, 50.0)]).shape == (1, 24, 2)
    assert len(ev.classify_materials(r.image, [(0.0, 40.0, 20.0, 60.0)])[0]) == 1


@pytest.mark.slow
def test_train_command_on_stored_chunks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same loop with the other source: chunks rendered ahead of time, no render workers."""
    assert main(["eval", "chunks", "--out", str(tmp_path / "c"), "--seed", "1000", "--n", "6", "--size", "64"]) == 0
    out = tmp_path / "w"
    args = ["eval", "train", "--seconds", "15", "--chunks", str(tmp_path / "c"), "--size", "64", "--out", str(out)]
    assert main([*args, "--batch-scale", "0.04", "--only", "material", "segmenter"]) == 0
    log = capsys.readouterr().out
    assert "1 stored chunks" in log and "training starts on 6 scenes" in log
    assert {p.name for p in out.iterdir()} == {"material.safetensors", "segmenter.safetensors", "run.json"}
