"""Search spaces, architectures and the layer-graph IR."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError
from .arch import Arch
from .graph import GraphBuilder, Layer, LayerGraph
from .mbnet import MbnetSpace
from .plain import PlainSpace
from .space import Genome, SearchSpace

SPACES: dict[str, type[SearchSpace]] = {"mbnet": MbnetSpace, "plain": PlainSpace}


def _space_class(name: str) -> type[SearchSpace]:
    if name not in SPACES:
        raise ConfigError(f"unknown search space {name!r}; known: {', '.join(SPACES)}")
    return SPACES[name]


def build_graph(arch: Arch) -> LayerGraph:
    """The LayerGraph of any Arch, by its space."""
    return _space_class(arch.space).build(arch)


def make_space(options: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int,
               source: str = "space") -> SearchSpace:
    """A search space from its config section (``name`` picks the space)."""
    name = options.get("name", "mbnet")
    return _space_class(name)(options, input_shape, num_classes, source)


__all__ = ["Arch", "Genome", "GraphBuilder", "Layer", "LayerGraph", "SPACES", "SearchSpace",
           "build_graph", "make_space"]
