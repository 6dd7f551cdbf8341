"""On-device learning methods on mnist1d features: recovery after a label permutation, memory
accounting checked against the arrays and tensors the methods really keep, label regimes."""

import numpy as np
import pytest
import torch

from tinyml_cli.adapt import METHODS, Method, make_method
from tinyml_cli.adapt.base import FLOAT
from tinyml_cli.adapt.deployed import features, load_deployed
from tinyml_cli.adapt.experiment import adapted_candidate, make_context
from tinyml_cli.adapt.simulate import simulate
from tinyml_cli.config import validate
from tinyml_cli.drift.detectors import make_detector
from tinyml_cli.drift.stream import STREAM_DATA_SCHEMA, STREAM_SCHEMA, build_stream
from tinyml_cli.report.drift_metrics import drift_metrics
from tinyml_cli.train.loop import TRAIN_SCHEMA

DRIFT_AT = 800


def _setup(kind="permute", labels=None):
    cfg = {"length": 2400, "drift": {"kind": kind, "positions": [DRIFT_AT]}, "labels": labels or {}}
    data = validate({"name": "mnist1d", "samples": 4000}, STREAM_DATA_SCHEMA, "test")
    stream = build_stream(validate(cfg, STREAM_SCHEMA, "test"), data, seed=0)
    train = validate({"epochs": 12, "device": "cpu"}, TRAIN_SCHEMA, "test")
    deployed = load_deployed(None, stream.reference, stream.num_labels, train, seed=0)
    z = features(deployed.module, stream.x)
    ctx = make_context(deployed, stream, 0)
    return stream, deployed, z, ctx


@pytest.fixture(scope="module")
def permuted():
    return _setup()


def _run(name, setup, options=None):
    stream, _, z, ctx = setup
    method = make_method(name, ctx, options)
    trace = simulate(method, make_detector("ici"), stream.x, z, stream.y, stream.label_time)
    return method, trace, drift_metrics(trace.correct, stream.positions, trace.detections, 200, 0.05, 500)


@pytest.mark.parametrize("name", sorted(set(METHODS) - {"none"}))
def test_each_method_recovers_after_a_label_permutation(permuted, name):
    _, trace, m = _run(name, permuted)
    d = m["drifts"][0]
    assert m["before"] > 0.5
    assert d["drop"] > 0.1  # the permutation hurts everyone at first...
    assert d["recovery"] is not None and d["recovery"] <= 1200  # ...and each method gets back
    assert d["after"] > m["before"] - 0.1
    assert trace.correct[DRIFT_AT + 400:].mean() > 0.5


def test_the_frozen_model_does_not_recover(permuted):
    _, trace, m = _run("none", permuted)
    assert m["before"] > 0.5 and m["drifts"][0]["recovery"] is None
    assert trace.correct[DRIFT_AT + 200:].mean() < 0.15
    assert m["drifts"][0]["detection_delay"] is not None and m["drifts"][0]["detection_delay"] < 200


def test_methods_start_from_the_deployed_model(permuted):
    stream, deployed, z, _ = permuted
    with torch.no_grad():
        expected = deployed.module(torch.from_numpy(stream.x[:DRIFT_AT])).argmax(1).numpy()
    for name in METHODS:
        if name == "tml-cd" or not METHODS[name].uses_model:
            continue  # a kNN, not the network's classifier; an echo state network in its place
        method = make_method(name, permuted[3])
        method.bind(stream.x, z)
        assert [method.predict(t) for t in range(50)] == expected[:50].tolist(), name


def test_memory_costs_match_what_the_methods_keep(permuted):
    stream, _, z, ctx = permuted
    tinyol, _, _ = _run("tinyol", permuted)
    assert tinyol.cost().state == tinyol.head.w.nbytes + tinyol.head.b.nbytes
    tml, _, _ = _run("tml-cd", permuted, {"capacity": 100, "dims": 8})
    cost = tml.cost()
    assert tml.size == 100 and cost.state == 100 * (8 * FLOAT + 1 + 4)
    assert cost.flash == tml.projection.nbytes + tml.mean.nbytes
    tl, _, _ = _run("tinytl", permuted)
    learnable = sum(p.numel() for p in tl.module.parameters() if p.requires_grad)
    fc = tl.module.classifier
    assert learnable == fc.weight.numel() + sum(
        p.numel() for n, p in tl.module.named_parameters() if n.endswith("bias") and p.requires_grad)
    assert tl.cost().state == tl.cost().gradients == learnable * FLOAT
    ft, _, _ = _run("finetune-last", permuted, {"buffer": 50})
    assert len(ft.buffer.kept) == 50
    assert ft.cost().buffers == 50 * (z.shape[1] * FLOAT + 1 + 4)


def test_tml_cd_stays_within_its_capacity_and_forgets_on_detection(permuted):
    stream, _, z, ctx = permuted
    tml = make_method("tml-cd", ctx, {"mode": "hybrid", "capacity": 64})
    assert tml.size == 64 and (tml.set_t == -1).all()  # condensed from the training set, full
    tml.bind(stream.x, z)
    for t in range(DRIFT_AT, DRIFT_AT + 400):
        tml.learn(t, int(stream.y[t]))
    assert tml.size == 64
    stamps = tml.set_t[:tml.size]
    assert (stamps >= 0).any()  # misclassified new samples joined, the oldest left
    tml.on_drift(DRIFT_AT + 400, since=DRIFT_AT + 200)
    assert tml.size == int((stamps >= DRIFT_AT + 200).sum()) and (tml.set_t[:tml.size] >= DRIFT_AT + 200).all()


def test_adapted_network_predicts_like_the_adapted_head(permuted):
    stream, deployed, z, _ = permuted
    for name in ("tinyol", "finetune-last", "tinytl"):
        method, trace, _ = _run(name, permuted)
        arch, module = adapted_candidate(method, deployed)
        with torch.no_grad():
            net = module(torch.from_numpy(stream.x[-300:])).argmax(1).numpy()
        method.bind(stream.x, z)  # predictions from the final state
        assert net.tolist() == [method.predict(t) for t in range(len(stream.y) - 300, len(stream.y))], name
    assert adapted_candidate(make_method("tml-cd", permuted[3]), deployed) is None


def test_tinyol_learns_a_new_class():
    stream, deployed, z, ctx = _setup("new-class")
    assert deployed.arch.num_classes == 9 and stream.num_labels == 10
    new = stream.y == 9
    for name, expect in (("none", 0.0), ("tinyol", 0.25)):
        method = make_method(name, ctx)
        trace = simulate(method, make_detector("ici"), stream.x, z, stream.y, stream.label_time)
        late = new & (np.arange(len(new)) > DRIFT_AT + 600)
        hit = trace.correct[late].mean()
        assert (hit == 0.0) if name == "none" else hit > expect
    arch, module = adapted_candidate(method, deployed)
    assert arch.num_classes == 10 and module.classifier.out_features == 10


class Recorder(Method):
    """The frozen model that notes when each label reaches it."""

    name = "recorder"

    def bind(self, x, z):
        super().bind(x, z)
        self.now, self.heard = 0, []

    def predict(self, t):
        self.now = t
        return super().predict(t)

    def learn(self, t, y):
        self.heard.append((self.now, t, y))


def test_labels_arrive_as_the_regime_says(permuted):
    stream, _, z, ctx = permuted
    y = stream.y
    delayed = Recorder(ctx)
    simulate(delayed, make_detector("ddm"), stream.x, z, y, np.where(np.arange(len(y)) + 30 < len(y), np.arange(len(y)) + 30, -1))
    assert all(now == t + 30 and label == y[t] for now, t, label in delayed.heard)
    assert len(delayed.heard) == len(y) - 30
    part = Recorder(ctx)
    times = np.where(np.random.default_rng(0).random(len(y)) < 0.25, np.arange(len(y)), -1)
    simulate(part, make_detector("ddm"), stream.x, z, y, times)
    assert [t for _, t, _ in part.heard] == np.flatnonzero(times >= 0).tolist()


@pytest.mark.slow
def test_bench_targets_on_the_demo_stream():
    """Issue 5's targets on configs/drift/mnist1d_permute.yaml (what scripts/bench_drift.py prints)."""
    from tinyml_cli.adapt.experiment import load_drift_config, run_experiment

    exp = run_experiment(load_drift_config("configs/drift/mnist1d_permute.yaml", []))
    runs = {run.key: run for run in exp.runs}
    hybrid = runs["tml-cd"]
    assert hybrid.method.options["mode"] == "hybrid"
    assert hybrid.metrics["drifts"][0]["recovery"] <= 300 and hybrid.cost["state"] <= 32 * 1024
    assert runs["none"].metrics["drifts"][0]["recovery"] is None
