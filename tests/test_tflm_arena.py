"""The planned arena against TensorFlow Lite Micro's own: the TFLM runtime (host build) plans each
model and reports its non-persistent "head"; our replay of its planner must give the same bytes."""

import re

import numpy as np
import pytest

from tinyml_cli.estimate import estimate
from tinyml_cli.estimate.planner import planned_size
from tinyml_cli.mcu import budget_for, load_profile

runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
from random_models import export_random, sample_graphs  # noqa: E402

PROFILE = load_profile("STM32F746")


def tflm_arena(data, capfd):
    """TFLM's arena split (read from its allocation log): 'head' is what its GreedyMemoryPlanner
    gives the tensors and scratch buffers, 'tail' the persistent allocations."""
    capfd.readouterr()
    runtime.Interpreter.from_bytes(data, arena_size=4 << 20).print_allocations()
    log = capfd.readouterr().err
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"allocation (head|tail) (\d+) bytes", log)}


def tflm_head(data, capfd):
    return tflm_arena(data, capfd)["head"]


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
    for graph in sample_graphs({"name": name}, shape, rng, 5):
        data = export_random(graph, rng)[1]
        assert planned_size(reference_kernel_buffers(graph)) == tflm_head(data, capfd)


def test_estimated_arena_plan_is_tflms_on_the_host_runtime(capfd, rng):
    # the host runtime is the reference kernels TFLM runs here: the whole plan compares byte for byte;
    # on an MCU, CMSIS-NN's average pool adds its int32-per-channel buffer and nothing else here does
    options = {"name": "plain", "layer_types": ["dwsep", "pool"], "kernels": [3]}
    for graph in sample_graphs(options, (16, 16, 3), rng, 4):
        host = estimate(graph, PROFILE, budget_for(PROFILE), build="host")
        assert host.arena_planned == tflm_head(export_random(graph, rng)[1], capfd)
        mcu = estimate(graph, PROFILE, budget_for(PROFILE))
        pools = [aligned(4 * layer.output_shape[-1]) for layer in graph.layers if layer.op == "avg_pool"]
        assert host.arena_planned <= mcu.arena_planned <= host.arena_planned + max(pools, default=0)


def test_persistent_part_is_tflms_on_a_32_bit_target(capfd, rng):
    # The host runtime is 64-bit: its tensor and node structs hold 8-byte pointers where an MCU has
    # 4-byte ones, while the per-channel multipliers and shifts (most of the tail) are int32 on both.
    # So the 32-bit estimate sits a little below the host's tail, never above it.
    for graph in sample_graphs({"name": "mbnet"}, (32, 32, 3), rng, 3):
        est = estimate(graph, PROFILE, budget_for(PROFILE))
        tail = tflm_arena(export_random(graph, rng)[1], capfd)["tail"]
        assert 0.8 * tail <= est.arena_persistent <= tail


def test_float_ends_of_a_tflite_are_planned_like_tflm(capfd, rng, tmp_path):
    # converter-made models take float32 in and out through QUANTIZE / DEQUANTIZE: those tensors and
    # steps are in TFLM's plan, and so in the estimate of the .tflite (on the host runtime TFLM runs
    # here: an MCU's CMSIS-NN average pool would add a scratch buffer)
    from tinyml_cli.estimate.file import estimate_file
    from tinyml_cli.tflite.model import read_model

    options = {"name": "plain", "layer_types": ["dwsep", "pool"], "kernels": [3]}
    grew = []
    for graph in sample_graphs(options, (16, 16, 3), rng, 4):
        data = export_random(graph, rng, float_io=True)[1]
        (tmp_path / "m.tflite").write_bytes(data)
        est = estimate_file(read_model(tmp_path / "m.tflite"), PROFILE, budget_for(PROFILE), build="host")
        assert est.arena_planned == tflm_head(data, capfd)
        grew.append(est.arena_planned > estimate(graph, PROFILE, budget_for(PROFILE), build="host").arena_planned)
    assert any(grew)                                   # the float input often sets the peak


def smallest_working_arena(data, lo, hi):
    """The least arena_size the TFLM runtime accepts for the model (bisection)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            runtime.Interpreter.from_bytes(data, arena_size=mid).invoke()
            hi = mid
        except RuntimeError:
            lo = mid
    return hi


@pytest.mark.parametrize("units,layers", [(4, 30), (512, 1)])
def test_non_persistent_area_is_what_tflm_needs_beyond_its_tail(capfd, rng, monkeypatch, units, layers):
    # Many tiny tensors: planning needs more room than the plan. The AllocationInfo records hold
    # pointers, 32 bytes on this 64-bit host, so the host's size is patched in for this comparison.
    from tinyml_cli.arch.graph import GraphBuilder
    from tinyml_cli.estimate import constants

    monkeypatch.setattr(constants, "ALLOCATION_INFO_BYTES", 32)
    b = GraphBuilder((units,))
    t = b.input
    for _ in range(layers):
        t = b.fully_connected(t, units)
    graph = b.finish()
    data = export_random(graph, rng)[1]
    arena = tflm_arena(data, capfd)
    needed = smallest_working_arena(data, arena["tail"], arena["head"] + arena["tail"] + 65536)
    capfd.readouterr()
    est = estimate(graph, PROFILE, budget_for(PROFILE))
    assert abs((needed - arena["tail"]) - (est.peak_sram - est.arena_persistent)) <= 16
