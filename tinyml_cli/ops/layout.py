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

from .base import OpKind
from .elementwise import _timed_as

RESHAPE = OpKind("reshape", ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"), "AddReshape", _timed_as("reshape"))
MOVE = OpKind("move", ("TRANSPOSE", "PAD", "PADV2", "MIRROR_PAD", "CONCATENATION", "STRIDED_SLICE", "SLICE",
                       "SPLIT", "SPLIT_V", "PACK", "UNPACK", "GATHER", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH",
                       "BROADCAST_TO", "FILL", "ZEROS_LIKE"), "AddTranspose", _timed_as("move"))
