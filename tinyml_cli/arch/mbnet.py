"""`mbnet`: an MCUNet/TinyNAS-style MobileNetV2 space of inverted-residual blocks.

Choices: input resolution, width multiplier, and per block a kernel size and an expand ratio, where
expand 0 skips a block (never a stage's first). Channel counts are the stage base channels times the
width, rounded as in MobileNetV2, so the standard network is expressible exactly:

>>> from tinyml_cli.arch.mbnet import mobilenet_v2
>>> g = MbnetSpace.build(mobilenet_v2(1.0, 224, 1000))
>>> len(g.layers), g.tensor_shape(1), g.output_shape
(65, (112, 112, 32), (1000,))
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..config import Field, boolean, list_of, mapping, optional, validate
from ..errors import ConfigError, shown
from .arch import Arch
from .choices import LIMITS, get, known_keys, limited, limited_list, positive_int, width, width_list
from .graph import GraphBuilder, Layer, LayerGraph
from .space import PRECISIONS_FIELD, Genome, SearchSpace

KERNELS = (3, 5, 7)
EXPANDS = (1, 3, 4, 6)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor`` without losing more than 10% (MobileNetV2)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


# The layout of an mbnet network, read by the graph builder below and by the weight-sharing supernet
# (search/weight_sharing/supernet.py), so the two cannot disagree about the network's shape.


def scaled_channels(base: int, width: float, divisor: int = 8) -> int:
    """Channels of the stem or a stage with ``base`` channels at width multiplier ``width``."""
    return make_divisible(base * width, divisor)


def head_channels(base: int, width: float, divisor: int = 8) -> int:
    """Channels of the head convolution: never narrower than ``base`` (MobileNetV2's last layer)."""
    return make_divisible(base * max(1.0, width), divisor)


def hidden_channels(c_in: int, expand: int) -> int:
    """Channels of a block's expanded (depthwise) layers."""
    return int(round(c_in * expand))


def block_stride(stage_stride: int, j: int) -> int:
    """The stride of block ``j`` of a stage: the stage's first block strides, the others do not."""
    return stage_stride if j == 0 else 1


def has_residual(stride: int, c_in: int, c_out: int) -> bool:
    """Whether a block adds its input to its output."""
    return stride == 1 and c_in == c_out


def block_units(expand: int) -> tuple[str, ...]:
    """The convolutions of a block with this expand ratio, in graph order (expand 1: no 1x1 expand).

    >>> block_units(1), block_units(6)
    (('depthwise', 'project'), ('expand', 'depthwise', 'project'))
    """
    return ("depthwise", "project") if expand == 1 else ("expand", "depthwise", "project")


def _kernel(value: Any) -> int:
    if value not in KERNELS:
        raise ValueError(f"expected a kernel size in {KERNELS}, got {shown(value)}")
    return value


def _expand(value: Any) -> int:
    if value not in EXPANDS:
        raise ValueError(f"expected an expand ratio in {EXPANDS}, got {shown(value)}")
    return value


STAGE_SCHEMA = {
    "channels": Field(limited("channels")),
    "depth": Field(limited("depth"), 1, "maximum number of blocks"),
    "stride": Field(limited("stride"), 1),
    "expands": Field(optional(list_of(_expand, 1)), None, "expand ratios for this stage only"),
}

DEFAULT_STAGES = [
    {"channels": 16, "depth": 1, "stride": 1, "expands": [1]},
    {"channels": 24, "depth": 2, "stride": 2},
    {"channels": 40, "depth": 3, "stride": 2},
    {"channels": 80, "depth": 3, "stride": 2},
    {"channels": 96, "depth": 2, "stride": 1},
]

OPTIONS_SCHEMA = {
    "name": Field(lambda v: v, "mbnet"),
    "resolutions": Field(optional(limited_list("resolution")), None,
                         "input sizes to search (default: the dataset's own)"),
    "widths": Field(width_list(), [0.25, 0.35, 0.5, 0.75]),
    "kernels": Field(list_of(_kernel, 1), [3, 5, 7]),
    "expands": Field(list_of(_expand, 1), [3, 4, 6]),
    "skip": Field(boolean, True, "allow expand 0 (skip) for blocks after a stage's first"),
    "stem": {"channels": Field(limited("channels"), 16), "kernel": Field(_kernel, 3),
             "stride": Field(limited("stride"), 2)},
    "stages": Field(list_of(mapping, 1), DEFAULT_STAGES, "channels, depth, stride, expands per stage"),
    "head_channels": Field(limited("head_channels"), 320),
    "divisor": Field(limited("divisor"), 8),
    "precisions": PRECISIONS_FIELD,
}


class MbnetSpace(SearchSpace):
    """Genes: ``resolution``, ``width``, and ``s{i}b{j}_kernel`` / ``s{i}b{j}_expand`` per block."""

    name = "mbnet"

    def __init__(self, options: Mapping[str, Any], input_shape: tuple[int, int, int],
                 num_classes: int, source: str = "space") -> None:
        super().__init__(input_shape, num_classes)
        self.options = self.check_options(options, source)
        native = input_shape[1]
        self.genes["resolution"] = tuple(self.options["resolutions"] or [native])
        self.genes["width"] = tuple(self.options["widths"])
        for i, stage in enumerate(self.options["stages"]):
            expands = tuple(stage["expands"] or self.options["expands"])
            for j in range(stage["depth"]):
                self.genes[f"s{i}b{j}_kernel"] = tuple(self.options["kernels"])
                skip = (0,) if j > 0 and self.options["skip"] else ()
                self.genes[f"s{i}b{j}_expand"] = expands + skip
        # layers with weights: the stem, three per block (expand, depthwise, project), head, classifier
        blocks = sum(stage["depth"] for stage in self.options["stages"])
        self.add_precision_genes(self.options["precisions"], 3 * blocks + 3)

    @staticmethod
    def check_options(options: Mapping[str, Any], source: str) -> dict:
        """The space's options validated (defaults filled, each stage too), errors naming ``source``."""
        checked = validate(dict(options), OPTIONS_SCHEMA, source, "space")
        checked["stages"] = [validate(s, STAGE_SCHEMA, source, f"space.stages[{i}]")
                             for i, s in enumerate(checked["stages"])]
        return checked

    def reference_genomes(self) -> list[Genome]:
        """MobileNetV2's own choices (every block kept, kernel 3, expand 6, each the nearest option)
        at the smallest width and the native (largest) resolution.

        >>> space = MbnetSpace({}, (32, 32, 3), 10)
        >>> g = space.reference_genomes()[0]
        >>> g["width"], g["resolution"], g["s1b1_kernel"], g["s1b1_expand"]
        (0.25, 32, 3, 6)
        """
        genome = {"resolution": max(self.genes["resolution"]), "width": min(self.genes["width"])}
        for name in self.genes:
            if name.endswith("_kernel"):
                genome[name] = self.nearest(name, 3)
            elif name.endswith("_expand"):
                genome[name] = self.nearest(name, 6) or max(self.genes[name])
        return [genome]

    def decode(self, genome: Mapping[str, Any]) -> Arch:
        """Genome to Arch; skipped blocks are dropped so equal networks get equal choices."""
        res = genome["resolution"]
        h, _, c = self.input_shape
        shape = (1, res, c) if h == 1 else (res, res, c)
        stages = []
        for i, stage in enumerate(self.options["stages"]):
            blocks = []
            for j in range(stage["depth"]):
                expand = genome[f"s{i}b{j}_expand"]
                if expand:
                    blocks.append({"kernel": genome[f"s{i}b{j}_kernel"], "expand": expand})
            stages.append({"channels": stage["channels"], "stride": stage["stride"], "blocks": blocks})
        choices = {"width": genome["width"], "stem": dict(self.options["stem"]), "stages": stages,
                   "head_channels": self.options["head_channels"], "divisor": self.options["divisor"]}
        return self.with_precision(Arch(self.name, shape, self.num_classes, choices, self.normalize), genome)

    @staticmethod
    def build(arch: Arch) -> LayerGraph:
        """The LayerGraph of an mbnet Arch."""
        ch = arch.choices
        known_keys(ch, _CHOICE_KEYS, "")
        alpha = width(ch, "")
        divisor = positive_int(ch, "divisor", "") if "divisor" in ch else 8
        stem = get(ch, "stem", "", dict)
        known_keys(stem, _STEM_KEYS, "stem")
        b = GraphBuilder(arch.input_shape, "mbnet")
        c_in = scaled_channels(positive_int(stem, "channels", "stem"), alpha, divisor)
        t = _stem(b, b.input, c_in, positive_int(stem, "kernel", "stem"),
                  positive_int(stem, "stride", "stem"))
        for i, stage in enumerate(get(ch, "stages", "", list)):
            where = f"stages[{i}]"
            known_keys(stage, _STAGE_KEYS, where)
            c_out = scaled_channels(positive_int(stage, "channels", where), alpha, divisor)
            stride = positive_int(stage, "stride", where)
            blocks = get(stage, "blocks", where, list)
            if not blocks:
                raise ConfigError(f"arch choices: {where}.blocks: a stage needs at least one block")
            for j, block in enumerate(blocks):
                kernel, expand = _block_choices(block, f"{where}.blocks", j)
                t = _inverted_residual(b, t, c_in, c_out, block_stride(stride, j), kernel, expand)
                c_in = c_out
        head = head_channels(positive_int(ch, "head_channels", ""), alpha, divisor)
        _head(b, t, head, arch.num_classes)
        return b.finish()


# what an mbnet Arch's choices and their parts may hold
_CHOICE_KEYS = frozenset({"width", "divisor", "stem", "stages", "head_channels"})
_STEM_KEYS = frozenset({"channels", "kernel", "stride"})
_STAGE_KEYS = frozenset({"channels", "stride", "blocks"})
_BLOCK_KEYS = frozenset({"kernel", "expand"})
_MAX_KERNEL, _MAX_EXPAND = LIMITS["kernel"][1], LIMITS["expand"][1]


def _block_choices(block: Any, where: str, j: int) -> tuple[int, int]:
    """A block's kernel and expand ratio, positive ints (the key path is only built for an error)."""
    if type(block) is dict and block.keys() <= _BLOCK_KEYS:   # fast path: graph building is a hot loop
        kernel, expand = block.get("kernel"), block.get("expand")
        if type(kernel) is int and type(expand) is int and 0 < kernel <= _MAX_KERNEL and 0 < expand <= _MAX_EXPAND:
            return kernel, expand
    at = f"{where}[{j}]"
    known_keys(block, _BLOCK_KEYS, at)
    return positive_int(block, "kernel", at), positive_int(block, "expand", at)


# Blocks built so far, by everything their layers depend on: a search builds the same few thousand
# blocks over and over, and layers are immutable, so graphs share them. Cleared when full.
_BLOCKS: dict[tuple, tuple[Layer, ...]] = {}
_BLOCKS_MAX = 20_000


def clear_block_memo() -> None:
    """Forget the memoized blocks (benchmarks and tests start from an empty memo)."""
    _BLOCKS.clear()


def _memoized(build_block: Callable[..., int]) -> Callable[..., int]:
    """Memoize ``build_block(b, t, *args)``, which appends layers reading tensor ``t`` (and what
    they write) and returns the last tensor, by its arguments, the shape of ``t`` and the position."""
    def build(b: GraphBuilder, t: int, *args: Any) -> int:
        start = len(b.layers)
        key = (build_block, start, t, b.shapes[t], *args)
        block = _BLOCKS.get(key)
        if block is not None:
            return b.extend(block)
        out = build_block(b, t, *args)
        if len(_BLOCKS) >= _BLOCKS_MAX:
            _BLOCKS.clear()
        _BLOCKS[key] = tuple(b.layers[start:])
        return out
    return build


@_memoized
def _stem(b: GraphBuilder, t: int, channels: int, kernel: int, stride: int) -> int:
    return b.conv(t, channels, kernel, stride, "relu6")


@_memoized
def _inverted_residual(b: GraphBuilder, t: int, c_in: int, c_out: int, stride: int, kernel: int,
                       expand: int) -> int:
    x = t
    if "expand" in block_units(expand):
        x = b.conv(x, hidden_channels(c_in, expand), 1, 1, "relu6")
    x = b.depthwise(x, kernel, stride, "relu6")
    x = b.conv(x, c_out, 1, 1, "none")
    if has_residual(stride, c_in, c_out):
        x = b.add(t, x)
    return x


@_memoized
def _head(b: GraphBuilder, t: int, channels: int, num_classes: int) -> int:
    t = b.conv(t, channels, 1, 1, "relu6")
    t = b.mean(t)
    t = b.fully_connected(t, num_classes)
    return b.softmax(t)


def mobilenet_v2(width: float = 1.0, resolution: int = 224, num_classes: int = 1000) -> Arch:
    """The standard MobileNetV2 (Sandler et al., 2018) as an mbnet Arch."""
    table = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1)]
    stages = [{"channels": c, "stride": s, "blocks": [{"kernel": 3, "expand": t}] * n}
              for t, c, n, s in table]
    choices = {"width": width, "stem": {"channels": 32, "kernel": 3, "stride": 2}, "stages": stages,
               "head_channels": 1280, "divisor": 8}
    return Arch("mbnet", (resolution, resolution, 3), num_classes, choices)
