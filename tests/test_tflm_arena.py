"""The planned arena against TensorFlow Lite Micro's own: the TFLM runtime (host build) plans each
model and reports its non-persistent "head"; our replay of its planner must give the same bytes."""

import re

import numpy as np
import pytest

from tinyml_cli.arch import build_graph, make_space
from tinyml_cli.errors import ArchError
from tinyml_cli.estimate import estimate
from tinyml_cli.estimate.planner import planned_size
from tinyml_cli.mcu import budget_for, load_profile

runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
from tflite_fixture import write_int8_tflite  # noqa: E402

PROFILE = load_profile("STM32F746")


def tflm_head(data, capfd):
    """Bytes TFLM's GreedyMemoryPlanner gives the model's tensors (read from its allocation log)."""
    capfd.readouterr()
    runtime.Interpreter.from_bytes(data, arena_size=4 << 20).print_allocations()
    log = capfd.readouterr().err
    return int(re.search(r"Arena allocation head (\d+) bytes", log).group(1))


def sample(space_options, shape, rng, n):
    space = make_space(space_options, shape, 10)
    graphs = []
    while len(graphs) < n:
        try:
            graphs.append(build_graph(space.sample(rng)))
        except ArchError:
            continue
    return graphs


def aligned(n):
    return -(-int(n) // 16) * 16


def reference_kernel_buffers(graph):
    """(size, first, last) of every int8 activation tensor, from the graph alone, then the scratch
    buffers TFLM's reference kernels request: MEAN's int32 sums, 4-D index and axes."""
    n = len(graph.layers)
    out = []
    for t, shape in enumerate(graph.tensor_shapes):
        readers = [i for i, layer in enumerate(graph.layers) if t in layer.inputs]
        last = n - 1 if t == n else max(readers)
        out.append((aligned(np.prod(shape)), max(t - 1, 0), last))
    for i, layer in enumerate(graph.layers):
        if layer.op == "mean":
            out += [(aligned(4 * layer.output_shape[-1]), i, i), (16, i, i), (16, i, i)]
    return out


@pytest.mark.parametrize("name,shape", [("mbnet", (16, 16, 3)), ("mbnet", (1, 40, 1)), ("plain", (12, 12, 1)),
                                        ("plain", (1, 40, 1))])
def test_planner_matches_tflm_on_random_models(capfd, rng, name, shape):
    for graph in sample({"name": name}, shape, rng, 5):
        data = write_int8_tflite(graph, rng, float_ends=False)
        assert planned_size(reference_kernel_buffers(graph)) == tflm_head(data, capfd)


def test_estimated_arena_plan_is_tflms_without_kernel_scratch(capfd, rng):
    # 3x3 depthwise and 1x1 stride-1 convs need no CMSIS-NN scratch, so the whole plan compares
    options = {"name": "plain", "layer_types": ["dwsep", "pool"], "kernels": [3]}
    for graph in sample(options, (16, 16, 3), rng, 4):
        est = estimate(graph, PROFILE, budget_for(PROFILE))
        assert est.arena_planned == tflm_head(write_int8_tflite(graph, rng, float_ends=False), capfd)
