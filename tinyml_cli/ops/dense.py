"""Matrix products: ``fully_connected`` (FULLY_CONNECTED, with or without bias, ``keep_num_dims``)
and ``batch_matmul`` (BATCH_MATMUL).

MACs: rows x output features x input features, where rows are the input's elements over the input
features (several rows when ``keep_num_dims`` keeps a sequence). No scratch buffers on either runtime.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "int8", constant, False, 1)
>>> FULLY_CONNECTED.costs(OpView("FULLY_CONNECTED", (t((1, 4, 16)), t((8, 16), True), None), (t((1, 4, 8)),), {}), "mcu")
Costs(macs=512, elements=0, cycle_class='fully_connected', scratch=(), persistent=0, element_class='binary')
"""

from __future__ import annotations

from typing import Any

from .base import Costs, LayerOp, OpKind, OpView, fused, no_attributes, no_constants


def fc_costs(view: OpView, runtime: str) -> Costs:
    """FULLY_CONNECTED: weights (out, in); the input is read as rows of ``in`` features."""
    out_features, in_features = view.inputs[1].shape[-2:]
    rows = view.inputs[0].numel // max(in_features, 1)
    return Costs(rows * out_features * in_features, 0, "fully_connected")


def matmul_costs(view: OpView, runtime: str) -> Costs:
    """BATCH_MATMUL: output elements x the contracted dimension."""
    a = view.inputs[0].shape
    contracted = a[-2] if view.options.get("AdjX") else a[-1]
    return Costs(view.out.numel * contracted, 0, "fully_connected")


FULLY_CONNECTED = OpKind("fully_connected", ("FULLY_CONNECTED",), fc_costs)
BATCH_MATMUL = OpKind("batch_matmul", ("BATCH_MATMUL",), matmul_costs)


# --- the IR's dense layer (weights quantized per tensor, as the TFLite converter does) -------------

def _module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from .torch_layers import Dense
    return Dense(layer)


def _weights(unit: Any) -> tuple[Any, Any]:
    """(out, in), as torch keeps them."""
    return unit.fc.weight.detach(), unit.fc.bias.detach()


def _forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    import torch.nn.functional as F

    from .torch_layers import activate
    return activate(F.linear(inputs[0], w, b), layer.activation)


def _options(b: Any, layer: Any) -> tuple[str, dict]:
    return "FullyConnectedOptions", fused(layer)


FULLY_CONNECTED_LAYER = LayerOp("fully_connected", "FULLY_CONNECTED", 4, FULLY_CONNECTED, 0, False, True,
                                "calibrated", _module, _weights, _forward, _options, no_constants, no_attributes)
