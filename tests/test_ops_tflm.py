"""Every op kind of the table against TensorFlow Lite Micro (host build, reference kernels).

Each case writes a small .tflite with the package's writer, has TFLM allocate and invoke it, and
checks the estimate of the file on the host runtime: the planned arena is TFLM's "head" byte for
byte (tensors and the kernels' scratch buffers, in their request order), the peak SRAM is within 3%
of the smallest arena TFLM accepts (so the persistent part, per-channel data, lookup tables and
variables included, is right too), and the MACs are the count written out here from the shapes.
The smallest arenas are searched in child processes, several at once (TFLM crashes on some sizes
just too small).
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tflite

from tinyml_cli.errors import TinymlError
from tinyml_cli.estimate.file import estimate_file
from tinyml_cli.export.tflm_runner import required_arena
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.tflite.model import read_model
from tinyml_cli.tflite.writer import OperatorSpec, TensorSpec, build_model, options, vector

runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
from test_tflm_arena import tflm_arena  # noqa: E402

PROFILE = load_profile("STM32H743")
SAME, VALID = 0, 1
TYPES = {"int8": tflite.TensorType.INT8, "int16": tflite.TensorType.INT16, "int32": tflite.TensorType.INT32,
         "int64": tflite.TensorType.INT64, "float32": tflite.TensorType.FLOAT32}
BIAS = {"int8": "int32", "int16": "int64", "float32": "float32"}
WEIGHTS = {"int8": "int8", "int16": "int8", "float32": "float32"}


class Net:
    """A model under construction: tensors (activations, constants) and operators in order."""

    def __init__(self):
        self.tensors, self.ops = [], []
        self.rng = np.random.default_rng(7)

    def _add(self, spec):
        self.tensors.append(spec)
        return len(self.tensors) - 1

    def act(self, shape, dtype="int8", scale=0.05, zero_point=None, variable=False):
        """An activation (or a variable); int8 / int16 ones quantized per tensor."""
        spec = TensorSpec(f"t{len(self.tensors)}", tuple(shape), TYPES[dtype], variable=variable)
        if dtype in ("int8", "int16"):
            spec.scale = np.array([scale])
            spec.zero_point = np.array([(-3 if dtype == "int8" else 0) if zero_point is None else zero_point])
        return self._add(spec)

    def const(self, values, dtype, scale=None, axis=0, zero_point=0):
        values = np.asarray(values).astype(np.dtype(dtype))
        spec = TensorSpec(f"t{len(self.tensors)}", values.shape, TYPES[dtype], values.tobytes())
        if scale is not None:
            spec.scale = np.atleast_1d(np.asarray(scale, np.float32))
            spec.zero_point, spec.quantized_dimension = np.full(len(spec.scale), zero_point), axis
        return self._add(spec)

    def weights(self, shape, dtype, axis=0, per_channel=True):
        """Random weights (int8: quantized per channel along ``axis`` or per tensor) and scales."""
        scale = self.rng.uniform(0.005, 0.02, shape[axis] if per_channel else 1)
        if dtype == "float32":
            return self.const(self.rng.normal(size=shape) * 0.1, dtype), scale
        return self.const(self.rng.integers(-100, 100, shape), dtype, scale, axis), scale

    def bias(self, n, input_scale, weight_scale, dtype):
        if dtype == "float32":
            return self.const(self.rng.normal(size=n) * 0.1, dtype)
        return self.const(self.rng.integers(-500, 500, n), dtype, input_scale * np.asarray(weight_scale))

    def op(self, builtin, inputs, outputs, opts=None, version=1):
        self.ops.append(OperatorSpec(builtin, list(inputs), list(outputs), opts, version))
        return outputs[0]

    def build(self, inputs, outputs):
        return build_model(self.tensors, self.ops, list(inputs), list(outputs))


def windowed(size, k, stride, padding, dilation=1):
    return -(-size // stride) if padding == SAME else (size - (k - 1) * dilation - 1) // stride + 1


def conv(n, x, shape, cout, k=3, stride=1, padding=SAME, dilation=1, dtype="int8"):
    """CONV_2D on ``x`` of ``shape``: the output id, its shape and the MACs."""
    _, h, w, cin = shape
    wt, ws = n.weights((cout, k, k, cin), WEIGHTS[dtype])
    b = n.bias(cout, 0.05, ws, BIAS[dtype])
    out = (1, windowed(h, k, stride, padding, dilation), windowed(w, k, stride, padding, dilation), cout)
    y = n.op("CONV_2D", [x, wt, b], [n.act(out, dtype, 0.1)], options("Conv2DOptions", {
        "Padding": padding, "StrideH": stride, "StrideW": stride, "DilationHFactor": dilation,
        "DilationWFactor": dilation}))
    return y, out, out[1] * out[2] * cout * k * k * cin


def depthwise(n, x, shape, multiplier=1, k=3, stride=1, padding=SAME, dilation=1, dtype="int8"):
    _, h, w, c = shape
    wt, ws = n.weights((1, k, k, c * multiplier), WEIGHTS[dtype], axis=3)
    b = n.bias(c * multiplier, 0.05, ws, BIAS[dtype])
    out = (1, windowed(h, k, stride, padding, dilation), windowed(w, k, stride, padding, dilation), c * multiplier)
    y = n.op("DEPTHWISE_CONV_2D", [x, wt, b], [n.act(out, dtype, 0.1)], options("DepthwiseConv2DOptions", {
        "Padding": padding, "StrideH": stride, "StrideW": stride, "DepthMultiplier": multiplier,
        "DilationHFactor": dilation, "DilationWFactor": dilation}))
    return y, out, out[1] * out[2] * out[3] * k * k


def dense(n, x, rows, fin, fout, dtype="int8", keep=True, bias=True, per_channel=False, out_scale=0.1):
    """FULLY_CONNECTED of ``rows`` x ``fin`` features (input (1, rows, fin))."""
    wt, ws = n.weights((fout, fin), WEIGHTS[dtype], per_channel=per_channel)
    b = n.bias(fout, 0.05, ws, BIAS[dtype]) if bias else -1
    out = (1, rows, fout) if keep else (rows, fout)
    y = n.op("FULLY_CONNECTED", [x, wt, b], [n.act(out, dtype, out_scale)],
             options("FullyConnectedOptions", {"KeepNumDims": keep}))
    return y, out, rows * fout * fin


def single(layer, shape=(1, 16, 16, 8), dtype="int8", **kwargs):
    n = Net()
    x = n.act(shape, dtype)
    y, _, macs = layer(n, x, shape, dtype=dtype, **kwargs)
    return n.build([x], [y]), macs


def fc_model(dtype="int8", rows=4, keep=True, bias=False, per_channel=False):
    n = Net()
    x = n.act((1, rows, 64), dtype)
    y, _, macs = dense(n, x, rows, 64, 32, dtype, keep, bias, per_channel)
    return n.build([x], [y]), macs


def elementwise(builtin, dtype="int8", shape=(1, 16, 16, 8), second=None, opts=None, out_scale=0.1,
                out_zero_point=None):
    """One element-wise operator: a unary one, or a binary one whose second input has ``second``."""
    n = Net()
    inputs = [n.act(shape, dtype)] + ([n.act(second, dtype, 0.04)] if second else [])
    y = n.op(builtin, inputs, [n.act(shape, dtype, out_scale, out_zero_point)], opts)
    return n.build(inputs, [y]), 0


def pool(builtin, dtype="int8", k=2, stride=2, padding=VALID):
    n = Net()
    x = n.act((1, 16, 16, 8), dtype)
    out = (1, windowed(16, k, stride, padding), windowed(16, k, stride, padding), 8)
    y = n.op(builtin, [x], [n.act(out, dtype)], options("Pool2DOptions", {
        "Padding": padding, "StrideH": stride, "StrideW": stride, "FilterHeight": k, "FilterWidth": k}))
    return n.build([x], [y]), 0


def reduce(builtin, dtype="int8", shape=(1, 8, 8, 16), axes=(1, 2), keep=False):
    n = Net()
    x = n.act(shape, dtype)
    out = [1 if i in axes else d for i, d in enumerate(shape)] if keep else \
        [d for i, d in enumerate(shape) if i not in axes]
    y = n.op(builtin, [x, n.const(axes, "int32")], [n.act(out, dtype)],
             options("ReducerOptions", {"KeepDims": keep}))
    return n.build([x], [y]), 0


def transpose_conv(dtype="int8", k=3, cin=8, cout=8, size=8, stride=2):
    n = Net()
    x = n.act((1, size, size, cin), dtype)
    wt, ws = n.weights((cout, k, k, cin), WEIGHTS[dtype])
    out = (1, size * stride, size * stride, cout)
    y = n.op("TRANSPOSE_CONV", [n.const(out, "int32"), wt, x, n.bias(cout, 0.05, ws, BIAS[dtype])],
             [n.act(out, dtype)], options("TransposeConvOptions", {"Padding": SAME, "StrideH": stride,
                                                                   "StrideW": stride}), version=3)
    return n.build([x], [y]), size * size * cin * k * k * cout


def batch_matmul(dtype="int8", batches=2, m=8, k=16, cols=12, adj_x=False, adj_y=False, constant_rhs=False):
    n = Net()
    x = n.act((1, batches, k, m) if adj_x else (1, batches, m, k), dtype)
    rhs_shape = (1, batches, cols, k) if adj_y else (1, batches, k, cols)
    rhs = n.weights(rhs_shape, dtype, per_channel=False)[0] if constant_rhs else n.act(rhs_shape, dtype, 0.02)
    y = n.op("BATCH_MATMUL", [x, rhs], [n.act((1, batches, m, cols), dtype)],
             options("BatchMatMulOptions", {"AdjX": adj_x, "AdjY": adj_y}))
    return n.build([x] if constant_rhs else [x, rhs], [y]), batches * m * cols * k


def svdf(n, x, batch, fin, filters=24, memory=8, rank=2, dtype="int8"):
    """SVDF with its variable state; int8 with int16 time weights and state."""
    units = filters // rank
    if dtype == "int8":
        wf = n.const(n.rng.integers(-100, 100, (filters, fin)), "int8", 0.01)
        wt = n.const(n.rng.integers(-1000, 1000, (filters, memory)), "int16", 0.001)
        b = n.const(n.rng.integers(-100, 100, units), "int32", 0.02 * 0.001)
        state = n.act((batch, memory * filters), "int16", 0.02, variable=True)
    else:
        wf, wt, b = (n.const(n.rng.normal(size=s), "float32") for s in ((filters, fin), (filters, memory), units))
        state = n.act((batch, memory * filters), "float32", variable=True)
    y = n.op("SVDF", [x, wf, wt, b, state], [n.act((batch, units), dtype)], options("SVDFOptions", {"Rank": rank}))
    return y, units, batch * (filters * fin + filters * memory + units * rank)


def lstm(n, x, batch, steps, fin, cells, dtype="float32"):
    """A UNIDIRECTIONAL_SEQUENCE_LSTM (batch major, no peepholes, no projection): float32, or int8
    with int8 weights, int32 biases, an int8 hidden state and an int16 cell state (scale 2^-11)."""
    def weights(shape):
        if dtype == "float32":
            return n.const(n.rng.normal(size=shape) * 0.3, dtype)
        return n.const(n.rng.integers(-100, 100, shape), "int8", 0.004)

    to_gates = [weights((cells, fin)) for _ in range(4)]
    recurrent = [weights((cells, cells)) for _ in range(4)]
    biases = [n.const(np.zeros(cells), "float32") if dtype == "float32" else n.const(np.zeros(cells), "int32", 0.0002)
              for _ in range(4)]
    if dtype == "float32":
        states = [n.act((batch, cells), dtype, variable=True) for _ in range(2)]
    else:
        states = [n.act((batch, cells), "int8", 1 / 128, 0, variable=True),
                  n.act((batch, cells), "int16", 2 ** -11, 0, variable=True)]
    inputs = [x, *to_gates, *recurrent, -1, -1, -1, *biases, -1, -1, *states, -1, -1, -1, -1]
    y = n.op("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [n.act((batch, steps, cells), dtype, 1 / 128, 0)],
             options("UnidirectionalSequenceLSTMOptions", {"FusedActivationFunction": 4, "TimeMajor": False}))
    return y, batch * steps * (4 * cells * fin + 4 * cells * cells)


def single_svdf(dtype):
    n = Net()
    x = n.act((1, 16), dtype)
    y, _, macs = svdf(n, x, 1, 16, dtype=dtype)
    return n.build([x], [y]), macs


def single_lstm(dtype):
    n = Net()
    x = n.act((1, 6, 8), dtype)
    y, macs = lstm(n, x, 1, 6, 8, 12, dtype)
    return n.build([x], [y]), macs


def then(n, x, builtin, shape, *more, opts=None, dtype="int8", scale=0.05, zero_point=None):
    """Append ``builtin`` reading ``x`` (and ``more``) to a chain; its output of ``shape``."""
    return n.op(builtin, [x, *more], [n.act(shape, dtype, scale, zero_point)], opts)


S = (1, 16, 16, 8)
PADDING = [[0, 0], [1, 1], [1, 1], [0, 0]]


def activations_int8():
    n = Net()
    x = n.act(S)
    t = then(n, x, "RELU", S)
    t = then(n, t, "LEAKY_RELU", S, opts=options("LeakyReluOptions", {"Alpha": 0.1}))
    t = then(n, t, "HARD_SWISH", S)
    t = then(n, t, "PRELU", S, n.const(n.rng.integers(-50, 50, (1, 1, 8)), "int8", 0.01))
    t = then(n, t, "QUANTIZE", S, scale=0.07)
    t = then(n, t, "LOGISTIC", S, scale=1 / 256, zero_point=-128)
    return n.build([x], [t]), 0


def unary_float():
    n = Net()
    x = n.act(S, "float32")
    t = x
    for builtin in ("RELU6", "EXP", "LOG", "SQRT", "RSQRT"):
        t = then(n, t, builtin, S, dtype="float32")
    return n.build([x], [t]), 0


def binary(dtype, builtins):
    """A chain of binary operators, each reading the previous output and the second input."""
    n = Net()
    a, b = n.act(S, dtype), n.act(S, dtype, 0.04)
    t = a
    for builtin in builtins:
        t = then(n, t, builtin, S, b, dtype=dtype, scale=0.1)
    return n.build([a, b], [t]), 0


def conversions():
    n = Net()
    x = n.act(S, "float32")
    t = then(n, x, "QUANTIZE", S, dtype="int16", scale=0.001)
    t = then(n, t, "DEQUANTIZE", S, dtype="float32")
    t = then(n, t, "QUANTIZE", S)
    t = then(n, t, "CAST", S, dtype="float32")
    return n.build([x], [t]), 0


def reshapes():
    n = Net()
    x = n.act((1, 8, 8, 16))
    t = then(n, x, "RESHAPE", (1, 1, 64, 16), n.const([1, 1, 64, 16], "int32"))
    t = then(n, t, "SQUEEZE", (1, 64, 16),
             opts=options("SqueezeOptions", lambda b: {"SqueezeDims": vector(b, np.array([1], np.int32))}))
    t = then(n, t, "EXPAND_DIMS", (1, 64, 1, 16), n.const([2], "int32"))
    return n.build([x], [t]), 0


def pads():
    n = Net()
    x = n.act((1, 16, 16, 3))
    t = then(n, x, "PAD", (1, 18, 18, 3), n.const(PADDING, "int32"))
    t = then(n, t, "PADV2", (1, 20, 20, 3), n.const(PADDING, "int32"), n.const([-3], "int8", 0.05, zero_point=-3))
    t = then(n, t, "MIRROR_PAD", (1, 22, 22, 3), n.const(PADDING, "int32"),
             opts=options("MirrorPadOptions", {"Mode": 0}))
    return n.build([x], [t]), 0


def slices():
    n = Net()
    x = n.act(S)
    t = then(n, x, "STRIDED_SLICE", (1, 8, 8, 8), *(n.const(v, "int32") for v in ([0] * 4, S, [1, 2, 2, 1])),
             opts=options("StridedSliceOptions", {}))
    t = then(n, t, "SLICE", (1, 4, 4, 8), n.const([0, 2, 2, 0], "int32"), n.const([1, 4, 4, 8], "int32"))
    t = then(n, t, "GATHER", (1, 4, 4, 4), n.const([0, 2, 4, 6], "int32"), opts=options("GatherOptions", {"Axis": 3}))
    return n.build([x], [t]), 0


def splits():
    n = Net()
    x = n.act(S)
    halves = [n.act((1, 16, 16, 4)) for _ in range(2)]
    n.op("SPLIT", [n.const([3], "int32"), x], halves, options("SplitOptions", {"NumSplits": 2}))
    t = n.op("CONCATENATION", halves, [n.act(S)], options("ConcatenationOptions", {"Axis": 3}))
    parts = [n.act((1, 16, 16, 3)), n.act((1, 16, 16, 5))]
    n.op("SPLIT_V", [t, n.const([3, 5], "int32"), n.const([3], "int32")], parts,
         options("SplitVOptions", {"NumSplits": 2}))
    y = n.op("CONCATENATION", parts[::-1], [n.act(S)], options("ConcatenationOptions", {"Axis": 3}))
    return n.build([x], [y]), 0


def unpack_pack():
    n = Net()
    x = n.act((2, 16, 8))
    rows = [n.act((16, 8)) for _ in range(2)]
    n.op("UNPACK", [x], rows, options("UnpackOptions", {"Num": 2}))
    y = n.op("PACK", rows, [n.act((2, 16, 8))], options("PackOptions", {"ValuesCount": 2}))
    return n.build([x], [y]), 0


def depth_space():
    n = Net()
    x = n.act((1, 16, 16, 4))
    t = then(n, x, "SPACE_TO_DEPTH", (1, 8, 8, 16), opts=options("SpaceToDepthOptions", {"BlockSize": 2}))
    t = then(n, t, "DEPTH_TO_SPACE", (1, 16, 16, 4), opts=options("DepthToSpaceOptions", {"BlockSize": 2}))
    return n.build([x], [t]), 0


def broadcasts():
    n = Net()
    x = n.act((1, 1, 16, 8))
    t = then(n, x, "BROADCAST_TO", S, n.const(S, "int32"))
    t = then(n, t, "ZEROS_LIKE", S)
    t = then(n, t, "TRANSPOSE", (1, 16, 16, 8), n.const([0, 2, 1, 3], "int32"))
    return n.build([x], [t]), 0


def fill():
    n = Net()
    value = n.act(())
    y = n.op("FILL", [n.const(S, "int32"), value], [n.act(S)])
    return n.build([value], [y]), 0


SOFTMAX = options("SoftmaxOptions", {"Beta": 1.0})
SINGLE_OPS = {
    "conv_int8": lambda: single(conv, cout=16),
    "conv_int16": lambda: single(conv, dtype="int16", cout=16),
    "conv_float": lambda: single(conv, dtype="float32", cout=16),
    "conv_1x1_strided": lambda: single(conv, cout=16, k=1, stride=2),
    "conv_dilated_valid": lambda: single(conv, cout=4, dilation=2, padding=VALID),
    "depthwise_int8": lambda: single(depthwise),
    "depthwise_int8_multiplier_dilation": lambda: single(depthwise, multiplier=2, dilation=2),
    "depthwise_int16_multiplier_dilation": lambda: single(depthwise, dtype="int16", multiplier=3, dilation=2),
    "depthwise_float_5x5_strided": lambda: single(depthwise, dtype="float32", k=5, stride=2),
    "fc_int8_keep_dims_no_bias": lambda: fc_model(),
    "fc_int16_keep_dims_no_bias": lambda: fc_model("int16"),
    "fc_int8_per_channel": lambda: fc_model(keep=False, bias=True, per_channel=True),
    "fc_float": lambda: fc_model("float32", keep=False, bias=True),
    "transpose_conv_int8": lambda: transpose_conv(),
    "transpose_conv_int16": lambda: transpose_conv("int16"),
    "transpose_conv_float": lambda: transpose_conv("float32"),
    "batch_matmul_int8": lambda: batch_matmul(),
    "batch_matmul_float_adj_x": lambda: batch_matmul("float32", adj_x=True),
    "batch_matmul_int8_constant_adj_y": lambda: batch_matmul(adj_y=True, constant_rhs=True),
    "svdf_int8": lambda: single_svdf("int8"),
    "svdf_float": lambda: single_svdf("float32"),
    "lstm_float": lambda: single_lstm("float32"),
    "lstm_int8": lambda: single_lstm("int8"),
    "add_int8": lambda: elementwise("ADD", second=S, opts=options("AddOptions", {})),
    "add_int16": lambda: elementwise("ADD", "int16", second=S, opts=options("AddOptions", {"PotScaleInt16": False})),
    "add_float_broadcast": lambda: elementwise("ADD", "float32", second=(1, 1, 1, 8), opts=options("AddOptions", {})),
    "tanh_int16": lambda: elementwise("TANH", "int16", out_scale=1 / 32768, out_zero_point=0),
    "activations_int8": activations_int8,
    "unary_float": unary_float,
    "binary_int8": lambda: binary("int8", ("SUB", "MUL", "SQUARED_DIFFERENCE", "MAXIMUM")),
    "binary_float": lambda: binary("float32", ("DIV", "MINIMUM")),
    "conversions": conversions,
    "reshapes": reshapes,
    "pads": pads,
    "slices": slices,
    "splits": splits,
    "unpack_pack": unpack_pack,
    "depth_space": depth_space,
    "broadcasts": broadcasts,
    "fill": fill,
    "average_pool_int8": lambda: pool("AVERAGE_POOL_2D"),
    "average_pool_int16_same": lambda: pool("AVERAGE_POOL_2D", "int16", k=3, padding=SAME),
    "max_pool_float": lambda: pool("MAX_POOL_2D", "float32"),
    "mean_int8": lambda: reduce("MEAN"),
    "mean_float_keep_dims": lambda: reduce("MEAN", "float32", keep=True),
    "sum_int16": lambda: reduce("SUM", "int16", axes=(3,)),
    "reduce_max_int8": lambda: reduce("REDUCE_MAX"),
    "reduce_min_float": lambda: reduce("REDUCE_MIN", "float32", axes=(2,)),
    "softmax_int8": lambda: elementwise("SOFTMAX", shape=(1, 64, 10), opts=SOFTMAX, out_scale=1 / 256,
                                        out_zero_point=-128),
    "softmax_int16": lambda: elementwise("SOFTMAX", "int16", shape=(1, 64, 10), opts=SOFTMAX, out_scale=1 / 32768,
                                         out_zero_point=0),
    "log_softmax_int8": lambda: elementwise("LOG_SOFTMAX", shape=(1, 64, 10), out_scale=16 / 256,
                                            out_zero_point=127),
}


def image_prologue():
    """NCHW float image -> QUANTIZE -> TRANSPOSE -> PAD -> depthwise (multiplier 4) first layer ->
    1x1 conv -> average pool -> MEAN -> FC -> SOFTMAX."""
    n = Net()
    x = n.act((1, 3, 24, 24), "float32")
    q = n.op("QUANTIZE", [x], [n.act((1, 3, 24, 24))])
    t = n.op("TRANSPOSE", [q, n.const([0, 2, 3, 1], "int32")], [n.act((1, 24, 24, 3))])
    p = n.op("PAD", [t, n.const(PADDING, "int32")], [n.act((1, 26, 26, 3))])
    d, shape, macs_dw = depthwise(n, p, (1, 26, 26, 3), multiplier=4, stride=2, padding=VALID)
    c, shape, macs_conv = conv(n, d, shape, 16, k=1)
    a = n.op("AVERAGE_POOL_2D", [c], [n.act((1, 6, 6, 16), scale=0.1)], options("Pool2DOptions", {
        "Padding": VALID, "StrideH": 2, "StrideW": 2, "FilterHeight": 2, "FilterWidth": 2}))
    m = n.op("MEAN", [a, n.const([1, 2], "int32")], [n.act((1, 1, 16))], options("ReducerOptions", {"KeepDims": False}))
    f, _, macs_fc = dense(n, m, 1, 16, 10)
    s = n.op("SOFTMAX", [f], [n.act((1, 1, 10), scale=1 / 256, zero_point=-128)], SOFTMAX)
    return n.build([x], [s]), macs_dw + macs_conv + macs_fc


def svdf_stack():
    """Keyword spotting as TFLM's example does it: two int8 SVDFs with variable state, then FC."""
    n = Net()
    x = n.act((1, 40))
    s1, units, macs1 = svdf(n, x, 1, 40, filters=64, memory=10, rank=1)
    s2, units2, macs2 = svdf(n, s1, 1, units, filters=32, memory=6, rank=2)
    f, _, macs_fc = dense(n, s2, 1, units2, 4, keep=False)
    return n.build([x], [f]), macs1 + macs2 + macs_fc


def lstm_classifier():
    """Float LSTM over 10 steps of 6 features, then a float FC over the last output."""
    n = Net()
    x = n.act((1, 10, 6), "float32")
    h, macs_lstm = lstm(n, x, 1, 10, 6, 16)
    last = n.op("STRIDED_SLICE", [h, n.const([0, 9, 0], "int32"), n.const([1, 10, 16], "int32"),
                                  n.const([1, 1, 1], "int32")], [n.act((1, 1, 16), "float32")],
                options("StridedSliceOptions", {}))
    f, _, macs_fc = dense(n, last, 1, 16, 5, "float32")
    return n.build([x], [f]), macs_lstm + macs_fc


def float_middle():
    """int8 conv, DEQUANTIZE to a float LOGISTIC, QUANTIZE back, int8 depthwise and conv."""
    n = Net()
    x = n.act((1, 20, 20, 4))
    c, shape, macs1 = conv(n, x, (1, 20, 20, 4), 8)
    f = n.op("DEQUANTIZE", [c], [n.act(shape, "float32")])
    g = n.op("LOGISTIC", [f], [n.act(shape, "float32")])
    q = n.op("QUANTIZE", [g], [n.act(shape, scale=1 / 256, zero_point=-128)])
    d, shape, macs2 = depthwise(n, q, shape, k=5, stride=2)
    y, _, macs3 = conv(n, d, shape, 12, k=1)
    return n.build([x], [y]), macs1 + macs2 + macs3


def int16_network():
    """16x8 throughout: conv, depthwise (multiplier 2, dilation 2), 1x1 conv with a residual ADD,
    average pool, FC (keep_num_dims, no bias), SOFTMAX, between QUANTIZE and DEQUANTIZE."""
    n = Net()
    x = n.act((1, 16, 16, 3), "float32")
    q = n.op("QUANTIZE", [x], [n.act((1, 16, 16, 3), "int16", 0.001)])
    c, shape, macs1 = conv(n, q, (1, 16, 16, 3), 8, dtype="int16")
    d, shape, macs2 = depthwise(n, c, shape, multiplier=2, dilation=2, dtype="int16")
    p, shape, macs3 = conv(n, d, shape, 16, k=1, dtype="int16")
    r = n.op("ADD", [p, d], [n.act(shape, "int16", 0.1)], options("AddOptions", {"PotScaleInt16": False}))
    a = n.op("AVERAGE_POOL_2D", [r], [n.act((1, 4, 4, 16), "int16", 0.1)], options("Pool2DOptions", {
        "Padding": VALID, "StrideH": 4, "StrideW": 4, "FilterHeight": 4, "FilterWidth": 4}))
    flat = n.op("RESHAPE", [a, n.const([1, 16, 16], "int32")], [n.act((1, 16, 16), "int16")])
    f, _, macs4 = dense(n, flat, 16, 16, 10, "int16", bias=False)
    s = n.op("SOFTMAX", [f], [n.act((1, 16, 10), "int16", 1 / 32768, 0)], SOFTMAX)
    y = n.op("DEQUANTIZE", [s], [n.act((1, 16, 10), "float32")])
    return n.build([x], [y]), macs1 + macs2 + macs3 + macs4


MODELS = {"image_prologue": image_prologue, "svdf_stack": svdf_stack, "lstm_classifier": lstm_classifier,
          "float_middle": float_middle, "int16_network": int16_network}


CASES = {**SINGLE_OPS, **MODELS}


def host_estimate(data, folder):
    (folder / "m.tflite").write_bytes(data)
    return estimate_file(read_model(folder / "m.tflite"), PROFILE, budget_for(PROFILE), build="host")


@pytest.fixture(scope="module")
def smallest_arenas(tmp_path_factory):
    """The smallest arena TFLM accepts for each case (or the error), searched upwards from the
    planned arena (it needs more), on every core."""
    def search(name):
        data, folder = CASES[name]()[0], tmp_path_factory.mktemp(name)
        try:
            return required_arena(data, host_estimate(data, folder).arena_planned)
        except TinymlError as exc:
            return exc

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return dict(zip(CASES, pool.map(search, CASES)))


@pytest.mark.parametrize("name", CASES)
def test_estimate_of_a_written_model_is_tflms(name, smallest_arenas, capfd, tmp_path):
    data, macs = CASES[name]()
    runtime.Interpreter.from_bytes(data, arena_size=1 << 20).invoke()
    est = host_estimate(data, tmp_path)
    assert est.notes == []
    assert est.arena_planned == tflm_arena(data, capfd)["head"]
    needed = smallest_arenas[name]
    assert abs(est.peak_sram - needed) <= 0.03 * needed
    assert est.macs == macs


def test_every_builtin_tflm_registers_has_a_case(tmp_path):
    # the op table's builtins but four that TFLM's op resolver lacks are each in a case above
    from tinyml_cli.ops import BY_BUILTIN

    written = {row.op for build in CASES.values() for row in host_estimate(build()[0], tmp_path).graph.layers}
    assert set(BY_BUILTIN) - written == {"RELU_N1_TO_1", "RELU_0_TO_1", "GELU", "REDUCE_PROD"}


def test_an_op_outside_the_table_is_planned_exactly_and_named(capfd, tmp_path):
    # FLOOR runs in TFLM but is not in the op table: the estimate still runs, its plan is TFLM's,
    # the op's MACs and latency are unknown (None) and one note names it
    from tinyml_cli.ops import lookup

    assert lookup("FLOOR") is None
    n = Net()
    x = n.act((1, 16, 16, 8))
    y = n.op("RELU", [x], [n.act((1, 16, 16, 8))])
    z = n.op("DEQUANTIZE", [y], [n.act((1, 16, 16, 8), "float32")])
    out = n.op("FLOOR", [z], [n.act((1, 16, 16, 8), "float32")])
    data = n.build([x], [out])
    runtime.Interpreter.from_bytes(data, arena_size=1 << 20).invoke()
    est = host_estimate(data, tmp_path)
    assert est.arena_planned == tflm_arena(data, capfd)["head"]
    assert [(row["op"], row["macs"], row["latency_ms"] is None) for row in est.layers] == [
        ("RELU", None, False), ("DEQUANTIZE", None, False), ("FLOOR", None, True)]
    assert len(est.notes) == 1 and "(FLOOR)" in est.notes[0]
    assert est.latency_ms == pytest.approx(sum(row["latency_ms"] or 0 for row in est.layers))
