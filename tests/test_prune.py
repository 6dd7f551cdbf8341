"""`tinyml prune`: pruned graphs that build, train and export with consistent shapes through every
block type, torch and the estimator agreeing on them, an exact oracle for the cut, and the command end
to end (exported and verified in TFLM)."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from test_estimate import folded_torch_params, hooked_torch_macs
from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.arch.widths import channel_groups, group_widths
from tinyml_cli.errors import ArchError, ConfigError
from tinyml_cli.estimate import estimate
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.prune import channel_scores, cut_module, least_ratio, pruned_graph, ratio_counts, select_channels
from tinyml_cli.train.builder import build_module
from tinyml_cli.train.checkpoint import save_candidate
from tinyml_cli.runs import write_yaml

PROFILE = load_profile("STM32F746")
BUDGET = budget_for(PROFILE)


def _conv(channels, kernel, stride, kind="conv"):
    return {"type": kind, "channels": channels, "kernel": kernel, "stride": stride}


def _mbnet(shape, classes):
    stages = [{"channels": 16, "stride": 1, "blocks": [{"kernel": 3, "expand": 1}]},
              {"channels": 24, "stride": 2, "blocks": [{"kernel": 3, "expand": 3}, {"kernel": 5, "expand": 3}]}]
    stem = {"channels": 16, "kernel": 3, "stride": 2}
    return Arch("mbnet", shape, classes, {"width": 0.5, "divisor": 4, "stem": stem, "stages": stages,
                                          "head_channels": 32})


ARCHS = {
    # conv, max pool, depthwise-separable, conv, flatten, dense: 1-D
    "plain-1d": Arch("plain", (1, 40, 2), 5, {"layers": [_conv(8, 5, 1), {"type": "pool", "kind": "max", "size": 2},
                                                        _conv(12, 3, 2, "dwsep"), _conv(8, 3, 1)],
                                             "reduce": "flatten", "dense": [16]}),
    # conv, depthwise-separable, avg pool, global mean, dense: images
    "plain-2d": Arch("plain", (12, 12, 1), 4, {"layers": [_conv(8, 3, 2), _conv(16, 3, 1, "dwsep"),
                                                         {"type": "pool", "kind": "avg", "size": 2}],
                                              "reduce": "avg", "dense": [12]}),
    # inverted residuals: expansion, depthwise, projection, residual adds (the stem tied to stage 0)
    "mbnet-2d": _mbnet((16, 16, 3), 5),
    "mbnet-1d": _mbnet((1, 32, 2), 3),
}


def _randomize(module, seed):
    """Random weights and batch-norm statistics, so no channel is special by construction."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.dtype.is_floating_point and "input_norm" not in name:
                values = torch.rand(tensor.shape, generator=g) + 0.5 if "running_var" in name else \
                    torch.randn(tensor.shape, generator=g) * 0.5
                tensor.copy_(values)
    return module.eval()


def _cut(arch, module, ratio, criterion="l1"):
    graph = build_graph(arch)
    counts = ratio_counts(graph, ratio, 1)
    keep = select_channels(channel_scores(graph, module, criterion), counts)
    pruned_arch = replace(arch, widths=group_widths(graph, counts))
    pruned = build_graph(pruned_arch)
    return pruned_arch, pruned, cut_module(graph, module, pruned, keep), keep


@pytest.mark.parametrize("name", ARCHS)
def test_pruned_graphs_build_train_and_match_the_estimator(name):
    arch = ARCHS[name]
    graph = build_graph(arch)
    module = _randomize(build_module(graph), 0)
    x = torch.randn(6, *arch.input_shape, generator=torch.Generator().manual_seed(1))
    macs = estimate(graph, PROFILE, BUDGET).macs
    for ratio in (0.3, 0.7):
        pruned_arch, pruned, model, _ = _cut(arch, module, ratio)
        # arch.yaml rebuilds the exact pruned graph
        again = Arch.from_dict(yaml.safe_load(pruned_arch.to_yaml()))
        assert build_graph(again) == pruned and again.key() != arch.key()
        est = estimate(pruned, PROFILE, BUDGET)
        assert est.params == folded_torch_params(model)
        assert est.macs == hooked_torch_macs(model, pruned.input_shape) < macs
        assert pruned.output_shape == graph.output_shape
        # every layer writing a group keeps the group's count: ADD inputs stay equal
        for layer in pruned.layers:
            if layer.op == "add":
                assert len({pruned.tensor_shape(t) for t in layer.inputs}) == 1
        # one training step through the pruned module
        model.train()
        loss = F.cross_entropy(model(x), torch.arange(6) % arch.num_classes)
        loss.backward()
        torch.optim.SGD(model.parameters(), lr=0.1).step()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        assert torch.isfinite(model.eval()(x)).all()


def test_mbnet_residual_channels_are_pruned_together():
    graph = build_graph(ARCHS["mbnet-2d"])
    groups = channel_groups(graph)
    adds = [i for i, layer in enumerate(graph.layers) if layer.op == "add"]
    assert len(adds) == 2
    for i in adds:
        a, b = graph.layers[i].inputs
        assert groups.group[a] == groups.group[b] == groups.group[i + 1] is not None
    stem_group = groups.group[1]
    assert len(groups.writers[stem_group]) == 2            # the stem and stage 0's projection
    counts = {g: max(1, c // 2) for g, c in groups.size.items()}
    widths = group_widths(graph, counts)
    with pytest.raises(ArchError, match="must keep equal channels"):
        build_graph(replace(ARCHS["mbnet-2d"], widths={**widths, graph.layers[0].name: 3}))
    with pytest.raises(ConfigError, match="not a layer whose channels can be set"):
        build_graph(replace(ARCHS["mbnet-2d"], widths={graph.layers[-2].name: 3}))   # the classifier


@pytest.mark.parametrize("name,criterion", [("plain-1d", "l1"), ("plain-2d", "bn"), ("mbnet-2d", "l1"),
                                            ("mbnet-1d", "bn")])
def test_cutting_channels_that_are_exactly_zero_leaves_the_outputs_unchanged(name, criterion):
    """Oracle: zero a random subset of each group's channels in every layer that writes them (weights,
    bias, batch-norm scale and shift), so they carry exact zeros; those are the lowest ranked, and
    cutting them out must not change the network's function."""
    arch = ARCHS[name]
    graph = build_graph(arch)
    module = _randomize(build_module(graph), 3)
    groups = channel_groups(graph)
    rng = np.random.default_rng(5)
    counts = ratio_counts(graph, 0.5, 1)
    zeroed = {g: rng.choice(size, size - counts[g], replace=False) for g, size in groups.size.items()}
    with torch.no_grad():
        for i in range(len(graph.layers)):
            g = groups.group[i + 1]
            for _, p in module.layers[i].named_parameters():
                if g in zeroed and p.shape[0] == groups.size[g]:
                    p[torch.from_numpy(zeroed[g])] = 0.0
    x = torch.randn(8, *arch.input_shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = module(x)
    keep = select_channels(channel_scores(graph, module, criterion), counts)
    for g in zeroed:
        assert set(keep[g]) == set(range(groups.size[g])) - set(zeroed[g])
    pruned = build_graph(replace(arch, widths=group_widths(graph, counts)))
    with torch.no_grad():
        after = cut_module(graph, module, pruned, keep)(x)
    assert before.abs().max() > 0.1
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)


def test_least_ratio_is_the_brute_force_threshold():
    graph = build_graph(ARCHS["mbnet-2d"])
    macs = lambda g: estimate(g, PROFILE, BUDGET).macs   # noqa: E731
    target = 0.5 * macs(graph)
    r = least_ratio(graph, lambda g: macs(g) <= target, 1)
    grid = np.linspace(0, 1, 1001)
    first = next(v for v in grid if macs(pruned_graph(graph, v, 1)) <= target)
    assert first - 1e-3 <= r <= first + 1e-8
    assert macs(pruned_graph(graph, r, 1)) <= target
    assert least_ratio(graph, lambda g: macs(g) <= 10, 1) is None


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    """A search-like run directory: one briefly trained mnist1d candidate and its config."""
    from tinyml_cli.config import validate
    from tinyml_cli.data import DATA_SCHEMA, load_dataset
    from tinyml_cli.train.loop import TRAIN_SCHEMA, train_model

    run = tmp_path_factory.mktemp("search-run")
    cfg = {"name": "tiny", "mcu": "STM32F412", "seed": 0, "data": {"name": "mnist1d", "samples": 400},
           "train": {"epochs": 3, "batch_size": 64, "threads": 1, "device": "cpu", "lr": 0.01}}
    data = load_dataset(validate(cfg["data"], DATA_SCHEMA, "test"), 0)
    arch = replace(ARCHS["plain-1d"], input_shape=data.input_shape, num_classes=data.num_classes,
                   normalize="standardize")
    module, _ = train_model(build_graph(arch), data, validate(cfg["train"], TRAIN_SCHEMA, "test"), 0)
    save_candidate(run / "candidates" / "001", arch, module, {"val_accuracy": 0.5})
    write_yaml(run / "config.yaml", cfg)
    return run


def test_prune_command_levels_then_export_verified_in_tflm(search_run, tmp_path, cli):
    out = tmp_path / "pruned"
    code, stdout, _ = cli("prune", search_run, "prune.levels=[0.5]", "prune.epochs=1", "--out", out, "--json", "-q")
    assert code == 0
    rows = json.loads(stdout)["rows"]
    assert [r["kind"] for r in rows] == ["unpruned", "pruned"]
    assert rows[1]["macs"] <= 0.5 * rows[0]["macs"]
    folder = out / "candidates" / "001"
    assert {"arch.yaml", "weights.pt", "metrics.json", "estimate.json"} <= {p.name for p in folder.iterdir()}
    files = {p.name for p in out.iterdir()}
    assert {"pruning.csv", "pruning.md", "pruning.png", "config.yaml", "manifest.json"} <= files
    assert json.loads((folder / "estimate.json").read_text())["macs"] == rows[1]["macs"]
    code, stdout, _ = cli("export", out, "--rank", "1", "--json", "-q", "export.calibration_samples=100")
    assert code == 0
    verify = json.loads(stdout)["exports"][0]["verify"]
    # TFLM rounds FULLY_CONNECTED twice where LiteRT rounds once: logits within two int8 steps
    assert verify["litert_tflm_max_step_difference"] <= 2 and verify["litert_tflm_agreement"] >= 0.95
    assert 0.95 <= verify["estimate"]["sram_ratio"] <= 1.05 and 0.98 <= verify["estimate"]["flash_ratio"] <= 1.02


@pytest.mark.parametrize("args, code, message", [
    (["--candidate", "7"], 2, "--candidate 7: no candidates/007 (the run has 001)"),
    (["flash=1KB"], 3, "constraints: cannot be met by pruning"),
    (["prune.criterion=l2"], 2, "prune.criterion"),
])
def test_prune_command_errors_are_one_line_before_any_run_folder(search_run, tmp_path, cli, args, code, message):
    out = tmp_path / "never"
    rc, _, err = cli("prune", search_run, "--out", out, *args)
    assert rc == code and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_report_keeps_the_search_front_rows_trained_in_full(tmp_path):
    from tinyml_cli.prune.report import search_front, write_report

    costs = {"macs": 1000, "params": 10, "flash": 2000, "peak_sram": 500, "latency_ms": 1.0}
    board = [{"candidate": "candidates/001", "pareto": True, "test_accuracy": 0.9, "val_accuracy": 0.9, **costs},
             {"candidate": "candidates/002", "pareto": False, "test_accuracy": 0.8, "val_accuracy": 0.8, **costs},
             {"candidate": None, "trial": 7, "pareto": True, "test_accuracy": None, "val_accuracy": 0.5, **costs}]
    (tmp_path / "leaderboard.json").write_text(json.dumps({"leaderboard": board}))
    front = search_front(tmp_path)
    assert [r["label"] for r in front] == ["search candidates/001"]
    ours = [{"kind": "unpruned", "label": "x", "level": 0.0, "ratio": 0.0, "val_accuracy": 0.9,
             "test_accuracy": 0.91, **costs},
            {"kind": "pruned", "label": "level 0.5", "level": 0.5, "ratio": 0.3, "val_accuracy": 0.8,
             "test_accuracy": 0.85, **{**costs, "macs": 500}}]
    write_report(tmp_path, ours, front)
    lines = (tmp_path / "pruning.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["kind", "unpruned", "pruned", "search"]
    assert "| level 0.5 | 0.5 | 0.3 | 80.0 | 85.0 | 500 |" in (tmp_path / "pruning.md").read_text()
    assert (tmp_path / "pruning.png").read_bytes()[:4] == b"\x89PNG"
