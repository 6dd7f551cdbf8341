"""How much to prune: one ratio for every channel group, the least that meets a target.

A ratio ``r`` keeps ``round((1 - r) * C)`` of a group's ``C`` channels (at least ``min_channels``),
the same fraction in every layer (uniform layer-wise pruning, as in Li et al. 2017). The estimator
prices each ratio on the layer graph alone, so the ratio that meets a MACs level or an MCU budget is
found by bisection before any training.

>>> from tinyml_cli.arch import Arch, build_graph
>>> graph = build_graph(Arch("plain", (1, 32, 1), 4, {"layers": [
...     {"type": "conv", "channels": 16, "kernel": 3, "stride": 1},
...     {"type": "conv", "channels": 16, "kernel": 3, "stride": 1}], "reduce": "avg", "dense": []}))
>>> counts = ratio_counts(graph, 0.5, 1)
>>> sorted(counts.values())
[8, 8]
>>> from tinyml_cli.estimate import estimate
>>> from tinyml_cli.mcu import budget_for, load_profile
>>> p = load_profile("STM32F412"); macs = lambda g: estimate(g, p, budget_for(p)).macs
>>> r = least_ratio(graph, lambda g: macs(g) <= 0.3 * macs(graph), 1)
>>> 0.4 < r < 0.5, macs(pruned_graph(graph, r, 1)) <= 0.3 * macs(graph)
(True, True)
"""

from __future__ import annotations

from typing import Callable

from ..arch.graph import LayerGraph
from ..arch.widths import apply_widths, channel_groups, group_widths

BISECTION_STEPS = 30


def ratio_counts(graph: LayerGraph, ratio: float, min_channels: int) -> dict[int, int]:
    """Channels each group of ``graph`` keeps at ``ratio``."""
    sizes = channel_groups(graph).size
    return {g: max(min(min_channels, c), min(c, round((1.0 - ratio) * c))) for g, c in sizes.items()}


def pruned_graph(graph: LayerGraph, ratio: float, min_channels: int) -> LayerGraph:
    """``graph`` with every channel group cut to :func:`ratio_counts`."""
    return apply_widths(graph, group_widths(graph, ratio_counts(graph, ratio, min_channels)))


def least_ratio(graph: LayerGraph, ok: Callable[[LayerGraph], bool], min_channels: int) -> float | None:
    """The smallest ratio whose pruned graph satisfies ``ok`` (0 when ``graph`` already does; None
    when even ``min_channels`` per group does not). ``ok`` must hold more the more is pruned."""
    if ok(graph):
        return 0.0
    if not ok(pruned_graph(graph, 1.0, min_channels)):
        return None
    low, high = 0.0, 1.0
    for _ in range(BISECTION_STEPS):
        mid = (low + high) / 2
        low, high = (low, mid) if ok(pruned_graph(graph, mid, min_channels)) else (mid, high)
    return high
