"""`tinyml profile`: a model built with TFLM + CMSIS-NN for a Cortex-M4, run in QEMU, against
TFLM-host and LiteRT on the same inputs. Needs the Arm toolchain, QEMU and the TFLM sources
(.ci/run installs the Debian packages; the sources are ../shared/vendor or TINYML_VENDOR_DIR):
without them these tests are skipped, saying which is missing. The first run compiles TFLM for
the M4 (about two minutes on two cores), later runs take it from the cache."""

import json
import shutil

import numpy as np
import pytest

from tinyml_cli.arch.graph import GraphBuilder
from tinyml_cli.errors import TinymlError
from tinyml_cli.estimate import constants as K
from tinyml_cli.mcu import load_profile
from tinyml_cli.profile import build
from tinyml_cli.profile.boards import BOARDS
from tinyml_cli.profile.qemu import compile_flags

MISSING = [tool for tool in ("arm-none-eabi-g++", "qemu-system-arm", "gcc") if shutil.which(tool) is None]


def _sources_problem() -> str | None:
    from tinyml_cli.profile.sources import source_tree

    try:
        source_tree()
    except TinymlError as exc:
        return str(exc)
    return None


needs_toolchain = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} "
                                     "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                                     "libstdc++-arm-none-eabi-newlib qemu-system-arm)")
PROFILE = load_profile("STM32F412")          # Cortex-M4: the emulated mps2-an386


def every_ir_op_model(rng):
    """A small int8 model with each op kind of the search spaces: conv, depthwise, add, pools,
    mean, fully connected, softmax (reshape through flatten)."""
    from random_models import export_random

    b = GraphBuilder((12, 12, 3))
    x = b.conv(b.input, 8, 3, 1, activation="relu")
    y = b.depthwise(x, 3, 1, activation="relu6")
    x = b.add(x, y)
    x = b.pool(x, "max", 2)
    x = b.pool(x, "avg", 2)
    x = b.conv(x, 16, 1)
    t = b.fully_connected(b.flatten(x), 10)
    b.softmax(t)
    return export_random(b.finish(), rng)[1]


@pytest.fixture(scope="module")
def toolchain():
    if MISSING:
        pytest.skip(f"not installed: {', '.join(MISSING)}")
    problem = _sources_problem()
    if problem:
        pytest.skip(problem)


@needs_toolchain
def test_a_model_runs_on_the_emulated_m4_as_in_tflm_host(toolchain, cli, tmp_path, rng):
    model = tmp_path / "m.tflite"
    data = every_ir_op_model(rng)
    model.write_bytes(data)
    code, out, err = cli("profile", model, "--mcu", "STM32F412", "--samples", "3", "--json")
    assert code == 0, err
    report = json.loads(out)
    saved = json.loads((tmp_path / "m.profile-STM32F412.json").read_text())
    assert saved == report
    assert report["comparison"]["tflm_host"] == {"equal": True, "max_difference": 0.0}
    assert report["machine"] == "mps2-an386" and report["samples"] == 3
    # the operators' spans lie inside the inference's and cover nearly all of it
    ops = [op["instructions"] for op in report["operators"]]
    assert [op["op"] for op in report["operators"]][:3] == ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD"]
    assert 0.9 * report["instructions"] < sum(ops) < report["instructions"]
    # a MAC takes at least one instruction's share on a core without SIMD for 8 MACs at once
    assert report["instructions"] > report["estimate"]["macs"] / 4
    # the map's flash by part adds up to what arm-none-eabi-size says the image holds
    sections = report["sections"]
    loaded = sum(size for name, size in sections.items() if name not in (".bss", ".heap", ".stack", ".arena"))
    assert report["sizes"]["flash_total"] == loaded
    assert report["sizes"]["ram_total"] == sections[".data"] + sections[".bss"]
    # the model is in flash as it is in the file (up to the next section's alignment)
    assert len(data) <= report["sizes"]["flash"]["model"] < len(data) + 16
    assert report["arena_used"] <= report["arena_min"]
    assert 0 < report["stack_bytes"] < 16 * 1024
    # the estimator holds its fit to the emulator (README: SRAM within 2%, instructions within 10%
    # on random architectures; this model's few small layers are allowed 15%)
    est = report["estimate"]
    assert abs(est["peak_sram"] / report["arena_min"] - 1) <= 0.02
    instructions = est["latency_ms"] * PROFILE.clock_mhz * 1000 / K.CYCLES_PER_INSTRUCTION["m4"]
    assert abs(instructions / report["instructions"] - 1) <= 0.15
    flash = report["sizes"]["flash_total"] - report["sizes"]["flash"]["inputs"]
    assert abs(est["flash_total"] / flash - 1) <= 0.05


@needs_toolchain
def test_outputs_that_differ_from_tflm_host_fail_loudly(toolchain, cli, tmp_path, rng, monkeypatch):
    from tinyml_cli.export import tflm_runner

    real = tflm_runner.run_tflm

    def off_by_one(*args, **kwargs):
        result = real(*args, **kwargs)
        result.outputs = result.outputs.astype(np.int16) + 1
        return result

    monkeypatch.setattr(tflm_runner, "run_tflm", off_by_one)
    model = tmp_path / "m.tflite"
    model.write_bytes(every_ir_op_model(rng))
    code, out, err = cli("profile", model, "--samples", "1")
    assert code == 1 and "differ from TFLM-host's (largest difference 1)" in err and "Traceback" not in err
    report = json.loads((tmp_path / "m.profile-STM32F412.json").read_text())
    assert report["comparison"]["tflm_host"]["equal"] is False


def test_the_object_cache_is_keyed_by_tree_compiler_and_flags(tmp_path, monkeypatch):
    from tinyml_cli.profile.sources import SourceTree

    if shutil.which("arm-none-eabi-g++") is None:
        monkeypatch.setattr(build, "compiler_version", lambda: "arm-none-eabi-g++ (test) 1.0")
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path))
    flags = tuple(compile_flags(BOARDS["cortex-m4"]))
    base = build.Library(SourceTree(tmp_path / "a", "rev1"), flags, "cmsis_nn")
    same = build.Library(SourceTree(tmp_path / "b", "rev1"), flags, "cmsis_nn")
    assert base.folder == same.folder and base.folder.is_relative_to(tmp_path)
    others = [build.Library(SourceTree(tmp_path / "a", "rev2"), flags, "cmsis_nn"),
              build.Library(SourceTree(tmp_path / "a", "rev1"), tuple(compile_flags(BOARDS["cortex-m7"])), "cmsis_nn"),
              build.Library(SourceTree(tmp_path / "a", "rev1"), flags, "reference")]
    assert len({base.folder, *(lib.folder for lib in others)}) == 4
    before = base.folder
    monkeypatch.setattr(build, "compiler_version", lambda: "arm-none-eabi-g++ (other) 2.0")
    assert base.folder != before


def test_only_missing_objects_are_compiled(tmp_path, monkeypatch):
    from tinyml_cli.profile.sources import SourceTree

    monkeypatch.setattr(build, "compiler_version", lambda: "arm-none-eabi-g++ (test) 1.0")
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    lib = build.Library(SourceTree(tmp_path, "rev"), ("-mcpu=cortex-m4",), "reference")
    sources = [build.MICRO / "a.cc", build.KERNELS / "b.cc"]
    monkeypatch.setattr(build.Library, "sources", lambda self, builtins, all_helpers=False: (sources, []))
    compiled = []

    def fake_compile(self, source, obj):
        compiled.append(source)
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_bytes(b"o")

    monkeypatch.setattr(build.Library, "compile", fake_compile)
    first = lib.objects({"ADD"})
    assert compiled == sources and all(p.is_file() for p in first)
    (first[1]).unlink()
    assert lib.objects({"ADD"}) == first and compiled == [*sources, sources[1]]


def test_a_core_without_an_emulated_board_is_one_clear_error(cli, tmp_path, rng):
    from random_models import export_random, sample_graphs

    code, _, err = cli("profile", tmp_path / "none.tflite", "--mcu", "RP2040")
    assert code == 2 and "none.tflite: no such file" in err
    model = tmp_path / "m.tflite"
    model.write_bytes(export_random(sample_graphs({"name": "plain"}, (8, 8, 1), rng, 1)[0], rng)[1])
    code, _, err = cli("profile", model, "--mcu", "RP2040")
    assert code == 2 and "no emulated board for its core family 'm0plus'" in err
