"""Element-wise operators, timed per element they read: ``add`` (ADD), ``binary`` (SUB, MUL, DIV,
SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, with broadcasting), ``activation`` (RELU, RELU6, RELU_N1_TO_1,
RELU_0_TO_1, LEAKY_RELU, PRELU), ``hard_swish`` (HARD_SWISH), ``transcendental`` (LOGISTIC, TANH,
EXP, LOG, RSQRT, SQRT, GELU) and ``convert`` (QUANTIZE, DEQUANTIZE, CAST; anywhere in a model). No
MACs, no scratch buffers.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "int8", constant, False, 1)
>>> BINARY.costs(OpView("SUB", (t((1, 8, 8, 3)), t((3,), True)), (t((1, 8, 8, 3)),), {}), "mcu")
Costs(macs=None, elements=192, cycle_class='binary', scratch=(), persistent=0, element_class='binary', window=0, outputs=0, pixels=0)
"""

from __future__ import annotations

from typing import Any

from .base import Costs, LayerOp, OpKind, OpView, fused, no_attributes, no_constants, no_weights


def read_elements(view: OpView) -> int:
    """Elements of the activation (non-constant) inputs."""
    return sum(t.numel for t in view.inputs if t is not None and not t.constant)


def _timed_as(cycle_class: str):
    def costs(view: OpView, build: str) -> Costs:
        return Costs(None, read_elements(view), cycle_class, element_class=cycle_class)
    costs.__doc__ = f"No MACs; the elements read, timed as {cycle_class!r}."
    return costs


ADD = OpKind("add", ("ADD",), _timed_as("add"))
BINARY = OpKind("binary", ("SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM"),
                _timed_as("binary"))
ACTIVATION = OpKind("activation", ("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "PRELU"),
                    _timed_as("activation"))
HARD_SWISH = OpKind("hard_swish", ("HARD_SWISH",), _timed_as("hard_swish"))
TRANSCENDENTAL = OpKind("transcendental", ("LOGISTIC", "TANH", "EXP", "LOG", "RSQRT", "SQRT", "GELU"),
                        _timed_as("transcendental"))
CONVERT = OpKind("convert", ("QUANTIZE", "DEQUANTIZE", "CAST"), _timed_as("quantize"))


# --- the IR's residual ADD --------------------------------------------------------------------------

def _add_module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from .torch_layers import Add
    return Add(layer)


def _add_forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    from .torch_layers import activate
    return activate(inputs[0] + inputs[1], layer.activation)


def _add_options(b: Any, layer: Any) -> tuple[str, dict]:
    return "AddOptions", fused(layer)


ADD_LAYER = LayerOp("add", "ADD", 2, ADD, None, False, True, "calibrated", _add_module, no_weights, _add_forward,
                    _add_options, no_constants, no_attributes, activations=2,
                    int16_options=(("PotScaleInt16", False),))   # general scales (add.cc, 16x8)
