"""Recurrent layers: ``svdf`` (SVDF, the keyword-spotting filter of rank-factored memory) and
``lstm`` (UNIDIRECTIONAL_SEQUENCE_LSTM). Their state lives in variable tensors, which TFLM keeps in
the persistent part of the arena (the planner never sees them).

SVDF, per batch row and invocation: the feature matrix (filters x input) and the time weights
(filters x memory), then the rank reduction into units. Its int8 kernel asks for two int32 scratch
buffers (batch x filters and batch x units), the float one for the first.

LSTM, per batch row and time step: four gates, each an input (cells x input) and a recurrent
(cells x output) product, plus the projection (output x cells) when there is one; the kernels
request four gate buffers of batch x cells elements (int16 for the int8 kernel, float otherwise).

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "float32", constant, False, 0)
>>> ins = (t((1, 28, 28)), *[t((20, 28), True)] * 4, *[t((20, 20), True)] * 4)
>>> LSTM.costs(OpView("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, (t((1, 28, 20)),), {"TimeMajor": False}), "host").macs
107520
"""

from __future__ import annotations

from .base import Costs, OpKind, OpView


def svdf_costs(view: OpView, runtime: str) -> Costs:
    """SVDF inputs: input (batch, in), feature weights (filters, in), time weights (filters, memory),
    bias, state; ``Rank`` filters per unit."""
    batch, in_features = view.inputs[0].shape[0], view.inputs[0].shape[-1]
    filters, memory = view.inputs[2].shape
    rank = max(int(view.options.get("Rank", 1)), 1)
    units = filters // rank
    macs = batch * (filters * in_features + filters * memory + units * rank)
    quantized = view.out.dtype in ("int8", "int16")
    scratch = (batch * filters * 4, batch * units * 4) if quantized else (batch * filters * 4,)
    return Costs(macs, batch * filters * memory, "fully_connected", scratch)


def lstm_costs(view: OpView, runtime: str) -> Costs:
    """UNIDIRECTIONAL_SEQUENCE_LSTM inputs: input, 4 input-to-gate weights (the first may be absent
    without an input gate), 4 recurrent weights, peepholes, biases, projection weights (input 16)."""
    x = view.inputs[0].shape
    time_major = bool(view.options.get("TimeMajor", False))
    steps, batch = (x[0], x[1]) if time_major else (x[1], x[0])
    gates = [w for w in view.inputs[1:5] if w is not None]
    cells, in_features = gates[-1].shape
    recurrent = [w for w in view.inputs[5:9] if w is not None]
    outputs = recurrent[-1].shape[1]
    projection = view.input(16)
    per_step = len(gates) * cells * in_features + len(recurrent) * cells * outputs
    if projection is not None:
        per_step += projection.shape[0] * projection.shape[1]
    element = 2 if view.out.dtype == "int8" else 4
    scratch = tuple(batch * cells * element for _ in range(4))
    return Costs(per_step * steps * batch, 10 * cells * steps * batch, "fully_connected", scratch)


SVDF = OpKind("svdf", ("SVDF",), svdf_costs)
LSTM = OpKind("lstm", ("UNIDIRECTIONAL_SEQUENCE_LSTM",), lstm_costs)
