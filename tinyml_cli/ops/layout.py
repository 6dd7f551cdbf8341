"""Operators that only move data, timed per element they read: ``reshape`` (RESHAPE, SQUEEZE,
EXPAND_DIMS: a copy at most) and ``move`` (TRANSPOSE, PAD, PADV2, MIRROR_PAD, CONCATENATION,
STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, PACK, UNPACK, GATHER, DEPTH_TO_SPACE, SPACE_TO_DEPTH,
BROADCAST_TO, FILL, ZEROS_LIKE). No MACs.

What the kernels ask of the arena (TFLM ``tensorflow/lite/micro/kernels/``, the same on both
runtimes: CMSIS-NN's PAD and TRANSPOSE request nothing either): MIRROR_PAD two int scratch arrays
of the input's rank (``mirror_pad.cc``); GATHER, DEPTH_TO_SPACE and SPACE_TO_DEPTH copy their
output dims into the persistent arena (``gather.cc``, ``depth_to_space.cc``, ``space_to_depth.cc``:
CreateWritableTensorDimsWithCopy), as RESHAPE does only for a -1 in its shape, which a file's
static shapes never have (``reshape_common.cc``). The rest request nothing beyond their OpData.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "int8", constant, False, 1)
>>> MOVE.costs(OpView("TRANSPOSE", (t((1, 3, 8, 8)), t((4,), True)), (t((1, 8, 8, 3)),), {}), "mcu").elements
192
>>> MOVE.costs(OpView("MIRROR_PAD", (t((1, 8, 8, 3)), t((4, 2), True)), (t((1, 10, 10, 3)),), {}), "host").scratch
(16, 16)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Costs, LayerOp, OpKind, OpView, copied_dims, no_attributes, no_weights
from .elementwise import _timed_as, read_elements

COPIES_DIMS = ("GATHER", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH")


def move_costs(view: OpView, build: str) -> Costs:
    """The elements read; MIRROR_PAD's scratch, the dims some kernels copy."""
    scratch = (4 * len(view.inputs[0].shape),) * 2 if view.builtin == "MIRROR_PAD" else ()
    extra = copied_dims(view) if view.builtin in COPIES_DIMS else 0
    return Costs(None, read_elements(view), "move", scratch, extra, element_class="move")


RESHAPE = OpKind("reshape", ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"), _timed_as("reshape"))
MOVE = OpKind("move", ("TRANSPOSE", "PAD", "PADV2", "MIRROR_PAD", "CONCATENATION", "STRIDED_SLICE", "SLICE",
                       "SPLIT", "SPLIT_V", "PACK", "UNPACK", "GATHER", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH",
                       "BROADCAST_TO", "FILL", "ZEROS_LIKE"), move_costs)


# --- the IR's flatten (a RESHAPE to a vector in H, W, C order) ------------------------------------------

def _flatten_module(layer: Any, in_shape: tuple[int, ...]) -> Any:
    from .torch_layers import Flatten
    return Flatten()


def _flatten_forward(layer: Any, inputs: list, w: Any, b: Any) -> Any:
    return inputs[0].reshape(inputs[0].shape[0], -1)


def _new_shape(layer: Any) -> tuple[int, ...]:
    return (1, *layer.output_shape)


def _reshape_options(b: Any, layer: Any) -> tuple[str, dict]:
    from ..tflite.writer import vector                 # the vector is built before the table
    return "ReshapeOptions", {"NewShape": vector(b, np.array(_new_shape(layer), np.int32))}


def _reshape_shape(layer: Any) -> list:
    """The new shape, batch included."""
    return [("shape", np.array(_new_shape(layer), "<i4"))]


RESHAPE_LAYER = LayerOp("reshape", "RESHAPE", 1, RESHAPE, None, False, False, "input", _flatten_module, no_weights,
                        _flatten_forward, _reshape_options, _reshape_shape, no_attributes, channels="flatten")
