"""The estimator against torch's own counts, published MobileNetV2 figures and its own budget rules."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from random_models import sample_graphs
from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.arch.mbnet import mobilenet_v2
from tinyml_cli.estimate import estimate
from tinyml_cli.estimate.planner import live_lower_bound
from tinyml_cli.mcu import Budget, budget_for, load_profile
from tinyml_cli.ops.torch_layers import ConvUnit
from tinyml_cli.train.builder import build_module

PROFILE = load_profile("STM32F746")
BUDGET = budget_for(PROFILE)
SPACES = [("mbnet", (1, 40, 1)), ("mbnet", (16, 16, 3)), ("plain", (1, 40, 1)), ("plain", (12, 12, 1))]


def folded_torch_params(module):
    """Parameters after folding each batch norm into its conv (torch's own fusion)."""
    total = 0
    for sub in module.layers:
        if isinstance(sub, ConvUnit) and sub.bn is not None:
            fused = fuse_conv_bn_eval(sub.conv.eval(), sub.bn.eval())
            total += sum(p.numel() for p in fused.parameters())
        else:
            total += sum(p.numel() for p in sub.parameters())
    return total


def hooked_torch_macs(module, input_shape):
    """MACs counted by forward hooks: output elements times the work of one output element."""
    counts = []

    def hook(m, _inputs, out):
        if isinstance(m, nn.Conv2d):
            counts.append(out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1])
        elif isinstance(m, nn.Linear):
            counts.append(out.numel() * m.in_features)

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        module.eval()(torch.zeros(1, *input_shape))
    for h in handles:
        h.remove()
    return sum(counts)


@pytest.mark.parametrize("name,shape", SPACES)
def test_params_and_macs_match_torch(name, shape, rng):
    for graph in sample_graphs({"name": name}, shape, rng, 4):
        module = build_module(graph)
        est = estimate(graph, PROFILE, BUDGET)
        assert est.params == folded_torch_params(module)
        assert est.macs == hooked_torch_macs(module, graph.input_shape)
        assert sum(row["macs"] for row in est.layers) == est.macs
        assert sum(row["params"] for row in est.layers) == est.params


def test_standard_mobilenet_v2_matches_published_figures():
    # Sandler et al. 2018, Table 4: MobileNetV2 (1.0, 224): 300M multiply-adds, 3.4M parameters.
    est = estimate(build_graph(mobilenet_v2(1.0, 224, 1000)), PROFILE, BUDGET)
    assert abs(est.macs - 300e6) / 300e6 < 0.03
    assert abs(est.params - 3.4e6) / 3.4e6 < 0.03


def alive_activation_bytes(graph, i):
    """int8 bytes (each rounded up to 16) of the tensors that exist while layer ``i`` runs: written
    at or before it and read at or after it (the input from the start, the output to the end)."""
    n = len(graph.layers)
    total = 0
    for t, shape in enumerate(graph.tensor_shapes):
        written = t == 0 or t - 1 <= i
        read_later = t == n or any(t in layer.inputs for layer in graph.layers[i:])
        if written and read_later:
            total += -(-int(np.prod(shape)) // 16) * 16
    return total


@pytest.mark.parametrize("name,shape", SPACES)
def test_sram_is_planned_arena_plus_persistent_and_above_live_set(name, shape, rng):
    for graph in sample_graphs({"name": name}, shape, rng, 5):
        est = estimate(graph, PROFILE, BUDGET)
        assert est.peak_sram >= est.sram_lower_bound > est.arena_persistent
        for i, row in enumerate(est.layers):       # kernel scratch buffers come on top
            assert row["live_sram"] >= alive_activation_bytes(graph, i)
        assert max(row["live_sram"] for row in est.layers) + est.arena_persistent == est.sram_lower_bound


def test_live_sram_without_scratch_is_exactly_the_alive_tensors():
    # 1x1 stride-1 convs and 3x3 depthwise convs need no CMSIS-NN scratch buffer
    arch = Arch("plain", (12, 12, 3), 4, {"layers": [{"type": "dwsep", "channels": 8, "kernel": 3,
                "stride": 1}, {"type": "pool", "kind": "max", "size": 2}], "reduce": "flatten",
                "dense": [16]})
    graph = build_graph(arch)
    est = estimate(graph, PROFILE, BUDGET)
    assert [row["live_sram"] for row in est.layers] == [
        alive_activation_bytes(graph, i) for i in range(len(graph.layers))]
    buffers = [(-(-int(np.prod(s)) // 16) * 16, max(t - 1, 0), t) for t, s in enumerate(graph.tensor_shapes)]
    assert est.sram_lower_bound - est.arena_persistent == live_lower_bound(buffers[:-1] + [
        (buffers[-1][0], len(graph.layers) - 1, len(graph.layers) - 1)])


def test_flash_grows_with_weights_and_includes_the_runtime():
    from tinyml_cli.estimate import constants as K
    from tinyml_cli.ops import LAYER_OPS

    small = build_graph(mobilenet_v2(0.35, 96, 2))
    large = build_graph(mobilenet_v2(1.0, 96, 2))
    a, b = estimate(small, PROFILE, BUDGET), estimate(large, PROFILE, BUDGET)
    # the measured runtime of the kernels it runs (the profile's core family is measured)
    table = K.RUNTIME_FLASH[PROFILE.core_family]
    kernels = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    for est in (a, b):
        weights = sum(l.weight_count for l in est.graph.layers)
        biases = sum(l.bias_count for l in est.graph.layers)
        assert est.flash_model > weights + 4 * biases
        assert {LAYER_OPS[layer.op].builtin for layer in est.graph.layers} == kernels
        assert est.flash_total == est.flash_model + table["base"] + table["shared"] + sum(table[k] for k in kernels)
    assert b.flash_model - a.flash_model > (b.params - a.params)
    # a core family never measured keeps the profile's flash reserve
    rp2040 = load_profile("RP2040")
    est = estimate(small, rp2040, budget_for(rp2040))
    assert est.flash_total == est.flash_model + rp2040.reserve_flash


def test_float_model_costs_more_and_file_size_overrides_flash():
    graph = build_graph(mobilenet_v2(0.35, 32, 10))
    int8 = estimate(graph, PROFILE, BUDGET)
    f32 = estimate(graph, PROFILE, BUDGET, activation_bytes=4, weight_bytes=4, model_bytes=12345)
    assert f32.flash_model == 12345
    # float activations take four times the planned arena; on a 32-bit MCU the float kernels keep no
    # per-channel requantization tables, which dominate this int8 model's persistent data
    assert f32.arena_planned == 4 * int8.arena_planned and f32.latency_ms > int8.latency_ms
    assert f32.arena_persistent < int8.arena_persistent
    host = [estimate(graph, PROFILE, BUDGET, build="host", **kw)
            for kw in ({}, {"activation_bytes": 4, "weight_bytes": 4})]
    assert host[1].peak_sram > host[0].peak_sram     # the host's reference kernels keep them for both


def test_latency_scales_with_clock_and_core():
    graph = build_graph(mobilenet_v2(0.35, 64, 10))
    ms = {name: estimate(graph, p := load_profile(name), budget_for(p)).latency_ms
          for name in ("STM32H743", "STM32F746", "STM32F412", "RP2040")}
    # same core family, 480 vs 216 MHz: exactly the clock ratio
    assert ms["STM32F746"] / ms["STM32H743"] == pytest.approx(480 / 216)
    assert ms["STM32H743"] < ms["STM32F746"] < ms["STM32F412"] < ms["RP2040"]
    est = estimate(graph, PROFILE, BUDGET)
    assert est.fps == pytest.approx(1000 / est.latency_ms)
    assert sum(row["latency_ms"] for row in est.layers) == pytest.approx(est.latency_ms)


def test_verdict_names_each_exceeded_budget_with_margins():
    graph = build_graph(mobilenet_v2(0.35, 96, 2))
    roomy = estimate(graph, PROFILE, BUDGET)
    assert roomy.fits and roomy.violations == []
    assert roomy.margins["sram"] == BUDGET.sram - roomy.peak_sram > 0
    tight = Budget(sram=16 * 1024, flash=BUDGET.flash, macs=1_000_000, latency_ms=1.0)
    est = estimate(graph, PROFILE, tight)
    assert not est.fits
    assert [v.split()[0] for v in est.violations] == ["peak", "MACs", "latency"]
    assert est.violations[0].endswith("> 16.0 KiB")
    assert est.margins["sram"] == 16 * 1024 - est.peak_sram < 0
    assert est.margins["macs"] == 1_000_000 - est.macs < 0
    assert est.margins["latency_ms"] == pytest.approx(1.0 - est.latency_ms)
    assert est.margins["flash"] > 0


def test_to_dict_is_json_ready(rng):
    import json

    graph = sample_graphs({"name": "plain"}, (1, 40, 1), rng, 1)[0]
    data = json.loads(json.dumps(estimate(graph, PROFILE, BUDGET).to_dict()))
    assert data["mcu"] == "STM32F746" and isinstance(data["peak_sram"], int)
    assert len(data["layers"]) == len(graph.layers)


def test_estimator_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import tinyml_cli.estimate, tinyml_cli.arch, tinyml_cli.mcu; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
