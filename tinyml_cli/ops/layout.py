"""Operators that only move data, timed per element they read: ``reshape`` (RESHAPE, SQUEEZE,
EXPAND_DIMS: a copy at most) and ``move`` (TRANSPOSE, PAD, PADV2, MIRROR_PAD, CONCATENATION,
STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, PACK, UNPACK, GATHER, DEPTH_TO_SPACE, SPACE_TO_DEPTH,
BROADCAST_TO, FILL, ZEROS_LIKE). No MACs, no scratch buffers.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "int8", constant, False, 1)
>>> MOVE.costs(OpView("TRANSPOSE", (t((1, 3, 8, 8)), t((4,), True)), (t((1, 8, 8, 3)),), {}), "mcu").elements
192
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import LayerOp, OpKind, no_attributes, no_weights
from .elementwise import _timed_as

RESHAPE = OpKind("reshape", ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"), _timed_as("reshape"))
MOVE = OpKind("move", ("TRANSPOSE", "PAD", "PADV2", "MIRROR_PAD", "CONCATENATION", "STRIDED_SLICE", "SLICE",
                       "SPLIT", "SPLIT_V", "PACK", "UNPACK", "GATHER", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH",
                       "BROADCAST_TO", "FILL", "ZEROS_LIKE"), _timed_as("move"))


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
                        _flatten_forward, _reshape_options, _reshape_shape, no_attributes)
