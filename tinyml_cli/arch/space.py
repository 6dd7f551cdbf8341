"""The shared shape of a search space: named categorical genes, sampled and mutated uniformly.

Every space encodes an architecture as a flat genome ``{gene name: value}`` whose values come from
fixed option lists, so every backend (random, evolution, TPE, NSGA-II) works on every space.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .arch import Arch

Genome = dict[str, Any]


class SearchSpace:
    """Base class: subclasses define ``genes`` (name -> options) and ``decode``."""

    name = "base"

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int) -> None:
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.genes: dict[str, tuple] = {}
        self.normalize = "none"        # the input normalization of every decoded Arch

    def decode(self, genome: Mapping[str, Any]) -> Arch:
        """Turn a genome into an Arch."""
        raise NotImplementedError

    def sample_genome(self, rng: np.random.Generator) -> Genome:
        """Each gene drawn uniformly from its options."""
        return {name: options[int(rng.integers(len(options)))] for name, options in self.genes.items()}

    def mutate(self, genome: Mapping[str, Any], rng: np.random.Generator) -> Genome:
        """A copy of ``genome`` with one gene changed to a different option (uNAS-style)."""
        mutable = [name for name, options in self.genes.items() if len(options) > 1]
        child = dict(genome)
        if not mutable:
            return child
        name = mutable[int(rng.integers(len(mutable)))]
        others = [o for o in self.genes[name] if o != genome[name]]
        child[name] = others[int(rng.integers(len(others)))]
        return child

    def reference_genomes(self) -> list[Genome]:
        """Textbook networks of this space (none by default), which a search evaluates first so that
        it starts from a known-good design rather than from chance alone."""
        return []

    def nearest(self, gene: str, value: float) -> Any:
        """The option of ``gene`` closest to ``value`` (the smaller on a tie).

        >>> space = SearchSpace((1, 8, 1), 2); space.genes["k"] = (3, 5, 7)
        >>> space.nearest("k", 4), space.nearest("k", 6.5)
        (3, 7)
        """
        return min(self.genes[gene], key=lambda o: (abs(o - value), o))

    def sample(self, rng: np.random.Generator) -> Arch:
        """A random architecture."""
        return self.decode(self.sample_genome(rng))

    def size(self) -> int:
        """Number of distinct genomes."""
        return int(np.prod([len(o) for o in self.genes.values()], dtype=object))
