"""The layer-graph IR: a topologically ordered list of layers over NHWC tensors (batch implicit).

Tensor 0 is the graph input; layer ``i`` writes tensor ``i + 1``. A tensor shape is ``(H, W, C)`` for
feature maps and ``(N,)`` for vectors. 1-D signals are images of height 1, as in TFLite.
Weight shapes use the TFLite layouts: CONV_2D ``(out, kh, kw, in)``, DEPTHWISE_CONV_2D
``(1, kh, kw, channels * multiplier)``, FULLY_CONNECTED ``(out, in)``. ``batch_norm`` marks a
convolution trained with batch norm, which is folded into weights and bias on export.

>>> b = GraphBuilder((8, 8, 1))
>>> t = b.conv(b.input, 4, kernel=3, stride=2, activation="relu")
>>> t = b.mean(t)
>>> t = b.fully_connected(t, 10)
>>> g = b.finish()
>>> [layer.op for layer in g.layers], g.tensor_shape(1), g.output_shape
(['conv2d', 'mean', 'fully_connected'], (4, 4, 4), (10,))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil, prod
from operator import attrgetter

from ..errors import ArchError, shown

OPS = ("conv2d", "depthwise_conv2d", "fully_connected", "add", "avg_pool", "max_pool", "mean",
       "reshape", "softmax")
ACTIVATIONS = ("none", "relu", "relu6")
Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Layer:
    """One operator: what it computes, which tensors it reads, and the shape it writes."""

    name: str
    op: str
    inputs: tuple[int, ...]
    output_shape: Shape
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: str = "valid"
    activation: str = "none"
    weight_shape: Shape | None = None
    bias: bool = False
    batch_norm: bool = False

    @property
    def weight_count(self) -> int:
        """Number of weights (0 for ops without weights)."""
        return prod(self.weight_shape) if self.weight_shape else 0

    @property
    def bias_count(self) -> int:
        """Number of biases of the deployed (batch-norm folded) layer."""
        return self.output_shape[-1] if self.bias else 0


_output_shape = attrgetter("output_shape")


@dataclass(frozen=True)
class LayerGraph:
    """A network as an ordered list of layers; tensor ``i + 1`` is the output of ``layers[i]``.
    With a ``normalize`` other than ``none`` the deployed model takes raw float32 inputs and
    normalizes them into tensor 0 (see :mod:`tinyml_cli.arch.normalization`)."""

    input_shape: Shape
    layers: tuple[Layer, ...]
    name: str = "model"
    normalize: str = "none"            # the float front before tensor 0 (arch/normalization.py)
    # (weights, activations) element types per layer (ops/precision.py); empty: int8 throughout
    precision: tuple[tuple[str, str], ...] = ()
    _shapes: tuple[Shape, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_shapes", (self.input_shape, *map(_output_shape, self.layers)))

    @property
    def tensor_shapes(self) -> tuple[Shape, ...]:
        """Shapes of every tensor, the input first."""
        return self._shapes

    def tensor_shape(self, tensor: int) -> Shape:
        """Shape of one tensor by id."""
        return self._shapes[tensor]

    @property
    def output_shape(self) -> Shape:
        """Shape of the graph output (the last layer's)."""
        return self._shapes[-1]

    @property
    def num_classes(self) -> int:
        """Size of the output vector."""
        return self._shapes[-1][-1]

    def layer_types(self, i: int) -> tuple[str, str]:
        """Layer ``i``'s (weights, activations) element types: it reads its inputs and writes its
        output in the activation type."""
        return self.precision[i] if self.precision else ("int8", "int8")

    @property
    def tensor_types(self) -> tuple[str, ...]:
        """Each tensor's element type: the input int8, then each layer's activation type."""
        return ("int8", *(types[1] for types in self.precision)) if self.precision else ("int8",) * len(self._shapes)

    def input_shapes(self, layer: Layer) -> list[Shape]:
        """Shapes of the tensors a layer reads."""
        return [self._shapes[t] for t in layer.inputs]


_SET = {name: getattr(Layer, name).__set__ for name in Layer.__slots__}


def _new_layer(name: str, op: str, inputs: tuple[int, ...], output_shape: Shape,
               kernel: tuple[int, int], stride: tuple[int, int], padding: str, activation: str,
               weight_shape: Shape | None, bias: bool, batch_norm: bool, *, _new=object.__new__,
               _name=_SET["name"], _op=_SET["op"], _inputs=_SET["inputs"],
               _output_shape=_SET["output_shape"], _kernel=_SET["kernel"], _stride=_SET["stride"],
               _padding=_SET["padding"], _activation=_SET["activation"],
               _weight_shape=_SET["weight_shape"], _bias=_SET["bias"],
               _batch_norm=_SET["batch_norm"]) -> Layer:
    """``Layer(...)`` without the frozen dataclass's per-field ``object.__setattr__``: the same
    object, built twice as fast, for the graph builder's hot path (a search builds millions)."""
    layer = _new(Layer)
    _name(layer, name)
    _op(layer, op)
    _inputs(layer, inputs)
    _output_shape(layer, output_shape)
    _kernel(layer, kernel)
    _stride(layer, stride)
    _padding(layer, padding)
    _activation(layer, activation)
    _weight_shape(layer, weight_shape)
    _bias(layer, bias)
    _batch_norm(layer, batch_norm)
    return layer


# Layers built so far, by their fields: a search builds the same layers over and over, and layers
# are immutable, so graphs share them (and the estimator computes each one's cost once).
_LAYERS: dict[tuple, Layer] = {}
_LAYERS_MAX = 50_000


def clear_layer_memo() -> None:
    """Forget the shared layers (benchmarks and tests start from an empty memo)."""
    _LAYERS.clear()


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TFLite SAME padding along one axis: (before, after); extra padding goes after.

    >>> same_padding(8, 3, 2), same_padding(7, 3, 1), same_padding(1, 1, 1)
    ((0, 1), (1, 1), (0, 0))
    """
    out = ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Output length along one axis for SAME or VALID padding."""
    if padding == "same":
        return ceil(size / stride)
    return (size - kernel) // stride + 1


class GraphBuilder:
    """Appends layers while computing shapes; raises ArchError when a shape collapses to zero."""

    def __init__(self, input_shape: Shape, name: str = "model") -> None:
        if any(int(d) <= 0 for d in input_shape):
            raise ArchError(f"input shape {tuple(input_shape)} must be positive in every dimension")
        self.input_shape: Shape = tuple(int(d) for d in input_shape)
        self.name = name
        self.layers: list[Layer] = []
        self.shapes: list[Shape] = [self.input_shape]
        self.input = 0

    def _add(self, op: str, inputs: tuple[int, ...], shape: Shape, kernel: tuple[int, int] = (1, 1),
             stride: tuple[int, int] = (1, 1), padding: str = "valid", activation: str = "none",
             weight_shape: Shape | None = None, bias: bool = False, batch_norm: bool = False) -> int:
        index = len(self.layers)
        if min(shape) <= 0:
            raise ArchError(f"layer {index} ({op}) collapses its output to shape {shape}")
        key = (op, index, inputs, shape, kernel, stride, padding, activation, weight_shape, bias,
               batch_norm)
        layer = _LAYERS.get(key)
        if layer is None:
            if len(_LAYERS) >= _LAYERS_MAX:
                _LAYERS.clear()
            layer = _LAYERS[key] = _new_layer(f"{op}_{index}", op, inputs, shape, kernel, stride,
                                              padding, activation, weight_shape, bias, batch_norm)
        self.layers.append(layer)
        self.shapes.append(shape)
        return index + 1

    def _spatial(self, tensor: int, op: str) -> Shape:
        shape = self.shapes[tensor]
        if len(shape) != 3:
            raise ArchError(f"{op} needs a feature map (H, W, C), got shape {shape}")
        return shape

    def _slide(self, tensor: int, kernel: int, stride: int, padding: str,
               op: str) -> tuple[Shape, tuple[int, int], tuple[int, int], int, int]:
        """Input shape, window and stride (square, or (1, k) along the width for height-1 (1-D)
        tensors) and output height and width of a sliding-window op."""
        shape = self._spatial(tensor, op)
        if shape[0] == 1:
            k, s = (1, kernel), (1, stride)
        else:
            k, s = (kernel, kernel), (stride, stride)
        if padding == "same":
            h, w = -(-shape[0] // s[0]), -(-shape[1] // s[1])
        else:
            h, w = (shape[0] - k[0]) // s[0] + 1, (shape[1] - k[1]) // s[1] + 1
        if h <= 0 or w <= 0:
            raise ArchError(f"layer {len(self.layers)} ({op}, kernel {k[1]}) does not fit its "
                            f"input {shape[0]}x{shape[1]}: the output would be {h}x{w}")
        return shape, k, s, h, w

    def conv(self, tensor: int, channels: int, kernel: int = 1, stride: int = 1,
             activation: str = "none", padding: str = "same", batch_norm: bool = True) -> int:
        """A CONV_2D layer (with bias after batch-norm folding)."""
        shape, k, s, h, w = self._slide(tensor, kernel, stride, padding, "conv2d")
        if channels <= 0:
            raise ArchError(f"layer {len(self.layers)} (conv2d) has {channels} output channels")
        channels = int(channels)
        return self._add("conv2d", (tensor,), (h, w, channels), k, s, padding, activation,
                         (channels, k[0], k[1], shape[2]), True, batch_norm)

    def depthwise(self, tensor: int, kernel: int = 3, stride: int = 1, activation: str = "none",
                  padding: str = "same", batch_norm: bool = True) -> int:
        """A DEPTHWISE_CONV_2D layer with depth multiplier 1."""
        shape, k, s, h, w = self._slide(tensor, kernel, stride, padding, "depthwise_conv2d")
        return self._add("depthwise_conv2d", (tensor,), (h, w, shape[2]), k, s, padding, activation,
                         (1, k[0], k[1], shape[2]), True, batch_norm)

    def pool(self, tensor: int, kind: str, size: int) -> int:
        """AVERAGE_POOL_2D or MAX_POOL_2D with window = stride = size, VALID padding."""
        if kind not in ("avg", "max"):
            raise ArchError(f"pool kind must be 'avg' or 'max', got {shown(kind)}")
        shape, k, s, h, w = self._slide(tensor, size, size, "valid", f"{kind}_pool")
        return self._add(f"{kind}_pool", (tensor,), (h, w, shape[2]), kernel=k, stride=s,
                         padding="valid")

    def add(self, a: int, b: int, activation: str = "none") -> int:
        """Element-wise ADD of two tensors of the same shape."""
        if self.shapes[a] != self.shapes[b]:
            raise ArchError(f"add needs equal shapes, got {self.shapes[a]} and {self.shapes[b]}")
        return self._add("add", (a, b), self.shapes[a], activation=activation)

    def mean(self, tensor: int) -> int:
        """Global average pool over H and W (TFLite MEAN), giving a vector."""
        shape = self._spatial(tensor, "mean")
        return self._add("mean", (tensor,), (shape[2],))

    def flatten(self, tensor: int) -> int:
        """RESHAPE a feature map to a vector in H, W, C order."""
        return self._add("reshape", (tensor,), (prod(self.shapes[tensor]),))

    def fully_connected(self, tensor: int, units: int, activation: str = "none") -> int:
        """A FULLY_CONNECTED layer with bias."""
        shape = self.shapes[tensor]
        if len(shape) != 1:
            raise ArchError(f"fully_connected needs a vector input, got shape {shape}")
        if units <= 0:
            raise ArchError(f"layer {len(self.layers)} (fully_connected) has {units} units")
        return self._add("fully_connected", (tensor,), (int(units),), activation=activation,
                         weight_shape=(int(units), shape[0]), bias=True)

    def softmax(self, tensor: int) -> int:
        """SOFTMAX over the last axis."""
        return self._add("softmax", (tensor,), self.shapes[tensor])

    def extend(self, layers: tuple[Layer, ...]) -> int:
        """Append layers built earlier at this same position (a memoized block: layers are
        immutable, so graphs can share them); returns the last one's tensor."""
        self.layers += layers
        self.shapes += map(_output_shape, layers)
        return len(self.layers)

    def finish(self) -> LayerGraph:
        """The finished graph; its output is the last layer's tensor."""
        if not self.layers:
            raise ArchError("the architecture has no layers")
        return LayerGraph(self.input_shape, tuple(self.layers), self.name)
