"""What the op table holds for each op kind, and the registry.

An op kind declares, in one module, what every part of the toolchain needs to know about it. The
facets of every kind, read or written in a .tflite by any tool:

- ``builtins``: the TFLite builtin operators it covers and ``resolver``, the
  ``MicroMutableOpResolver`` method that registers the first;
- ``costs(view, runtime)``: MACs (None when they do not apply), the elements its element-wise work
  touches, the latency class it is timed by (a key of ``estimate/constants.py``'s cycle tables),
  the scratch buffers the kernel requests (``RequestScratchBufferInArena``, in request order) and
  the persistent bytes it allocates beyond its fixed OpData (``AllocatePersistentBuffer`` of sizes
  that follow the tensors: per-channel multipliers, lookup tables, copied dims) on ``runtime``
  (``"mcu"``: a 32-bit Cortex-M with the DSP extension and TFLM's CMSIS-NN kernels, built with GCC;
  ``"host"``: the 64-bit build with reference kernels that tflite-micro's Python interpreter runs).
  The fixed part of each operator (node, parsed options, OpData) is measured per builtin in
  ``estimate/constants.py``. Each fact cites the TFLM kernel (``tensorflow/lite/micro/kernels/``)
  or CMSIS-NN function it comes from.

Estimating needs nothing else: memory comes from tensor sizes and lifetimes alone, so an operator
no kind covers still gets an exact arena plan; only its MACs and latency are unknown.

>>> from tinyml_cli.ops import lookup
>>> kind = lookup("DEPTHWISE_CONV_2D")
>>> kind.name, kind.resolver
('depthwise_conv2d', 'AddDepthwiseConv2D')
>>> lookup("CUSTOM:ethos-u") is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable, Protocol


class TensorView(Protocol):
    """What a cost facet may read of a tensor (``tinyml_cli.tflite.model.Tensor`` has it)."""

    shape: tuple[int, ...]
    dtype: str
    constant: bool
    scales: int

    @property
    def numel(self) -> int: ...


@dataclass(frozen=True)
class OpView:
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


@dataclass(frozen=True)
class Costs:
    """What one operator costs: MACs (None: not a multiply-accumulate op) and their latency class
    (a key of ``CYCLES_PER_MAC``), elements of element-wise work and theirs (of
    ``CYCLES_PER_ELEMENT``), scratch buffer sizes (bytes, unaligned, in request order) and persistent
    bytes (each allocation already rounded up to the arena alignment, see :func:`persistent`)."""

    macs: int | None
    elements: int
    cycle_class: str
    scratch: tuple[int, ...] = ()
    persistent: int = 0
    element_class: str = "binary"


@dataclass(frozen=True)
class OpKind:
    """One op kind of the table (see the module docstring for the facets)."""

    name: str
    builtins: tuple[str, ...]
    resolver: str
    costs: Callable[[OpView, str], Costs]


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
