"""The C engine's float I/O helpers and per-model symbol prefixes. ``tinyml_invoke_float`` against
a numpy quantize (TFLite's QUANTIZE: x / scale in float32, rounded half away from zero, plus the
zero point, clamped) -> TFLM-host's int8 run -> numpy dequantize, bit for bit, and against
TFLM-host running the .tflite with float ends; two models of prefixes ``a`` and ``b`` linked into
one host library (and one Cortex-M4 image) with one copy of the kernels, each giving its own
TFLM-host outputs."""

import shutil
import subprocess

import numpy as np
import pytest

from tinyml_cli.arch.graph import GraphBuilder
from tinyml_cli.config import COMMON_SCHEMA, validate
from tinyml_cli.engine.codegen import generate
from tinyml_cli.engine.host import HostEngine, write_library
from tinyml_cli.engine.size import ARM_FLAGS, arm_tools, link_size, symbol_sizes
from tinyml_cli.errors import ConfigError, EngineError
from tinyml_cli.export.quantize import QParams, QuantizedModel
from tinyml_cli.export.tflite_writer import write_tflite
from tinyml_cli.export.tflm_runner import run_tflm

from random_models import export_random, sample_graphs


def quantize_reference(x: np.ndarray, q: QParams) -> np.ndarray:
    """TFLite's AffineQuantize: round(x / scale) with x / scale in float32 and std::round (half
    away from zero, done in float64 where x / scale + 0.5 is exact), plus the zero point, clamped."""
    with np.errstate(over="ignore"):                       # 3e38 / scale: an infinity, as in C
        v = (np.asarray(x, np.float32) / np.float32(q.scale)).astype(np.float64)
    rounded = np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5))
    return np.clip(np.clip(rounded, -1e6, 1e6) + q.zero_point, -128, 127).astype(np.int8)


def dequantize_reference(q8: np.ndarray, q: QParams) -> np.ndarray:
    """TFLite's DEQUANTIZE: float(scale * (q - zero point)), the product exact in float64."""
    return (np.float64(np.float32(q.scale)) * (q8.astype(np.float64) - q.zero_point)).astype(np.float32)


def hard_inputs(rng: np.random.Generator, shape: tuple[int, ...], q: QParams, n: int) -> np.ndarray:
    """Float inputs over the int8 range and past it, with many at exact and nearly exact halves
    of the scale (where rounding rules differ) and some infinite."""
    x = rng.normal(scale=60 * q.scale, size=(n, *shape)).astype(np.float32)
    flat = x.reshape(-1)
    k = rng.integers(-140, 140, size=flat.size // 2)
    halves = ((k + 0.5) * np.float32(q.scale)).astype(np.float32)
    flat[:halves.size] = np.where(rng.random(halves.size) < 0.3, np.nextafter(halves, np.float32(np.inf)),
                                  np.where(rng.random(halves.size) < 0.4,
                                           np.nextafter(halves, np.float32(-np.inf)), halves))
    flat[-4:] = [np.inf, -np.inf, 3e38, -3e38]
    return x


def test_float_quantization_is_tflites_exactly(tmp_path, rng):
    """A reshape alone with equal input and output quantization: invoke_float's output shows the
    quantized input itself, which must be TFLite's, for every input, and match TFLM-host running
    the float-ended .tflite bit for bit."""
    b = GraphBuilder((1, 1, 256))
    _ = b.flatten(b.input)
    qp = QParams(0.0173, int(rng.integers(-30, 30)))
    q = QuantizedModel(b.finish(), [qp, qp], [None])
    x = hard_inputs(rng, (1, 1, 256), qp, 8)
    ours = HostEngine.build(generate(q), tmp_path).run_float(x)
    expected_q = quantize_reference(x, qp).reshape(len(x), -1)
    assert np.array_equal(ours.view(np.int32), dequantize_reference(expected_q, qp).view(np.int32))
    assert len(np.unique(expected_q)) >= 240 and {-128, 127} <= set(expected_q.reshape(-1).tolist())
    finite = np.isfinite(x).all(axis=(1, 2, 3))              # TFLite's cast of an infinity is undefined
    tflm = run_tflm(write_tflite(q, float_io=True), x[finite], 1 << 20).outputs.reshape(int(finite.sum()), -1)
    assert tflm.dtype == np.float32 and np.array_equal(ours[finite].view(np.int32), tflm.view(np.int32))


def test_invoke_float_is_quantize_tflm_dequantize_on_random_models(tmp_path, rng):
    for k, (name, shape) in enumerate([("mbnet", (16, 16, 3)), ("plain", (1, 40, 2))]):
        graph = sample_graphs({"name": name}, shape, rng, 1)[0]
        q, model = export_random(graph, rng)
        x = hard_inputs(rng, shape, q.tensors[0], 4)
        q8 = quantize_reference(x, q.tensors[0])
        expected = dequantize_reference(run_tflm(model, q8, 1 << 22).outputs.reshape(len(x), -1), q.tensors[-1])
        ours = HostEngine.build(generate(q), tmp_path / f"m{k}").run_float(x)
        assert np.array_equal(ours.view(np.int32), expected.view(np.int32)), name


def two_models(rng):
    """Two different random int8 models, their .tflite, and libraries of prefixes ``a`` and ``b``."""
    graphs = sample_graphs({"name": "mbnet"}, (16, 16, 3), rng, 1) + sample_graphs({"name": "plain"}, (1, 40, 2), rng, 1)
    models = [export_random(graph, rng) for graph in graphs]
    return [(q, model, generate(q, prefix=prefix)) for (q, model), prefix in zip(models, "ab")]


def test_two_prefixed_models_link_into_one_library(tmp_path, rng):
    models = two_models(rng)
    (_, _, a), (_, _, b) = models
    assert sorted(a.files) == ["a_model.c", "a_model.h", "tinyml_kernels.c", "tinyml_kernels.h"]
    assert {n: t for n, t in a.files.items() if n.startswith("tinyml_")} == \
        {n: t for n, t in b.files.items() if n.startswith("tinyml_")}
    for lib in (a, b):                                   # one folder, the kernels written once
        write_library(lib, tmp_path / "src")
    sources = sorted((tmp_path / "src").glob("*.c"))
    assert [s.name for s in sources] == ["a_model.c", "b_model.c", "tinyml_kernels.c"]
    one = HostEngine.compile(sources, tmp_path / "build", 0)
    for q, model, lib in models:
        engine = HostEngine(one.dll, int(np.prod(lib.output_shape)), lib.prefix)
        inputs = rng.integers(-128, 128, size=(3, *q.graph.input_shape), dtype=np.int8)
        expected = run_tflm(model, inputs, 1 << 22).outputs.reshape(len(inputs), -1)
        assert np.array_equal(engine.run(inputs), expected), lib.prefix
        text = lib.files[f"{lib.prefix}_model.h"]
        assert f"#define {lib.prefix.upper()}_ARENA_SIZE {lib.arena_size}\n" in text and "TINYML_" not in text
        assert "tinyml_invoke" not in lib.files[f"{lib.prefix}_model.c"]
    if arm_tools():                                     # and one Cortex-M4 image: no symbol twice
        elf = tmp_path / "both.elf"
        link_size(sources, "m4", ("a_invoke_float", "b_invoke_float"), elf)
        sizes = symbol_sizes(elf)
        assert (sizes["a_arena"], sizes["b_arena"]) == (a.arena_size, b.arena_size)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_the_same_prefix_twice_does_not_link(tmp_path, rng):
    """The oracle of the test above: two models of one prefix must clash at the link."""
    q, _ = export_random(sample_graphs({"name": "plain"}, (1, 40, 2), rng, 1)[0], rng)
    first = write_library(generate(q, prefix="a"), tmp_path / "one")
    second = write_library(generate(q, prefix="a"), tmp_path / "two")
    sources = [*first, next(s for s in second if s.name == "a_model.c")]
    proc = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", *ARM_FLAGS, "-nostdlib", "-Wl,-e,a_invoke", "-o",
                           str(tmp_path / "x.elf"), *map(str, sources), "-lc", "-lgcc"], capture_output=True, text=True)
    assert proc.returncode != 0 and "multiple definition of `a_invoke'" in proc.stderr


@pytest.mark.parametrize("prefix", ["", "_m", "2net", "int", "a-b", "kws model", "x" * 33, 7])
def test_bad_prefixes_are_one_line_config_errors(prefix):
    with pytest.raises(ConfigError, match=r"^cfg\.yaml: engine\.prefix: expected a C name prefix") as info:
        validate({"engine": {"prefix": prefix}}, COMMON_SCHEMA, "cfg.yaml")
    assert "\n" not in str(info.value)


def test_prefix_is_checked_by_the_generator_too(rng):
    q, _ = export_random(sample_graphs({"name": "plain"}, (1, 40, 2), rng, 1)[0], rng)
    with pytest.raises(EngineError, match="engine.prefix"):
        generate(q, prefix="static")
    assert validate({"engine": {"prefix": "kws_v2"}}, COMMON_SCHEMA, "c")["engine"]["prefix"] == "kws_v2"
