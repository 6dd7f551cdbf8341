"""`tinyml export` end to end on digits: accuracy kept through int8, C sources that compile, QAT,
the command's outputs and errors."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.config import read_yaml, validate
from tinyml_cli.data import load_builtin
from tinyml_cli.mcu import load_profile
from tinyml_cli.export.pipeline import EXPORT_SCHEMA, export_candidate
from tinyml_cli.export.quantize import (FoldedModule, folded_logits, int8_accuracies, qat_finetune, quantize,
                                        quantize_layers, weight_axis)
from tinyml_cli.export.tflite_writer import write_tflite
from tinyml_cli.export.verify import quantize_input, run_litert
from tinyml_cli.runs import write_json, write_yaml
from tinyml_cli.train.builder import build_module
from tinyml_cli.train.checkpoint import ranked_candidates, save_candidate
from tinyml_cli.train.loop import TRAIN_SCHEMA, fit

ARCH = Arch("plain", (8, 8, 1), 10, {
    "layers": [{"type": "conv", "channels": 8, "kernel": 3, "stride": 1},
               {"type": "dwsep", "channels": 16, "kernel": 3, "stride": 2}],
    "reduce": "flatten", "dense": [32]})


@pytest.fixture(scope="module")
def digits():
    return load_builtin("digits", seed=0)


@pytest.fixture(scope="module")
def trained(digits):
    torch.manual_seed(0)
    module = build_module(build_graph(ARCH))
    # the recipe these tolerances were measured with (plain Adam, no label smoothing): softmax
    # outputs of sharper logits, where LiteRT's and TFLM's one-step logit rounding shows least
    recipe = {"epochs": 6, "device": "cpu", "optimizer": "adam", "weight_decay": 0.0, "label_smoothing": 0.0}
    fit(module, digits, validate(recipe, TRAIN_SCHEMA, "test"), seed=0)
    return module.eval()


@pytest.fixture(scope="module")
def exported(trained, digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    cfg = validate({"calibration_samples": 300}, EXPORT_SCHEMA, "test")
    return export_candidate(ARCH, trained, digits, cfg, out, "digits plain-8x8")


def test_int8_accuracy_on_digits_drops_at_most_one_point(exported):
    v = exported.verify
    assert v["samples"] == 270 and v["float_accuracy"] > 0.9
    for key in ("litert_accuracy", "tflm_accuracy", "fake_quant_accuracy"):
        assert v["float_accuracy"] - v[key] <= 0.01, key
    assert v["litert_tflm_agreement"] == 1.0 and v["litert_tflm_max_step_difference"] <= 2
    assert v["fake_quant_litert_agreement"] >= 0.98
    assert v["file_size"] == (exported.out_dir / "model.tflite").stat().st_size
    assert json.loads((exported.out_dir / "verify.json").read_text()) == v


def test_folded_float_module_equals_the_trained_module(trained, digits):
    assert sum(getattr(unit, "bn", None) is not None for unit in trained.layers) == 3  # folding to do
    folded = FoldedModule.from_module(trained)
    want = trained(torch.from_numpy(digits.x_test[:50])).detach().numpy()
    assert np.allclose(folded_logits(folded, digits.x_test[:50]), want, atol=1e-4)


def test_search_int8_accuracy_is_the_exported_models(trained, digits, exported):
    """The search's int8 estimate runs the exporter's quantizer: with the same calibration samples
    it is the export's fake-quantized accuracy, within a point of the .tflite in LiteRT."""
    val, test = int8_accuracies(trained, digits.x_train[:300], (digits.x_val, digits.y_val),
                                (digits.x_test, digits.y_test))
    assert test == exported.verify["fake_quant_accuracy"]
    assert abs(test - exported.verify["litert_accuracy"]) <= 0.01
    assert val == exported.quantization["ptq_val_accuracy"]


def test_fake_quantized_logits_lie_on_their_int8_grid(trained, digits):
    folded = FoldedModule.from_module(trained)
    quantize(folded, digits.x_train[:200])
    logits = folded_logits(folded, digits.x_test)
    params = folded.qparams[len(folded.graph.layers) - 1]  # the tensor feeding the SOFTMAX
    steps = logits / params.scale + params.zero_point
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert steps.min() >= -128 - 1e-3 and steps.max() <= 127 + 1e-3
    assert not np.allclose(logits, folded_logits(folded, digits.x_test, quantized=False))


def test_weights_are_int8_per_channel_with_int32_bias(trained, digits):
    """Scale = max |w| / 127 per output channel (one for FULLY_CONNECTED), every weight and bias
    within half a step of its float value, the bias on the input scale x weight scale grid."""
    folded = FoldedModule.from_module(trained)
    q = quantize(folded, digits.x_train[:100])
    checked = []
    for i, (layer, quant) in enumerate(zip(q.graph.layers, q.layers)):
        if quant is None:
            continue
        w = folded.weight[str(i)].detach().double().numpy()
        b = folded.bias[str(i)].detach().double().numpy()
        if layer.op == "fully_connected":
            peak, shape = np.abs(w).max(keepdims=True).reshape(1), (1, 1)
        else:
            axis = weight_axis(layer.op)
            peak = np.abs(w).max(axis=tuple(a for a in range(4) if a != axis))
            shape = tuple(-1 if a == axis else 1 for a in range(4))
        np.testing.assert_allclose(quant.weight_scale, peak / 127)
        assert quant.weight.dtype == np.int8 and np.abs(quant.weight).max() == 127
        scale = quant.weight_scale.reshape(shape)
        assert (np.abs(quant.weight * scale - w) <= scale / 2 + 1e-9).all()
        bias_scale = quant.weight_scale * q.tensors[layer.inputs[0]].scale
        assert quant.bias.dtype == np.int32
        assert (np.abs(quant.bias * bias_scale - b) <= bias_scale / 2 + 1e-9).all()
        checked.append(layer.op)
    assert checked == ["conv2d", "depthwise_conv2d", "conv2d", "fully_connected", "fully_connected"]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_c_sources_compile_warning_free_and_hold_the_model(exported, tmp_path):
    """gcc -std=c99 -Wall -Wextra -Werror; the program prints the array's length, checksum and
    alignment, which must match the .tflite file."""
    for name in ("model_data.h", "model_data.c", "model_config.h"):
        shutil.copy(exported.out_dir / name, tmp_path / name)
    (tmp_path / "main.c").write_text("""
#include <stdint.h>
#include <stdio.h>
#include "model_data.h"
#include "model_config.h"
int main(void) {
    const int shape[DIGITS_PLAIN_8X8_INPUT_DIMS] = DIGITS_PLAIN_8X8_INPUT_SHAPE;
    const char *labels[DIGITS_PLAIN_8X8_NUM_CLASSES] = DIGITS_PLAIN_8X8_LABELS;
    unsigned long sum = 0;
    unsigned int i;
    for (i = 0; i < digits_plain_8x8_model_len; ++i) sum += digits_plain_8x8_model[i];
    printf("%u %lu %d %d %s %d %g %d\\n", digits_plain_8x8_model_len, sum,
           (int)((uintptr_t)digits_plain_8x8_model % 16), shape[1] * shape[2], labels[9],
           DIGITS_PLAIN_8X8_ARENA_SIZE, (double)DIGITS_PLAIN_8X8_OUTPUT_SCALE, DIGITS_PLAIN_8X8_NUM_OPS);
    return 0;
}
""")
    binary = tmp_path / "check"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", str(binary),
                    "main.c", "model_data.c"], cwd=tmp_path, check=True, capture_output=True)
    printed = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split()
    data = (exported.out_dir / "model.tflite").read_bytes()
    assert printed == [str(len(data)), str(sum(data)), "0", "64", "9",
                       str(exported.verify["tflm_arena"]["required"]), "0.00390625", "5"]
    config = (exported.out_dir / "model_config.h").read_text()
    for method in ("AddConv2D", "AddDepthwiseConv2D", "AddReshape", "AddFullyConnected", "AddSoftmax"):
        assert f"(resolver).{method}();" in config


def test_qat_recovers_accuracy_lost_to_a_poor_calibration(trained, digits):
    """Calibrated on images dimmed 4x, every activation range is too narrow and clips (accuracy
    collapses); QAT fine-tunes the weights to those ranges, and the exported int8 model (run in
    LiteRT) follows the fake-quantized one."""
    folded = FoldedModule.from_module(trained)
    quantize(folded, digits.x_train[:200] * 0.25)
    before = float((folded_logits(folded, digits.x_val).argmax(1) == digits.y_val).mean())
    qat_finetune(folded, digits, epochs=2, lr=1e-3)
    after = float((folded_logits(folded, digits.x_val).argmax(1) == digits.y_val).mean())
    assert before < 0.7 and after > before + 0.2
    q = quantize_layers(folded)
    lite = run_litert(write_tflite(q), quantize_input(digits.x_val, q.tensors[0])).argmax(1)
    fake = folded_logits(folded, digits.x_val).argmax(1)
    assert (lite == fake).mean() >= 0.97


@pytest.fixture
def run_dir(trained, tmp_path):
    """A search-like run directory with two candidates, the second without weights."""
    run = tmp_path / "search-demo"
    save_candidate(run / "candidates" / "001", ARCH, trained, {"val_accuracy": 0.95})
    save_candidate(run / "candidates" / "002", ARCH, None, {"val_accuracy": 0.9})
    write_yaml(run / "config.yaml", {"name": "demo", "seed": 0, "data": {"name": "digits"}})
    return run


def test_export_command_on_a_run_directory(run_dir, cli):
    code, stdout, _ = cli("export", run_dir, "--json", "-q", "--mcu", "nRF52840", "export.calibration_samples=200")
    assert code == 0
    doc = json.loads(stdout)
    out = Path(doc["out_dir"])
    nrf = load_profile("nRF52840")  # --mcu: the estimate and its verdict are for that MCU
    assert doc["exports"][0]["estimate"]["mcu"] == "nRF52840" == read_yaml(out / "config.yaml")["mcu"]
    assert doc["exports"][0]["estimate"]["budget"]["sram"] == nrf.sram_for_model
    assert json.loads((out / "estimate.json").read_text()) == doc["exports"][0]["estimate"]
    assert out == run_dir / "export"
    assert {"model.tflite", "model_data.c", "model_data.h", "model_config.h", "verify.json",
            "manifest.json", "config.yaml"} <= {p.name for p in out.iterdir()}
    assert doc["exports"][0]["quantization"]["calibration_samples"] == 200
    ratios = doc["exports"][0]["verify"]["estimate"]
    assert 0.95 <= ratios["sram_ratio"] <= 1.05 and 0.98 <= ratios["flash_ratio"] <= 1.02
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    # The export folder is never overwritten.
    before = (out / "model.tflite").read_bytes()
    code, _, err = cli("export", run_dir, "-q")
    assert code == 2 and "already exists" in err
    assert (out / "model.tflite").read_bytes() == before


@pytest.mark.parametrize("args, message", [
    (["--rank", "2"], "weights file not found"),
    (["--top", "3"], "asked for rank 3 but the run has 2"),
    (["--rank", "1", "--top", "2"], "exclusive"),
    (["--data", "mnist1d", "data.samples=100"], "1-D signals and images do not mix"),
    (["export.qat_epoch=2"], "unknown key 'export.qat_epoch' (did you mean 'qat_epochs'?)"),
])
def test_export_command_errors_are_one_clear_line(run_dir, cli, args, message):
    code, _, err = cli("export", run_dir, "--out", run_dir / "x", *args)
    assert code == 2
    assert message in " ".join(err.split()) and "Traceback" not in err
    assert not (run_dir / "x").exists()


def test_export_command_on_an_arch_file_needs_weights(run_dir, cli):
    arch = run_dir / "candidates" / "001" / "arch.yaml"
    code, _, err = cli("export", arch, "--data", "digits")
    assert code == 2 and "without weights cannot be exported" in err


def test_export_runs_qat_when_the_post_training_drop_is_too_large(trained, digits, tmp_path):
    """The first 200 training images (the calibration set) dimmed 4x: post-training int8 collapses,
    so export fine-tunes with QAT and the exported file (run in LiteRT and TFLM) keeps its accuracy."""
    dim = dataclasses.replace(digits, x_train=digits.x_train.copy())
    dim.x_train[:200] *= 0.25
    cfg = validate({"calibration_samples": 200, "qat_epochs": 2, "qat_lr": 1e-3}, EXPORT_SCHEMA, "t")
    result = export_candidate(ARCH, trained, dim, cfg, tmp_path / "out", "qat")
    record, v = result.quantization, result.verify
    assert record["ptq_val_accuracy"] < 0.7 and record["qat_epochs"] == 2
    assert record["qat_val_accuracy"] > record["ptq_val_accuracy"] + 0.2
    assert v["tflm_accuracy"] > 0.85 and v["fake_quant_litert_agreement"] >= 0.97


def test_export_command_on_an_arch_file_with_weights(run_dir, tmp_path, cli):
    folder = run_dir / "candidates" / "001"
    out = tmp_path / "out"
    args = ["export", str(folder / "arch.yaml"), "--weights", str(folder / "weights.pt"),
            "--data", "digits", "--out", str(out), "--json", "-q", "name=Digits Net"]
    code, stdout, _ = cli(*args)
    assert code == 0
    doc = json.loads(stdout)
    assert doc["exports"][0]["verify"]["tflm_accuracy"] > 0.9
    assert "alignas(16) const unsigned char digits_net_model[]" in (out / "model_data.c").read_text()


def test_candidates_are_ranked_by_the_leaderboard(run_dir):
    write_json(run_dir / "leaderboard.json", {"leaderboard": [
        {"rank": 1, "candidate": "candidates/002"}, {"rank": 2, "candidate": ""},
        {"rank": 3, "candidate": "candidates/001"}]})
    assert [p.name for p in ranked_candidates(run_dir)] == ["002", "001"]
    (run_dir / "leaderboard.json").unlink()
    assert [p.name for p in ranked_candidates(run_dir)] == ["001", "002"]


def test_export_then_profile_on_the_emulated_core(run_dir, cli):
    from test_profile import MISSING, _sources_problem

    if MISSING or _sources_problem():
        pytest.skip(f"no Cortex-M toolchain or TFLM sources: {', '.join(MISSING) or _sources_problem()}")
    code, stdout, err = cli("export", run_dir, "--profile", "--runtime", "c", "--json", "-q")
    assert code == 0, err
    export = json.loads(stdout)["exports"][0]
    out = Path(export["dir"])
    saved = np.load(out / "test_samples.npz")
    assert saved["x"].dtype == np.int8 and len(saved["x"]) == len(saved["y"]) == 16
    report = export["profile"]
    assert report == json.loads((out / "profile-STM32F412.json").read_text())
    assert report["inputs"] == "4 test samples saved by tinyml export" and report["core"] == "cortex-m4"
    assert report["comparison"]["tflm_host"]["equal"]
    # with --runtime c the engine too, on the same core and samples, equal to TFLM-host
    engine = export["engine_profile"]
    assert engine == json.loads((out / "profile-STM32F412-c.json").read_text())
    assert engine["runtime"] == "c" and engine["core"] == "cortex-m4" and engine["samples"] == report["samples"]
    assert all(c["equal"] for c in engine["comparison"].values())


def test_export_command_with_the_c_runtime(run_dir, tmp_path, cli):
    """--runtime c: the engine's library beside the .tflite, byte-identical to TFLM-host on the
    saved test samples, its static arena the planner's figure, reported next to TFLM's arena."""
    out = tmp_path / "c"
    code, stdout, _ = cli("export", run_dir, "--runtime", "c", "--out", out, "--json", "-q",
                          "export.calibration_samples=200")
    assert code == 0
    entry = json.loads(stdout)["exports"][0]
    engine = entry["engine"]
    assert engine["identical_to_tflm"] and engine["samples"] == 16 and "engine" in entry["files"]
    assert engine["tflm_arena"] == entry["verify"]["tflm_arena"]["required"]
    assert engine["tflm_mcu_estimate"] == entry["verify"]["estimate"]["mcu_peak_sram"]
    assert engine["mcu_sram_ratio"] == (engine["arena"] + engine["io_buffers"]) / engine["tflm_mcu_estimate"]
    source = (out / "engine" / "tinyml_model.c").read_text()
    assert f"static int8_t tinyml_arena[{engine['arena']}];" in source
    assert {p.name for p in (out / "engine").iterdir()} == {"tinyml_model.c", "tinyml_model.h", "tinyml_kernels.c",
                                                           "tinyml_kernels.h", "verify.json"}
    assert json.loads((out / "engine" / "verify.json").read_text()) == engine


def test_export_with_an_engine_prefix(run_dir, tmp_path, cli):
    """engine.prefix=kws: the model's files and names start with kws (the kernels keep theirs), and
    the library so named still matched TFLM-host; a prefix that is no C name is one config error."""
    out = tmp_path / "kws"
    code, stdout, _ = cli("export", run_dir, "--runtime", "c", "--out", out, "--json", "-q", "engine.prefix=kws")
    assert code == 0 and json.loads(stdout)["exports"][0]["engine"]["identical_to_tflm"]
    assert {p.name for p in (out / "engine").iterdir()} == {"kws_model.c", "kws_model.h", "tinyml_kernels.c",
                                                           "tinyml_kernels.h", "verify.json"}
    header = (out / "engine" / "kws_model.h").read_text()
    assert "int kws_invoke_float(const float *input, float *output);" in header and "TINYML_" not in header
    code, _, err = cli("export", run_dir, "--runtime", "c", "--out", tmp_path / "bad", "engine.prefix=9lives")
    assert code == 2 and "engine.prefix" in err and len(err.strip().splitlines()) == 1
