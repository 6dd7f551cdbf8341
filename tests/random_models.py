"""Random models for tests: sampled graphs, and random-weight int8 models of any LayerGraph through
the real quantizer and .tflite writer, for tests that need a valid file rather than a trained
network."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from tinyml_cli.arch import build_graph, make_space, sample_buildable
from tinyml_cli.arch.graph import LayerGraph
from tinyml_cli.export.quantize import WEIGHT_OPS, FoldedModule, QuantizedModel, quantize, weight_axis
from tinyml_cli.export.tflite_writer import write_tflite


def sample_graphs(options: Mapping[str, Any], shape: tuple[int, ...], rng: np.random.Generator,
                  n: int) -> list[LayerGraph]:
    """The graphs of ``n`` buildable random architectures of a 10-class space (``options``)."""
    return [build_graph(arch) for arch in sample_buildable(make_space(options, shape, 10), rng, n)]


def random_folded(graph: LayerGraph, rng: np.random.Generator) -> FoldedModule:
    """Random float weights in TFLite layouts, with channel scales spread over a decade."""
    weights = {}
    for i, layer in enumerate(graph.layers):
        if layer.op in WEIGHT_OPS:
            w = rng.normal(size=layer.weight_shape)
            axis = weight_axis(layer.op)
            shape = [1] * w.ndim
            shape[axis] = -1
            w = w * rng.uniform(0.05, 0.5, size=w.shape[axis]).reshape(shape)
            weights[i] = (w, rng.normal(scale=0.2, size=layer.output_shape[-1]))
    return FoldedModule(graph, weights)


def export_random(graph: LayerGraph, rng: np.random.Generator,
                  float_io: bool = False) -> tuple[QuantizedModel, bytes]:
    """Random weights calibrated on random inputs, quantized and written (float32 ends if asked)."""
    folded = random_folded(graph, rng)
    calib = rng.normal(size=(32, *graph.input_shape)).astype(np.float32)
    q = quantize(folded, calib)
    return q, write_tflite(q, float_io=float_io)
