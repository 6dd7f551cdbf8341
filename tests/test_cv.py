"""Cross-validation on small data: folds against scikit-learn's, groups kept whole, ranking that
holds where a small validation split saturates, and the training loop's early stopping."""

import numpy as np
import pytest
import torch

from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.config import validate
from tinyml_cli.data import Dataset
from tinyml_cli.data.cv import pool, stratified_folds
from tinyml_cli.search.ranking import rank, standard_error
from tinyml_cli.train.builder import build_module
from tinyml_cli.train.crossval import cross_validate, fold_data, fold_seed, train_on_all
from tinyml_cli.train.loop import TRAIN_SCHEMA, fit, resolve_patience, train_and_evaluate, train_model


@pytest.mark.parametrize("k", [2, 3, 5])
def test_folds_keep_class_shares_like_sklearn(rng, k):
    from sklearn.model_selection import StratifiedKFold

    y = rng.integers(0, 4, 83)
    ours = stratified_folds(y, k, np.random.default_rng(0))
    theirs = list(StratifiedKFold(k, shuffle=True, random_state=0).split(np.zeros(len(y)), y))
    assert len(ours) == k
    held_out = np.concatenate([val for _, val in ours])
    assert sorted(held_out.tolist()) == list(range(len(y)))          # each sample validated once
    for train, val in ours:
        assert not set(train) & set(val) and len(train) + len(val) == len(y)
    for c in range(4):   # per class, the fold counts are the multiset StratifiedKFold gives
        assert sorted(int((y[val] == c).sum()) for _, val in ours) == \
            sorted(int((y[val] == c).sum()) for _, val in theirs)
    sizes = [len(val) for _, val in ours]
    assert max(sizes) - min(sizes) <= 1


def test_folds_never_split_a_group(rng):
    groups = np.repeat(np.arange(20), rng.integers(1, 6, 20))        # 20 stretches of a recording
    y = (groups % 3 == 0).astype(int)                                # one label per stretch
    folds = stratified_folds(y, 5, np.random.default_rng(1), groups)
    assert len(folds) == 5
    for train, val in folds:                                         # brute force over every pair
        assert not set(groups[train]) & set(groups[val])
        assert set(y[val]) == {0, 1}                                 # both classes in every fold
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(len(y)))
    few = stratified_folds(y[:4], 5, np.random.default_rng(1), groups[:4])
    assert len(few) == len(np.unique(groups[:4]))                    # fewer groups than folds


def test_pool_numbers_groups_of_both_splits_apart():
    x = np.zeros((5, 1, 4, 1), np.float32)
    d = Dataset("t", x[:3], np.array([0, 1, 0]), x[3:], np.array([1, 0]), x[:0], np.array([], int),
                ["a", "b"], train_groups=np.array([7, 7, 9]), val_groups=None)
    px, py, groups = pool(d)
    assert len(px) == 5 and py.tolist() == [0, 1, 0, 1, 0]
    assert groups.tolist() == [0, 0, 2, 3, 4]
    fd = fold_data(d, (np.array([0, 1, 3]), np.array([2, 4])))
    assert fd.train_groups.tolist() == [0, 0, 3] and fd.val_groups.tolist() == [2, 4] and len(fd.x_test) == 0


def shifted_bumps(rng, n):
    """A bump at a random position; the class is its width (a conv with global pooling sees it
    anywhere, a dense layer on the raw window has to learn every position)."""
    x = rng.normal(0, 0.3, (n, 1, 32, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    for i in range(n):
        start = rng.integers(0, 24)
        x[i, 0, start:start + (3 if y[i] else 7), 0] += 2.0
    return x, y


CONV = {"layers": [{"type": "conv", "channels": 8, "kernel": 5, "stride": 1}], "reduce": "avg", "dense": []}
DENSE = {"layers": [], "reduce": "flatten", "dense": []}
TRAIN = validate({"device": "cpu", "epochs": 60, "lr": 0.01, "threads": 1}, TRAIN_SCHEMA, "test")


def test_cross_validation_ranks_where_a_small_validation_split_saturates(rng):
    x, y = shifted_bumps(rng, 84)
    # a 4-sample validation split: copies of training samples, which every model gets right
    data = Dataset("bumps", x[:80], y[:80], x[:4].copy(), y[:4].copy(), x[:0], y[:0], ["wide", "narrow"])
    archs = {name: build_graph(Arch("plain", (1, 32, 1), 2, choices)) for name, choices in
             (("conv", CONV), ("dense", DENSE))}
    holdout = {name: train_and_evaluate(g, data, TRAIN, seed=0)[1] for name, g in archs.items()}
    assert holdout["conv"]["val_accuracy"] == holdout["dense"]["val_accuracy"] == 1.0   # noise decides
    folds = stratified_folds(np.concatenate([data.y_train, data.y_val]), 4, np.random.default_rng(0))
    cv = {name: cross_validate(g, data, folds, TRAIN, seed=0) for name, g in archs.items()}
    assert cv["conv"]["val_accuracy"] - cv["dense"]["val_accuracy"] > 2 * standard_error(cv["conv"])
    assert len(cv["conv"]["val_folds"]) == 4 and 1 <= cv["conv"]["best_epoch"] <= 60
    params = {name: sum(p.numel() for p in build_module(g).parameters()) for name, g in archs.items()}
    assert params["dense"] < params["conv"]
    rows = [{**cv[name], "trial": i, "params": params[name]} for i, name in enumerate(archs)]
    holdout_rows = [{**holdout[name], "trial": i, "params": params[name]} for i, name in enumerate(archs)]
    assert rank(holdout_rows) == [1, 0]        # a saturated split ties them: the smaller dense one first
    assert rank(rows) == [0, 1]                # cross-validation puts the better network first


def test_racing_skips_the_remaining_folds_of_a_hopeless_candidate(rng):
    x, y = shifted_bumps(rng, 40)
    data = Dataset("bumps", x[:30], y[:30], x[30:], y[30:], x[:0], y[:0], ["wide", "narrow"])
    folds = stratified_folds(np.concatenate([data.y_train, data.y_val]), 4, np.random.default_rng(0))
    graph = build_graph(Arch("plain", (1, 32, 1), 2, DENSE))
    cfg = {**TRAIN, "epochs": 2}
    assert len(cross_validate(graph, data, folds, cfg, stop_below=1.01)["val_folds"]) == 1
    assert len(cross_validate(graph, data, folds, cfg, stop_below=-1.0)["val_folds"]) == 4
    assert len(cross_validate(graph, data, folds, cfg)["val_folds"]) == 4


def test_near_ties_within_one_standard_error_go_to_the_simpler_model():
    rows = [{"trial": 0, "val_accuracy": 0.90, "val_std": 0.05, "val_folds": [0] * 5, "params": 500, "macs": 1},
            {"trial": 1, "val_accuracy": 0.88, "val_std": 0.05, "val_folds": [0] * 5, "params": 100, "macs": 9},
            {"trial": 2, "val_accuracy": 0.86, "val_std": 0.05, "val_folds": [0] * 5, "params": 50, "macs": 1}]
    # SE = 0.05 / sqrt(5) = 0.022: trial 1 is within it of the best, trial 2 is not
    assert rank(rows) == [1, 0, 2]
    assert rank([{**r, "val_std": None} for r in rows]) == [0, 1, 2]


def test_final_model_trains_on_train_and_validation(rng):
    x, y = shifted_bumps(rng, 50)
    data = Dataset("bumps", x[:30], y[:30], x[30:40], y[30:40], x[40:], y[40:], ["wide", "narrow"])
    graph = build_graph(Arch("plain", (1, 32, 1), 2, CONV))
    module, metrics = train_on_all(graph, data, TRAIN, seed=0, epochs=5)
    assert metrics["epochs_run"] == 5 and metrics["best_epoch"] == 5       # no validation: the last epoch
    assert np.isnan(metrics["val_accuracy"]) and 0 <= metrics["test_accuracy"] <= 1


def test_early_stopping_on_the_loss_keeps_the_most_accurate_epoch(rng):
    x, y = shifted_bumps(rng, 40)
    y_val = 1 - y[30:]                                   # a validation split the model can only get worse on
    data = Dataset("bumps", x[:30], y[:30], x[30:], y_val, x[:0], y[:0], ["wide", "narrow"])
    torch.manual_seed(0)
    model = build_module(build_graph(Arch("plain", (1, 32, 1), 2, CONV)))
    cfg = {**TRAIN, "epochs": 100, "patience": 5}
    result = fit(model, data, cfg, seed=0)
    losses = [r["val_loss"] for r in result.history]
    lowest = losses.index(min(losses)) + 1
    assert result.epochs_run < 100 and result.epochs_run - lowest == 5      # 5 epochs without a lower loss
    kept = result.history[result.best_epoch - 1]
    assert kept["val_accuracy"] == max(r["val_accuracy"] for r in result.history)
    assert kept["val_loss"] == min(r["val_loss"] for r in result.history if r["val_accuracy"] == kept["val_accuracy"])
    from tinyml_cli.train.loop import evaluate
    assert evaluate(model, data.x_val, data.y_val) == pytest.approx((kept["val_loss"], kept["val_accuracy"]), rel=1e-5)
    assert resolve_patience("auto", 100, "cosine") == 0   # the schedule's end lowers the loss most


def test_cross_validation_picks_the_latest_epoch_within_one_error_of_the_best(rng):
    x, y = shifted_bumps(rng, 60)
    data = Dataset("bumps", x[:45], y[:45], x[45:], y[45:], x[:0], y[:0], ["wide", "narrow"])
    folds = stratified_folds(np.concatenate([data.y_train, data.y_val]), 3, np.random.default_rng(0))
    graph = build_graph(Arch("plain", (1, 32, 1), 2, CONV))
    cfg = {**TRAIN, "epochs": 12}
    cv = cross_validate(graph, data, folds, cfg, seed=0)
    curves = np.array([[r["val_accuracy"] for r in train_model(graph, fold_data(data, fold), cfg,
                                                                fold_seed(0, f))[1].history]
                       for f, fold in enumerate(folds)])             # the same runs, by hand
    sizes = [len(val) for _, val in folds]
    mean = np.average(curves, axis=0, weights=sizes)
    best = int(np.argmax(mean))
    floor = mean[best] - curves[:, best].std() / np.sqrt(3)
    expected = max(e for e in range(12) if mean[e] >= floor - 1e-12)
    assert cv["best_epoch"] == expected + 1 and cv["epochs_run"] == 12
    assert cv["val_folds"] == pytest.approx(curves[:, expected].tolist())
    assert cv["val_accuracy"] == pytest.approx(mean[expected])


def test_augmented_training_is_deterministic_under_a_seed(rng):
    x, y = shifted_bumps(rng, 40)
    data = Dataset("bumps", x[:30], y[:30], x[30:], y[30:], x[:0], y[:0], ["wide", "narrow"])
    cfg = validate({"device": "cpu", "epochs": 3, "threads": 1,
                    "augment": {"jitter": 0.05, "scaling": 0.1, "shift": 0.1, "time_warp": 0.2, "mixup": 0.2}},
                   TRAIN_SCHEMA, "test")
    graph = build_graph(Arch("plain", (1, 32, 1), 2, CONV))
    runs = [train_and_evaluate(graph, data, cfg, seed=s)[0].state_dict() for s in (3, 3, 4)]
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])
