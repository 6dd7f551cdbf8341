"""Input normalization that is part of the deployed model, so it takes raw sensor values.

A model with a normalization has a float32 input and a short float "front" of TFLite operators that
normalizes it and quantizes the result into the int8 network (the IR's tensor 0):

- ``standardize``: per-channel standardization fitted on the training data,
  ``(x - mean[c]) * inv_std[c]`` (SUB, MUL, QUANTIZE);
- ``znorm``: per-window z-normalization, the time-series convention: each channel of each window
  minus its own mean, divided by its own standard deviation (MEAN, SUB, MUL, MEAN, ADD, RSQRT, MUL,
  QUANTIZE; ``ZNORM_EPS`` keeps a flat window finite).

Float keeps a large sensor offset exact, which an int8 input (whose zero point must lie in
[-128, 127]) cannot. The front is described once, here, as data: the torch modules, the .tflite
writer and reader and the estimator all read :func:`front_ops`.

>>> [op.op for op in front_ops("standardize")]
['SUB', 'MUL', 'QUANTIZE']
>>> [(op.op, op.output, op.per_channel) for op in front_ops("znorm")][:2]
[('MEAN', 'window_mean', True), ('SUB', 'centered', False)]
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import shown

NORMALIZATIONS = ("none", "standardize", "znorm")
# Added to a window's variance before RSQRT: a flat window (variance 0) normalizes to zeros, and
# a channel of standard deviation 0.01 keeps 99.99% of its own scale.
ZNORM_EPS = 1e-8
RAW = "raw"                    # the model's float32 input
OUTPUT = "input"               # the int8 tensor the network reads (the IR's tensor 0)
# Constant tensors a front reads: per-channel statistics (float32), MEAN's axes (int32), epsilon.
CONSTANTS = ("mean", "inv_std", "axes", "eps")


@dataclass(frozen=True)
class FrontOp:
    """One TFLite operator of a normalization front: what it computes from which tensors (front
    tensors or CONSTANTS by name) into which; ``per_channel`` outputs have shape (1, 1, 1, C);
    ``options``: its builtin options table and fields (None: it has none)."""

    op: str
    inputs: tuple[str, ...]
    output: str
    per_channel: bool = False
    options: tuple[str, tuple[tuple[str, object], ...]] | None = None


_NO_ACTIVATION = (("FusedActivationFunction", 0),)     # tflite.ActivationFunctionType.NONE
_KEEP_DIMS = ("ReducerOptions", (("KeepDims", True),))


_FRONTS = {
    "none": (),
    "standardize": (
        FrontOp("SUB", (RAW, "mean"), "centered", options=("SubOptions", _NO_ACTIVATION)),
        FrontOp("MUL", ("centered", "inv_std"), "normalized", options=("MulOptions", _NO_ACTIVATION)),
        FrontOp("QUANTIZE", ("normalized",), OUTPUT),
    ),
    "znorm": (
        FrontOp("MEAN", (RAW, "axes"), "window_mean", per_channel=True, options=_KEEP_DIMS),
        FrontOp("SUB", (RAW, "window_mean"), "centered", options=("SubOptions", _NO_ACTIVATION)),
        FrontOp("MUL", ("centered", "centered"), "squared", options=("MulOptions", _NO_ACTIVATION)),
        FrontOp("MEAN", ("squared", "axes"), "variance", per_channel=True, options=_KEEP_DIMS),
        FrontOp("ADD", ("variance", "eps"), "variance_eps", per_channel=True,
                options=("AddOptions", _NO_ACTIVATION)),
        FrontOp("RSQRT", ("variance_eps",), "inv_std_window", per_channel=True),
        FrontOp("MUL", ("centered", "inv_std_window"), "normalized", options=("MulOptions", _NO_ACTIVATION)),
        FrontOp("QUANTIZE", ("normalized",), OUTPUT),
    ),
}


def check_normalization(name: str) -> str:
    """``name`` if it is a known normalization, else ValueError("expected ...")."""
    if name not in NORMALIZATIONS:
        raise ValueError(f"expected one of {', '.join(NORMALIZATIONS)}, got {shown(name)}")
    return name


def front_ops(normalization: str) -> tuple[FrontOp, ...]:
    """The float operators before the int8 network, in execution order (none for ``none``)."""
    return _FRONTS[check_normalization(normalization)]


def front_tensors(normalization: str) -> list[str]:
    """The float tensors of a front in the order the .tflite holds them: the raw input, then each
    operator's output except the last (the IR's int8 input)."""
    ops = front_ops(normalization)
    return [RAW, *(op.output for op in ops[:-1])] if ops else []


def front_constants(normalization: str) -> list[str]:
    """The constants a front reads, in first-use order."""
    return list(dict.fromkeys(name for op in front_ops(normalization) for name in op.inputs
                              if name in CONSTANTS))
