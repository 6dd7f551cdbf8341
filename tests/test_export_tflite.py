"""The .tflite writer against an independent numpy int8 reference, LiteRT and TFLM."""

from __future__ import annotations

import numpy as np
import pytest
import tflite

from int8_reference import run_model
from random_models import export_random
from tinyml_cli.arch import Arch, build_graph, make_space
from tinyml_cli.arch.graph import GraphBuilder, LayerGraph
from tinyml_cli.errors import ArchError, TinymlError
from tinyml_cli.estimate import estimate
from tinyml_cli.export.quantize import QuantizedModel
from tinyml_cli.tflite.ir import load_graph as load_tflite
from tinyml_cli.export.tflite_writer import check_writable, write_tflite
from tinyml_cli.ops import LAYER_OPS
from tinyml_cli.export.tflm_runner import required_arena, run_tflm
from tinyml_cli.export.verify import arena_upper_bound, quantize_input, run_litert
from tinyml_cli.mcu import budget_for, load_profile


def single_op_graphs() -> dict[str, LayerGraph]:
    """One small graph per op kind (and per padding / 1-D variant)."""
    graphs = {}
    b = GraphBuilder((7, 9, 3)); b.conv(b.input, 5, 3, stride=2, activation="relu6")
    graphs["conv2d_same_s2_relu6"] = b.finish()
    b = GraphBuilder((6, 6, 2)); b.conv(b.input, 4, 3, activation="relu", padding="valid")
    graphs["conv2d_valid_relu"] = b.finish()
    b = GraphBuilder((1, 20, 3)); b.conv(b.input, 4, 5, stride=2)
    graphs["conv2d_1d"] = b.finish()
    b = GraphBuilder((6, 7, 4)); b.depthwise(b.input, 3, activation="relu")
    graphs["depthwise_conv2d"] = b.finish()
    b = GraphBuilder((9, 9, 3)); b.depthwise(b.input, 5, stride=2, activation="relu6")
    graphs["depthwise_conv2d_s2_relu6"] = b.finish()
    b = GraphBuilder((12,)); b.fully_connected(b.input, 7, "relu")
    graphs["fully_connected"] = b.finish()
    b = GraphBuilder((5, 5, 3)); t = b.conv(b.input, 3, 3); b.add(b.input, t)
    graphs["add"] = b.finish()
    b = GraphBuilder((5, 5, 3)); t = b.conv(b.input, 3, 1); b.add(t, b.input, "relu")
    graphs["add_relu"] = b.finish()
    b = GraphBuilder((8, 6, 3)); b.pool(b.input, "avg", 2)
    graphs["avg_pool"] = b.finish()
    b = GraphBuilder((1, 12, 2)); b.pool(b.input, "avg", 3)
    graphs["avg_pool_1d"] = b.finish()
    b = GraphBuilder((7, 6, 3)); b.pool(b.input, "max", 2)
    graphs["max_pool"] = b.finish()
    b = GraphBuilder((4, 5, 3)); b.mean(b.input)
    graphs["mean"] = b.finish()
    b = GraphBuilder((3, 4, 2)); b.flatten(b.input)
    graphs["reshape"] = b.finish()
    b = GraphBuilder((10,)); b.softmax(b.input)
    graphs["softmax"] = b.finish()
    return graphs


def test_every_ir_op_has_a_single_op_graph():
    covered = {layer.op for g in single_op_graphs().values() for layer in g.layers}
    assert covered == set(LAYER_OPS)


@pytest.mark.parametrize("name", list(single_op_graphs()))
def test_op_round_trips_through_litert_equal_to_numpy_reference(name, rng):
    graph = single_op_graphs()[name]
    q, model = export_random(graph, rng)
    x = rng.integers(-128, 128, size=(6, *graph.input_shape)).astype(np.int8)
    got = run_litert(model, x)
    want = np.stack([run_model(q, xi, "litert") for xi in x]).reshape(got.shape)
    # Exact for every integer kernel; SOFTMAX's reference is float (TFLite uses a fixed-point exp).
    tolerance = 1 if name == "softmax" else 0
    assert np.abs(got.astype(int) - want.astype(int)).max() <= tolerance
    assert len(np.unique(got)) > 1  # not a constant output


def test_file_carries_int8_io_operator_versions_and_description(rng):
    b = GraphBuilder((6, 6, 1)); t = b.conv(b.input, 4, 3); t = b.mean(t)
    t = b.fully_connected(t, 3); b.softmax(t)
    graph = b.finish()
    q, model = export_random(graph, rng)
    m = tflite.Model.GetRootAs(model, 0)
    sub = m.Subgraphs(0)
    assert m.Version() == 3 and b"tinyml" in m.Description()
    for index in (sub.Inputs(0), sub.Outputs(0)):
        assert sub.Tensors(index).Type() == tflite.TensorType.INT8
    codes = {m.OperatorCodes(i).BuiltinCode(): m.OperatorCodes(i).Version()
             for i in range(m.OperatorCodesLength())}
    assert codes == {tflite.BuiltinOperator.CONV_2D: 3, tflite.BuiltinOperator.MEAN: 2,
                     tflite.BuiltinOperator.FULLY_CONNECTED: 4, tflite.BuiltinOperator.SOFTMAX: 2}
    weights = sub.Tensors(sub.Operators(0).Inputs(1)).Quantization()
    assert weights.ScaleLength() == 4 and weights.QuantizedDimension() == 0
    assert not weights.ZeroPointAsNumpy().any()
    out = sub.Tensors(sub.Outputs(0)).Quantization()
    assert out.Scale(0) == 1 / 256 and out.ZeroPoint(0) == -128


def test_float_io_wraps_the_int8_model_in_quantize_and_dequantize(rng):
    """With float_io the file takes and gives float32 (as a converter-made model does): LiteRT's own
    QUANTIZE / DEQUANTIZE around the int8 layers give the int8 file's outputs, dequantized."""
    b = GraphBuilder((6, 6, 2)); t = b.conv(b.input, 4, 3, activation="relu"); t = b.mean(t)
    b.fully_connected(t, 3)
    graph = b.finish()
    q, _ = export_random(graph, rng)
    model = write_tflite(q, float_io=True)
    m = tflite.Model.GetRootAs(model, 0)
    sub = m.Subgraphs(0)
    for index in (sub.Inputs(0), sub.Outputs(0)):
        assert sub.Tensors(index).Type() == tflite.TensorType.FLOAT32
    codes = [m.OperatorCodes(sub.Operators(i).OpcodeIndex()).BuiltinCode()
             for i in range(sub.OperatorsLength())]
    assert codes == [tflite.BuiltinOperator.QUANTIZE, tflite.BuiltinOperator.CONV_2D,
                     tflite.BuiltinOperator.MEAN, tflite.BuiltinOperator.FULLY_CONNECTED,
                     tflite.BuiltinOperator.DEQUANTIZE]
    assert {m.OperatorCodes(i).BuiltinCode(): m.OperatorCodes(i).Version()
            for i in range(m.OperatorCodesLength())}[tflite.BuiltinOperator.DEQUANTIZE] == 2
    x = rng.normal(size=(5, *graph.input_shape)).astype(np.float32)
    got = run_litert(model, x)
    int8 = run_litert(write_tflite(q), quantize_input(x, q.tensors[0]))
    out = q.tensors[-1]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, out.scale * (int8.astype(np.float32) - out.zero_point), rtol=1e-6)
    assert len(np.unique(int8)) > 1


def test_constant_buffers_are_16_byte_aligned(rng):
    q, model = export_random(single_op_graphs()["depthwise_conv2d"], rng)
    m = tflite.Model.GetRootAs(model, 0)
    for i in range(1, m.BuffersLength()):
        buf = m.Buffers(i)
        if buf.DataLength():
            start = buf._tab.Vector(buf._tab.Offset(4))
            assert start % 16 == 0


def test_an_op_the_writer_cannot_express_is_a_clear_error():
    b = GraphBuilder((4, 4, 2)); b.pool(b.input, "max", 2)
    graph = b.finish()
    bad = graph.layers[0].__class__(**{**{f: getattr(graph.layers[0], f)
                                          for f in graph.layers[0].__dataclass_fields__},
                                       "op": "resize"})
    with pytest.raises(ArchError, match="op 'resize' cannot be written"):
        check_writable(LayerGraph(graph.input_shape, (bad,)))


def _random_graphs(rng: np.random.Generator) -> list[LayerGraph]:
    mb = make_space({"widths": [0.25], "head_channels": 32,
                     "stages": [{"channels": 8, "depth": 1, "stride": 1},
                                {"channels": 16, "depth": 2, "stride": 2}]}, (12, 12, 1), 4)
    plain = make_space({"name": "plain", "max_layers": 3, "channels": [4, 8]}, (1, 24, 2), 5)
    return ([build_graph(mb.sample(rng)) for _ in range(2)]
            + [build_graph(plain.sample(rng)) for _ in range(3)])


def _without_softmax(q: QuantizedModel) -> QuantizedModel:
    n = len(q.graph.layers) - 1
    return QuantizedModel(LayerGraph(q.graph.input_shape, q.graph.layers[:n]), q.tensors[:n + 1],
                          q.layers[:n])


def test_litert_and_tflm_agree_on_random_architectures_of_both_spaces(rng):
    """Logits (the network without its SOFTMAX): each interpreter equals the numpy reference of its
    own kernels exactly, and LiteRT (reference kernels) and TFLM differ by at most 1 int8 step (their
    FULLY_CONNECTED rounds once / twice). SOFTMAX multiplies a 1-step logit difference by up to
    exp(logit scale); on these models the outputs stay within 2 steps."""
    worst = 0
    for graph in _random_graphs(rng):
        q, model = export_random(graph, rng)
        x = rng.integers(-128, 128, size=(8, *graph.input_shape)).astype(np.int8)
        arena = arena_upper_bound(graph)
        logits = _without_softmax(q)
        logits_model = write_tflite(logits)
        lite = run_litert(logits_model, x).astype(int)
        micro = run_tflm(logits_model, x, arena).outputs.astype(int)
        assert (lite == np.stack([run_model(logits, xi, "litert") for xi in x])).all()
        assert (micro == np.stack([run_model(logits, xi, "tflm") for xi in x])).all()
        worst = max(worst, np.abs(lite - micro).max())
        probs_lite = run_litert(model, x).astype(int)
        probs_micro = run_tflm(model, x, arena).outputs.astype(int)
        assert np.abs(probs_lite - probs_micro).max() <= 2
    assert worst <= 1


def _comparable(graph: LayerGraph) -> list[tuple]:
    """What a .tflite can say about each layer (batch norm is folded away, names are free)."""
    return [(l.op, l.inputs, l.output_shape, l.kernel, l.stride, l.padding, l.activation,
             l.weight_shape, l.bias) for l in graph.layers]


def test_writer_and_reader_round_trip_every_op_and_random_architectures(rng, tmp_path):
    graphs = list(single_op_graphs().values()) + _random_graphs(rng)
    for i, graph in enumerate(graphs):
        _, model = export_random(graph, rng)
        path = tmp_path / f"m{i}.tflite"
        path.write_bytes(model)
        loaded = load_tflite(path)
        assert loaded.graph.input_shape == graph.input_shape
        assert _comparable(loaded.graph) == _comparable(graph)
        assert (loaded.activation_bytes, loaded.weight_bytes, loaded.file_bytes) == (1, 1, len(model))


def test_a_tflm_crash_becomes_a_clear_error(rng):
    """An arena far too small makes TFLM fail (or kill its process); the child turns that into a
    TinymlError naming TFLM, and the parent lives on."""
    graph = single_op_graphs()["conv2d_same_s2_relu6"]
    _, model = export_random(graph, rng)
    with pytest.raises(TinymlError, match="TFLM interpreter (was killed by signal|failed)"):
        run_tflm(model, np.zeros((1, *graph.input_shape), np.int8), arena_size=64)


def test_estimator_matches_tflm_arena_and_file_size(rng):
    """The calibrated estimator against the real thing (scripts/bench_export.py does 24 archs): on the
    host runtime, peak SRAM within 3% of the smallest arena TFLM accepts; model flash within 2% of
    the file size."""
    profile = load_profile("STM32F412")
    for graph in _random_graphs(rng):
        _, model = export_random(graph, rng)
        used = run_tflm(model, np.zeros((1, *graph.input_shape), np.int8), arena_upper_bound(graph))
        arena = required_arena(model, used.arena_total)
        assert arena >= used.arena_total
        est = estimate(graph, profile, budget_for(profile), build="host")
        assert abs(est.peak_sram / arena - 1) <= 0.03
        assert abs(est.flash_model / len(model) - 1) <= 0.02


def test_required_arena_steps_over_sizes_that_crash_tflm(rng):
    """On this model TFLM's allocator segfaults, rather than failing cleanly, at arenas a little too
    small (the 'used' size it reports among them): the search counts those as too small and goes on
    to the smallest arena TFLM runs the model in."""
    layers = [{"type": "conv", "channels": 8, "kernel": 5, "stride": 2}]
    graph = build_graph(Arch("plain", (8, 8, 1), 10, {"layers": layers, "reduce": "flatten", "dense": []}))
    _, model = export_random(graph, rng)
    x = np.zeros((1, *graph.input_shape), np.int8)
    used = run_tflm(model, x, arena_upper_bound(graph)).arena_total
    required = required_arena(model, used)
    assert required > used
    assert run_tflm(model, x, required).outputs.shape == (1, 10)
    with pytest.raises(TinymlError, match="TFLM interpreter (was killed by signal|failed)"):
        run_tflm(model, x, required - 16)
