"""Input normalization is part of the deployed model: the .tflite takes raw sensor values, LiteRT and
TFLM compute what torch computes on the same raw values, and the estimator plans the float front
like TFLM does."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from tinyml_cli.arch import Arch, build_graph, make_space
from tinyml_cli.arch.graph import GraphBuilder
from tinyml_cli.errors import ConfigError
from tinyml_cli.estimate import estimate
from tinyml_cli.estimate.target import estimate_target
from tinyml_cli.export.quantize import SOFTMAX_OUTPUT, FoldedModule, folded_logits, quantize
from tinyml_cli.tflite.ir import load_graph as load_tflite
from tinyml_cli.export.tflite_writer import operator_names, write_tflite
from tinyml_cli.export.tflm_runner import required_arena
from tinyml_cli.export.verify import model_inputs, run_litert, run_tflm_model
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.train.builder import InputNorm, build_module, normalize_input

PROFILE = load_profile("STM32F412")
# Three sensor channels no int8 input could hold together: a large offset, a wide range, a tiny one.
SCALES, OFFSETS = np.array([2.0, 50.0, 0.01]), np.array([1000.0, -3.0, 0.5])


def raw_windows(rng, n, shape=(1, 32, 3)):
    """Sensor-like raw windows: per-channel scale and offset, per-window gain."""
    x = rng.normal(size=(n, *shape)) * rng.uniform(0.5, 2.0, size=(n, 1, 1, 1))
    return (x * SCALES[:shape[-1]] + OFFSETS[:shape[-1]]).astype(np.float32)


def small_graph(normalize, shape=(1, 32, 3)):
    b = GraphBuilder(shape)
    t = b.conv(b.input, 8, 5, activation="relu")
    t = b.mean(t)
    t = b.fully_connected(t, 4)
    b.softmax(t)
    return replace(b.finish(), normalize=normalize)


def exported(normalize, rng, shape=(1, 32, 3)):
    """A random-weight model with its normalization fitted on raw windows, quantized and written."""
    torch.manual_seed(0)
    graph = small_graph(normalize, shape)
    module = build_module(graph).eval()
    x = raw_windows(rng, 64, shape)
    module.fit_normalization(x)
    folded = FoldedModule.from_module(module)
    q = quantize(folded, x)
    return module, folded, q, write_tflite(q), x


def test_normalize_input_matches_numpy(rng):
    x = raw_windows(rng, 5)
    norm = InputNorm("standardize", 3)
    norm.fit(x)
    np.testing.assert_allclose(norm.mean.numpy(), x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(norm.inv_std.numpy(), 1 / x.std(axis=(0, 1, 2)), rtol=1e-4)
    standardized = norm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(standardized, (x - x.mean(axis=(0, 1, 2))) / x.std(axis=(0, 1, 2)),
                               atol=1e-3)
    znorm = normalize_input(torch.from_numpy(x), "znorm").numpy()
    w = x.astype(np.float64)
    expected = (w - w.mean(axis=(1, 2), keepdims=True)) / w.std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(znorm, expected, atol=1e-3)
    flat = normalize_input(torch.full((1, 1, 8, 1), 7.0), "znorm")
    assert torch.equal(flat, torch.zeros_like(flat))       # a flat window stays finite


@pytest.mark.parametrize("normalize", ["standardize", "znorm"])
def test_tflite_given_raw_inputs_matches_torch_given_raw_inputs(rng, normalize):
    module, folded, q, model, _ = exported(normalize, rng)
    x = raw_windows(rng, 40)
    assert model_inputs(q, x).dtype == np.float32
    lite = run_litert(model, x)
    scale, zero = SOFTMAX_OUTPUT
    lite_probs = scale * (lite.astype(np.float64) - zero)
    torch_probs = torch.softmax(module(torch.from_numpy(x)), -1).detach().numpy()
    fake_probs = torch.softmax(torch.from_numpy(folded_logits(folded, x)), -1).numpy()
    # the fake-quantized torch model is the int8 model: within two output steps of LiteRT; the float
    # torch model differs by the int8 rounding only
    assert np.abs(lite_probs - fake_probs).max() <= 2 * scale + 1e-6
    assert np.abs(lite_probs - torch_probs).max() < 0.05
    assert (lite.argmax(1) == torch_probs.argmax(1)).mean() >= 0.9
    tflm = run_tflm_model(q, model, x).outputs
    assert np.abs(tflm.astype(int) - lite.astype(int)).max() <= 1


def test_without_normalization_raw_inputs_lose_the_small_channel(rng):
    # the int8 input a model without a front takes must cover 1000 +- 4 and 0.5 +- 0.02 in one
    # grid: the small channel falls below one step, which the float front keeps exact
    _, _, q, _, x = exported("none", rng)
    assert q.tensors[0].scale > 4 * SCALES[2]
    _, _, q, _, _ = exported("standardize", rng)
    assert q.tensors[0].scale < 0.1                    # one grid for standardized values


@pytest.mark.parametrize("normalize", ["standardize", "znorm"])
def test_front_is_planned_like_tflm_and_reads_back(rng, capfd, tmp_path, normalize):
    from test_tflm_arena import tflm_arena

    _, _, q, model, x = exported(normalize, rng)
    graph = q.graph
    head = tflm_arena(model, capfd)["head"]
    host = estimate(graph, PROFILE, budget_for(PROFILE), build="host")
    assert host.arena_planned == head
    used = run_tflm_model(q, model, x[:1]).arena_total
    assert abs(host.peak_sram / required_arena(model, used) - 1) < 0.02
    assert abs(estimate(graph, PROFILE, budget_for(PROFILE)).flash_model / len(model) - 1) < 0.1
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    read = load_tflite(path)
    assert read.graph.normalize == normalize and read.io_bytes == (4, 1)
    assert [layer.op for layer in read.graph.layers] == [layer.op for layer in graph.layers]
    from_file = estimate_target(path, PROFILE, budget_for(PROFILE))
    assert from_file.arena_planned == estimate(graph, PROFILE, budget_for(PROFILE)).arena_planned


def test_front_costs_more_sram_than_an_int8_input(rng):
    plain = estimate(small_graph("none"), PROFILE, budget_for(PROFILE))
    for normalize in ("standardize", "znorm"):
        est = estimate(small_graph(normalize), PROFILE, budget_for(PROFILE))
        assert est.macs == plain.macs and est.params == plain.params
        assert est.peak_sram > plain.peak_sram and est.flash_model > plain.flash_model
        assert est.latency_ms > plain.latency_ms
    assert operator_names(small_graph("znorm"))[:3] == ["MEAN", "SUB", "MUL"]


def test_arch_carries_its_normalization(tmp_path):
    space = make_space({"name": "plain"}, (1, 32, 3), 4, normalize="znorm")
    arch = space.sample(np.random.default_rng(0))
    assert arch.normalize == "znorm" and build_graph(arch).normalize == "znorm"
    assert Arch.from_dict(arch.to_dict()) == arch
    plain = replace(arch, normalize="none")
    assert "normalize" not in plain.to_dict() and plain.key() != arch.key()
    with pytest.raises(ConfigError, match="normalize: expected one of none, standardize, znorm"):
        Arch.from_dict({**arch.to_dict(), "normalize": "minmax"})
    module = build_module(build_graph(replace(arch, normalize="standardize")))
    assert {"input_norm.mean", "input_norm.inv_std"} <= set(module.state_dict())
