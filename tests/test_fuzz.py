"""Bad input through the real `tinyml` entry point: the cases of issue 17 as fixed regressions, then
seeded fuzzing of every command's example configs, the MCU profiles and corrupted .tflite files
(a small budget by default, a larger one under `-m slow`). Every case must end in exit 0 (harmless),
or 2/3 with exactly one short line on stderr naming the user's file; never an internal error or a hang."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tflite

sys.path.insert(0, str(Path(__file__).parent))
from fuzzing import CONFIGS, PROFILES, Case, config_cases, run_case, run_cases, tflite_cases, tflite_sources  # noqa: E402

from tinyml_cli.drift.detectors import Ddm  # noqa: E402
from tinyml_cli.errors import ConfigError  # noqa: E402
from tinyml_cli.tflite.writer import OperatorSpec, TensorSpec, build_model, options  # noqa: E402

ARCH = CONFIGS / "arch" / "plain_mnist1d.yaml"
MBV2 = CONFIGS / "arch" / "mobilenetv2_0.35_96.yaml"
SEARCH = CONFIGS / "search" / "mnist1d_stm32f412.yaml"
DRIFT = CONFIGS / "drift" / "sea_gradual.yaml"
PRIOR = CONFIGS / "adapt" / "mnist1d_prior_partial.yaml"


def run(tmp_path: Path, argv: list[str], files: dict[str, bytes] | None = None, out: bool = False):
    """Run one case in-process (files written under tmp_path, `{work}` in argv is tmp_path)."""
    case = Case([*argv, *(["--out", "{work}/run"] if out else [])], files or {}, " ".join(argv),
                "{work}/run" if out else None)
    return run_case(case, tmp_path, 60.0, stop_past_checks=True)


def assert_clean(outcome, *words: str) -> str:
    """Exit 2 with one short line naming every word (the file, the key)."""
    line = outcome.stderr.strip()
    assert outcome.kind == "clean" and outcome.rc == 2, (outcome.kind, outcome.rc, outcome.stderr[-500:])
    for word in words:
        assert word in line, (word, line)
    return line


# ---- configs: the cases of the issue ---------------------------------------------------------------------

def test_undecodable_bytes_in_a_config_and_in_an_mcu_profile(tmp_path):
    bad = SEARCH.read_bytes().replace(b"name:", b"na\xffme:", 1)
    assert_clean(run(tmp_path, ["search", "{work}/s.yaml"], {"s.yaml": bad}, out=True), "s.yaml", "UTF-8", "0xff")
    profile = (PROFILES / "stm32f412.yaml").read_bytes() + b"\nvendor: \xc3\x28\n"
    assert_clean(run(tmp_path, ["estimate", str(ARCH), "--mcu", "{work}/p.yaml"], {"p.yaml": profile}), "p.yaml", "UTF-8")
    assert not (tmp_path / "run").exists()


def test_deep_nesting_and_an_alias_bomb_end_in_one_short_line(tmp_path):
    deep = ("name: " + "[" * 5000 + "]" * 5000 + "\n").encode()
    assert_clean(run(tmp_path, ["search", "{work}/d.yaml"], {"d.yaml": deep}, out=True), "d.yaml", "nested deeper than 32")
    anchors = "".join(f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    bomb = ("x:\n  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + anchors + f"name: *a9\n").encode()
    line = assert_clean(run(tmp_path, ["search", "{work}/b.yaml"], {"b.yaml": bomb}, out=True), "b.yaml", "aliases")
    assert len(line) < 300 and "lol" not in line


@pytest.mark.parametrize("key, value, words", [
    ("seed", "1" + "0" * 5000, ["5001 digits"]),
    ("train", "{lr: .inf}", ["train.lr", "finite"]),
    ("space", "{name: [plain]}", ["space", "name"]),
    ("space", "{name: mbnet, widths: [0.5, .inf]}", ["space.widths", "item 1"]),
    ("space", "{name: plain, kernels: [1000000000000000000]}", ["space.kernels", "[1, 64]"]),
    ("name", "'" + "x" * 100_000 + "'", ["name", "4096"]),
])
def test_search_config_values_out_of_bounds(tmp_path, key, value, words):
    text = SEARCH.read_text() + f"\n{key}: {value}\n"
    line = assert_clean(run(tmp_path, ["search", "{work}/c.yaml"], {"c.yaml": text.encode()}, out=True), "c.yaml", *words)
    assert "config.yaml" not in line.replace("c.yaml", "") and len(line) < 400
    assert not (tmp_path / "run").exists()


def test_long_values_are_cut_in_messages(tmp_path):
    text = SEARCH.read_text() + "\nsearch: {backend: '" + "e" * 100_000 + "'}\n"
    line = assert_clean(run(tmp_path, ["search", "{work}/c.yaml"], {"c.yaml": text.encode()}, out=True), "search.backend")
    assert len(line) < 400 and "..." in line


def test_inf_method_and_drift_parameters(tmp_path):
    text = DRIFT.read_text() + "\nmethods: {tinyol: {lr: .inf}}\n"
    assert_clean(run(tmp_path, ["simulate-drift", "{work}/d.yaml"], {"d.yaml": text.encode()}, out=True),
                 "d.yaml", "methods.tinyol.lr", "finite")
    text = PRIOR.read_text().replace("weights: [", "weights: [.inf, ", 1)
    assert "weights: [.inf" in text
    assert_clean(run(tmp_path, ["adapt", "{work}/p.yaml", "--method", "tinyol"], {"p.yaml": text.encode()}, out=True),
                 "p.yaml", "weights", "finite")
    text = DRIFT.read_text() + "\ndetector: {name: ddm, params: {drift_threshold: .inf}}\n"
    assert_clean(run(tmp_path, ["simulate-drift", "{work}/d.yaml"], {"d.yaml": text.encode()}, out=True),
                 "d.yaml", "detector.params.drift_threshold")


def test_arch_numbers_beyond_sane_ranges(tmp_path):
    text = ARCH.read_text().replace("kernel: 5", "kernel: 1000000000000000000")
    line = assert_clean(run(tmp_path, ["estimate", "{work}/a.yaml"], {"a.yaml": text.encode()}), "a.yaml", "kernel", "[1, 64]")
    assert "MACs" not in line
    text = MBV2.read_text().replace("width: 0.35", "width: .inf")
    assert "width: .inf" in text
    assert_clean(run(tmp_path, ["estimate", "{work}/m.yaml"], {"m.yaml": text.encode()}), "m.yaml", "width")
    text = MBV2.read_text().replace("stride: 2", "stride: 2, bogus: 1", 1)
    assert_clean(run(tmp_path, ["estimate", "{work}/m.yaml"], {"m.yaml": text.encode()}), "m.yaml", "bogus")


def test_rich_markup_in_a_value_is_printed_as_it_is(tmp_path):
    """A value echoed in an error is not read as rich markup (a stray closing tag was a traceback)."""
    line = assert_clean(run(tmp_path, ["estimate", str(ARCH), "--mcu", "[/x] [bold]"]), "[/x] [bold]")
    assert line.startswith("error: ")


def test_ddm_says_what_it_expects():
    assert Ddm().run([0, 1, 1, 0]) == []
    with pytest.raises(ConfigError, match="expects error bits"):
        Ddm().run([0.0, 0.5])


# ---- .tflite: the cases of the issue ------------------------------------------------------------------

I8 = tflite.TensorType.INT8
Q = {"scale": np.array([0.05]), "zero_point": np.array([0])}


def conv_model(weight_shape=(4, 3, 3, 2), weight_bytes=72, padding=1) -> bytes:
    tensors = [TensorSpec("x", (1, 8, 8, 2), I8, **Q),
               TensorSpec("w", weight_shape, I8, np.ones(weight_bytes, np.int8).tobytes(), **Q),
               TensorSpec("b", (4,), tflite.TensorType.INT32, np.zeros(4, np.int32).tobytes()),
               TensorSpec("y", (1, 8, 8, 4), I8, **Q)]
    return build_model(tensors, [OperatorSpec("CONV_2D", [0, 1, 2], [3], options("Conv2DOptions", {
        "Padding": padding, "StrideW": 1, "StrideH": 1}))], [0], [3])


@pytest.mark.parametrize("model, words", [
    (conv_model(padding=9), ["Padding is 9"]),
    (conv_model(weight_shape=()), ["tensor 1", "needs 1 bytes; its buffer holds 72"]),
    (conv_model(weight_shape=(4, 3, 3, 2**31 - 1)), ["tensor 1", "2147483647"]),
    (conv_model(weight_shape=(4, 3, 3, 3)), ["needs 108 bytes; its buffer holds 72"]),
])
def test_corrupt_tflite_fields(tmp_path, model, words):
    line = assert_clean(run(tmp_path, ["estimate", "{work}/m.tflite"], {"m.tflite": model}), "m.tflite", *words)
    assert "fits" not in line


def test_intact_models_still_read(tmp_path):
    """The writer's conv (MACs counted from its shapes) and every MLPerf model estimate with exit 0."""
    outcome = run(tmp_path, ["estimate", "{work}/m.tflite", "--json"], {"m.tflite": conv_model()})
    assert outcome.rc == 0, outcome.stderr
    for name, data in tflite_sources():
        assert run(tmp_path, ["estimate", "{work}/" + name], {name: data}).rc == 0, name


def test_svdf_with_a_nameless_output_reads(tmp_path):
    """SVDF (int8, int16 time weights and state) whose output tensor has no name: estimated, with
    the MACs counted from its shapes: batch x (filters x in + filters x memory + units x rank)."""
    import json

    filters, fin, memory, rank = 24, 16, 8, 2
    units = filters // rank
    i16, i32 = tflite.TensorType.INT16, tflite.TensorType.INT32
    tensors = [TensorSpec("x", (1, fin), I8, **Q),
               TensorSpec("wf", (filters, fin), I8, np.ones(filters * fin, np.int8).tobytes(), **Q),
               TensorSpec("wt", (filters, memory), i16, np.ones(filters * memory, np.int16).tobytes(), **Q),
               TensorSpec("b", (units,), i32, np.zeros(units, np.int32).tobytes()),
               TensorSpec("state", (1, memory * filters), i16, variable=True, **Q),
               TensorSpec("", (1, units), I8, **Q)]
    model = build_model(tensors, [OperatorSpec("SVDF", [0, 1, 2, 3, 4], [5], options("SVDFOptions", {"Rank": rank}))],
                        [0], [5])
    outcome = run(tmp_path, ["estimate", "{work}/svdf.tflite", "--json"], {"svdf.tflite": model})
    assert outcome.rc == 0, outcome.stderr
    from tinyml_cli.estimate.file import estimate_file
    from tinyml_cli.mcu import budget_for, load_profile
    from tinyml_cli.tflite.model import read_model

    (tmp_path / "svdf.tflite").write_bytes(model)
    est = estimate_file(read_model(tmp_path / "svdf.tflite"), load_profile("STM32F412"), budget_for(load_profile("STM32F412")))
    assert est.macs == filters * fin + filters * memory + units * rank
    assert json.dumps(est.to_dict())


# ---- fuzzing --------------------------------------------------------------------------------------------

def _fuzz(configs: int, files: int, seed: int, seconds: float, stop_past_checks: bool):
    rng = np.random.default_rng(seed)
    tally = run_cases(config_cases(rng, configs) + tflite_cases(rng, files), seconds, stop_past_checks=stop_past_checks)
    bad = [f"[{o.kind}] rc={o.rc} {o.case.what}: {o.stderr.strip()[-300:]}" for o in tally.failures()]
    assert not bad, tally.summary() + "\n" + "\n".join(bad)
    return tally


def test_fuzz_small():
    """Every example config and MCU profile mutated once or twice, 60 corrupted .tflite files."""
    tally = _fuzz(configs=24, files=60, seed=17, seconds=30.0, stop_past_checks=True)
    assert tally.counts["clean"] > 0


@pytest.mark.slow
def test_fuzz_large():
    """As many inputs as issue 17's session tried (340 configs, 400 .tflite files), then 40 configs
    whose commands run on past their checks until the time guard stops them."""
    tally = _fuzz(configs=340, files=400, seed=1, seconds=60.0, stop_past_checks=True)
    assert tally.counts["clean"] > 300
    _fuzz(configs=40, files=0, seed=2, seconds=20.0, stop_past_checks=False)
