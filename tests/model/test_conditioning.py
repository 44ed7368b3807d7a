"""The scene-aware DiT: shapes, zero-init equivalence with the base DiT, absent conditions,
condition dropout, nested guidance, dense layout conditioning."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from scenecraft.model import DiT
from scenecraft.model.checkpoints import CheckpointError, load_weights
from scenecraft.model.conditioning import (
    CONDITIONS,
    GROWN_MODULES,
    INPAINT,
    POSE,
    SCENE,
    SUBJECTS,
    TEXT,
    ConditioningConfig,
    Conditions,
    SceneDiT,
    box_coverage,
    build_scene_dit,
    drop_conditions,
    empty_conditions,
)
from scenecraft.model.dit import DiTConfig
from scenecraft.model.encoders import SceneViTConfig
from scenecraft.sampling import nested_guidance

BASE = DiTConfig(
    depth=2,
    hidden_size=64,
    num_heads=2,
    patch_size=2,
    input_size=16,
    in_channels=3,
    num_classes=1,
    class_dropout_prob=0.0,
    learn_sigma=False,
)
COND = ConditioningConfig(
    text_dim=24,
    max_text_tokens=6,
    max_subjects=3,
    scene=SceneViTConfig(image_size=16, patch_size=4, width=32, depth=1, num_heads=2),
)


def random_conditions(n: int, size: int = 16, seed: int = 0) -> Conditions:
    g = torch.Generator().manual_seed(seed)
    c = empty_conditions(n, size, COND)
    c.present[:] = True
    c.text_tokens = torch.randn(c.text_tokens.shape, generator=g)
    c.text_mask[:, :4] = True
    c.text_pooled = torch.randn(c.text_pooled.shape, generator=g)
    c.scene = torch.rand(c.scene.shape, generator=g) * 2 - 1
    c.boxes[:] = torch.tensor([0.1, 0.2, 0.6, 0.9])
    c.subject_text = torch.randn(c.subject_text.shape, generator=g)
    c.subject_mask[:, :2] = True
    c.pose = torch.rand(c.pose.shape, generator=g)
    c.inpaint = torch.rand(c.inpaint.shape, generator=g)
    return c


def randomize(module: torch.nn.Module, seed: int = 1) -> None:
    """Every parameter random, the zero-initialised ones included (as after training)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


DENSE = dataclasses.replace(COND, dense_layout=True)


def paired_models(cond: ConditioningConfig = COND) -> tuple[DiT, SceneDiT]:
    """A base DiT with non-trivial weights, and a SceneDiT holding the same base weights."""
    torch.manual_seed(0)
    base = DiT(BASE)
    randomize(base)
    scene = SceneDiT(BASE, cond)
    missing, unexpected = scene.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(not k.startswith(("blocks.", "x_embedder.", "final_layer.")) for k in missing)
    return base.eval(), scene.eval()


def test_shapes() -> None:
    _, model = paired_models()
    x = torch.randn(3, 3, 16, 16)
    out = model(x, torch.tensor([10.0, 500.0, 990.0]), random_conditions(3))
    assert out.shape == (3, 3, 16, 16)
    parse = model.parse_scene(torch.rand(3, 3, 16, 16) * 2 - 1)
    assert parse.material_logits.shape == (3, COND.scene.tokens, COND.scene.materials)
    assert parse.light.shape == (3, 3)
    torch.testing.assert_close(parse.light.norm(dim=-1), torch.ones(3))


@pytest.mark.parametrize("cond", [COND, DENSE], ids=["gligen", "dense-layout"])
def test_zero_init_equals_base_model_with_every_condition_on(cond: ConditioningConfig) -> None:
    base, model = paired_models(cond)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([100.0, 700.0])
    expected = base(x, t, torch.zeros(2, dtype=torch.long))
    got = model(x, t, random_conditions(2))
    assert torch.equal(got, expected)


@pytest.mark.parametrize("cond", [COND, DENSE], ids=["gligen", "dense-layout"])
def test_absent_conditions_contribute_nothing_even_when_trained(cond: ConditioningConfig) -> None:
    base, model = paired_models(cond)
    new = [
        m
        for n, m in model.named_children()
        if n not in ("x_embedder", "t_embedder", "y_embedder", "blocks", "final_layer")
    ]
    for m in new:
        randomize(m, seed=5)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([100.0, 700.0])
    cond = random_conditions(2)
    off = model(x, t, cond.with_present(torch.zeros_like(cond.present)))
    torch.testing.assert_close(off, base(x, t, torch.zeros(2, dtype=torch.long)), rtol=0, atol=1e-6)
    on = model(x, t, cond)
    assert (on - off).abs().max() > 1e-3
    # Each condition alone changes the output, and only for the sample that has it.
    for k, name in enumerate(CONDITIONS):
        present = torch.zeros_like(cond.present)
        present[0, k] = True
        out = model(x, t, cond.with_present(present))
        assert (out[0] - off[0]).abs().max() > 1e-4, name
        torch.testing.assert_close(out[1], off[1], rtol=0, atol=1e-6)


def test_samples_are_independent_of_their_batch() -> None:
    _, model = paired_models()
    randomize(model, seed=3)
    x, t = torch.randn(3, 3, 16, 16), torch.tensor([100.0, 400.0, 700.0])
    cond = random_conditions(3)
    cond.present[1, TEXT] = False
    cond.present[2, SUBJECTS] = False
    full = model(x, t, cond)
    for i in range(3):
        one = model(x[i : i + 1], t[i : i + 1], cond.map(lambda v, i=i: v[i : i + 1]))
        torch.testing.assert_close(one[0], full[i], rtol=1e-4, atol=1e-5)


def test_condition_dropout_rates() -> None:
    present = torch.ones(20000, len(CONDITIONS), dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    rates = torch.tensor([0.1, 0.5, 0.0, 1.0, 0.3])
    kept = drop_conditions(present, rates, g)
    share = kept.float().mean(0)
    torch.testing.assert_close(share, 1 - rates, rtol=0, atol=0.015)
    # independent: P(text and scene kept) = P(text) P(scene)
    both = (kept[:, TEXT] & kept[:, SCENE]).float().mean()
    assert abs(float(both) - 0.9 * 0.5) < 0.015
    # never switches on a condition that is absent
    absent = torch.zeros_like(present)
    assert not drop_conditions(absent, torch.zeros(5), g).any()


def test_nested_guidance() -> None:
    outs = [torch.full((1, 3), float(v)) for v in (1.0, 2.0, 5.0)]
    torch.testing.assert_close(nested_guidance(outs, [1.0, 1.0]), outs[-1])
    # o0 + 2 (o1 - o0) + 3 (o2 - o1) = 1 + 2 + 9
    torch.testing.assert_close(nested_guidance(outs, [2.0, 3.0]), torch.full((1, 3), 12.0))
    with pytest.raises(ValueError, match="2 scales"):
        nested_guidance(outs, [1.0])


def test_bundled_shape_fits_the_size_budget() -> None:
    with torch.device("meta"):
        model = build_scene_dit("seed-12M", 64)
    n = sum(p.numel() for p in model.parameters())
    assert 13e6 < n < 15e6  # float16: under 30 MB
    assert n * 2 < 30e6


def test_config_round_trip() -> None:
    assert ConditioningConfig.from_dict(COND.to_dict()) == COND
    assert ConditioningConfig.from_dict(DENSE.to_dict()) == DENSE
    older = {k: v for k, v in COND.to_dict().items() if k != "dense_layout"}  # saved before the field
    assert ConditioningConfig.from_dict(older) == COND
    assert dataclasses.asdict(COND)["scene"]["width"] == 32
    assert POSE != INPAINT


def test_box_coverage_is_the_share_of_each_patch_inside_the_box() -> None:
    boxes = torch.tensor([[[0.125, 0.0, 0.5, 0.25], [0.3, 0.55, 0.95, 0.8]]])  # (1, 2, 4)
    got = box_coverage(boxes, 4, 4)
    assert got.shape == (1, 2, 16)
    first = torch.zeros(4, 4)
    first[0, 0], first[0, 1] = 0.5, 1.0  # x 0.125..0.5 over cells of 0.25; y row 0 exactly
    torch.testing.assert_close(got[0, 0].view(4, 4), first)
    # an independent reference: the mean of a fine pixel mask over each cell (rows = y)
    n = 400
    c = (torch.arange(n) + 0.5) / n
    for m in range(2):
        x0, y0, x1, y1 = boxes[0, m].tolist()
        mask = ((c[:, None] >= y0) & (c[:, None] < y1) & (c[None] >= x0) & (c[None] < x1)).float()
        ref = mask.view(4, n // 4, 4, n // 4).mean(dim=(1, 3))
        torch.testing.assert_close(got[0, m].view(4, 4), ref, rtol=0, atol=0.01)
    # a box over the whole frame covers every cell fully, on a non-square grid too
    torch.testing.assert_close(box_coverage(torch.tensor([[[0.0, 0.0, 1.0, 1.0]]]), 2, 3), torch.ones(1, 1, 6))


def test_dense_layout_paints_each_subjects_phrase_over_its_box() -> None:
    """The tokens entering the first block gain sum_m coverage_m * W e_m, nothing else."""
    _, plain = paired_models(COND)
    dense = SceneDiT(BASE, DENSE).eval()
    load_weights(dense, plain.state_dict(), grown=GROWN_MODULES)
    assert dense.layout_proj is not None and not dense.layout_proj.weight.any()
    with torch.no_grad():
        dense.layout_proj.weight.copy_(torch.randn(dense.layout_proj.weight.shape) * 0.1)
    seen: dict[str, torch.Tensor] = {}

    def grab(name: str):  # the input tokens of block 0
        return lambda _m, args: seen.__setitem__(name, args[0].detach().clone())

    plain.blocks[0].register_forward_pre_hook(grab("plain"))
    dense.blocks[0].register_forward_pre_hook(grab("dense"))
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([100.0, 700.0])
    cond = random_conditions(2)
    cond.boxes[0, 1] = torch.tensor([0.5, 0.5, 1.0, 1.0])  # subject 1 of sample 0: the bottom-right quarter
    cond.subject_mask[1] = False
    cond.subject_mask[1, 0] = True  # sample 1: one subject only
    plain(x, t, cond)
    dense(x, t, cond)
    grid = 8  # 16 px / patch 2
    expected = torch.zeros(2, grid * grid, BASE.hidden_size)
    phrases = cond.subject_text @ dense.layout_proj.weight.T  # (2, M, D)
    n = 1000  # a fine mask as the reference: box edges at multiples of 1/1000 fall between its samples
    c = (torch.arange(n) + 0.5) / n
    for b in range(2):
        for m in range(COND.max_subjects):
            if not cond.subject_mask[b, m]:
                continue
            x0, y0, x1, y1 = cond.boxes[b, m].tolist()
            mask = ((c[:, None] >= y0) & (c[:, None] < y1) & (c[None] >= x0) & (c[None] < x1)).float()
            share = mask.view(grid, n // grid, grid, n // grid).mean(dim=(1, 3)).flatten()
            expected[b] += share[:, None] * phrases[b, m]
    torch.testing.assert_close(seen["dense"] - seen["plain"], expected, rtol=0, atol=1e-5)
    assert (seen["dense"][0, 0] - seen["plain"][0, 0]).abs().max() < 1e-6  # (0, 0) is outside both boxes


def test_a_grown_module_may_be_missing_only_when_asked() -> None:
    _, plain = paired_models(COND)
    dense = SceneDiT(BASE, DENSE)
    with pytest.raises(CheckpointError, match=r"1 missing keys: layout_proj\.weight"):
        load_weights(dense, plain.state_dict())
    load_weights(dense, plain.state_dict(), grown=GROWN_MODULES)
    # grown is for modules the checkpoint lacks: anything else missing is still an error
    partial = {k: v for k, v in plain.state_dict().items() if not k.startswith("final_layer.")}
    with pytest.raises(CheckpointError, match="final_layer"):
        load_weights(dense, partial, grown=GROWN_MODULES)
