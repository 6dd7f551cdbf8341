"""`plain`: a uNAS-style granular space: a sequence of conv, depthwise-separable conv and pooling
layers with free channels, kernels and strides, a reduction (global average or flatten) and dense
layers before the classifier.

>>> arch = Arch("plain", (1, 40, 1), 10, {"layers": [
...     {"type": "conv", "channels": 8, "kernel": 5, "stride": 1},
...     {"type": "pool", "kind": "max", "size": 2},
...     {"type": "dwsep", "channels": 16, "kernel": 3, "stride": 2}],
...     "reduce": "flatten", "dense": [32]})
>>> g = PlainSpace.build(arch)
>>> [l.op for l in g.layers]
['conv2d', 'max_pool', 'depthwise_conv2d', 'conv2d', 'reshape', 'fully_connected', 'fully_connected', 'softmax']
>>> g.tensor_shape(5)
(160,)
"""

from __future__ import annotations

from typing import Any, Mapping

from ..config import Field, choice, integer, list_of, validate
from ..errors import ConfigError, shown
from .arch import Arch
from .choices import LIMITS, get, known_keys, limited_list, positive_int
from .graph import GraphBuilder, LayerGraph
from .space import PRECISIONS_FIELD, Genome, SearchSpace

LAYER_TYPES = ("conv", "dwsep", "pool")

OPTIONS_SCHEMA = {
    "name": Field(lambda v: v, "plain"),
    "max_layers": Field(integer(min_value=1, max_value=32), 5),
    "layer_types": Field(list_of(choice(*LAYER_TYPES), 1), ["conv", "dwsep", "pool"]),
    "channels": Field(limited_list("channels"), [4, 8, 16, 32, 64]),
    "kernels": Field(limited_list("kernel"), [3, 5, 7]),
    "strides": Field(limited_list("stride"), [1, 2]),
    "pool_kinds": Field(list_of(choice("max", "avg"), 1), ["max", "avg"]),
    "pool_sizes": Field(list_of(integer(min_value=2, max_value=256), 1), [2]),
    "reduce": Field(list_of(choice("avg", "flatten"), 1), ["avg", "flatten"]),
    "max_dense": Field(integer(min_value=0, max_value=8), 1),
    "units": Field(limited_list("units"), [16, 32, 64]),
    "precisions": PRECISIONS_FIELD,
}


# what a plain Arch's choices and each of its layers may hold
_CHOICE_KEYS = frozenset({"layers", "reduce", "dense"})
_LAYER_KEYS = {"conv": frozenset({"type", "channels", "kernel", "stride"}),
               "dwsep": frozenset({"type", "channels", "kernel", "stride"}),
               "pool": frozenset({"type", "kind", "size"})}
_ANY_LAYER_KEYS = frozenset().union(*_LAYER_KEYS.values())


class PlainSpace(SearchSpace):
    """Genes per layer slot ``l{i}_type`` (or ``none``), channels, kernel, stride, pool kind/size;
    ``reduce``; and ``d{j}_units`` (0: no layer) per dense slot."""

    name = "plain"

    def __init__(self, options: Mapping[str, Any], input_shape: tuple[int, int, int],
                 num_classes: int, source: str = "space") -> None:
        super().__init__(input_shape, num_classes)
        o = self.options = self.check_options(options, source)
        types = tuple(o["layer_types"])
        for i in range(o["max_layers"]):
            first = tuple(t for t in types if t != "pool") or types
            self.genes[f"l{i}_type"] = first if i == 0 else types + ("none",)
            self.genes[f"l{i}_channels"] = tuple(o["channels"])
            self.genes[f"l{i}_kernel"] = tuple(o["kernels"])
            self.genes[f"l{i}_stride"] = tuple(o["strides"])
            self.genes[f"l{i}_pool_kind"] = tuple(o["pool_kinds"])
            self.genes[f"l{i}_pool_size"] = tuple(o["pool_sizes"])
        self.genes["reduce"] = tuple(o["reduce"])
        for j in range(o["max_dense"]):
            self.genes[f"d{j}_units"] = tuple(o["units"]) + (0,)
        # layers with weights: two per dwsep layer, the dense layers and the classifier
        self.add_precision_genes(o["precisions"], 2 * o["max_layers"] + o["max_dense"] + 1)

    @staticmethod
    def check_options(options: Mapping[str, Any], source: str) -> dict:
        """The space's options validated (defaults filled), errors naming ``source``."""
        return validate(dict(options), OPTIONS_SCHEMA, source, "space")

    def reference_genomes(self) -> list[Genome]:
        """Plain stacks of up to three convolutions (a standard convolution where the space has
        one), channels growing as the resolution halves (stride 1, 2, 2), kernel 5 for 1-D signals
        and 3 for images, global average pooling and no dense layer: a narrow (8-16-24) and a wider
        (16-32-48) one, each channel count the nearest option.

        >>> space = PlainSpace({"channels": [8, 16, 24, 32, 48, 64]}, (1, 64, 3), 5)
        >>> [[(l["type"], l["channels"], l["kernel"], l["stride"]) for l in space.decode(g).choices["layers"]]
        ...  for g in space.reference_genomes()][1]
        [('conv', 16, 5, 1), ('conv', 32, 5, 2), ('conv', 48, 5, 2)]
        """
        kind = "conv" if "conv" in self.genes["l0_type"] else self.genes["l0_type"][0]
        depth = min(3, self.options["max_layers"])
        kernel = self.nearest("l0_kernel", 5 if self.input_shape[0] == 1 else 3)
        genomes = []
        for base in (8, 16):
            genome = {name: options[0] for name, options in self.genes.items()}
            for i in range(self.options["max_layers"]):
                if i < depth:
                    genome.update({f"l{i}_type": kind, f"l{i}_channels": self.nearest(f"l{i}_channels", base * (i + 1)),
                                   f"l{i}_kernel": kernel, f"l{i}_stride": self.nearest(f"l{i}_stride", 1 if i == 0 else 2)})
                else:
                    genome[f"l{i}_type"] = "none"
            genome["reduce"] = "avg" if "avg" in self.genes["reduce"] else genome["reduce"]
            genome.update({f"d{j}_units": 0 for j in range(self.options["max_dense"])})
            if genome not in genomes:
                genomes.append(genome)
        return genomes

    def decode(self, genome: Mapping[str, Any]) -> Arch:
        """Genome to Arch; genes of absent layers are dropped so equal networks get equal choices."""
        layers = []
        for i in range(self.options["max_layers"]):
            kind = genome[f"l{i}_type"]
            if kind == "pool":
                layers.append({"type": "pool", "kind": genome[f"l{i}_pool_kind"],
                               "size": genome[f"l{i}_pool_size"]})
            elif kind in ("conv", "dwsep"):
                layers.append({"type": kind, "channels": genome[f"l{i}_channels"],
                               "kernel": genome[f"l{i}_kernel"], "stride": genome[f"l{i}_stride"]})
        dense = [genome[f"d{j}_units"] for j in range(self.options["max_dense"]) if genome[f"d{j}_units"]]
        return self.with_precision(Arch(self.name, self.input_shape, self.num_classes,
                                        {"layers": layers, "reduce": genome["reduce"], "dense": dense},
                                        self.normalize), genome)

    @staticmethod
    def build(arch: Arch) -> LayerGraph:
        """The LayerGraph of a plain Arch."""
        ch = arch.choices
        known_keys(ch, _CHOICE_KEYS, "")
        b = GraphBuilder(arch.input_shape, "plain")
        t = b.input
        for i, layer in enumerate(get(ch, "layers", "", list)):
            where = f"layers[{i}]"
            kind = get(layer, "type", where, str)
            known_keys(layer, _LAYER_KEYS.get(kind, _ANY_LAYER_KEYS), where)
            if kind == "pool":
                t = b.pool(t, get(layer, "kind", where, str), positive_int(layer, "size", where))
            elif kind == "conv":
                t = b.conv(t, positive_int(layer, "channels", where), positive_int(layer, "kernel", where),
                           positive_int(layer, "stride", where), "relu")
            elif kind == "dwsep":
                t = b.depthwise(t, positive_int(layer, "kernel", where),
                                positive_int(layer, "stride", where), "relu")
                t = b.conv(t, positive_int(layer, "channels", where), 1, 1, "relu")
            else:
                raise ConfigError(f"arch choices: {where}.type: expected one of {LAYER_TYPES}, got {shown(kind)}")
        reduce = get(ch, "reduce", "", str)
        if reduce not in ("avg", "flatten"):
            raise ConfigError(f"arch choices: reduce: expected 'avg' or 'flatten', got {shown(reduce)}")
        t = b.mean(t) if reduce == "avg" else b.flatten(t)
        dense = ch.get("dense", [])
        if not isinstance(dense, list):
            raise ConfigError(f"arch choices: dense: expected a list of layer widths, got {shown(dense)}")
        lo, hi = LIMITS["units"]
        for j, units in enumerate(dense):
            if type(units) is not int or not lo <= units <= hi:
                raise ConfigError(f"arch choices: dense[{j}]: expected an integer in [{lo}, {hi}], got {shown(units)}")
            t = b.fully_connected(t, units, "relu")
        t = b.fully_connected(t, arch.num_classes)
        b.softmax(t)
        return b.finish()
