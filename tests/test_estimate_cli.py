"""`tinyml estimate` end to end, in-process through the real entry point (exit codes included)."""

import json
from pathlib import Path

import pytest

from tinyml_cli.arch import Arch
from tinyml_cli.estimate import constants as K
from tinyml_cli.mcu import load_profile
from tinyml_cli.train.checkpoint import save_candidate

ROOT = Path(__file__).parent.parent
MBV2 = ROOT / "configs" / "arch" / "mobilenetv2_0.35_96.yaml"
PLAIN = ROOT / "configs" / "arch" / "plain_mnist1d.yaml"
SINE = Path(__file__).parent / "data" / "sine_float.tflite"


def run_json(cli, *args):
    code, out, err = cli("estimate", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_arch_yaml_table_and_verdict(cli):
    code, out, err = cli("estimate", MBV2, "--mcu", "STM32F746")
    assert code == 0 and out == ""
    assert "depthwise_conv2d_2" in err and "fits STM32F746" in err


def test_json_is_one_document_with_layers(cli):
    data = run_json(cli, PLAIN, "--mcu", "rp2040")
    assert data["mcu"] == "RP2040" and data["fits"] is True and data["model"] == "plain_mnist1d"
    assert len(data["layers"]) == 8 and data["macs"] == sum(l["macs"] for l in data["layers"])
    profile = load_profile("RP2040")
    assert data["budget"] == {"sram": profile.sram_for_model, "flash": profile.flash_for_model,
                              "macs": None, "latency_ms": None}


def test_constraints_tighten_and_check_exits_3(cli):
    data = run_json(cli, PLAIN, "--mcu", "rp2040", "sram=1KB", "latency_ms=0.1")
    assert data["budget"]["sram"] == 1024 and not data["fits"]
    assert [v.split()[0] for v in data["violations"]] == ["peak", "latency"]
    assert data["margins"]["sram"] == 1024 - data["peak_sram"]
    code, _, err = cli("estimate", PLAIN, "--mcu", "rp2040", "constraints.sram=1KB", "--check")
    assert code == 3 and "does not fit RP2040: peak SRAM" in err
    code, _, _ = cli("estimate", PLAIN, "--mcu", "rp2040", "--check")
    assert code == 0


def test_config_file_sets_mcu_and_constraints(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("mcu: nRF52840\nconstraints: {flash: 4KB, macs: 1k}\n")
    data = run_json(cli, PLAIN, "--config", config)
    assert data["mcu"] == "nRF52840" and data["budget"]["flash"] == 4096 and data["budget"]["macs"] == 1000
    assert [v.split()[0] for v in data["violations"]] == ["flash", "MACs"]
    # --mcu wins over the config's mcu; overrides win over the file
    data = run_json(cli, PLAIN, "--config", config, "--mcu", "STM32H743", "constraints.flash=1MB")
    assert data["mcu"] == "STM32H743" and data["budget"]["flash"] == 1024 * 1024


def test_candidate_folder_and_tflite(cli, tmp_path):
    save_candidate(tmp_path / "cand", Arch.load(PLAIN), None)
    assert run_json(cli, tmp_path / "cand", "--mcu", "rp2040")["macs"] == run_json(
        cli, PLAIN, "--mcu", "rp2040")["macs"]
    data = run_json(cli, SINE, "--mcu", "STM32F412")
    assert data["flash_model"] == SINE.stat().st_size and data["params"] == 321
    runtime = sum(K.RUNTIME_FLASH["m4"][part] for part in ("base", "shared", "FULLY_CONNECTED"))
    assert data["flash_total"] == SINE.stat().st_size + runtime      # the measured runtime of its one kernel


def bad(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


@pytest.mark.parametrize("case,args,expect", [
    ("broken yaml", ["{arch}", "--mcu", "rp2040"], "invalid YAML at line"),
    ("unknown arch key", ["{unknown}", "--mcu", "rp2040"], "unknown key 'spaces'"),
    ("unknown override", [PLAIN, "constraints.sramm=1KB"], "did you mean 'sram'"),
    ("unknown mcu", [PLAIN, "--mcu", "STM32F74"], "did you mean STM32F412, STM32F746"),
    ("zero size", [PLAIN, "sram=0KB"], "constraints.sram: expected a positive size"),
    ("negative size", [PLAIN, "flash=-5KB"], "constraints.flash: expected a size"),
    ("negative input", ["{negative}"], "input_shape: every dimension must be positive"),
    ("collapsing shapes", ["{collapse}"], "the output would be 1x0"),
    ("truncated tflite", ["{truncated}"], "truncated or corrupt TFLite file"),
    ("not a model", ["{text}"], "expected an arch YAML"),
    ("missing target", ["{missing}"], "no such file"),
    ("folder without arch", ["{folder}"], "not a candidate folder"),
])
def test_bad_input_is_one_line_exit_2(cli, tmp_path, case, args, expect):
    paths = {
        "arch": bad(tmp_path, "broken.yaml", "space: plain\ninput_shape: [1, 40\n"),
        "unknown": bad(tmp_path, "unknown.yaml", PLAIN.read_text().replace("space:", "spaces:")),
        "negative": bad(tmp_path, "negative.yaml", PLAIN.read_text().replace("[1, 40, 1]", "[1, -40, 1]")),
        "collapse": bad(tmp_path, "collapse.yaml", PLAIN.read_text().replace("[1, 40, 1]", "[1, 1, 1]")),
        "truncated": bad(tmp_path, "cut.tflite", SINE.read_bytes()[:1500]),
        "text": bad(tmp_path, "notes.txt", "hello"),
        "missing": tmp_path / "nope.yaml",
        "folder": tmp_path / "empty",
    }
    (tmp_path / "empty").mkdir()
    argv = [str(a).format(**paths) for a in args]
    code, out, err = cli("estimate", *argv)
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: ") and expect in err, err


def test_subprocess_exit_codes_and_no_traceback(tmp_path):
    import subprocess
    import sys

    (tmp_path / "m.tflite").write_bytes(SINE.read_bytes()[:900])
    result = subprocess.run([sys.executable, "-m", "tinyml_cli", "estimate", str(tmp_path / "m.tflite"),
                             "--mcu", "rp2040"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "tinyml_cli", "estimate", str(PLAIN), "--mcu",
                             "rp2040", "sram=512", "--check", "-q"], capture_output=True, text=True)
    assert result.returncode == 3 and result.stderr.count("\n") == 1


def test_mcu_profile_file_and_quiet(cli, tmp_path):
    profile = tmp_path / "tiny.yaml"
    profile.write_text("name: TinyM0\ncore: Cortex-M0+\ncore_family: m0plus\nclock_mhz: 48\n"
                       "sram: 32KB\nflash: 256KB\nreserve: {sram: 8KB, flash: 64KB}\n")
    data = run_json(cli, PLAIN, "--mcu", profile)
    assert data["mcu"] == "TinyM0" and data["budget"]["sram"] == 24 * 1024
    code, out, err = cli("estimate", PLAIN, "--mcu", profile, "-q")
    assert code == 0 and out == "" and err == ""


def test_an_op_outside_the_table_is_one_warning_not_a_refusal(cli, tmp_path):
    import numpy as np
    import tflite

    from tinyml_cli.tflite.writer import OperatorSpec, TensorSpec, build_model

    quant = {"scale": np.array([0.05]), "zero_point": np.array([0])}
    tensors = [TensorSpec("x", (1, 8, 8, 4), tflite.TensorType.INT8, **quant),
               TensorSpec("deq", (1, 8, 8, 4), tflite.TensorType.FLOAT32),
               TensorSpec("floor", (1, 8, 8, 4), tflite.TensorType.FLOAT32)]
    model = tmp_path / "floor.tflite"
    model.write_bytes(build_model(tensors, [OperatorSpec("DEQUANTIZE", [0], [1]), OperatorSpec("FLOOR", [1], [2])],
                                  [0], [2]))
    code, out, err = cli("estimate", model, "--mcu", "STM32H743", "--check")
    assert code == 0 and out == ""
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "(FLOOR)" in warnings[0]
    data = run_json(cli, model, "--mcu", "STM32H743")
    assert [(row["op"], row["macs"], row["latency_ms"] is None) for row in data["layers"]] == [
        ("DEQUANTIZE", None, False), ("FLOOR", None, True)]
    assert data["notes"] == [warnings[0].removeprefix("warning: ")]


@pytest.mark.parametrize("name,text,message", [
    ("bytes.yaml", b"\xff\xfe not text", "not a UTF-8 text file (byte 0xff at offset 0)"),
    ("layer.yaml", PLAIN.read_text().replace("stride: 1}", "stride: 1, strid: 2}", 1).encode(),
     "unknown key layers[0].strid (did you mean 'stride'?)"),
    ("top.yaml", (PLAIN.read_text() + "  bogus_key: 1\n").encode(), "unknown key bogus_key"),
    ("mbnet.yaml", MBV2.read_text().replace("expand:", "expnd:", 1).encode(), "(did you mean 'expand'?)"),
])
def test_bad_arch_files_are_one_line_naming_the_file(cli, tmp_path, name, text, message):
    path = tmp_path / name
    path.write_bytes(text)
    code, out, err = cli("estimate", path)
    assert code == 2 and out == "" and str(path) in err and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
