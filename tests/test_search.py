"""tinyml search end to end on tiny data: every backend, infeasible and duplicate architectures never
trained, resume after SIGKILL, two workers on one study."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from tinyml_cli.arch import Arch, build_graph
from tinyml_cli.config import validate
from tinyml_cli.errors import ArchError, ConfigError, RunDirError, TinymlError
from tinyml_cli.estimate import estimate
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.search import SEARCH_SCHEMA, PreparedRun, prepare_run, run_search
from tinyml_cli.search.backends import base as base_module
from tinyml_cli.search.leaderboard import COSTS

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "name": "tiny", "mcu": "STM32F412", "seed": 0,
    "data": {"name": "mnist1d", "samples": 400},
    "space": {"name": "plain", "max_layers": 2, "channels": [4, 8], "kernels": [3, 5],
              "strides": [1, 2], "units": [16], "max_dense": 1},
    "train": {"epochs": 2, "batch_size": 64, "threads": 1, "device": "cpu", "lr": 0.01},
    "fidelity": {"epochs": 1},
    "search": {"backend": "random", "trials": 5, "top_k": 1, "cv_folds": 0, "baseline": False},
}


def tiny(**sections):
    cfg = json.loads(json.dumps(TINY))
    for key, value in sections.items():
        section, _, sub = key.partition("__")
        if sub:
            cfg[section][sub] = value
        else:
            cfg[section] = value
    return cfg


def write_config(tmp_path, cfg):
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def load_study(run_dir):
    return optuna.load_study(study_name="tinyml-search-tiny", storage=f"sqlite:///{run_dir}/study.db")


@pytest.mark.parametrize("backend, options", [
    ("random", {}), ("evolution", {"population": 2, "sample_size": 2}),
    ("bayesian", {"startup_trials": 2}), ("nsga2", {"population": 2})])
def test_backend_runs_end_to_end(tmp_path, backend, options, train_calls):
    cfg_path = write_config(tmp_path, tiny(search__backend=backend, search__options=options))
    run = prepare_run(cfg_path, [], out=str(tmp_path / "run"))
    summary = run_search(run)
    study = load_study(run.run_dir)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == summary["trials"]["complete"]
    trained = [t for t in complete if t.user_attrs["status"] == "trained"]
    # the trial budget counts trained candidates only: rejected and repeated ones come on top
    assert len(trained) == 5 == summary["trials"]["trained"]
    assert len(complete) == 5 + summary["trials"]["infeasible"] + summary["trials"]["duplicate"]
    assert len(train_calls) == len(trained) + 1  # screening + one full training (top_k=1)
    lb = json.loads((run.run_dir / "leaderboard.json").read_text())
    assert [r["trial"] for r in lb["leaderboard"]] == [r["trial"] for r in summary["leaderboard"]]
    assert len(lb["leaderboard"]) == len(trained)
    assert (run.run_dir / "leaderboard.csv").read_text().splitlines()[0].startswith("rank,trial,stage")
    assert (run.run_dir / "leaderboard.md").read_text().startswith("# Search leaderboard")
    assert (run.run_dir / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = lb["leaderboard"][0]
    assert best["stage"] == "final" and best["candidate"] == "candidates/001"
    for name in ("arch.yaml", "weights.pt", "metrics.json", "estimate.json"):
        assert (run.run_dir / "candidates" / "001" / name).is_file()
    # the Pareto flags agree with a brute-force dominance check
    rows = lb["leaderboard"]
    for r in rows:
        dominated = any(o["val_accuracy"] >= r["val_accuracy"] and all(o[c] <= r[c] for c in COSTS)
                        and (o["val_accuracy"] > r["val_accuracy"] or any(o[c] < r[c] for c in COSTS))
                        for o in rows)
        assert r["pareto"] == (not dominated)
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["command"] == "search"
    if backend == "nsga2":
        assert len(study.directions) == 4 and summary["pareto"]


def test_infeasible_architectures_are_never_trained(tmp_path, train_calls):
    # about one random architecture in five fits 1,900 bytes
    cfg = validate(tiny(constraints={"sram": "1900B"}, search__trials=4, search__top_k=0,
                        train__normalize="none"), SEARCH_SCHEMA, "t")
    cfg_path = write_config(tmp_path, cfg)
    run = prepare_run(cfg_path, [], out=str(tmp_path / "run"))
    summary = run_search(run)
    profile = load_profile("STM32F412")
    budget = budget_for(profile, run.cfg["constraints"])
    study = load_study(run.run_dir)
    infeasible = [t for t in study.trials if t.user_attrs.get("status") == "infeasible"]
    assert infeasible and summary["trials"]["infeasible"] == len(infeasible)
    for t in infeasible:  # the estimator, asked again, agrees these do not fit
        try:
            assert not estimate(build_graph(Arch.from_dict(t.user_attrs["arch"])), profile, budget).fits
        except ArchError:
            pass
        assert t.user_attrs["violations"] and "metrics" not in t.user_attrs
        assert t.system_attrs and any(v > 0 for k, v in t.system_attrs.items() if k.startswith("constraints"))
    # every network handed to training fits, and the rejected ones did not use up the budget
    assert len(train_calls) == summary["trials"]["trained"] == 4
    assert all(estimate(g, profile, budget).fits for g in train_calls)


def test_duplicates_are_trained_once(tmp_path, train_calls):
    one_arch = {"name": "plain", "max_layers": 1, "layer_types": ["conv"], "channels": [4], "kernels": [3],
                "strides": [1], "reduce": ["avg"], "max_dense": 0}
    cfg = tiny(space=one_arch, search__trials=4, search__top_k=1, search__max_rejections=3)
    run = prepare_run(write_config(tmp_path, cfg), [], out=str(tmp_path / "run"))
    summary = run_search(run)
    # repeats do not use the budget: the space holds one network, so screening stops after three
    # repeats in a row (search.max_rejections) instead of asking forever
    assert summary["trials"]["trained"] == 1 and summary["trials"]["duplicate"] == 3
    assert len(train_calls) == 2  # one screening, one full training
    study = load_study(run.run_dir)
    assert {t.user_attrs["duplicate_of"] for t in study.trials if "duplicate_of" in t.user_attrs} == {0}
    assert len({tuple(t.values) for t in study.trials}) == 1


def test_config_and_resume_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"search.yaml: unknown key 'search.options.populaton' \(did you mean 'population'"):
        prepare_run(write_config(tmp_path, tiny(search__backend="evolution",
                                                search__options={"populaton": 3})), [])
    with pytest.raises(ConfigError, match="--resume continues a run"):
        prepare_run("x.yaml", [], resume=str(tmp_path))
    with pytest.raises(ConfigError, match="journal file ending in .log"):
        prepare_run(write_config(tmp_path, tiny()), [], out=str(tmp_path / "never"), storage="study.txt")
    assert not (tmp_path / "never").exists()


def test_prepare_run_hands_its_context_over_in_its_return_value(tmp_path):
    run = prepare_run(write_config(tmp_path, tiny()), [], out=str(tmp_path / "run"))
    assert run.ctx is not None and run.ctx.cfg == run.cfg and run.context() is run.ctx  # data loaded once
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.ctx = None
    other = dataclasses.replace(run, cfg={**run.cfg, "seed": run.cfg["seed"] + 1}).context()
    assert other is not run.ctx and other.seed == run.cfg["seed"] + 1   # not the context of another config
    assert PreparedRun(run.cfg, run.run_dir, run.url).context().space.genes == run.ctx.space.genes


def test_storage_password_never_written(tmp_path):
    url = "postgresql://me:s3cret@localhost:1/tinyml"
    run = prepare_run(write_config(tmp_path, tiny()), [], out=str(tmp_path / "run"), storage=url)
    with pytest.raises(ConfigError) as exc:  # no PostgreSQL driver here: a clear error either way
        run_search(run, argv=["tinyml", "search", "--storage", url])
    assert "s3cret" not in str(exc.value)
    manifest = (run.run_dir / "manifest.json").read_text()
    assert "s3cret" not in manifest and "me:***@localhost" in manifest
    with pytest.raises(ConfigError, match="has a password; give it again with --storage"):
        prepare_run(None, [], resume=str(run.run_dir))


def _cli(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tinyml_cli", "search", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _complete(run_dir):
    if not (run_dir / "study.db").exists():
        return []
    try:
        return [t for t in load_study(run_dir).trials if t.state == optuna.trial.TrialState.COMPLETE]
    except Exception:  # the study is still being created
        return []


def test_resume_after_interrupt_does_not_retrain(tmp_path, monkeypatch):
    cfg_path = write_config(tmp_path, tiny(search__trials=6, search__top_k=1))
    run = prepare_run(cfg_path, [], out=str(tmp_path / "run"))
    real, calls = base_module.train_and_evaluate, []

    def interrupted_on_third(graph, *args, **kwargs):
        calls.append(graph)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(graph, *args, **kwargs)

    monkeypatch.setattr(base_module, "train_and_evaluate", interrupted_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_search(run)
    assert json.loads((run.run_dir / "manifest.json").read_text())["status"] == "interrupted"
    finished = {t.number: t for t in _complete(run.run_dir)}
    trained_before = [build_graph(Arch.from_dict(t.user_attrs["arch"])) for t in finished.values()
                      if t.user_attrs["status"] == "trained"]
    assert len(trained_before) == 2
    board = (run.run_dir / "manifest.json").read_bytes()
    with pytest.raises(RunDirError, match="is not in"):  # another storage would start a new search
        prepare_run(None, [], resume=str(run.run_dir), storage=str(tmp_path / "other.log"))
    assert (run.run_dir / "manifest.json").read_bytes() == board
    calls.clear()
    monkeypatch.setattr(base_module, "train_and_evaluate",
                        lambda graph, *a, **k: calls.append(graph) or real(graph, *a, **k))
    run = prepare_run(None, [], resume=str(run.run_dir))
    summary = run_search(run)
    assert summary["trials"]["trained"] == 6 and summary["trials"]["failed"] == 1
    screening_calls = calls[:-1]  # the last call is the full training of the top-1
    assert not [g for g in screening_calls if g in trained_before]
    for number, t in finished.items():
        assert load_study(run.run_dir).trials[number].values == t.values


@pytest.mark.slow
def test_resume_after_sigkill_keeps_finished_trials(tmp_path):
    run_dir = tmp_path / "run"
    cfg_path = write_config(tmp_path, tiny(data={"name": "mnist1d", "samples": 1500}, search__trials=7))
    proc = _cli(cfg_path, "--out", str(run_dir))
    deadline = time.time() + 300  # generous: a loaded 2-core machine starts torch slowly
    while len(_complete(run_dir)) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: (t.values, t.user_attrs["arch_key"], t.user_attrs["status"]) for t in _complete(run_dir)}
    assert 2 <= len(before) < 7, "the search finished before it could be killed"
    resumed = _cli("--resume", str(run_dir), "--json")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    study = load_study(run_dir)
    after = {t.number: t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert len([t for t in after.values() if t.user_attrs["status"] == "trained"]) == 7
    for number, (values, key, status) in before.items():  # finished trials kept as they were
        assert after[number].values == values and after[number].user_attrs["status"] == status
    trained_before = {key for values, key, status in before.values() if status == "trained"}
    resumed_pid = f":{resumed.pid}"
    retrained = [t for t in after.values() if t.user_attrs["worker"].endswith(resumed_pid)
                 and t.user_attrs["status"] == "trained" and t.user_attrs["arch_key"] in trained_before]
    assert not retrained
    summary = json.loads(out)
    assert summary["trials"]["trained"] == 7 and summary["run_dir"] == str(run_dir)
    assert json.loads((run_dir / "manifest.json").read_text())["resumed"]


@pytest.mark.slow
def test_two_workers_share_one_study_without_duplicate_training(tmp_path):
    small = {"name": "plain", "max_layers": 1, "layer_types": ["conv"], "channels": [4, 8], "kernels": [3],
             "strides": [1, 2], "reduce": ["avg"], "max_dense": 0}
    run_dir = tmp_path / "run"
    cfg_path = write_config(tmp_path, tiny(space=small, search__trials=4, search__top_k=0,
                                           search__max_rejections=60))
    proc = _cli(cfg_path, "--out", str(run_dir), "--workers", "2", "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    study = load_study(run_dir)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    trained = [t.user_attrs["arch_key"] for t in complete if t.user_attrs["status"] == "trained"]
    assert len(trained) == len(set(trained)) == 4  # the space holds 4 networks, each trained once
    assert len({t.user_attrs["worker"] for t in complete}) == 2
    assert json.loads(out)["trials"]["complete"] == len(complete)


def test_mbnet_resolution_gene_trains_on_resized_data_with_journal_storage(tmp_path, train_calls):
    mbnet = {"name": "mbnet", "resolutions": [8, 12], "widths": [0.25], "kernels": [3], "expands": [3],
             "stem": {"channels": 8, "kernel": 3, "stride": 1},
             "stages": [{"channels": 8, "depth": 1, "stride": 2}], "head_channels": 16}
    cfg = tiny(data={"name": "digits", "samples": 300}, space=mbnet, search__trials=2, search__top_k=0)
    cfg_path = write_config(tmp_path, cfg)
    journal = str(tmp_path / "study.log")
    run = prepare_run(cfg_path, [], out=str(tmp_path / "run"), storage=journal)
    summary = run_search(run)
    assert summary["storage"] == journal and not (run.run_dir / "study.db").exists()
    assert summary["trials"]["trained"] == 2
    shapes = {g.input_shape for g in train_calls}
    assert shapes == {(8, 8, 1), (12, 12, 1)} and summary["trials"]["trained"] == len(train_calls)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    journal_trials = optuna.load_study(study_name="tinyml-search-tiny", storage=storage).trials
    assert len(journal_trials) == summary["trials"]["complete"]


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    from tinyml_cli.cli import main

    bad = write_config(tmp_path, tiny(data={"name": "npz", "path": str(tmp_path / "missing.npz")}))
    with pytest.raises(SystemExit) as exc:
        main(["search", bad, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "missing.npz: npz file not found" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # a config error leaves no failed run folder behind
    shared = write_config(tmp_path, tiny(search__backend="oneshot", search__cv_folds=3))
    with pytest.raises(SystemExit) as exc:
        main(["search", shared, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"{shared}: search.cv_folds: the oneshot backend" in err
    assert not (tmp_path / "run").exists()
    with pytest.raises(SystemExit) as exc:
        main(["search", bad, "search.backend=annealing"])
    assert exc.value.code == 2 and "search.backend: expected one of" in capsys.readouterr().err


def test_joining_a_study_with_another_config_is_refused(tmp_path):
    from tinyml_cli.errors import RunDirError

    first = tmp_path / "a"
    first.mkdir()
    run = prepare_run(write_config(first, tiny(search__trials=1, search__top_k=0)), [],
                      out=str(tmp_path / "run-a"))
    run_search(run)
    other = tiny(search__trials=1, search__top_k=0, space__channels=[4, 8, 16])
    run = prepare_run(write_config(tmp_path, other), [], out=str(tmp_path / "run-b"), storage=run.url)
    with pytest.raises(RunDirError, match="created with a different space"):
        run_search(run)
    assert json.loads((run.run_dir / "manifest.json").read_text())["status"] == "failed"


def test_a_candidate_failing_in_torch_is_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    real, calls = base_module.train_and_evaluate, []

    def out_of_memory_once(graph, *args, **kwargs):
        calls.append(graph)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(graph, *args, **kwargs)

    monkeypatch.setattr(base_module, "train_and_evaluate", out_of_memory_once)
    run = prepare_run(write_config(tmp_path, tiny(search__trials=3, search__top_k=0)), [],
                      out=str(tmp_path / "run"))
    summary = run_search(run)
    assert summary["trials"]["complete"] == 3 and summary["trials"]["failed"] == 1
    failed = [t for t in load_study(run.run_dir).trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed[0].user_attrs["error"] == "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"

    def always_fails(graph, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(base_module, "train_and_evaluate", always_fails)
    run = prepare_run(write_config(tmp_path, tiny()), [], out=str(tmp_path / "run2"))
    with pytest.raises(TinymlError, match="3 trials in a row failed to train; last: RuntimeError: boom"):
        run_search(run)


def test_small_data_search_cross_validates_and_shows_the_reference_line(tmp_path):
    cfg = tiny(data={"name": "mnist1d", "samples": 150}, search__trials=3, search__top_k=1,
               search__cv_folds="auto", search__baseline=True)
    run = prepare_run(write_config(tmp_path, cfg), [], out=str(tmp_path / "run"))
    summary = run_search(run)
    assert summary["ranking"] == {"cv_folds": 5, "validation_samples": 22, "normalize": "standardize"}
    best = summary["best"]
    assert best["stage"] == "final" and best["val_std"] is not None and best["int8_test_accuracy"] is not None
    metrics = json.loads((run.run_dir / best["candidate"] / "metrics.json").read_text())
    assert len(metrics["val_folds"]) == 5 and metrics["int8_val_accuracy"] is None  # validation was trained on
    assert 1 <= metrics["final_epochs"] <= run.cfg["train"]["epochs"]
    screened = [r for r in summary["leaderboard"] if r["stage"] == "screen"]
    assert all(r["test_accuracy"] is None for r in screened)       # tested once: final models only
    assert [b["model"] for b in summary["baselines"]] == ["logistic regression", "RBF SVM"]
    assert all(0 <= b["test_accuracy"] <= 1 and b["val_std"] is not None for b in summary["baselines"])
    table = (run.run_dir / "leaderboard.md").read_text()
    assert "Ranked by 5-fold cross-validation" in table
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| ref |") and rows[1].startswith("| ref |") and rows[2].startswith("| 1 |")


def test_timeout_stops_screening_then_trains_the_best(tmp_path):
    cfg = tiny(search__trials=1000, search__timeout_s=2.0, search__top_k=1)
    run = prepare_run(write_config(tmp_path, cfg), [], out=str(tmp_path / "run"))
    summary = run_search(run)
    assert 1 <= summary["trials"]["trained"] < 1000
    assert summary["best"]["stage"] == "final"
    assert "search.timeout_s (2 s) reached" in (run.run_dir / "log.txt").read_text()


def test_warm_start_evaluates_the_textbook_networks_first(tmp_path):
    from tinyml_cli.arch import make_space

    cfg = tiny(search__trials=3, search__top_k=0)
    run = prepare_run(write_config(tmp_path, cfg), [], out=str(tmp_path / "run"))
    run_search(run)
    trials = load_study(run.run_dir).trials
    space = make_space(run.cfg["space"], (1, 40, 1), 10, normalize="standardize")
    expected = [space.decode(g).to_dict() for g in space.reference_genomes()]
    assert expected and [t.user_attrs["arch"] for t in trials[:len(expected)]] == expected
    choices = expected[0]["choices"]
    assert choices["reduce"] == "avg" and [layer["stride"] for layer in choices["layers"]] == [1, 2]


def test_recording_windows_of_one_block_stay_in_one_fold(tmp_path, rng):
    from test_recording import accelerometer, write_csv

    from tinyml_cli.data.cv import pool
    from tinyml_cli.search.context import make_context

    t, x, y = accelerometer(rng, n=2400)
    path = write_csv(tmp_path / "walk.csv", t, x, y)
    data = {"name": "recording", "path": str(path),
            "window": {"size": 50, "stride": 25, "blocks": 12, "timestamp_column": "timestamp"}}
    cfg = validate(tiny(data=data), SEARCH_SCHEMA, "t")
    cfg["search"]["cv_folds"] = "auto"
    ctx = make_context(cfg)
    _, labels, groups = pool(ctx.data)
    assert ctx.folds and groups is not None and len(np.unique(groups)) >= len(ctx.folds)
    for train, val in ctx.folds:   # overlapping windows (stride < size) never straddle a fold
        assert not set(groups[train]) & set(groups[val])
    assert ctx.space.normalize == "standardize" and ctx.data.input_shape == (1, 50, 9)
