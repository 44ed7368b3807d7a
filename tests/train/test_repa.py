"""REPA: the frozen target is the segmenter's own encoder activations, the alignment reaches only
the blocks up to the aligned one, and a run with it saves, resumes and leaves the model's shape."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from scenecraft.evaluate.nets import SegmenterNet
from scenecraft.evaluate.trainer import export
from scenecraft.model.checkpoints import CheckpointError, read_state_dict
from scenecraft.model.conditioning import ConditioningConfig, build_scene_dit, empty_conditions
from scenecraft.model.encoders import SceneViTConfig
from scenecraft.train.repa import Repa, SegmenterFeatures, build_repa
from scenecraft.train.trainer import TrainConfig, Trainer, TrainStep

TINY = {"depth": 3, "hidden_size": 32, "num_heads": 2}
COND = ConditioningConfig(max_text_tokens=8, scene=SceneViTConfig(image_size=32, patch_size=8, width=16, depth=1))
RUN_COND = ConditioningConfig(max_text_tokens=16, scene=SceneViTConfig(width=16, depth=1, num_heads=2))  # 64 px scenes


def tiny_segmenter(seed: int = 0) -> SegmenterNet:
    torch.manual_seed(seed)
    net = SegmenterNet(widths=(8, 12, 16), size=32)
    with torch.no_grad():  # BatchNorm statistics that are not the identity, as after training
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def captured_level(net: SegmenterNet, level: int, x0: torch.Tensor) -> torch.Tensor:
    """The activations of ``enc{level}`` during the segmenter's own full forward pass."""
    seen: list[torch.Tensor] = []
    hook = getattr(net, f"enc{level}").register_forward_hook(lambda _m, _a, out: seen.append(out))
    x = F.interpolate((x0 + 1) / 2, size=(net.size, net.size), mode="bilinear", align_corners=False)
    with torch.no_grad():
        net(x.clamp(0, 1))
    hook.remove()
    return seen[0]


def test_target_is_the_segmenters_own_encoder_level() -> None:
    net = tiny_segmenter()
    x0 = torch.rand(2, 3, 16, 16) * 2 - 1
    exact = SegmenterFeatures(net, 8)  # levels are 32, 16, 8 a side: level 3 is the 8-token grid
    assert exact.level == 3 and exact.channels == 16
    want = captured_level(net, 3, x0).flatten(2).transpose(1, 2)
    torch.testing.assert_close(exact(x0), want)
    pooled = SegmenterFeatures(net, 4)  # coarser than every level: the coarsest, area-pooled
    want = F.adaptive_avg_pool2d(captured_level(net, 3, x0), 4).flatten(2).transpose(1, 2)
    torch.testing.assert_close(pooled(x0), want)
    finer = SegmenterFeatures(net, 16)
    assert finer.level == 2
    with pytest.raises(ValueError, match="coarser than the model's 64 tokens"):
        SegmenterFeatures(net, 64)
    # frozen: no gradients, and train() does not let BatchNorm update its statistics
    before = {k: v.clone() for k, v in net.state_dict().items()}
    exact.train()
    exact(torch.rand(4, 3, 16, 16) * 2 - 1)
    assert not exact.segmenter.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not any(p.requires_grad for p in exact.parameters())


def test_alignment_trains_the_blocks_up_to_the_aligned_one_and_the_head() -> None:
    torch.manual_seed(0)
    model = build_scene_dit("seed-12M", 16, COND, **TINY)  # patch 2: 8 tokens a side
    repa = Repa(SegmenterFeatures(tiny_segmenter(), 8), dim=32, block=2)
    step = TrainStep(model, repa)
    x0 = torch.rand(2, 3, 16, 16) * 2 - 1
    cond = empty_conditions(2, 16, COND)
    context = torch.rand(2, 3, 32, 32) * 2 - 1
    _, _, _, align = step(torch.randn(2, 3, 16, 16), torch.tensor([0.3, 0.8]), cond, context, x0)
    assert -1 <= float(align.detach()) <= 1
    align.backward()

    def touched(module: torch.nn.Module) -> bool:
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())

    assert touched(model.blocks[0]) and touched(model.blocks[1]) and touched(repa.head)
    assert not touched(model.blocks[2]) and not touched(model.final_layer)  # after the aligned block
    assert not any(p.grad is not None for p in repa.target.parameters())
    # without REPA the alignment is zero and no hook is left behind
    v, _, _, none = TrainStep(model)(torch.randn(2, 3, 16, 16), torch.tensor([0.5, 0.5]), cond, context, x0)
    assert float(none.detach()) == 0 and not model.blocks[1]._forward_hooks
    assert v.shape == (2, 3, 16, 16)


def test_a_run_with_repa_saves_resumes_and_keeps_the_models_shape(tmp_path: Path) -> None:
    encoder = export(tiny_segmenter(), "segmenter", tmp_path / "judges")
    fields: dict[str, object] = dict(
        size=32,  # 16 tokens a side: the tiny segmenter's level 2
        batch=4,
        buffer=32,
        chunk=8,
        data_limit=8,
        eval_images=0,
        overrides=TINY,
        conditioning=RUN_COND,
        save_every=1e9,
    )
    with_repa = dict(fields, repa_weight=0.5, repa_block=2, repa_encoder=encoder)
    Trainer(TrainConfig(out=tmp_path / "repa", max_steps=2, **with_repa)).train()  # type: ignore[arg-type]
    state = torch.load(tmp_path / "repa" / "state.pt", weights_only=True)
    assert state["step"] == 2 and "repa_head" in state
    Trainer(TrainConfig(out=tmp_path / "plain", max_steps=1, **fields)).train()  # type: ignore[arg-type]
    # the saved model is the generator alone: the same keys and shapes as a run without REPA
    saved, plain = (
        read_state_dict(tmp_path / "repa" / "model.safetensors"),
        read_state_dict(tmp_path / "plain" / "model.safetensors"),
    )
    assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in plain.items()}
    result = Trainer(TrainConfig(out=tmp_path / "repa", max_steps=3, **with_repa)).train()  # type: ignore[arg-type]
    assert result["step"] == 3
    with pytest.raises(CheckpointError, match="trained with REPA"):
        Trainer(TrainConfig(out=tmp_path / "repa", max_steps=4, **fields))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"repa_block must be in 1\.\.3"):
        build_repa(encoder, 32, 8, 4, 3)
    with pytest.raises(ValueError, match="repa_weight must be >= 0"):
        Trainer(TrainConfig(out=tmp_path / "bad", max_steps=1, **dict(with_repa, repa_weight=-1)))  # type: ignore[arg-type]
