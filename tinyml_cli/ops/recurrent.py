"""Recurrent layers: ``svdf`` (SVDF, the keyword-spotting filter of rank-factored memory) and
``lstm`` (UNIDIRECTIONAL_SEQUENCE_LSTM). Their state lives in variable tensors, which TFLM keeps in
the persistent part of the arena (the planner never sees them).

SVDF, per batch row and invocation: the feature matrix (filters x input) and the time weights
(filters x memory), then the rank reduction into units. Its int8 kernel asks for two int32 scratch
buffers (batch x filters, then batch x units), the float one for the first (TFLM
``kernels/svdf_common.cc`` PrepareSvdf; ``kernels/cmsis_nn/svdf.cc`` the same, its
``arm_svdf_s8_get_buffer_size`` being 0 on a DSP build).

LSTM, per batch row and time step: four gates, each an input (cells x input) and a recurrent
(cells x output) product, plus the projection (output x cells) when there is one. The reference
kernel (``kernels/unidirectional_sequence_lstm.cc``) requests four buffers of batch x state
elements of the cell state's type (int16 for the integer kernels, float32 otherwise); CMSIS-NN's
(``kernels/cmsis_nn/unidirectional_sequence_lstm.cc``) three for the integer kernels, plus eight
persistent kernel sums of state elements (int32 for int8, int64 for 16x8 activations).

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, constant=False: Tensor(0, "t", shape, "float32", constant, False, 0)
>>> ins = (t((1, 28, 28)), *[t((20, 28), True)] * 4, *[t((20, 20), True)] * 4)
>>> LSTM.costs(OpView("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, (t((1, 28, 20)),), {"TimeMajor": False}), "host").macs
107520
"""

from __future__ import annotations

from .base import Costs, OpKind, OpView, persistent

CELL_STATE = 19                # the cell state input of UNIDIRECTIONAL_SEQUENCE_LSTM (lstm_shared.h)
HIDDEN_STATE = 18              # the output (hidden) state input


def svdf_costs(view: OpView, build: str) -> Costs:
    """SVDF inputs: input (batch, in), feature weights (filters, in), time weights (filters, memory),
    bias, state; ``Rank`` filters per unit."""
    batch, in_features = view.inputs[0].shape[0], view.inputs[0].shape[-1]
    filters, memory = view.inputs[2].shape
    rank = max(int(view.options.get("Rank", 1)), 1)
    units = filters // rank
    macs = batch * (filters * in_features + filters * memory + units * rank)
    integer = view.inputs[0].dtype == "int8"
    scratch = (batch * filters * 4, batch * units * 4) if integer else (batch * filters * 4,)
    return Costs(macs, batch * filters * memory, "fully_connected", scratch)


def lstm_buffers(view: OpView, build: str) -> tuple[tuple[int, ...], int]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM's scratch (batch x state elements of the cell state's type) and
    persistent bytes (CMSIS-NN's kernel sums), as the module docstring says."""
    x, hidden, cell = view.inputs[0], view.input(HIDDEN_STATE), view.input(CELL_STATE)
    batch = x.shape[1] if view.options.get("TimeMajor", False) else x.shape[0]
    state = hidden.shape[-1] if hidden is not None else view.out.shape[-1]
    integer = cell is not None and cell.dtype == "int16"
    buffer = batch * state * (2 if integer else 4)
    if build == "mcu" and integer:                 # CMSIS_NN_PortOpData: 8 kernel sums, 3 buffers
        return (buffer,) * 3, 8 * persistent(state * (8 if x.dtype == "int16" else 4))
    return (buffer,) * 4, 0


def lstm_costs(view: OpView, build: str) -> Costs:
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
    scratch, extra = lstm_buffers(view, build)
    return Costs(per_step * steps * batch, 10 * cells * steps * batch, "fully_connected", scratch, extra)


SVDF = OpKind("svdf", ("SVDF",), svdf_costs)
LSTM = OpKind("lstm", ("UNIDIRECTIONAL_SEQUENCE_LSTM",), lstm_costs)
