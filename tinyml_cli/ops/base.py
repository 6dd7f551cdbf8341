"""What the op table holds for each op kind, and the registry.

An op kind declares, in one module, what every part of the toolchain needs to know about it. The
facets of every kind, read or written in a .tflite by any tool:

- ``builtins``: the TFLite builtin operators it covers (:func:`resolver_method` names the
  ``MicroMutableOpResolver`` method registering each);
- ``costs(view, build)``: MACs (None when they do not apply), the elements its element-wise work
  touches, the latency class it is timed by (a key of ``estimate/constants.py``'s cycle tables),
  the scratch buffers the kernel requests (``RequestScratchBufferInArena``, in request order) and
  the persistent bytes it allocates beyond its fixed OpData (``AllocatePersistentBuffer`` of sizes
  that follow the tensors: per-channel multipliers, lookup tables, copied dims) on TFLM build ``build``
  (``"mcu"``: a 32-bit Cortex-M with the DSP extension and TFLM's CMSIS-NN kernels, built with GCC;
  ``"host"``: the 64-bit build with reference kernels that tflite-micro's Python interpreter runs).
  The fixed part of each operator (node, parsed options, OpData) is measured per builtin in
  ``estimate/constants.py``. Each fact cites the TFLM kernel (``tensorflow/lite/micro/kernels/``)
  or CMSIS-NN function it comes from.

Estimating needs nothing else: memory comes from tensor sizes and lifetimes alone, so an operator
no kind covers still gets an exact arena plan; only its MACs and latency are unknown.

The builtins the search spaces build also have a :class:`LayerOp`: how such a layer of the IR is
trained (its torch module), run folded and fake-quantized, quantized, written to and read from a
.tflite. Those are the only places that know what a layer computes.

>>> from tinyml_cli.ops import lookup
>>> kind = lookup("DEPTHWISE_CONV_2D")
>>> kind.name, resolver_method("DEPTHWISE_CONV_2D"), resolver_method("PADV2")
('depthwise_conv2d', 'AddDepthwiseConv2D', 'AddPadV2')
>>> lookup("CUSTOM:ethos-u") is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable, NamedTuple, Protocol


class TensorView(Protocol):
    """What a cost facet may read of a tensor (``tinyml_cli.tflite.model.Tensor`` has it)."""

    shape: tuple[int, ...]
    dtype: str
    constant: bool
    scales: int

    @property
    def numel(self) -> int: ...


class Shaped(NamedTuple):
    """A tensor known by its shape and type alone (the IR's tensors, as a cost facet sees them)."""

    shape: tuple[int, ...]
    dtype: str = "int8"
    constant: bool = False
    scales: int = 1

    @property
    def numel(self) -> int:
        """Number of elements."""
        return prod(self.shape)


class OpView(NamedTuple):
    """One operator as a cost facet sees it: builtin name, input tensors (None: an omitted
    optional input), output tensors and builtin options."""

    builtin: str
    inputs: tuple[TensorView | None, ...]
    outputs: tuple[TensorView, ...]
    options: dict[str, Any]

    def input(self, i: int) -> TensorView | None:
        """Input ``i``, or None when absent."""
        return self.inputs[i] if i < len(self.inputs) else None

    @property
    def out(self) -> TensorView:
        """The first output."""
        return self.outputs[0]


class Costs(NamedTuple):
    """What one operator costs: MACs (None: not a multiply-accumulate op) and their latency class
    (a key of ``CYCLES_PER_MAC``), elements of element-wise work and theirs (of
    ``CYCLES_PER_ELEMENT``), scratch buffer sizes (bytes, unaligned, in request order) and persistent
    bytes (each allocation already rounded up to the arena alignment, see :func:`persistent`). A MAC
    kernel also counts its ``window`` (MACs per output channel: the input elements it gathers, as
    im2col does, once for all output channels), its ``outputs`` (each requantized alone) and its
    output ``pixels`` (positions, each a pass of the kernel's outer loop)."""

    macs: int | None
    elements: int
    cycle_class: str
    scratch: tuple[int, ...] = ()
    persistent: int = 0
    element_class: str = "binary"
    window: int = 0
    outputs: int = 0
    pixels: int = 0


@dataclass(frozen=True)
class OpKind:
    """One op kind of the table (see the module docstring for the facets)."""

    name: str
    builtins: tuple[str, ...]
    costs: Callable[[OpView, str], Costs]


@dataclass(frozen=True)
class LayerOp:
    """A layer of the IR (``Layer.op == ir``) written as ``builtin`` (int8 kernel ``version``), of
    op kind ``kind``. Weights: ``weight_axis`` is the quantized dimension of its TFLite-layout
    weights (None: no weights), ``per_channel`` whether each output channel gets its own scale.
    ``output_quant``: ``"calibrated"`` (from the calibration ranges), ``"input"`` (the int8 kernel
    keeps its input's scale and zero point) or ``"softmax"`` (TFLite's fixed 1/256, -128).
    Facets (functions):

    - ``module(layer, in_shape)``: the torch module training it (NCHW inside);
    - ``export_weights(unit)``: that module's weights and bias in the TFLite layout, batch norm
      folded (None without weights);
    - ``forward(layer, inputs, weight, bias)``: the deployed layer in float on NHWC tensors (the
      exporter's folded and fake-quantized model);
    - ``options(builder, layer)``: its builtin options table name and fields (None: none);
    - ``constants(layer)``: the constant inputs it reads besides weights and bias (name, int32 data);
    - ``read(options, weights, input_shape)``: the Layer attributes of a TFLite operator of it.
    """

    ir: str
    builtin: str
    version: int
    kind: OpKind
    weight_axis: int | None
    per_channel: bool
    fuses_activation: bool
    output_quant: str
    module: Callable[..., Any]
    export_weights: Callable[..., Any]
    forward: Callable[..., Any]
    options: Callable[..., Any]
    constants: Callable[..., list]
    read: Callable[..., dict]
    activations: int = 1               # activation tensors it reads (ADD: 2)
    channels: str = "follow"           # its output channels: "own" (chosen; weights (out, ..., in)),
                                       # "follow" (its inputs', which must agree), "flatten" (a vector
                                       # of its input's elements); how pruning resizes a layer
    # The (weights, activations) element types TFLM's kernels run for this layer (weights None for a
    # layer without weights), measured with tflite-micro's interpreter (scripts/probe_precision.py):
    # see ``ops/precision.py``.
    precisions: tuple[tuple[str | None, str], ...] = ((None, "int8"), (None, "int16"))
    int16_options: tuple[tuple[str, Any], ...] = ()   # option fields of its 16x8 kernel
    # operator versions other than ``version`` by (weights, activations) type, as TFLite's op
    # versioning gives them (tensorflow/lite/tools/versioning/op_version.cc)
    type_versions: tuple[tuple[tuple[str | None, str], int], ...] = ()


# What TFLM runs for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (reference and CMSIS-NN kernels):
# int8, int4 weights with int8 activations, and 16x8 (int16 activations, int8 weights). Int4 weights
# with int16 activations fail in Prepare ("TFLM failed to allocate tensors"), so no layer offers them.
WEIGHTED_PRECISIONS = (("int8", "int8"), ("int4", "int8"), ("int8", "int16"))


# The TFLite enum codes of the IR's fused activations and paddings (tflite.ActivationFunctionType,
# tflite.Padding).
ACTIVATION_CODES = {"none": 0, "relu": 1, "relu6": 3}
PADDING_CODES = {"same": 0, "valid": 1}
PADDING_NAMES = {code: name for name, code in PADDING_CODES.items()}


def no_constants(layer: Any) -> list:
    """No constant inputs besides weights and bias."""
    return []


def no_weights(unit: Any) -> None:
    """No weights to export."""
    return None


def no_attributes(options: dict, weights: Any, in_shape: tuple[int, ...]) -> dict:
    """Nothing to read beyond the fused activation."""
    return {}


def fused(layer: Any) -> dict[str, int]:
    """The options field of a fused activation."""
    return {"FusedActivationFunction": ACTIVATION_CODES[layer.activation]}


def sliding(layer: Any) -> dict[str, int]:
    """The options fields of a sliding window: padding and strides."""
    return {"Padding": PADDING_CODES[layer.padding], "StrideH": layer.stride[0], "StrideW": layer.stride[1]}


def read_sliding(options: dict) -> dict:
    """Padding and strides of a sliding-window operator's options."""
    return {"padding": PADDING_NAMES[options.get("Padding", 0)],
            "stride": (options.get("StrideH", 1), options.get("StrideW", 1))}


_RESOLVER_WORDS = {"MATMUL": "MatMul", "LSTM": "LSTM", "PADV2": "PadV2", "SVDF": "Svdf"}


def resolver_method(builtin: str) -> str:
    """The ``MicroMutableOpResolver`` method that registers a builtin operator."""
    words = [_RESOLVER_WORDS.get(w, w if w[:1].isdigit() else w.capitalize()) for w in builtin.split("_")]
    return "Add" + "".join(words)


def numel(shape: tuple[int, ...]) -> int:
    """Elements of a shape (1 for a scalar)."""
    return prod(shape)


ARENA_ALIGNMENT = 16                       # MicroArenaBufferAlignment() (micro/micro_arena_constants.h)
POINTER_BYTES = {"mcu": 4, "host": 8}
# TfLiteEvalTensor: data and dims pointers and a type (micro/kernels/batch_matmul.cc allocates some)
EVAL_TENSOR_BYTES = {"mcu": 12, "host": 24}
QUANTIZED = ("int8", "int16")


def persistent(*sizes: int) -> int:
    """Arena bytes of kernel ``AllocatePersistentBuffer`` calls: TFLM aligns each to 16
    (``MicroAllocator::AllocatePersistentBuffer``, micro/micro_allocator.cc).

    >>> persistent(4 * 10, 4 * 10, 0)
    96
    """
    return sum(-(-size // ARENA_ALIGNMENT) * ARENA_ALIGNMENT for size in sizes)


def int_array(rank: int) -> int:
    """Bytes of a ``TfLiteIntArray`` of ``rank`` ints (its size, then the ints)."""
    return 4 + 4 * rank


def copied_dims(view: OpView) -> int:
    """Persistent bytes of ``CreateWritableTensorDimsWithCopy`` (micro/kernels/kernel_util.cc): the
    output's dims copied into the arena by kernels that set their output shape in Prepare."""
    return persistent(int_array(len(view.out.shape)))


def per_channel(channels: int) -> int:
    """An int32 output multiplier and an int32 shift per output channel, two allocations."""
    return persistent(4 * channels, 4 * channels)
