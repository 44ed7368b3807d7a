"""int8 quantization (model/quantize.py): which layers, PTQ error, QAT rounding = the int8 model's."""

from __future__ import annotations

import copy
import importlib.util

import pytest
import torch
from torch import nn

from scenecraft.model import build_dit
from scenecraft.model.quantize import (
    QUANT_MODES,
    QuantizationError,
    convert_qat,
    prepare_qat,
    quantize_model,
    quantized_linear,
)


def test_unknown_mode_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(QuantizationError, match="int8-dynamic, int8-weight"):
        quantize_model(nn.Linear(4, 4), "int4")


def test_only_the_token_wise_linears_are_chosen() -> None:
    model = build_dit("DiT-S/2", input_size=8, in_channels=4)
    chosen = {fqn for fqn, m in model.named_modules() if quantized_linear(m, fqn)}
    assert "blocks.0.attn.qkv" in chosen and "blocks.3.mlp.fc2" in chosen and "final_layer.linear" in chosen
    assert not any("adaLN_modulation" in f or f.startswith(("t_embedder", "y_embedder")) for f in chosen)
    linears = sum(isinstance(m, nn.Linear) for m in model.modules())
    per_block = 4  # qkv, proj, fc1, fc2
    assert len(chosen) == per_block * len(model.blocks) + 1 < linears


needs_torchao = pytest.mark.skipif(
    importlib.util.find_spec("torchao") is None, reason='int8 needs the "quantize" extra (torchao)'
)


class _Blocks(nn.Module):
    """One linear under a ``blocks.`` name, so the filter takes it."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(nn.Linear(64, 96))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def _reference_int8(x: torch.Tensor, layer: nn.Linear, dynamic: bool) -> torch.Tensor:
    """Closed form: weights rounded per output row to int8 (scale |w|max / 127.5), activations
    (dynamic) per token to 256 asymmetric levels, then a float product."""
    w = layer.weight
    scale = w.abs().amax(dim=1, keepdim=True) / 127.5
    wq = (w / scale).round().clamp(-128, 127) * scale
    if dynamic:
        lo = x.amin(dim=-1, keepdim=True).clamp(max=0)
        hi = x.amax(dim=-1, keepdim=True).clamp(min=0)
        s = (hi - lo) / 255
        zero = (-128 - lo / s).round()
        x = ((x / s + zero).round().clamp(-128, 127) - zero) * s
    return x @ wq.T + layer.bias


@needs_torchao
@pytest.mark.parametrize("mode", QUANT_MODES)
def test_ptq_and_qat_round_as_the_closed_form(mode: str) -> None:
    torch.manual_seed(0)
    model = _Blocks()
    x = torch.randn(3, 16, 64) * 2 + 0.5
    with torch.no_grad():
        exact = model(x)
        want = _reference_int8(x, model.blocks[0], mode == "int8-dynamic")
        ptq = quantize_model(copy.deepcopy(model), mode)(x)
        fake = prepare_qat(copy.deepcopy(model), mode)(x)
    err = (want - exact).abs()
    assert err.max() > 1e-3  # int8 really rounds
    # torchao rounds a value at exactly -127.5 steps (the row's extreme) to -127, the closed form to
    # -128: a rare one-step difference, hence mean and max bounds rather than equality
    for got in (ptq, fake):  # fake: QAT's forward rounds as the int8 model will compute
        diff = (got - want).abs()
        assert diff.mean() < 0.05 * err.mean() and diff.max() < 0.5 * err.max(), (diff.mean(), err.mean())


@needs_torchao
@pytest.mark.parametrize("mode", QUANT_MODES)
def test_qat_trains_and_converts_to_its_own_int8_model(mode: str) -> None:
    torch.manual_seed(0)
    model = build_dit("DiT-S/2", input_size=8, in_channels=4)
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0, 0.05)
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([10.0, 500.0]), torch.tensor([1, 2])
    qat = prepare_qat(copy.deepcopy(model), mode)
    before = qat.blocks[0].mlp.fc1.weight.detach().clone()
    opt = torch.optim.SGD(qat.parameters(), lr=1e-2)
    loss = qat(x, t, y).square().mean()
    loss.backward()
    assert qat.blocks[0].mlp.fc1.weight.grad is not None  # gradients pass the rounding
    opt.step()
    trained = qat.blocks[0].mlp.fc1.weight.detach().clone()
    assert not torch.equal(trained, before)
    with torch.no_grad():
        fake = qat(x, t, y)
        converted = convert_qat(qat, mode)
        real = converted(x, t, y)
        exact = model(x, t, y)
    assert type(converted.blocks[0].mlp.fc1) is nn.Linear  # fake quantization removed
    scale = exact.abs().max()
    # the converted int8 model computes what QAT trained (a small residue from per-layer rounding
    # boundaries that the two reach by different float paths)
    assert (real - fake).abs().max() < 0.25 * (fake - exact).abs().max() + 1e-3 * scale
