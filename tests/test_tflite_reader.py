"""The .tflite reader on the one real model we have (TFLM's float sine model), checked against
LiteRT's own view of it, and on truncated, garbage and unsupported files."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import tflite
from ai_edge_litert.interpreter import Interpreter

from tinyml_cli.arch import Arch
from tinyml_cli.errors import InputFileError
from tinyml_cli.estimate import estimate
from tinyml_cli.tflite.ir import load_graph as load_tflite, read_graph as read_tflite
from tinyml_cli.mcu import budget_for, load_profile

SINE = Path(__file__).parent / "data" / "sine_float.tflite"


def test_reads_the_sine_model_as_litert_sees_it():
    model = load_tflite(SINE)
    interpreter = Interpreter(model_path=str(SINE))
    ops = interpreter._get_ops_details()
    assert [layer.op for layer in model.graph.layers] == ["fully_connected"] * len(ops)
    assert [o["op_name"] for o in ops] == ["FULLY_CONNECTED"] * 3
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    for layer, op in zip(model.graph.layers, ops):
        weights = tensors[op["inputs"][1]]
        assert layer.weight_shape == tuple(weights["shape"])
        assert layer.output_shape == tuple(tensors[op["outputs"][0]]["shape"][1:])
        assert layer.bias
    assert model.graph.input_shape == tuple(interpreter.get_input_details()[0]["shape"][1:])
    assert [layer.activation for layer in model.graph.layers] == ["relu", "relu", "none"]
    assert (model.activation_bytes, model.weight_bytes, model.file_bytes) == (4, 4, SINE.stat().st_size)
    assert read_tflite(SINE) == model.graph


def test_estimate_of_a_tflite_uses_its_size_and_litert_parameter_count():
    model = load_tflite(SINE)
    profile = load_profile("nRF52840")
    est = estimate(model.graph, profile, budget_for(profile), activation_bytes=model.activation_bytes,
                   weight_bytes=model.weight_bytes, model_bytes=model.file_bytes)
    interpreter = Interpreter(model_path=str(SINE))
    ops = interpreter._get_ops_details()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    constants = {i for op in ops for i in op["inputs"][1:]}
    assert est.params == sum(int(np.prod(tensors[i]["shape"])) for i in constants)
    assert est.macs == 1 * 16 + 16 * 16 + 16 * 1
    assert est.flash_model == SINE.stat().st_size


@pytest.mark.parametrize("cut", [0, 4, 7, 8, 100, 500, 1000, 2000, 3000, 3163])
def test_truncated_file_is_one_clear_error(tmp_path, cut):
    path = tmp_path / "cut.tflite"
    path.write_bytes(SINE.read_bytes()[:cut])
    with pytest.raises(InputFileError) as err:
        load_tflite(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert "truncated" in message or "not a TFLite file" in message


def test_garbage_and_missing_files(tmp_path):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(InputFileError, match="not a TFLite file"):
        load_tflite(garbage)
    disguised = tmp_path / "disguised.tflite"
    disguised.write_bytes(b"\xff\xff\xff\x7fTFL3" + np.random.default_rng(1).bytes(400))
    with pytest.raises(InputFileError, match="truncated or corrupt"):
        load_tflite(disguised)
    with pytest.raises(InputFileError, match="no such file"):
        load_tflite(tmp_path / "missing.tflite")


def with_opcode(tmp_path, code):
    """A copy of the sine model whose operator code says ``code`` instead of FULLY_CONNECTED."""
    data = bytearray(SINE.read_bytes())
    op_code = tflite.Model.GetRootAs(bytes(data), 0).OperatorCodes(0)
    for field, size in ((4, 1), (10, 4)):              # deprecated_builtin_code (int8), builtin_code
        offset = op_code._tab.Offset(field)
        if offset:
            data[op_code._tab.Pos + offset:op_code._tab.Pos + offset + size] = (
                min(code, 127).to_bytes(size, "little", signed=True))
    path = tmp_path / f"op{code}.tflite"
    path.write_bytes(bytes(data))
    return path


def test_an_operator_outside_the_ir_is_named_but_still_estimated(tmp_path):
    from tinyml_cli.estimate.target import estimate_target

    path = with_opcode(tmp_path, tflite.BuiltinOperator.TANH)
    with pytest.raises(InputFileError, match=r"operator TANH \(operator 0\) is not an IR layer"):
        load_tflite(path)
    profile = load_profile("nRF52840")
    est = estimate_target(path, profile, budget_for(profile))     # the file path plans any operator
    assert [row["op"] for row in est.layers] == ["TANH"] * 3      # the patched opcode serves all three
    assert est.macs == 0 and not est.notes and est.arena_planned > 0   # element-wise: no MACs


def test_quantize_inside_the_model_is_not_an_ir_layer(tmp_path):
    with pytest.raises(InputFileError, match="QUANTIZE and DEQUANTIZE only at the input and output"):
        load_tflite(with_opcode(tmp_path, tflite.BuiltinOperator.QUANTIZE))


def test_copy_is_unchanged(tmp_path):
    # the opcode patch itself must not corrupt the file: patching back to FULLY_CONNECTED reads fine
    path = with_opcode(tmp_path, tflite.BuiltinOperator.FULLY_CONNECTED)
    assert read_tflite(path).layers == read_tflite(SINE).layers
    shutil.copy(SINE, tmp_path / "copy.tflite")
    assert load_tflite(tmp_path / "copy.tflite").file_bytes == SINE.stat().st_size


def _fields(layer):
    return (layer.op, layer.inputs, layer.output_shape, layer.kernel, layer.stride, layer.padding,
            layer.activation, layer.weight_shape, layer.bias)


AVG_POOL_PLAIN = Arch("plain", (12, 12, 1), 4, {"layers": [
    {"type": "conv", "channels": 8, "kernel": 3, "stride": 1}, {"type": "pool", "kind": "avg", "size": 2},
    {"type": "dwsep", "channels": 8, "kernel": 5, "stride": 2}], "reduce": "avg", "dense": [16]})


@pytest.mark.parametrize("space,shape", [("mbnet", (16, 16, 3)), ("plain", (1, 40, 1)), ("plain", (12, 12, 1))])
def test_int8_models_that_litert_runs_read_back_to_their_graph(tmp_path, rng, space, shape):
    from random_models import export_random, sample_graphs
    from tinyml_cli.arch import build_graph

    graphs = [build_graph(AVG_POOL_PLAIN)] if space == "plain" and shape[0] > 1 else []
    graphs += sample_graphs({"name": space}, shape, rng, 3 - len(graphs))
    profile = load_profile("STM32F746")
    for graph in graphs:
        path = tmp_path / "m.tflite"
        path.write_bytes(export_random(graph, rng, float_io=True)[1])
        interpreter = Interpreter(model_path=str(path))   # the file is a valid model LiteRT runs
        interpreter.allocate_tensors()
        interpreter.invoke()
        out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        assert out.shape[1:] == graph.output_shape
        model = load_tflite(path)
        assert (model.activation_bytes, model.weight_bytes) == (1, 1)
        assert model.graph.input_shape == graph.input_shape
        assert [_fields(l) for l in model.graph.layers] == [_fields(l) for l in graph.layers]
        read = estimate(model.graph, profile, budget_for(profile), model_bytes=model.file_bytes)
        built = estimate(graph, profile, budget_for(profile))
        assert (read.macs, read.params, read.peak_sram) == (built.macs, built.params, built.peak_sram)


def test_flash_model_is_close_to_a_converter_made_file():
    # the flash model estimated from the graph alone vs the converter's real file (float32 weights)
    model = load_tflite(SINE)
    profile = load_profile("STM32F412")
    est = estimate(model.graph, profile, budget_for(profile), activation_bytes=4, weight_bytes=4)
    assert abs(est.flash_model - model.file_bytes) / model.file_bytes < 0.10
