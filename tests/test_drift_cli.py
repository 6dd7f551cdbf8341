"""`tinyml simulate-drift` and `tinyml adapt` end to end on a small SEA stream."""

import json

import numpy as np
import pytest
import yaml

from tinyml_cli.cli import main
from tinyml_cli.train.checkpoint import load_candidate

CONFIG = {
    "name": "sea-test", "mcu": "STM32F412",
    "stream": {"source": "sea", "length": 1200, "drift": {"kind": "concept", "positions": [400, 800]}},
    "model": {"train": {"epochs": 3, "device": "cpu"}},
    "detector": {"name": "adwin"},
    "methods": {"none": {}, "tinyol": {}, "tml-cd": {"capacity": 64}, "finetune-last": {}},
    "report": {"window": 100},
}


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "sea.yaml"
    path.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def simulated(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "sim"
    with pytest.MonkeyPatch.context() as mp:
        import io
        import sys
        mp.setattr(sys, "stdout", io.StringIO())
        with pytest.raises(SystemExit) as exit_:
            main(["simulate-drift", str(config), "--out", str(out), "--json", "-q"])
        printed = sys.stdout.getvalue()
    assert exit_.value.code == 0
    return out, json.loads(printed)


def test_simulate_drift_writes_the_report(simulated):
    out, data = simulated
    for name in ("report.md", "report.json", "accuracy.png", "stream.npz", "config.yaml", "manifest.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    assert [m["method"] for m in data["methods"]] == ["none", "tinyol", "tml-cd", "finetune-last"]
    assert data == {"run_dir": str(out), **json.loads((out / "report.json").read_text())}
    for m in data["methods"]:
        assert len(m["drifts"]) == 2 and m["cost"]["ram"] >= 0 and m["fits"] == {"ram": True, "flash": True}
    assert (out / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "| tml-cd |" in (out / "report.md").read_text()


def test_an_existing_run_directory_is_never_overwritten(simulated, config, cli):
    out, _ = simulated
    code, stdout, err = cli("simulate-drift", config, "--out", out)
    assert code == 2 and "already exists" in err and "Traceback" not in err and stdout == ""
    assert "--resume" not in err  # simulate-drift has none


def test_bad_config_is_one_line_and_exit_2(config, tmp_path, cli):
    code, _, err = cli("simulate-drift", config, "detector.nmae=ici", "--out", tmp_path / "x")
    assert code == 2 and "did you mean 'name'" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("simulate-drift", config, "methods={tinyoll: {}}", "--out", tmp_path / "y")
    assert code == 2 and "unknown method 'tinyoll'" in err
    code, _, err = cli("adapt", config, "--method", "sgd", "--out", tmp_path / "z")
    assert code == 2 and "unknown method 'sgd'" in err
    code, _, err = cli("simulate-drift", config, "methods.tinyol.lrr=1", "--out", tmp_path / "w")
    assert code == 2 and "unknown key 'methods.tinyol.lrr' (did you mean 'lr'?)" in err
    code, _, err = cli("simulate-drift", config, "detector.params.delta=3", "--out", tmp_path / "v")
    assert code == 2 and "detector adwin: delta must be in (0, 1)" in err
    code, _, err = cli("adapt", config, "--method", "tinyol", "--model", tmp_path / "none", "--out", tmp_path / "u")
    assert code == 2 and "none: neither a candidate folder" in err
    assert not any((tmp_path / d).exists() for d in "xyzwvu")  # nothing half-made


def test_check_exits_3_when_a_method_does_not_fit(config, tmp_path, cli):
    code, _, err = cli("simulate-drift", config, "constraints.sram=4KB", "methods={tml-cd: {}}",
                       "--check", "--out", tmp_path / "tight")
    assert code == 3 and "do not fit" in err


def test_adapt_saves_state_and_an_exportable_candidate(simulated, config, tmp_path, cli):
    stream_file = simulated[0] / "stream.npz"
    out = tmp_path / "adapt"
    code, stdout, err = cli("adapt", config, "--method", "tinyol", "--stream", stream_file,
                            "--out", out, "--json")
    assert code == 0, err
    data = json.loads(stdout)
    assert [m["method"] for m in data["methods"]] == ["tinyol"] and data["stream"]["file"] == str(stream_file)
    state = np.load(out / "state.npz")
    arch, module, metrics = load_candidate(out / "adapted")
    # the saved network's last layer is the adapted one (the state is on standardised features)
    assert np.allclose(module.classifier.weight.detach().numpy(), state["weight"] / state["std"], atol=1e-6)
    assert arch.num_classes == 2 and metrics["method"] == "tinyol"
    # the adapted candidate is a valid --model for the next run
    code, _, err = cli("adapt", config, "--method", "tml-cd", "--stream", stream_file,
                       "--model", out / "adapted", "--out", tmp_path / "again", "-q")
    assert code == 0, err
    assert not (tmp_path / "again" / "adapted").exists()  # a kNN changes no network weights
    code, _, err = cli("adapt", config, "--method", "none", "--model", tmp_path, "--out", tmp_path / "m")
    assert code == 2 and "neither a candidate folder" in err


def test_a_search_run_directory_gives_its_best_candidate(tmp_path):
    from tinyml_cli.adapt.deployed import candidate_folder

    for name in ("002", "001"):
        (tmp_path / "candidates" / name).mkdir(parents=True)
        (tmp_path / "candidates" / name / "arch.yaml").write_text("space: plain\n")
    assert candidate_folder(tmp_path) == tmp_path / "candidates" / "001"
    rows = [{"rank": 1, "candidate": ""}, {"rank": 2, "candidate": "candidates/002"}]  # as search writes it
    (tmp_path / "leaderboard.json").write_text(json.dumps({"name": "s", "leaderboard": rows}))
    assert candidate_folder(tmp_path) == tmp_path / "candidates" / "002"
    assert candidate_folder(tmp_path / "candidates" / "001") == tmp_path / "candidates" / "001"


def test_a_model_with_another_input_size_gets_a_resized_stream(tmp_path):
    from tinyml_cli.adapt.deployed import default_arch
    from tinyml_cli.adapt.experiment import load_drift_config, run_experiment
    from tinyml_cli.arch import build_graph
    from tinyml_cli.train.builder import build_module
    from tinyml_cli.train.checkpoint import save_candidate

    arch = default_arch((1, 20, 1), 10)
    save_candidate(tmp_path / "cand", arch, build_module(build_graph(arch)))
    cfg = load_drift_config(None, ["data.samples=400", "stream.length=300", "stream.drift.positions=[100]",
                                   "methods={none: {}, tinyol: {}}"])
    exp = run_experiment(cfg, model_path=str(tmp_path / "cand"))
    assert exp.stream.x.shape[1:] == (1, 20, 1) and exp.deployed.origin == str(tmp_path / "cand")
    assert [run.key for run in exp.runs] == ["none", "tinyol"]


def test_a_searched_model_is_streamed_its_own_held_out_split(tmp_path):
    from tinyml_cli.adapt.deployed import default_arch
    from tinyml_cli.adapt.experiment import load_drift_config, run_experiment
    from tinyml_cli.arch import build_graph
    from tinyml_cli.data import load_dataset
    from tinyml_cli.config import validate
    from tinyml_cli.data import DATA_SCHEMA
    from tinyml_cli.train.builder import build_module
    from tinyml_cli.train.checkpoint import save_candidate

    run_data = {"name": "mnist1d", "samples": 500}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"name": "s", "seed": 3, "data": run_data}))
    arch = default_arch((1, 40, 1), 10)
    save_candidate(tmp_path / "candidates" / "001", arch, build_module(build_graph(arch)))
    cfg = load_drift_config(None, ["data.samples=700", "stream.length=200", "stream.drift.positions=[100]",
                                   "methods={none: {}}"])
    exp = run_experiment(cfg, model_path=str(tmp_path))
    searched = load_dataset(validate(run_data, DATA_SCHEMA, "t"), 3)
    held_out = {x.tobytes() for x in searched.x_test}
    trained_on = {x.tobytes() for x in searched.x_train}
    streamed = {x.tobytes() for x in exp.stream.x}
    assert streamed <= held_out and not streamed & trained_on


def test_adapt_with_an_echo_state_network_saves_its_state_and_checks_its_memory(simulated, config, tmp_path, cli):
    stream_file = simulated[0] / "stream.npz"
    code, stdout, err = cli("adapt", config, "--method", "esn", "methods={esn: {units: 30, kind: int8}}",
                            "--stream", stream_file, "--out", tmp_path / "esn", "--json", "--check")
    assert code == 0, err
    run = json.loads(stdout)["methods"][0]
    assert run["method"] == "esn" and run["accuracy"] > 0.7 and all(run["fits"].values())
    f = 2 * 30 + 1
    assert run["cost"]["buffers"] == f * (f + 1) // 2 * 4  # the RLS matrix, one triangle of floats
    state = np.load(tmp_path / "esn" / "state.npz")
    assert state["readout"].shape == (f, 2) and state["w_0"].shape == (30, 30)
    assert np.abs(state["w_0"]).max() == 127  # int8 weights
    assert not (tmp_path / "esn" / "adapted").exists()  # no network changes
    code, _, err = cli("adapt", config, "--method", "esn", "constraints.sram=4KB", "--stream", stream_file,
                       "--out", tmp_path / "tight", "--check")
    assert code == 3 and "esn: do not fit" in err


def test_a_full_disk_while_saving_the_plot_is_one_line_and_a_failed_run(config, tmp_path, cli, monkeypatch):
    import errno

    from tinyml_cli.report import figures

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(figures, "atomic_write_bytes", full)
    out = tmp_path / "full"
    code, stdout, err = cli("simulate-drift", config, "methods={none: {}}", "--out", out, "-q")
    assert code == 1 and stdout == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "accuracy.png: cannot save: no space left on the device (disk full)" in " ".join(err.split())
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed"
    assert not [p for p in out.iterdir() if p.name.startswith(".") or "tmp" in p.name]
