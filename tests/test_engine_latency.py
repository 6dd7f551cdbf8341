"""The estimator's latency under runtime c: the engine's instruction model (ENGINE_INSTRUCTIONS,
fitted by scripts/fit_engine_latency.py on the emulated Cortex-M4 / M7) against a fixture of real
measurements on architectures the fit did not see (held-out seed 1: `tinyml profile --runtime c`
in QEMU, instructions counted per inference and per layer), and against the work terms recomputed
here from the layers' shapes by the textbook formulas."""

import json
from math import prod
from pathlib import Path

import pytest

from tinyml_cli.arch import build_graph
from tinyml_cli.arch.arch import Arch
from tinyml_cli.engine.patches import CROP, PLACE, plan_patches
from tinyml_cli.estimate import constants as K
from tinyml_cli.estimate import estimate
from tinyml_cli.mcu import budget_for, load_profile

CASES = json.loads((Path(__file__).parent / "data" / "engine_latency_heldout.json").read_text())
# held-out figures of scripts/fit_engine_latency.py (README): every model within these
RATIO_RANGE = (0.85, 1.15)


def _terms(graph, layer) -> tuple[str, list[float]]:
    """The layer's kernel class and work terms as the engine runs it, from its shapes."""
    shapes = [graph.tensor_shape(t) for t in layer.inputs]
    out = layer.output_shape
    if layer.op == "conv2d":
        kh, kw = layer.kernel
        window = prod(out[:-1]) * kh * kw * shapes[0][-1]                # MACs per output channel
        return "pointwise" if (kh, kw) == (1, 1) else "conv", [window * out[-1], window, prod(out), prod(out[:-1]), 0]
    if layer.op == "depthwise_conv2d":                  # channel by channel over a copy of its input plane
        kh, kw = layer.kernel
        window = prod(out[:-1]) * kh * kw
        key = "depthwise_3x3" if (kh, kw) == (3, 3) else "depthwise"
        return key, [window * out[-1], window, prod(out), out[-1], prod(shapes[0])]
    if layer.op == "fully_connected":
        n_in = prod(shapes[0])
        return "fully_connected", [n_in * out[-1], n_in, out[-1], 1, 0]
    copied = {CROP: prod(out), PLACE: prod(shapes[-1])}
    return layer.op, [copied.get(layer.op, sum(prod(s) for s in shapes))]


def _fitted(table: dict, key: str, terms: list[float]) -> float:
    if len(terms) == 1:
        return table["op"].get(key, table["op"]["default"]) + table["element"][key] * terms[0]
    rates = [table[name].get(key, 0.0) for name in ("mac", "window", "output", "pixel", "element")]
    return table["op"].get(key, table["op"]["default"]) + sum(r * t for r, t in zip(rates, terms))


@pytest.mark.parametrize("case", CASES, ids=[f"{c['mcu']}-{c['space']}-{c['index']}-p{c['patches']}" for c in CASES])
def test_the_engines_latency_follows_its_fit_and_the_emulator_on_held_out_models(case):
    graph = build_graph(Arch.from_dict(case["arch"]))
    profile = load_profile(case["mcu"])
    est = estimate(graph, profile, budget_for(profile), runtime="c", patches=case["patches"])
    cpi = K.CYCLES_PER_INSTRUCTION[profile.core_family]
    table = K.ENGINE_INSTRUCTIONS[profile.core_family]
    # the model: each layer as run (each patch's run of it, the crops and places on the split layer)
    expected = [0.0] * len(graph.layers)
    if case["patches"]:
        patched = plan_patches(graph, case["patches"])[0]
        for layer, step in zip(patched.graph.layers, patched.steps):
            at = patched.split if step.source is None else step.source
            expected[at] += _fitted(table, *_terms(patched.graph, layer))
        assert est.patches["split"] == graph.layers[patched.split].name
    else:
        expected = [_fitted(table, *_terms(graph, layer)) for layer in graph.layers]
    estimated = [cost[3] / cpi for cost in est.layer_costs]
    assert estimated == pytest.approx(expected, rel=1e-9)
    assert est.latency_ms == pytest.approx(sum(estimated) * cpi / (profile.clock_mhz * 1000.0), rel=1e-9)
    assert not est.notes                                      # measured family: no ESTIMATE note
    # the emulator: the instructions QEMU counted for this model, which the fit never saw
    ratio = sum(estimated) / case["instructions"]
    assert RATIO_RANGE[0] <= ratio <= RATIO_RANGE[1], ratio
    assert len(case["layers"]) == (len(plan_patches(graph, case["patches"])[0].graph.layers) if case["patches"]
                                   else len(graph.layers))


def test_an_unmeasured_family_is_marked_an_estimate_and_runs_the_plain_kernels_slower():
    case = CASES[0]
    graph = build_graph(Arch.from_dict(case["arch"]))
    m4, m0 = load_profile(case["mcu"]), load_profile("RP2040")
    fast = estimate(graph, m4, budget_for(m4), runtime="c", patches=case["patches"])
    slow = estimate(graph, m0, budget_for(m0), runtime="c", patches=case["patches"])
    cycles = [sum(c[3] for c in e.layer_costs) for e in (fast, slow)]
    assert K.ENGINE_UNMEASURED_SCALE["m0plus"] > 1
    assert cycles[1] == pytest.approx(cycles[0] * K.ENGINE_UNMEASURED_SCALE["m0plus"], rel=1e-9)
    assert any("ESTIMATE" in note and "m0plus" in note for note in slow.notes)
