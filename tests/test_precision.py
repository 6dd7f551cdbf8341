"""Per-layer precision (int4 weights, 16x8 activations) against the runtime that runs it.

The oracles: TensorFlow Lite Micro's interpreter (which combinations it runs, its arena plan read
from ``print_allocations``), the written file's own buffers, LiteRT's interpreter, and the
fake-quantized float model the exporter quantized.
"""

from dataclasses import replace

import numpy as np
import pytest

from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.arch.graph import GraphBuilder
from tinyml_cli.errors import ArchError
from tinyml_cli.estimate import estimate
from tinyml_cli.export.quantize import folded_logits, quantize
from tinyml_cli.export.tflite_writer import write_tflite
from tinyml_cli.export.tflm_runner import required_arena
from tinyml_cli.export.verify import quantize_input, run_litert
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.ops import LAYER_OPS
from tinyml_cli.ops.precision import CODES, apply_precision, offered, weight_layers
from tinyml_cli.tflite.model import read_model

runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
from random_models import random_folded, sample_graphs  # noqa: E402
from test_export_pipeline import digits, trained  # noqa: E402,F401
from test_tflm_arena import tflm_arena  # noqa: E402

PROFILE = load_profile("STM32F746")


LAYERS = {"conv2d": lambda b: b.conv(b.input, 5, 3), "depthwise_conv2d": lambda b: b.depthwise(b.input, 3),
          "fully_connected": lambda b: b.fully_connected(b.flatten(b.input), 5)}


def one_layer(op):
    b = GraphBuilder((5, 5, 3))
    LAYERS[op](b)
    return b.finish()


def export(graph, rng, samples=8):
    q = quantize(random_folded(graph, rng), rng.normal(size=(samples, *graph.input_shape)).astype(np.float32))
    return q, write_tflite(q)


@pytest.mark.parametrize("op", ["conv2d", "depthwise_conv2d", "fully_connected"])
def test_offered_precisions_are_exactly_what_tflm_runs(op, rng):
    # every (weights, activations) pair written into a file: TFLM runs it iff the op table offers it
    graph = one_layer(op)
    layer = weight_layers(graph)[0]
    for code, pair in CODES.items():
        types = tuple(pair if i == layer else ("int8", pair[1]) for i in range(len(graph.layers)))
        data = export(replace(graph, precision=types), rng)[1]
        try:
            runtime.Interpreter.from_bytes(data, arena_size=1 << 20).invoke()
            runs = True
        except RuntimeError:
            runs = False
        assert runs == (code in offered(op)), code
    assert (None, "int16") in LAYER_OPS["mean"].precisions and offered("mean") == ()


def mixed_graphs(rng):
    graphs = []
    for options, shape in (({"name": "mbnet"}, (16, 16, 3)), ({"name": "plain"}, (1, 40, 1)),
                           ({"name": "plain", "layer_types": ["dwsep", "pool"], "kernels": [3]}, (12, 12, 1))):
        for graph in sample_graphs(options, shape, rng, 2):
            codes = [str(rng.choice(offered(graph.layers[i].op))) for i in weight_layers(graph)]
            graphs.append(apply_precision(graph, codes))
    return graphs


def test_estimated_bytes_of_mixed_precision_are_the_files_and_tflms(rng, capfd, tmp_path):
    # the arena plan byte for byte; peak SRAM within 3% of the smallest arena TFLM accepts and the
    # flash the int8 estimate's error plus at most 1% (the tolerances of the int8 tests)
    for graph in mixed_graphs(rng):
        q, data = export(graph, rng)
        est = estimate(graph, PROFILE, budget_for(PROFILE), build="host")
        arena = tflm_arena(data, capfd)
        assert est.arena_planned == arena["head"]                      # int16 tensors, conversions, int4 scratch
        assert abs(est.peak_sram / required_arena(data, arena["head"] + arena["tail"] - 4096) - 1) <= 0.03
        int8 = replace(graph, precision=())
        int8_est, int8_data = estimate(int8, PROFILE, budget_for(PROFILE), build="host"), export(int8, rng)[1]
        assert abs((est.flash_model - int8_est.flash_model) - (len(data) - len(int8_data))) <= 0.01 * len(int8_data)
        (tmp_path / "m.tflite").write_bytes(data)
        tensors = {t.name: t for t in read_model(tmp_path / "m.tflite").subgraphs[0].tensors}
        for i, layer in enumerate(graph.layers):
            if not layer.weight_shape:
                continue
            wtype, act = graph.layer_types(i)
            weights, bias = tensors[f"{layer.name}/weights"], tensors[f"{layer.name}/bias"]
            assert weights.dtype == wtype and bias.dtype == ("int64" if act == "int16" else "int32")
            assert weights.nbytes == (-(-layer.weight_count // 2) if wtype == "int4" else layer.weight_count)
            assert bias.nbytes == layer.bias_count * (8 if act == "int16" else 4)
        mcu = estimate(graph, PROFILE, budget_for(PROFILE))
        assert mcu.flash_model == est.flash_model and mcu.macs == est.macs


def test_int4_and_int16_change_the_estimate_as_their_bytes_do():
    b = GraphBuilder((16, 16, 8))
    t = b.conv(b.input, 16, 3)
    t = b.conv(t, 16, 3)
    _ = b.fully_connected(b.mean(t), 4)
    graph = b.finish()
    base = estimate(graph, PROFILE, budget_for(PROFILE), build="host")
    w4 = estimate(apply_precision(graph, ["w4a8", "w4a8", "w4a8"]), PROFILE, budget_for(PROFILE), build="host")
    weights = sum(layer.weight_count for layer in graph.layers)
    assert base.flash_model - w4.flash_model == weights - sum(-(-layer.weight_count // 2) for layer in graph.layers)
    a16 = estimate(apply_precision(graph, ["w8a16", "w8a16", "w8a16"]), PROFILE, budget_for(PROFILE), build="host")
    assert a16.flash_model - base.flash_model >= 4 * (16 + 16 + 4)   # int64 biases (plus one QUANTIZE)
    assert a16.arena_planned > 1.9 * base.arena_planned


def test_mixed_model_agrees_with_litert_and_its_fake_quant_model(rng):
    b = GraphBuilder((8, 8, 2))
    t = b.conv(b.input, 6, 3, activation="relu")
    t = b.depthwise(t, 3, activation="relu")
    t = b.conv(t, 8, 1, activation="relu")
    t = b.fully_connected(b.mean(t), 5)
    _ = b.softmax(t)
    graph = apply_precision(b.finish(), ["w8a16", "w4a8", "w4a8", "w8a16"])
    x = rng.normal(size=(16, 8, 8, 2)).astype(np.float32)
    folded = random_folded(graph, rng)
    q = quantize(folded, x)
    data = write_tflite(q)
    assert all(np.abs(layer.weight).max() <= 7 for i, layer in enumerate(q.layers)
               if layer is not None and graph.layer_types(i)[0] == "int4")
    xq = quantize_input(x, q.tensors[0])
    interpreter = runtime.Interpreter.from_bytes(data, arena_size=1 << 20)
    tflm = []
    for sample in xq:
        interpreter.set_input(sample[None], 0)
        interpreter.invoke()
        tflm.append(interpreter.get_output(0)[0].astype(int))
    tflm = np.array(tflm)
    assert np.abs(tflm - run_litert(data, xq).astype(int)).max() <= 1
    out = q.conversions[len(graph.layers), "int8"]                   # the int16 softmax requantized to int8
    probs = (tflm - out.zero_point) * out.scale
    logits = folded_logits(folded, x)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.abs(probs - expected).max() <= 3 * out.scale + 0.02


def test_arch_precision_round_trips_and_is_checked(tmp_path):
    arch = Arch("plain", (1, 40, 1), 4, {"layers": [{"type": "conv", "channels": 8, "kernel": 5, "stride": 2}],
                                          "reduce": "avg", "dense": []}, precision=("w4a8", "w8a16"))
    path = tmp_path / "arch.yaml"
    path.write_text(arch.to_yaml())
    again = Arch.load(path)
    assert again == arch and again.key() != replace(arch, precision=()).key()
    graph = build_graph(again)
    assert [graph.layer_types(i) for i in weight_layers(graph)] == [("int4", "int8"), ("int8", "int16")]
    assert build_graph(replace(arch, precision=())).precision == ()
    with pytest.raises(ArchError, match=r"precision\[1\]: .*cannot run with 'w4a16' in TFLM"):
        build_graph(replace(arch, precision=("w8a8", "w4a16")))
    with pytest.raises(ArchError, match="expected 2 codes"):
        build_graph(replace(arch, precision=("w8a8",)))
    with pytest.raises(ArchError, match="unknown code 'int3'"):
        build_graph(replace(arch, precision=("int3", "w8a8")))


def test_export_command_writes_and_verifies_a_mixed_precision_candidate(trained, tmp_path, cli):
    # ARCH's weight layers: conv, depthwise, pointwise, two dense: int4 and 16x8 mixed, end to end
    import json

    from test_export_pipeline import ARCH

    from tinyml_cli.train.checkpoint import save_candidate

    arch = replace(ARCH, precision=("w8a16", "w4a8", "w8a16", "w4a8", "w8a8"))
    folder = save_candidate(tmp_path / "cand", arch, trained)
    code, stdout, err = cli("export", folder / "arch.yaml", "--weights", folder / "weights.pt", "--data", "digits",
                            "--out", tmp_path / "out", "--json", "-q")
    assert code == 0, err
    doc = json.loads(stdout)["exports"][0]
    assert doc["verify"]["tflm_accuracy"] > 0.85
    ratios = doc["verify"]["estimate"]
    assert 0.95 <= ratios["sram_ratio"] <= 1.05 and 0.98 <= ratios["flash_ratio"] <= 1.02
    types = {t.dtype for t in read_model(tmp_path / "out" / "model.tflite").subgraphs[0].tensors}
    assert {"int4", "int16", "int64"} <= types
    code, _, err = cli("export", folder / "arch.yaml", "--weights", folder / "weights.pt", "--data", "digits",
                       "--out", tmp_path / "out_c", "--runtime", "c", "-q")
    assert code != 0 and "per-layer precision" in err and "Traceback" not in err


def test_fake_quant_simulates_int4_weights_and_int16_tensors(rng):
    # what QAT trains through: int4 weights on a 15-level grid per channel, int16 tensors on a
    # symmetric grid finer than int8's (more than 256 levels), int8 tensors on 256
    import torch

    b = GraphBuilder((8, 8, 2))
    t = b.conv(b.input, 6, 3)
    t = b.conv(t, 6, 3)
    _ = b.fully_connected(b.mean(t), 4)
    graph = apply_precision(b.finish(), ["w4a8", "w8a16", "w8a8"])
    x = rng.normal(size=(64, 8, 8, 2)).astype(np.float32)
    folded = random_folded(graph, rng)
    quantize(folded, x)
    w, _ = folded._layer_params(0, graph.layers[0])
    w = w.detach().numpy()
    for channel in w:
        levels = np.unique(channel)
        step = np.abs(channel).max() / 7
        assert len(levels) <= 15 and np.allclose(levels / step, np.round(levels / step), atol=1e-4)
    with torch.no_grad():
        tensors = folded.tensors(torch.from_numpy(x))
    for t, dtype in enumerate(graph.tensor_types):
        q = folded.qparams[t]
        grid = tensors[t].numpy() / q.scale + q.zero_point
        assert np.allclose(grid, np.round(grid), atol=1e-3)
        if dtype == "int16":
            assert q.zero_point == 0 and np.abs(grid).max() <= 32767 and len(np.unique(np.round(grid))) > 256
        else:
            assert grid.min() >= -128 and grid.max() <= 127
