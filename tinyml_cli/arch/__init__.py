"""Search spaces, architectures and the layer-graph IR."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from ..errors import ArchError, ConfigError, shown
from ..ops.precision import apply_precision
from .arch import Arch
from .graph import GraphBuilder, Layer, LayerGraph
from .mbnet import MbnetSpace
from .plain import PlainSpace
from .space import Genome, SearchSpace
from .widths import apply_widths

SPACES: dict[str, type[SearchSpace]] = {"mbnet": MbnetSpace, "plain": PlainSpace}


def _space_class(name: Any, source: str = "arch") -> type[SearchSpace]:
    """The space class named ``name`` (any value a config may hold: only a known name passes)."""
    if not isinstance(name, str) or name not in SPACES:
        raise ConfigError(f"{source}: unknown search space {shown(name)}; known: {', '.join(SPACES)}")
    return SPACES[name]


def build_graph(arch: Arch) -> LayerGraph:
    """The LayerGraph of any Arch, by its space (with the arch's input normalization and its
    per-layer ``widths``)."""
    graph = _space_class(arch.space).build(arch)
    graph = replace(graph, normalize=arch.normalize) if arch.normalize != "none" else graph
    graph = apply_widths(graph, arch.widths) if arch.widths else graph
    return apply_precision(graph, arch.precision) if arch.precision else graph


def make_space(options: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int,
               source: str = "space", normalize: str = "none") -> SearchSpace:
    """A search space from its config section (``name`` picks the space); every architecture it
    decodes deploys with the input normalization ``normalize``."""
    name = options.get("name", "mbnet")
    space = _space_class(name, f"{source}: name")(options, input_shape, num_classes, source)
    space.normalize = normalize
    return space


def sample_buildable(space: SearchSpace, rng: np.random.Generator, n: int) -> list[Arch]:
    """``n`` random architectures of ``space`` whose layer graphs build: a draw whose shapes
    collapse (ArchError) is drawn again.

    >>> space = make_space({"name": "plain"}, (1, 40, 1), 10)
    >>> archs = sample_buildable(space, np.random.default_rng(0), 3)
    >>> len(archs), all(build_graph(a).output_shape == (10,) for a in archs)
    (3, True)
    """
    archs: list[Arch] = []
    while len(archs) < n:
        arch = space.sample(rng)
        try:
            build_graph(arch)
        except ArchError:
            continue
        archs.append(arch)
    return archs


__all__ = ["Arch", "Genome", "GraphBuilder", "Layer", "LayerGraph", "SPACES", "SearchSpace",
           "build_graph", "make_space", "sample_buildable"]
