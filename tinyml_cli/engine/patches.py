"""Patch-based execution (MCUNetV2, Lin et al., NeurIPS 2021): the first layers of a network, up to
a split layer, run tile by tile. The split layer's output is cut into N x N spatial patches; for
each, every earlier tensor is computed over just the region that patch's receptive field needs
(the overlap between neighbouring patches is recomputed), and the patch is copied into the split
layer's full output. The layers after the split run layer by layer as before. Only one patch's
working tensors are alive at a time, so the large early feature maps never exist in full.

The plan is a layer graph of its own (:class:`PatchedGraph`): each early layer once per patch with
the output shape of its region and its own leading padding (only a region at the image's edge
is padded), ``patch_crop`` layers that cut the region a layer reads out of a larger one (an ADD
whose operands were computed over a wider region for another reader, or a patch of the input), and
``patch_place`` layers that copy a patch into the split layer's full output, in place over it. The
engine's planner places it like any graph; every output pixel is computed by the same arithmetic
as layer by layer, so the outputs do not change.

>>> from tinyml_cli.arch.graph import GraphBuilder
>>> b = GraphBuilder((8, 8, 1)); t = b.conv(b.input, 4, 3); t = b.depthwise(t, 3, stride=2)
>>> _ = b.fully_connected(b.mean(t), 2)
>>> g = b.finish()
>>> splits(g)
[0, 1]
>>> p = patch_graph(g, 1, 2)
>>> [(layer.op, layer.output_shape[:2]) for layer in p.graph.layers[:4]]
[('patch_crop', (6, 6)), ('conv2d', (5, 5)), ('depthwise_conv2d', (2, 2)), ('patch_place', (4, 4))]
>>> p.steps[1].pad, p.steps[2].pad, p.steps[3].origin      # the conv pads at the top-left edge
((1, 1), (0, 0), (0, 0))
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..arch.graph import Layer, LayerGraph, same_padding
from ..errors import EngineError
from .planner import MemoryPlan, best_placement, buffers, engine_in_place, live_peak

CROP, PLACE = "patch_crop", "patch_place"
# layers a patch can run: each output pixel reads a window of its input (or the same pixel)
SPATIAL = ("conv2d", "depthwise_conv2d", "avg_pool", "max_pool", "add")
MAX_SPLIT_STRIDE = 8

Span = tuple[int, int]                     # [start, stop) along one axis
Region = tuple[Span, Span]                 # rows, columns


@dataclass(frozen=True)
class PatchStep:
    """How one layer of a patched graph runs: ``source`` the original layer it computes (None for
    a crop or place), ``pad`` its leading padding in its patch's region (rows, columns; None: the
    layer runs whole), ``origin`` where a crop reads in its input, or a place writes in its output
    (row, column)."""

    source: int | None
    pad: tuple[int, int] | None = None
    origin: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class PatchedGraph:
    """A graph run patch by patch up to layer ``split`` with ``patches`` x ``patches`` patches:
    the layers in run order, how each runs, and the original tensor each tensor holds (a part of)."""

    graph: LayerGraph
    steps: tuple[PatchStep, ...]
    tensor_of: tuple[int, ...]
    split: int
    patches: int


def layer_by_layer(graph: LayerGraph) -> PatchedGraph:
    """``graph`` itself, as a patched graph without patches."""
    return PatchedGraph(graph, tuple(PatchStep(i) for i in range(len(graph.layers))),
                        tuple(range(len(graph.layers) + 1)), -1, 1)


def splits(graph: LayerGraph) -> list[int]:
    """The layers a graph can be split after: every layer up to it spatial, over feature maps, and
    no tensor before its output read after it."""
    out: list[int] = []
    last_read = {t: i for i, layer in enumerate(graph.layers) for t in layer.inputs}
    for s, layer in enumerate(graph.layers):
        if layer.op not in SPATIAL or len(layer.output_shape) != 3:
            break
        if all(last_read.get(t, -1) <= s for t in range(1, s + 1)) and s + 1 < len(graph.layers):
            out.append(s)
    return out


def _window(layer: Layer, in_size: int, axis: int) -> tuple[int, int, int]:
    """Kernel, stride and leading padding of ``layer`` along ``axis`` (0 rows, 1 columns); an ADD's
    are the IR's defaults, a 1 x 1 window of stride 1 without padding."""
    k, s = layer.kernel[axis], layer.stride[axis]
    pad = same_padding(in_size, k, s)[0] if layer.padding == "same" else 0
    return k, s, pad


def _needed(layer: Layer, out: Region, in_shape: tuple[int, ...]) -> tuple[Region, tuple[int, int]]:
    """The input region ``layer`` reads for output region ``out``, and its leading padding there."""
    spans, pads = [], []
    for axis, (o0, o1) in enumerate(out):
        k, s, pad = _window(layer, in_shape[axis], axis)
        start = o0 * s - pad
        spans.append((max(0, start), min(in_shape[axis], (o1 - 1) * s - pad + k)))
        pads.append(max(0, -start))
    return (spans[0], spans[1]), (pads[0], pads[1])


def _union(a: Region | None, b: Region) -> Region:
    if a is None:
        return b
    return ((min(a[0][0], b[0][0]), max(a[0][1], b[0][1])), (min(a[1][0], b[1][0]), max(a[1][1], b[1][1])))


def _cuts(size: int, n: int) -> list[Span]:
    n = min(n, size)
    return [(i * size // n, (i + 1) * size // n) for i in range(n)]


def tiles(graph: LayerGraph, split: int, patches: int) -> list[Region]:
    """The split layer's output regions, row-major."""
    h, w, _ = graph.layers[split].output_shape
    return [(rows, cols) for rows in _cuts(h, patches) for cols in _cuts(w, patches)]


def needed_regions(graph: LayerGraph, split: int, tile: Region) -> dict[int, Region]:
    """Each tensor up to the split's output: the region one patch computes (the union of what its
    readers in the patch need; the input: what the first layers read)."""
    need: dict[int, Region] = {split + 1: tile}
    for i in range(split, -1, -1):
        layer = graph.layers[i]
        for t in layer.inputs:
            region, _ = _needed(layer, need[i + 1], graph.tensor_shape(t))
            need[t] = _union(need.get(t), region)
    return need


def _size(region: Region) -> tuple[int, int]:
    return region[0][1] - region[0][0], region[1][1] - region[1][0]


def patch_graph(graph: LayerGraph, split: int, patches: int) -> PatchedGraph:
    """``graph`` with layers 0 .. ``split`` run over ``patches`` x ``patches`` patches."""
    if split not in splits(graph):
        raise EngineError(f"cannot run {graph.name} patch by patch up to layer {split}; "
                          f"it can be split after layers {splits(graph)}")
    if patches < 2:
        raise EngineError(f"patch-based execution needs at least 2 x 2 patches, got {patches}")
    layers: list[Layer] = []
    steps: list[PatchStep] = []
    tensor_of = [0]
    full = graph.tensor_shape(0)

    def add(layer: Layer, step: PatchStep, original: int) -> int:
        layers.append(layer)
        steps.append(step)
        tensor_of.append(original)
        return len(layers)

    assembled: int | None = None
    out_shape = graph.layers[split].output_shape
    for k, tile in enumerate(tiles(graph, split, patches)):
        need = needed_regions(graph, split, tile)
        have: dict[int, tuple[int, Region]] = {0: (0, ((0, full[0]), (0, full[1])))}
        crops: dict[tuple[int, Region], int] = {}
        for i in range(split + 1):
            layer = graph.layers[i]
            inputs = []
            for t in layer.inputs:
                held, region = have[t]
                wanted, pad = _needed(layer, need[i + 1], graph.tensor_shape(t))
                if wanted != region:
                    if (t, wanted) not in crops:
                        crop = Layer(f"{graph.layers[t - 1].name if t else 'input'}_crop{k}", CROP, (held,),
                                     (*_size(wanted), graph.tensor_shape(t)[-1]))
                        origin = (wanted[0][0] - region[0][0], wanted[1][0] - region[1][0])
                        crops[t, wanted] = add(crop, PatchStep(None, origin=origin), t)
                    held = crops[t, wanted]
                inputs.append(held)
            _, pad = _needed(layer, need[i + 1], graph.tensor_shape(layer.inputs[0]))
            shape = (*_size(need[i + 1]), layer.output_shape[-1])
            patch = replace(layer, name=f"{layer.name}_p{k}", inputs=tuple(inputs), output_shape=shape)
            have[i + 1] = (add(patch, PatchStep(i, pad), i + 1), need[i + 1])
        sources = (have[split + 1][0],) if assembled is None else (assembled, have[split + 1][0])
        place = Layer(f"{graph.layers[split].name}_place{k}", PLACE, sources, out_shape)
        assembled = add(place, PatchStep(None, origin=(tile[0][0], tile[1][0])), split + 1)
    renamed = {0: 0, split + 1: assembled}
    for i in range(split + 1, len(graph.layers)):
        layer = graph.layers[i]
        inputs = tuple(renamed[t] for t in layer.inputs)
        renamed[i + 1] = add(replace(layer, inputs=inputs), PatchStep(i), i + 1)
    return PatchedGraph(LayerGraph(graph.input_shape, tuple(layers), graph.name, graph.normalize), tuple(steps),
                        tuple(tensor_of), split, patches)


def patch_in_place(in_place):
    """The planner's in-place rule for a patched graph: a crop never, a place over the split
    output assembled so far (not the first), the engine's layers as ``in_place``."""
    def rule(layer: Layer, in_shape: tuple[int, ...]) -> int | None:
        if layer.op == CROP:
            return None
        if layer.op == PLACE:
            return 0 if len(layer.inputs) == 2 else None
        return in_place(layer, in_shape)
    return rule


def candidate_splits(graph: LayerGraph) -> list[int]:
    """The splits tried when none is given: those whose output is downsampled at most
    ``MAX_SPLIT_STRIDE`` times per side from the input (MCUNetV2 splits in the early stages)."""
    h, w = graph.input_shape[:2]
    return [s for s in splits(graph)
            if graph.layers[s].output_shape[0] * MAX_SPLIT_STRIDE >= h
            and graph.layers[s].output_shape[1] * MAX_SPLIT_STRIDE >= w]


def split_index(graph: LayerGraph, name: str | int | None) -> int | None:
    """The index of the split layer called ``name`` (an index passes through; None stays None)."""
    if name is None or isinstance(name, int):
        return name
    for s in splits(graph):
        if graph.layers[s].name == name:
            return s
    raise EngineError(f"engine.split: {graph.name} cannot run patch by patch up to {name!r}; it can be "
                      f"split after {', '.join(graph.layers[s].name for s in splits(graph)) or 'no layer'}")


def plan_patches(graph: LayerGraph, patches: int, split: int | None = None) -> tuple[PatchedGraph, MemoryPlan]:
    """``graph`` run over ``patches`` x ``patches`` patches up to ``split`` (None: of
    :func:`candidate_splits`, the one whose plan needs the smallest arena; ties: the earliest), and
    its memory plan (the input in the arena, as the engine keeps it): every layer that can work in
    place doing so, placed in the planner's orders
    (candidates whose live-set lower bound cannot beat the best plan so far are not placed)."""
    candidates = [split] if split is not None else candidate_splits(graph)
    if not candidates:
        raise EngineError(f"{graph.name} cannot run patch by patch: its first layer is not a "
                          f"convolution, pooling or add over a feature map")
    rule = patch_in_place(engine_in_place)
    scored = []
    for s in candidates:
        patched = patch_graph(graph, s, patches)
        bufs = buffers(patched.graph, rule, input_in_arena=True)
        scored.append((live_peak(bufs), s, patched, bufs))
    best: tuple[PatchedGraph, MemoryPlan] | None = None
    for bound, s, patched, bufs in sorted(scored, key=lambda x: (x[0], x[1])):
        if best is not None and bound >= best[1].size:
            break
        plan = best_placement(bufs)
        if best is None or (plan.size, s) < (best[1].size, best[0].split):
            best = (patched, plan)
    return best
