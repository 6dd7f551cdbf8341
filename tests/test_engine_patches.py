"""Patch-based execution (engine/patches.py) against TFLM-host and the layer-by-layer engine: random
int8 models of both search spaces run over 2 x 2 patches (the best split) and 3 x 3 (the first or
the last split) give outputs byte-identical to TFLM-host; the arena the library declares is the
one the estimator reports, and patches cut MobileNetV2's peak."""

import json
import tempfile
from math import prod
from pathlib import Path

import numpy as np
import pytest

from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.engine.codegen import generate
from tinyml_cli.engine.host import HostEngine
from tinyml_cli.engine.patches import CROP, PLACE, splits
from tinyml_cli.engine.size import arm_tools, library_size
from tinyml_cli.errors import EngineError
from tinyml_cli.estimate import estimate
from tinyml_cli.export.tflm_runner import run_tflm
from tinyml_cli.export.verify import arena_upper_bound
from tinyml_cli.mcu import budget_for, load_profile

from random_models import export_random, sample_graphs

SPACES = [({}, (16, 16, 3)), ({"name": "plain"}, (12, 12, 1)), ({}, (1, 48, 2)), ({"name": "plain"}, (1, 40, 3))]
PROFILE = load_profile("STM32F746")
MBV2 = Path(__file__).parent.parent / "configs" / "arch" / "mobilenetv2_0.35_96.yaml"


def run(lib, x):
    with tempfile.TemporaryDirectory() as tmp:
        return HostEngine.build(lib, Path(tmp)).run(x)


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(7)
    out = []
    for options, shape in SPACES:
        graph = sample_graphs(options, shape, rng, 1)[0]
        q, model = export_random(graph, rng)
        x = rng.integers(-128, 128, (3, *graph.input_shape), dtype=np.int8)
        out.append((q, x, run_tflm(model, x, arena_upper_bound(graph)).outputs.reshape(len(x), -1)))
    return out


def test_patches_are_bit_exact_with_tflm(models):
    patched_layers = 0
    for q, x, tflm in models:
        cuts = splits(q.graph)
        for patches, split in [(2, None), (3, cuts[-1] if len(q.graph.layers) % 2 else cuts[0])]:
            lib = generate(q, patches, split)
            ops = [layer.op for layer in lib.patched.graph.layers]
            assert PLACE in ops and lib.patched.split in cuts and (split is None or lib.patched.split == split)
            patched_layers += sum(step.source is not None and step.pad is not None for step in lib.patched.steps)
            assert np.array_equal(run(lib, x), tflm), (q.graph.name, patches, split)
            assert f"static int8_t tinyml_arena[{lib.arena_size}];" in lib.files["tinyml_model.c"]
            if CROP in ops:
                assert "#include \"tinyml_patch.h\"" in lib.files["tinyml_model.c"]
    assert patched_layers > 30


def _macs_as_run(graph) -> int:
    """MACs of every layer the library runs (each patch's, over its own region), by the textbook
    formulas from the weight and output shapes."""
    total = 0
    for layer in graph.layers:
        if layer.op in ("conv2d", "depthwise_conv2d"):
            kh, kw = layer.kernel
            in_c = graph.tensor_shape(layer.inputs[0])[-1]
            total += prod(layer.output_shape) * kh * kw * (in_c if layer.op == "conv2d" else 1)
        elif layer.op == "fully_connected":
            total += prod(layer.weight_shape)
    return total


def test_estimate_reports_the_librarys_arena_and_both_peaks(models):
    for q, _, _ in models:
        graph = q.graph
        io = prod(graph.output_shape)                        # the input lives in the arena
        est = estimate(graph, PROFILE, budget_for(PROFILE), runtime="c", patches=2)
        lib = generate(q, 2)
        assert est.arena_planned == lib.arena_size and est.peak_sram == lib.arena_size + io
        assert est.patches == {"patches": 2, "split": graph.layers[lib.patched.split].name,
                               "peak_sram": est.peak_sram, "peak_sram_per_layer": generate(q).arena_size + io,
                               "macs": _macs_as_run(lib.patched.graph)}
        assert est.patches["macs"] >= est.macs
        assert est.sram_lower_bound <= est.peak_sram


@pytest.mark.skipif(not arm_tools(), reason="arm-none-eabi-gcc not installed")
def test_patched_flash_matches_the_linked_library(models):
    for q, _, _ in models[:2]:
        est = estimate(q.graph, PROFILE, budget_for(PROFILE), runtime="c", patches=3)
        with tempfile.TemporaryDirectory() as tmp:
            size = library_size(generate(q, 3), "m7", Path(tmp))
        assert abs(est.flash_total - size.flash) <= 1024 + 0.01 * size.flash, (est.flash_total, size.flash)


def test_patches_cut_mobilenet_v2s_peak(cli):
    graph = build_graph(Arch.load(MBV2))
    per_layer = estimate(graph, PROFILE, budget_for(PROFILE), runtime="c")
    patched = estimate(graph, PROFILE, budget_for(PROFILE), runtime="c", patches=3)
    assert patched.patches["peak_sram_per_layer"] == per_layer.peak_sram
    assert patched.peak_sram < 0.5 * per_layer.peak_sram and patched.macs == per_layer.macs
    code, out, err = cli("estimate", MBV2, "--mcu", "STM32F746", "--runtime", "c", "--patches", "3", "--json")
    assert code == 0 and json.loads(out)["peak_sram"] == patched.peak_sram
    code, out, err = cli("estimate", MBV2, "--runtime", "c", "--patches", "3", "engine.split=mean_62")
    assert code == 2 and "engine.split" in err and "mean_62" in err and "Traceback" not in err


def test_a_graph_that_cannot_be_split():
    from tinyml_cli.arch.graph import GraphBuilder
    b = GraphBuilder((4, 4, 1)); _ = b.fully_connected(b.flatten(b.input), 2)
    graph = b.finish()
    with pytest.raises(EngineError, match="patch by patch"):
        estimate(graph, PROFILE, budget_for(PROFILE), runtime="c", patches=2)
