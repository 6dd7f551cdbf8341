"""The C engine against TFLM-host: random int8 models of both search spaces, generated as C,
compiled with the host C compiler (-std=c99 -Wall -Wextra -Werror -O2) and run through ctypes on
random int8 inputs, must give outputs byte-identical to TensorFlow Lite Micro's; the static arena
is the planner's; the code compiles warning-free for a Cortex-M4 (and M0+, M7)."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from tinyml_cli.arch.graph import GraphBuilder, LayerGraph
from tinyml_cli.engine.codegen import generate
from tinyml_cli.engine.host import HostEngine, write_library
from tinyml_cli.engine.planner import MemoryPlan, buffers, engine_in_place, plan_memory
from tinyml_cli.errors import EngineError
from tinyml_cli.export.quantize import SOFTMAX_OUTPUT, QParams, QuantizedModel
from tinyml_cli.export.tflite_writer import write_tflite
from tinyml_cli.export.tflm_runner import run_tflm

from random_models import export_random, sample_graphs



KERNEL_SCRATCH = engine_in_place                  # what the generator tells the planner

ARM_FLAGS = ["-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c"]
CORTEX_M = ("cortex-m4", "cortex-m0plus", "cortex-m7")
SPACES = [("mbnet", (16, 16, 3)), ("mbnet", (1, 48, 2)), ("plain", (12, 12, 1)), ("plain", (1, 40, 3))]
MODELS_PER_SPACE = 4
INPUTS_PER_MODEL = 4
ALL_OPS = {"conv2d", "depthwise_conv2d", "fully_connected", "add", "avg_pool", "max_pool", "mean", "reshape",
           "softmax"}


def static_arena(source):
    """The bytes of the generated static arena (0: the model has none)."""
    found = re.search(r"static int8_t tinyml_arena\[(\d+)\];", source)
    return int(found.group(1)) if found else 0


def random_models():
    """Whole random models, and each one cut after a random layer (so that every kind of layer's
    output is compared directly, not only through the final softmax)."""
    rng = np.random.default_rng(14)
    for name, shape in SPACES:
        for graph in sample_graphs({"name": name}, shape, rng, MODELS_PER_SPACE):
            yield name, graph, rng
            cut = int(rng.integers(1, len(graph.layers)))
            yield name, LayerGraph(graph.input_shape, graph.layers[:cut], graph.name), rng


def test_engine_is_bit_exact_with_tflm_on_random_models(tmp_path):
    covered, ends, in_place = set(), set(), 0
    for k, (space, graph, rng) in enumerate(random_models()):
        q, model = export_random(graph, rng)
        lib = generate(q)
        engine = HostEngine.build(lib, tmp_path / f"m{k}")
        assert static_arena(lib.files["tinyml_model.c"]) == lib.arena_size == lib.plan.size
        inputs = rng.integers(-128, 128, size=(INPUTS_PER_MODEL, *graph.input_shape), dtype=np.int8)
        tflm = run_tflm(model, inputs, 1 << 22)
        ours = engine.run(inputs)
        in_place += "_in_place(" in lib.files["tinyml_model.c"]
        assert np.array_equal(ours, tflm.outputs.reshape(len(inputs), -1)), (space, k, [l.op for l in graph.layers])
        covered |= {layer.op for layer in graph.layers}
        ends.add(graph.layers[-1].op)
    assert covered == ALL_OPS
    assert len(ends) >= 6, ends
    assert in_place >= 4                                    # depthwise convolutions run in place


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_generated_c_compiles_for_cortex_m_without_warnings(tmp_path):
    rng = np.random.default_rng(3)
    for k, graph in enumerate(sample_graphs({"name": "mbnet"}, (16, 16, 3), rng, 1)
                              + sample_graphs({"name": "plain"}, (1, 40, 1), rng, 1)):
        for source in write_library(generate(export_random(graph, rng)[0]), tmp_path / f"m{k}"):
            for cpu in CORTEX_M:
                subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", *ARM_FLAGS, "-o",
                                source.with_suffix(f".{cpu}.o"), source], check=True, capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang not installed")
def test_generated_c_compiles_with_clang_without_warnings(tmp_path):
    rng = np.random.default_rng(4)
    graph = sample_graphs({"name": "mbnet"}, (16, 16, 3), rng, 1)[0]
    for source in write_library(generate(export_random(graph, rng)[0]), tmp_path):
        subprocess.run(["clang", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-c", "-o", source.with_suffix(".o"),
                        source], check=True, capture_output=True, text=True)


def test_planner_overlaps_only_tensors_never_alive_together(rng):
    for name, shape in SPACES:
        for graph in sample_graphs({"name": name}, shape, rng, 3):
            plan = plan_memory(graph, KERNEL_SCRATCH)
            bufs = buffers(graph, KERNEL_SCRATCH, plan.in_place)
            start = {id(b): plan.scratch[b.scratch_of] if b.scratch_of is not None else plan.offsets[b.tensors[0]]
                     for b in bufs}
            for a in bufs:
                for b in bufs:
                    if a is b or a.last < b.first or b.last < a.first:
                        continue
                    assert start[id(a)] + a.size <= start[id(b)] or start[id(b)] + b.size <= start[id(a)]
            assert plan.size == max((start[id(b)] + b.size for b in bufs), default=0)
            assert plan.size <= plan_memory(graph, lambda layer, shape: None).size


def test_in_place_layers_share_their_input_buffer():
    b = GraphBuilder((8, 8, 4))
    x = b.conv(b.input, 4, 3)
    y = b.pool(x, "max", 2)
    _ = b.fully_connected(b.flatten(y), 3)
    plan = plan_memory(b.finish(), KERNEL_SCRATCH)
    assert plan == MemoryPlan({1: 0, 2: 0, 3: 0}, {}, 256, "largest first", frozenset({1, 2}))


def test_depthwise_works_in_place_with_one_channel_of_scratch():
    b = GraphBuilder((8, 8, 16))
    x = b.conv(b.input, 32, 1)                           # 8x8x32: 2048 bytes
    y = b.depthwise(x, 3, stride=2)                      # 4x4x32 over it, 64 bytes of scratch
    _ = b.conv(y, 8, 1)
    plan = plan_memory(b.finish(), KERNEL_SCRATCH)
    assert plan.offsets == {1: 0, 2: 0} and plan.scratch == {1: 2048} and plan.size == 2048 + 64


def test_normalizing_models_are_refused(rng):
    graph = sample_graphs({"name": "plain"}, (1, 40, 1), rng, 1)[0]
    q = export_random(graph, rng)[0]
    q.graph = type(q.graph)(q.graph.input_shape, q.graph.layers, normalize="standardize")
    with pytest.raises(EngineError, match="int8 inputs"):
        generate(q)


@pytest.mark.parametrize("scale", [0.004, 0.03, 0.1, 0.35, 1.7])
def test_softmax_is_bit_exact_over_input_scales(tmp_path, rng, scale):
    """SOFTMAX alone (behind a flatten), over many inputs: random models' logits often saturate
    it, so its fixed-point exp, sum and reciprocal are checked here across the whole range."""
    b = GraphBuilder((1, 1, 40))
    _ = b.softmax(b.flatten(b.input))
    graph = b.finish()
    zero_point = int(rng.integers(-20, 20))
    q = QuantizedModel(graph, [QParams(scale, zero_point)] * 2 + [QParams(*SOFTMAX_OUTPUT)], [None, None])
    inputs = rng.integers(-128, 128, size=(64, 1, 1, 40), dtype=np.int8)
    inputs[:16] //= 8                                       # narrow rows: many classes share the mass
    expected = run_tflm(write_tflite(q), inputs, 1 << 20).outputs.reshape(len(inputs), -1)
    ours = HostEngine.build(generate(q), tmp_path).run(inputs)
    assert np.array_equal(ours, expected)
    assert len(np.unique(expected)) >= 8
