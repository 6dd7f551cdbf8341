"""The estimator under ``runtime: c`` against the C engine itself: for random int8 models of both
search spaces, the estimate's arena is the arena the generated library declares (the engine's
planner, byte for byte), its peak SRAM that arena (which holds the input) plus the caller's output
buffer, and its
flash (constants + kernel code) within a stated tolerance of ``arm-none-eabi-size`` on the library
linked for the profile's core; the CLI and configs take the runtime."""

import json
import tempfile
from math import prod
from pathlib import Path

import numpy as np
import pytest

from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.engine.codegen import generate
from tinyml_cli.engine.size import arm_tools, library_size
from tinyml_cli.errors import EngineError
from tinyml_cli.estimate import estimate
from tinyml_cli.mcu import budget_for, load_profile

from random_models import export_random, sample_graphs

SPACES = [({}, (16, 16, 3)), ({"name": "plain"}, (12, 12, 1)), ({}, (1, 48, 2)), ({"name": "plain"}, (1, 40, 3))]
MCUS = ["STM32F412", "STM32F746", "RP2040", "RA6M4"]       # m4, m7, m0plus, m33
# code sizes are per op kind: a model using few kinds links less of the shared helpers than counted
FLASH_TOLERANCE = (1024, 0.01)                              # bytes + fraction of the measured flash
ROOT = Path(__file__).parent.parent
MBV2 = ROOT / "configs" / "arch" / "mobilenetv2_0.35_96.yaml"


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(11)
    out = []
    for k, (options, shape) in enumerate(SPACES * 2):
        graph = sample_graphs(options, shape, rng, 1)[0]
        out.append((graph, generate(export_random(graph, rng)[0]), load_profile(MCUS[k % len(MCUS)])))
    return out


def test_arena_and_peak_are_the_engine_planners(models):
    for graph, lib, profile in models:
        est = estimate(graph, profile, budget_for(profile), runtime="c")
        assert est.arena_planned == lib.arena_size
        assert f"static int8_t tinyml_arena[{lib.arena_size}];" in lib.files["tinyml_model.c"]
        assert est.peak_sram == lib.arena_size + prod(graph.output_shape)      # the input is in the arena
        assert lib.arena_size >= prod(graph.input_shape)
        assert est.runtime == "c" and est.to_dict()["io_buffers"] == est.peak_sram - est.arena_planned


@pytest.mark.skipif(not arm_tools(), reason="arm-none-eabi-gcc not installed")
def test_flash_matches_the_linked_library(models):
    for graph, lib, profile in models:
        est = estimate(graph, profile, budget_for(profile), runtime="c")
        with tempfile.TemporaryDirectory() as tmp:
            size = library_size(lib, profile.core_family, Path(tmp))
        assert size.arena == lib.arena_size and size.bss >= lib.arena_size
        assert abs(est.flash_total - size.flash) <= FLASH_TOLERANCE[0] + FLASH_TOLERANCE[1] * size.flash, \
            (graph.name, profile.name, est.flash_total, size.flash)
        weights = sum(prod(l.weight_shape) for l in graph.layers if l.weight_shape)
        assert weights < est.flash_model < est.flash_total


def test_runtime_c_needs_int8_inputs():
    from dataclasses import replace
    graph = replace(build_graph(Arch.load(MBV2)), normalize="standardize")
    profile = load_profile("STM32F746")
    with pytest.raises(EngineError, match="int8 inputs"):
        estimate(graph, profile, budget_for(profile), runtime="c")


def test_cli_flag_and_config_key(cli, tmp_path):
    code, out, err = cli("estimate", MBV2, "--mcu", "STM32F746", "--json")
    tflm = json.loads(out)
    code, out, err = cli("estimate", MBV2, "--mcu", "STM32F746", "--runtime", "c", "--json")
    assert code == 0, err
    engine = json.loads(out)
    config = tmp_path / "c.yaml"
    config.write_text("mcu: STM32F746\nruntime: c\n")
    code, out, err = cli("estimate", MBV2, "--config", str(config), "--json")
    assert code == 0, err
    assert json.loads(out)["peak_sram"] == engine["peak_sram"]
    assert (tflm["runtime"], engine["runtime"]) == ("tflm", "c")
    assert engine["macs"] == tflm["macs"] and engine["peak_sram"] < tflm["peak_sram"]
    assert engine["peak_sram"] == engine["arena_planned"] + engine["io_buffers"]
    code, out, err = cli("estimate", MBV2, "runtime=tpu")
    assert code == 2 and "runtime" in err


def test_search_costs_judge_under_the_configured_runtime():
    from tinyml_cli.search.weight_sharing.costs import CostModel
    profile = load_profile("STM32F746")
    budget = budget_for(profile, {"sram": 100 * 1024})
    arch = Arch.load(MBV2)
    graph = build_graph(arch)
    tflm, engine = CostModel(profile, budget), CostModel(profile, budget, "c", {"patches": 3, "split": None})
    assert tflm.estimate(arch).peak_sram == estimate(graph, profile, budget).peak_sram
    patched = estimate(graph, profile, budget, runtime="c", patches=3)
    assert engine.estimate(arch).peak_sram == patched.peak_sram < budget.sram
    assert engine.fits(arch) and not tflm.fits(arch)
