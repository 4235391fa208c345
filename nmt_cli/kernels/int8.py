"""Dynamic int8 quantization of a trained model (``translate --quantize int8``), module by module.

Each linear layer (``kernels.bf16.Linear`` included) is replaced by a dynamically quantized linear
built from its float weight and bias, each ``nn.GRU``/``nn.LSTM`` by a dynamically quantized one:
int8 weights, activations quantized on the fly at every call, outputs in fp32. The observers are those
of torch's default dynamic qconfig, so the model computes exactly what
``torch.ao.quantization.quantize_dynamic`` with {Linear, GRU, LSTM} made of it (tests/test_int8.py).

Left in float: the attention's ``v`` (the score kernel reads its weight as a vector, kernels/additive.py)
and the decoder's upper GRUCell/LSTMCell layers (they always were: quantizing them would change the
translations of existing int8 users).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from typing import TypeVar

import torch
from torch import nn
from torch.ao.nn.quantized import dynamic as nnqd
from torch.ao.quantization import default_dynamic_qconfig

KEEP_FLOAT = ("decoder.attention.v",)

M = TypeVar("M", bound=nn.Module)


def quantize_int8(model: M, keep_float: Collection[str] = KEEP_FLOAT) -> M:
    """model -> the same model in eval mode, its Linear, GRU and LSTM modules (but ``keep_float``,
    qualified names) replaced by dynamically quantized ones. Changes ``model`` in place."""
    model.eval()
    found = {name: _quantized(module) for name, module in model.named_modules() if name not in keep_float}
    for name, quantized in found.items():
        if quantized is not None:
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, quantized)
    return model


def _quantized(module: nn.Module) -> nn.Module | None:
    """The dynamically quantized replacement of ``module``, or None when it stays as it is."""
    with warnings.catch_warnings():  # torch announces the deprecation of quantized tensors on every call
        warnings.simplefilter("ignore", UserWarning)
        if isinstance(module, nn.Linear):
            return _linear(module)
        if type(module) in (nn.GRU, nn.LSTM):
            return _recurrent(module)
    return None


def _linear(layer: nn.Linear) -> nnqd.Linear:
    """int8 weight, per tensor and symmetric (scale max|w| / 127.5, zero point 0); float bias."""
    observer = default_dynamic_qconfig.weight()
    observer(layer.weight)
    scale, zero_point = observer.calculate_qparams()
    # The default observer spans the whole qint8 range, so no clamping is needed after rounding.
    weight = torch.quantize_per_tensor(layer.weight.float(), float(scale), int(zero_point), torch.qint8)
    out = nnqd.Linear(layer.in_features, layer.out_features, bias_=layer.bias is not None, dtype=torch.qint8)
    out.set_weight_bias(weight, layer.bias)
    return out


def _recurrent(rnn: nn.Module) -> nn.Module:
    """nn.GRU / nn.LSTM -> its dynamically quantized counterpart (every layer's weights int8)."""
    rnn.qconfig = default_dynamic_qconfig  # type: ignore[assignment]  # from_float reads its observers here
    quantized_cls = nnqd.GRU if isinstance(rnn, nn.GRU) else nnqd.LSTM
    return quantized_cls.from_float(rnn)  # type: ignore[no-any-return]
