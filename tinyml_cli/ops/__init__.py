"""The op table: one module per op kind (``conv``, ``dense``, ``recurrent``, ``elementwise``,
``layout``, ``reduce``), every kind in one registry by name and by the TFLite builtins it covers."""

from __future__ import annotations

from . import conv, dense, elementwise, layout, recurrent, reduce
from .base import Costs, OpKind, OpView

KINDS: tuple[OpKind, ...] = (
    conv.CONV, conv.DEPTHWISE, conv.TRANSPOSE_CONV, dense.FULLY_CONNECTED, dense.BATCH_MATMUL,
    recurrent.SVDF, recurrent.LSTM, elementwise.ADD, elementwise.BINARY, elementwise.ACTIVATION,
    elementwise.HARD_SWISH, elementwise.TRANSCENDENTAL, elementwise.CONVERT, layout.RESHAPE, layout.MOVE,
    reduce.POOL, reduce.REDUCE, reduce.SOFTMAX,
)
OPS: dict[str, OpKind] = {kind.name: kind for kind in KINDS}
BY_BUILTIN: dict[str, OpKind] = {builtin: kind for kind in KINDS for builtin in kind.builtins}


def lookup(builtin: str) -> OpKind | None:
    """The op kind covering a TFLite builtin operator, or None."""
    return BY_BUILTIN.get(builtin)


__all__ = ["BY_BUILTIN", "Costs", "KINDS", "OPS", "OpKind", "OpView", "lookup"]
