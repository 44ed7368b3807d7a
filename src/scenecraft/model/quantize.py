"""int8 quantization of our DiTs through torchao: post-training, and quantization-aware training.

Two modes, both on every ``nn.Linear`` of the transformer (the patch embedding is a convolution and
the small embedder MLPs are kept float: they run once per call on a handful of rows):

    int8-dynamic   int8 weights (per output channel) and int8 activations (per token, symmetric),
                   quantized on the fly: int8 x int8 matrix products (torchao's
                   ``Int8DynamicActivationInt8WeightConfig``)
    int8-weight    int8 weights, float activations (``Int8WeightOnlyConfig``): half the weight
                   memory traffic of bfloat16, the products still in floating point

Post-training: :func:`quantize_model`. Quantization-aware training: :func:`prepare_qat` swaps the
same linears for torchao's fake-quantized ones (``QATConfig`` with the int8 fake-quantize configs
that match the mode: the forward pass rounds weights and activations exactly as the int8 model will,
gradients pass straight through), the model is trained or distilled as usual, and
:func:`convert_qat` removes the fake quantization and applies the mode's real int8 config to the
trained weights. torchao 0.18's ``QATConfig`` does not take the int8 x int8 configs as its
``base_config``, hence the explicit fake-quantize configs here.

Where it pays: off by default everywhere. On a CPU with AVX2 but neither VNNI nor AMX (this
project's machines) int8 products have no hardware path and measured slower than float32
(``benchmarks/quantization.py``, docs/results.md); ``scripts/gpu-bench`` measures it on a GPU.
torchao is an optional extra (``pip install -e ".[quantize]"``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from torch import nn

from scenecraft.config import QUANT_MODES

M = TypeVar("M", bound=nn.Module)


class QuantizationError(ValueError):
    """An unknown mode, or torchao missing; the message says what to do."""


def _torchao() -> Any:
    try:
        import torchao.quantization as tq
    except ImportError:
        raise QuantizationError(
            'int8 quantization needs torchao: pip install -e ".[quantize]" (or pip install "torchao>=0.18")'
        ) from None
    return tq


def _check(mode: str) -> None:
    if mode not in QUANT_MODES:
        raise QuantizationError(f"unknown quantization {mode!r}; valid: {', '.join(QUANT_MODES)}")


def quantized_linear(module: nn.Module, fqn: str) -> bool:
    """The linears that are quantized: those inside the transformer blocks and the final layer.

    The timestep/guidance/condition embedders' MLPs and the blocks' adaLN modulations run on one
    row per image; int8 would save nothing there and only add rounding where the conditioning enters.
    """
    if not isinstance(module, nn.Linear) or "adaLN_modulation" in fqn:
        return False
    return fqn.startswith(("blocks.", "final_layer."))


def ptq_config(mode: str) -> Any:
    _check(mode)
    tq = _torchao()
    if mode == "int8-dynamic":
        # asymmetric per-token activations: what torchao's QAT can fake-quantize (symmetric per
        # token is not implemented there), so a QAT model is converted to exactly what it trained as
        return tq.Int8DynamicActivationInt8WeightConfig(act_mapping_type=tq.MappingType.ASYMMETRIC)
    return tq.Int8WeightOnlyConfig()


def quantize_model(model: M, mode: str) -> M:
    """Post-training int8 of ``model`` in place (and returned); see the module doc for the modes."""
    config = ptq_config(mode)
    _torchao().quantize_(model, config, filter_fn=quantized_linear)
    return model


def _qat_configs(mode: str) -> tuple[Any, Any]:
    """(activation, weight) fake-quantize configs that round as ``mode``'s int8 model does."""
    import torch
    from torchao.quantization.granularity import PerAxis
    from torchao.quantization.qat import IntxFakeQuantizeConfig

    weight = IntxFakeQuantizeConfig(torch.int8, granularity=PerAxis(0), is_symmetric=True)
    if mode == "int8-weight":
        return None, weight
    activation = IntxFakeQuantizeConfig(torch.int8, "per_token", is_symmetric=False)
    return activation, weight


def prepare_qat(model: M, mode: str) -> M:
    """Fake-quantize ``model``'s quantized linears for training (in place, returned)."""
    _check(mode)
    tq = _torchao()
    from torchao.quantization.qat import QATConfig

    activation, weight = _qat_configs(mode)
    config = QATConfig(activation_config=activation, weight_config=weight, step="prepare")
    tq.quantize_(model, config, filter_fn=quantized_linear)
    return model


def convert_qat(model: M, mode: str) -> M:
    """After QAT: plain linears with the trained weights, then ``mode``'s real int8 (in place)."""
    _check(mode)
    return quantize_model(float_linears(model), mode)


def float_linears(model: M) -> M:
    """After QAT, for saving: the fake-quantized linears back to plain ones with the trained weights."""
    tq = _torchao()
    from torchao.quantization.qat import FakeQuantizedLinear, QATConfig

    tq.quantize_(model, QATConfig(step="convert"), filter_fn=lambda m, fqn: isinstance(m, FakeQuantizedLinear))
    return model
