"""The memoized graph builder and estimator against fresh builds and estimates: sharing layers and
per-layer costs between graphs must never change a graph or an estimate."""

import json

import numpy as np
import pytest

from tinyml_cli.arch import build_graph, make_space, sample_buildable
from tinyml_cli.arch import graph as graph_module
from tinyml_cli.arch import mbnet as mbnet_module
from tinyml_cli.arch.graph import Layer, LayerGraph
from tinyml_cli.estimate import estimate
from tinyml_cli.estimate import model as model_module
from tinyml_cli.mcu import budget_for, load_profile

SPACES = [("mbnet", (32, 32, 3)), ("mbnet", (1, 64, 2)), ("plain", (16, 16, 1))]
VARIANTS = [("STM32F746", {}), ("RP2040", {"build": "host"}),
            ("ESP32-S3", {"activation_bytes": 4, "weight_bytes": 4}), ("STM32F412", {"io_bytes": (4, 4)})]


def clear_memos():
    graph_module.clear_layer_memo()
    mbnet_module.clear_block_memo()
    model_module.clear_cost_memo()


def sample_archs(name, shape, n, seed):
    return sample_buildable(make_space({"name": name}, shape, 5), np.random.default_rng(seed), n)


def fingerprint(graph):
    """The graph and every estimate variant of it, as JSON text."""
    out = [repr(graph)]
    for mcu, options in VARIANTS:
        profile = load_profile(mcu)
        out.append(json.dumps(estimate(graph, profile, budget_for(profile), **options).to_dict()))
    return out


def fresh_fingerprint(arch):
    clear_memos()
    return fingerprint(build_graph(arch))


def fresh_fingerprint_of(graph):
    model_module.clear_cost_memo()
    return fingerprint(graph)


@pytest.mark.parametrize("name,shape", SPACES)
def test_memoized_graphs_and_estimates_equal_fresh_ones(name, shape):
    archs = sample_archs(name, shape, 40, seed=3)
    clear_memos()
    for arch in archs:                                 # warm the memos on every arch
        fingerprint(build_graph(arch))
    warm = [fingerprint(build_graph(arch)) for arch in archs]
    again = build_graph(archs[0])
    assert all(a is b for a, b in zip(again.layers, build_graph(archs[0]).layers))  # shared layers
    assert warm == [fresh_fingerprint(arch) for arch in archs]


def test_full_memos_are_dropped_and_stay_correct(monkeypatch):
    monkeypatch.setattr(graph_module, "_LAYERS_MAX", 5)
    monkeypatch.setattr(mbnet_module, "_BLOCKS_MAX", 3)
    monkeypatch.setattr(model_module, "_LAYER_MEMO_MAX", 7)
    archs = sample_archs("mbnet", (32, 32, 3), 15, seed=4)
    clear_memos()
    warm = [fingerprint(build_graph(arch)) for arch in archs]
    assert len(graph_module._LAYERS) <= 5 and len(mbnet_module._BLOCKS) <= 3
    # a cost table is checked before each estimate, so it exceeds its size by one graph at most
    # (two entries per new layer: by identity and by signature)
    longest = max(len(build_graph(arch).layers) for arch in archs)
    assert all(len(table) < 7 + 2 * longest for table in model_module._LAYER_MEMO.values())
    assert warm == [fresh_fingerprint(arch) for arch in archs]


def test_a_shared_layer_on_another_input_gets_its_own_cost():
    # One MEAN layer object in two graphs whose inputs differ: its cycles and scratch differ too.
    mean = Layer("mean_0", "mean", (0,), (4,))
    small, large = LayerGraph((2, 2, 4), (mean,)), LayerGraph((6, 6, 4), (mean,))
    clear_memos()
    both = [fingerprint(small), fingerprint(large)]
    assert both == [fresh_fingerprint_of(small), fresh_fingerprint_of(large)]
    assert both[0][1] != both[1][1]
