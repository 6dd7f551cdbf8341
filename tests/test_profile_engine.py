"""`tinyml profile --runtime c`: an export's C engine built with arm-none-eabi-gcc (no TFLM) for an
emulated Cortex-M4 and M7, run in QEMU on the export's saved samples; the outputs must equal the
engine's host build and TFLM-host byte for byte. Needs the Arm toolchain and QEMU (skipped without);
the engine builds in about a second, so no cache is needed."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from tinyml_cli.arch.graph import GraphBuilder
from tinyml_cli.engine.export import export_engine
from tinyml_cli.profile.boards import BOARDS
from tinyml_cli.profile.engine import EngineFolder, compile_library

from random_models import export_random

MISSING = [tool for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "gcc") if shutil.which(tool) is None]
needs_toolchain = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)}")
SAMPLES = 3


@pytest.fixture(scope="module")
def export_folder(tmp_path_factory):
    """An export folder with every op kind the engine runs, its engine/ and saved test samples."""
    rng = np.random.default_rng(5)
    b = GraphBuilder((33, 33, 3))                            # 1089 pixels: a last pair
    x = b.conv(b.input, 8, 3, 1, activation="relu")           # a window of 27 values: no word fits
    y = b.depthwise(x, 3, 1, activation="relu6")             # its input read again: out of place
    x = b.depthwise(b.conv(b.add(x, y), 12, 3, 1), 3, 1)     # 3x3 over 8 channels; in place, stride 1
    x = b.depthwise(b.pool(b.depthwise(x, 3, 2), "max", 2), 5, 1)   # stride 2; a 5x5 (words of 4 taps)
    x = b.pool(b.depthwise(x, 7, 1), "avg", 2)               # a 7x7: two words per window row
    x = b.depthwise(b.conv(x, 7, 1, activation="relu"), 3, 2)       # odd channels; a small plane
    x = b.conv(b.conv(x, 120, 1), 16, 3)                     # a window of 1080 values: two pixels a pass
    b.softmax(b.fully_connected(b.flatten(x), 10))           # four rows, then two
    q, model = export_random(b.finish(), rng)
    out = tmp_path_factory.mktemp("export")
    (out / "model.tflite").write_bytes(model)
    x = rng.integers(-128, 128, (SAMPLES, 33, 33, 3), dtype=np.int8)
    np.savez(out / "test_samples.npz", x=x, y=np.zeros(SAMPLES))
    export_engine(q, model, x, out)
    return out


@needs_toolchain
@pytest.mark.parametrize("mcu,machine", [("STM32F412", "mps2-an386"), ("STM32F746", "mps2-an500")])
def test_the_engine_on_an_emulated_core_equals_its_host_build_and_tflm(export_folder, cli, mcu, machine):
    code, out, err = cli("profile", export_folder, "--runtime", "c", "--mcu", mcu, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert json.loads((export_folder / f"profile-{mcu}-c.json").read_text()) == report
    assert report["machine"] == machine and report["samples"] == SAMPLES
    assert all(c == {"equal": True, "max_difference": 0.0} for c in report["comparison"].values())
    assert set(report["comparison"]) == {"engine_host", "litert", "tflm_host"}
    # one span per layer, inside the inference's and covering nearly all of it
    ops = [op["op"] for op in report["operators"]]
    assert ops[:4] == ["conv2d", "depthwise_conv2d", "add", "conv2d"] and len(ops) == 17
    spans = sum(op["instructions"] for op in report["operators"])
    assert 0.95 * report["instructions"] < spans < report["instructions"]
    assert len(report["instructions_per_sample"]) == SAMPLES
    # the arena is the header's; the linked engine is the library's objects less unused functions
    header = (export_folder / "engine" / "tinyml_model.h").read_text()
    assert f"#define TINYML_ARENA_SIZE {report['arena_min']}\n" in header
    lib, sizes = report["library"], report["sizes"]
    assert lib["bss"] == report["arena_min"]
    assert 0.9 * lib["flash"] < sizes["flash"]["model"] + sizes["flash"]["engine"] <= lib["flash"]
    assert sizes["flash"]["tflm"] == 0 and sizes["flash_total"] == sum(
        size for name, size in report["sections"].items() if name not in (".bss", ".heap", ".stack", ".arena"))
    # on the stack: at most a column of 4096 16-bit values and its raw window (the M4/M7 kernels)
    assert 0 < report["stack_bytes"] < 2 * 4096 + 1080 + 1024
    assert report["sram_peak"] == report["arena_min"] + report["io_buffers"] + report["stack_bytes"]


@needs_toolchain
def test_the_engine_library_builds_for_a_cortex_m0plus_too(export_folder, tmp_path):
    """QEMU emulates no M0+ board; the library still compiles for it warning-free (Armv6-M)."""
    from dataclasses import replace

    board = replace(BOARDS["cortex-m4"], core="cortex-m0plus",
                    cpu_flags=("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"))
    objects = compile_library(EngineFolder.find(export_folder), board, tmp_path)
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(objects[1])], capture_output=True, text=True).stdout
    assert "Tag_CPU_arch: v6S-M" in attrs


def test_a_folder_without_an_engine_is_one_clear_error(cli, tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"")
    code, _, err = cli("profile", tmp_path, "--runtime", "c")
    assert code == 2 and "no C engine here" in err and "--runtime c" in err and "Traceback" not in err


@needs_toolchain
def test_a_patched_engine_profiles_with_its_region_copies(cli, tmp_path):
    """An export run patch by patch has tinyml_patch.c too: it is built and its crops and places
    are layers of their own in the per-layer counts."""
    rng = np.random.default_rng(3)
    b = GraphBuilder((16, 16, 2))
    x = b.depthwise(b.conv(b.input, 8, 3, 1), 3, 2)
    b.fully_connected(b.flatten(b.conv(x, 6, 1)), 4)
    q, model = export_random(b.finish(), rng)
    (tmp_path / "model.tflite").write_bytes(model)
    x = rng.integers(-128, 128, (1, 16, 16, 2), dtype=np.int8)
    np.savez(tmp_path / "test_samples.npz", x=x, y=np.zeros(1))
    export_engine(q, model, x, tmp_path, patches=2)
    assert (tmp_path / "engine" / "tinyml_patch.c").is_file()
    code, out, err = cli("profile", tmp_path, "--runtime", "c", "--mcu", "STM32F412", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert all(c["equal"] for c in report["comparison"].values())
    ops = [op["op"] for op in report["operators"]]
    assert "patch_place" in ops and ops.count("conv2d") > 2          # the early conv once per patch


@needs_toolchain
def test_an_engine_of_another_prefix_profiles_the_same(cli, tmp_path):
    """engine.prefix=kws: the library's names differ, the profile does not (same layers, outputs
    equal to its host build's and TFLM-host's, the header's arena, each layer's hooks counted)."""
    rng = np.random.default_rng(4)
    b = GraphBuilder((12, 12, 2))
    b.fully_connected(b.flatten(b.pool(b.conv(b.input, 6, 3, 1), "max", 2)), 5)
    q, model = export_random(b.finish(), rng)
    x = rng.integers(-128, 128, (2, 12, 12, 2), dtype=np.int8)
    reports = []
    for prefix in ("tinyml", "kws"):
        out = tmp_path / prefix
        out.mkdir()
        (out / "model.tflite").write_bytes(model)
        np.savez(out / "test_samples.npz", x=x, y=np.zeros(2))
        export_engine(q, model, x, out, prefix=prefix)
        code, stdout, err = cli("profile", out, "--runtime", "c", "--mcu", "STM32F412", "--json")
        assert code == 0, err
        reports.append(json.loads(stdout))
    ours, theirs = reports
    assert sorted(p.name for p in (tmp_path / "kws" / "engine").glob("*_model.*")) == ["kws_model.c", "kws_model.h"]
    assert all(c["equal"] for c in theirs["comparison"].values())
    assert "#define KWS_ARENA_SIZE %d\n" % theirs["arena_min"] in (tmp_path / "kws" / "engine" / "kws_model.h").read_text()
    assert [op["op"] for op in theirs["operators"]] == [op["op"] for op in ours["operators"]] == \
        ["conv2d", "max_pool", "reshape", "fully_connected"]
    assert theirs["instructions"] == ours["instructions"] and theirs["library"] == ours["library"]
