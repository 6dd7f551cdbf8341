"""What the op table holds for each op kind, and the registry.

An op kind declares, in one module, what every part of the toolchain needs to know about it. The
facets of every kind, read or written in a .tflite by any tool:

- ``builtins``: the TFLite builtin operators it covers and ``resolver``, the
  ``MicroMutableOpResolver`` method that registers the first;
- ``costs(view, runtime)``: MACs (None when they do not apply), the elements its element-wise work
  touches, the latency class it is timed by (a key of ``estimate/constants.py``'s cycle tables),
  the kernel's scratch buffers and its persistent arena bytes on ``runtime`` (``"mcu"``: a 32-bit
  MCU with CMSIS-NN kernels; ``"host"``: the 64-bit build with reference kernels that tflite-micro's
  Python interpreter runs).

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
    ``CYCLES_PER_ELEMENT``), scratch buffer sizes (bytes, unaligned) and persistent bytes."""

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


def data_bytes(view: OpView) -> int:
    """Bytes per element of the operator's first input (int16 activations: 2)."""
    first = view.input(0)
    return {"int16": 2, "float32": 4, "int32": 4}.get(first.dtype, 1) if first is not None else 1
