"""The shared shape of a search space: named categorical genes, sampled and mutated uniformly.

Every space encodes an architecture as a flat genome ``{gene name: value}`` whose values come from
fixed option lists, so every backend (random, evolution, TPE, NSGA-II) works on every space.

A space whose ``precisions`` option names more than one precision (``ops/precision.py``) adds a gene
``p{k}_precision`` per possible layer with weights: the k-th layer with weights of the decoded
network takes it (a network with fewer such layers ignores the rest). Only what TFLM runs for every
layer with weights can be named, so no gene ever offers a combination the runtime cannot run.

>>> from tinyml_cli.arch import make_space
>>> space = make_space({"name": "plain", "max_layers": 1, "max_dense": 0, "precisions": ["w8a8", "w4a8"]},
...                    (1, 16, 1), 3)
>>> [g for g in space.genes if g.endswith("precision")]
['p0_precision', 'p1_precision', 'p2_precision']
>>> genome = {**space.sample_genome(np.random.default_rng(0)), "l0_type": "conv", "p0_precision": "w4a8"}
>>> space.decode(genome).precision
('w4a8', 'w8a8')
"""

from __future__ import annotations

from typing import Any, Mapping

from dataclasses import replace

import numpy as np

from ..config import Field, choice, list_of
from ..errors import ArchError
from ..ops import LAYER_OPS
from ..ops.precision import CODES, DEFAULT, offered, weight_layers
from .arch import Arch

# The precisions every layer with weights runs (the runtime's answer, from the op table).
SEARCHABLE_PRECISIONS = tuple(code for code in CODES if all(code in offered(op) for op, layer_op in LAYER_OPS.items()
                                                            if layer_op.weight_axis is not None))
PRECISIONS_FIELD = Field(list_of(choice(*SEARCHABLE_PRECISIONS), 1), [DEFAULT],
                         "per-layer precisions to search (w8a8, w4a8, w8a16; what TFLM runs)")

Genome = dict[str, Any]


class SearchSpace:
    """Base class: subclasses define ``genes`` (name -> options) and ``decode``."""

    name = "base"

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int) -> None:
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.genes: dict[str, tuple] = {}
        self.normalize = "none"        # the input normalization of every decoded Arch
        self.precision_slots = 0       # p{k}_precision genes

    def add_precision_genes(self, codes: list[str], slots: int) -> None:
        """One gene over ``codes`` per possible layer with weights (none for a single code)."""
        codes = list(dict.fromkeys(codes))
        self.precision_slots = slots if len(codes) > 1 else 0
        for k in range(self.precision_slots):
            self.genes[f"p{k}_precision"] = tuple(codes)

    def with_precision(self, arch: Arch, genome: Mapping[str, Any]) -> Arch:
        """``arch`` with the genome's precision per layer with weights (unchanged without genes or
        when every layer is int8, so an int8 network keeps its key)."""
        if not self.precision_slots:
            return arch
        try:
            count = len(weight_layers(type(self).build(arch)))
        except ArchError:              # shapes that collapse: the estimator rejects it as it is
            return arch
        codes = tuple(genome[f"p{k}_precision"] if k < self.precision_slots else DEFAULT for k in range(count))
        return replace(arch, precision=codes if any(code != DEFAULT for code in codes) else ())

    @staticmethod
    def build(arch: Arch) -> Any:
        """The LayerGraph of an Arch of this space."""
        raise NotImplementedError

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
