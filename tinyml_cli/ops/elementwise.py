"""Element-wise operators, timed per element they read: ``add`` (ADD), ``binary`` (SUB, MUL, DIV,
SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, with broadcasting), ``activation`` (RELU, RELU6, RELU_N1_TO_1,
RELU_0_TO_1, LEAKY_RELU, PRELU), ``hard_swish`` (HARD_SWISH), ``transcendental`` (LOGISTIC, TANH,
EXP, LOG, RSQRT, SQRT, GELU) and ``convert`` (QUANTIZE, DEQUANTIZE, CAST; anywhere in a model). No
MACs, no scratch buffers.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "int8", constant, False, 1)
>>> BINARY.costs(OpView("SUB", (t((1, 8, 8, 3)), t((3,), True)), (t((1, 8, 8, 3)),), {}), "mcu")
Costs(macs=None, elements=192, cycle_class='binary', scratch=(), persistent=0, element_class='binary')
"""

from __future__ import annotations

from .base import Costs, OpKind, OpView


def read_elements(view: OpView) -> int:
    """Elements of the activation (non-constant) inputs."""
    return sum(t.numel for t in view.inputs if t is not None and not t.constant)


def _timed_as(cycle_class: str):
    def costs(view: OpView, runtime: str) -> Costs:
        return Costs(None, read_elements(view), cycle_class, element_class=cycle_class)
    costs.__doc__ = f"No MACs; the elements read, timed as {cycle_class!r}."
    return costs


ADD = OpKind("add", ("ADD",), "AddAdd", _timed_as("add"))
BINARY = OpKind("binary", ("SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM"), "AddSub",
                _timed_as("binary"))
ACTIVATION = OpKind("activation", ("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "PRELU"),
                    "AddRelu", _timed_as("activation"))
HARD_SWISH = OpKind("hard_swish", ("HARD_SWISH",), "AddHardSwish", _timed_as("hard_swish"))
TRANSCENDENTAL = OpKind("transcendental", ("LOGISTIC", "TANH", "EXP", "LOG", "RSQRT", "SQRT", "GELU"),
                        "AddLogistic", _timed_as("transcendental"))
CONVERT = OpKind("convert", ("QUANTIZE", "DEQUANTIZE", "CAST"), "AddQuantize", _timed_as("quantize"))
