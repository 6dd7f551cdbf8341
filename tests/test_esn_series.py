"""Time-series files as recordings come (TimeEval/GutenTAG, NAB, Yahoo S5, SKAB, headerless SMD-like
exports, npz): every format read back against the values written, the missing-cell policies against
a numpy reference, the error lines, and the esn method's anomaly and regression modes on files
through the CLI (events inside the warm-up set aside; RMSEs recomputed from the errors written, and
the same errors as on the generated stream the file holds)."""

import json

import numpy as np
import pytest

from tinyml_cli.data.series import read_series
from tinyml_cli.drift.sensors import regression_stream, sensor_stream
from tinyml_cli.errors import InputFileError
from tinyml_cli.report.anomaly_metrics import anomaly_metrics

RNG = np.random.default_rng(4)
X = RNG.normal(0, 100, (40, 3)).astype(np.float32)
Y = (RNG.random(40) < 0.2).astype(int)


def cells(v: np.float32) -> str:
    return repr(float(v))  # exact: float32 -> float64 -> text -> float32 round-trips


def stamp(t: int) -> str:
    return f"2024-03-01 10:{t // 60:02d}:{t % 60:02d}.000"


def table(header, rows, sep=","):
    return "".join(sep.join(map(str, r)) + "\n" for r in ([header] if header else []) + rows)


# name -> (file name, content, expected channels of X, label expected, description expected)
FORMATS = {
    "timeeval": ("s.csv", table(["timestamp", "a", "b", "c", "is_anomaly"],
                                [[stamp(t), *map(cells, X[t]), Y[t]] for t in range(40)]),
                 [0, 1, 2], True, {"time": "timestamp", "label": "is_anomaly", "columns": ["a", "b", "c"],
                                   "excluded": []}),
    "yahoo": ("y.csv", table(["timestamp", "value", "is_anomaly"], [[1400000000 + t, cells(X[t, 0]), Y[t]]
                                                                  for t in range(40)]),
              [0], True, {"time": "timestamp", "label": "is_anomaly", "columns": ["value"], "excluded": []}),
    "nab": ("n.csv", table(["timestamp", "value"], [[stamp(t), cells(X[t, 1])] for t in range(40)]),
            [1], False, {"time": "timestamp", "label": None, "columns": ["value"], "excluded": []}),
    "skab": ("k.csv", table(["datetime", "Accelerometer1RMS", "Pressure", "Temperature", "anomaly", "changepoint"],
                            [[stamp(t), *map(cells, X[t]), f"{float(Y[t])}", float(t == 7)] for t in range(40)], ";"),
             [0, 1, 2], True, {"time": "datetime", "label": "anomaly",
                               "columns": ["Accelerometer1RMS", "Pressure", "Temperature"], "excluded": ["changepoint"]}),
    "pandas": ("p.csv", table(["", "timestamp", "value", "is_anomaly"], [[t, stamp(t), cells(X[t, 0]), Y[t]]
                                                                        for t in range(40)]),
               [0], True, {"time": "timestamp", "label": "is_anomaly", "columns": ["value"], "excluded": [""]}),
    "decimal-comma": ("e.csv", table(["time", "a", "b"], [[stamp(t), *(cells(v).replace(".", ",") for v in X[t, :2])]
                                                          for t in range(40)], ";"),
                      [0, 1], False, {"time": "time", "label": None, "columns": ["a", "b"], "excluded": []}),
    "tab": ("t.tsv", table(["Time", "x", "label"], [[t * 0.01, cells(X[t, 2]), Y[t]] for t in range(40)], "\t"),
            [2], True, {"time": "Time", "label": "label", "columns": ["x"], "excluded": []}),
    "smd": ("m.txt", table(None, [list(map(cells, X[t])) for t in range(40)]),
            [0, 1, 2], False, {"time": None, "label": None, "columns": ["0", "1", "2"], "excluded": []}),
    "ucr": ("u.txt", "".join(f"  {cells(X[t, 0])}   {cells(X[t, 1])}\n" for t in range(40)),
            [0, 1], False, {"time": None, "label": None, "columns": ["0", "1"], "excluded": []}),
}


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_reads_back_the_values_written(tmp_path, name):
    filename, content, channels, labelled, described = FORMATS[name]
    (tmp_path / filename).write_text(content)
    s = read_series(tmp_path / filename)
    np.testing.assert_array_equal(s.x, X[:, channels])
    assert (s.labels.tolist() == Y.astype(bool).tolist()) if labelled else s.labels is None
    assert s.describe() == {**described, "filled": 0, "missing": "hold"}


def test_npz_with_is_anomaly_and_picked_channels(tmp_path):
    np.savez(tmp_path / "s.npz", x=X, is_anomaly=Y)
    s = read_series(tmp_path / "s.npz", columns=["2", "0"])
    np.testing.assert_array_equal(s.x, X[:, [2, 0]])
    assert s.labels.tolist() == Y.astype(bool).tolist() and s.label == "is_anomaly"


def test_explicit_columns_time_and_label(tmp_path):
    (tmp_path / "s.csv").write_text(table(["t", "a", "b", "c", "fault", "is_anomaly"],
                                          [[t, *map(cells, X[t]), Y[t], 0] for t in range(40)]))
    s = read_series(tmp_path / "s.csv", label="fault", columns=["c", "a"], time="t")
    np.testing.assert_array_equal(s.x, X[:, [2, 0]])
    assert s.labels.tolist() == Y.astype(bool).tolist()
    assert (s.time, s.label, s.excluded) == ("t", "fault", ["is_anomaly"])


def hold_reference(col: np.ndarray) -> np.ndarray:
    out, last = col.copy(), None
    for i, v in enumerate(col):
        if np.isnan(v):
            out[i] = last if last is not None else col[~np.isnan(col)][0]
        else:
            last = v
    return out


@pytest.mark.parametrize("missing", ["hold", "linear"])
def test_missing_cells_are_filled_and_counted(tmp_path, missing):
    x = X.astype(np.float64)
    gaps = [(0, 1), (1, 1), (5, 0), (6, 0), (7, 0), (39, 2)]  # a leading gap, a run, a trailing cell
    rows = [[t, *map(cells, X[t])] for t in range(40)]
    for i, (r, c) in enumerate(gaps):
        rows[r][1 + c] = ["", "NaN", "nan", "NA", "", ""][i]
        x[r, c] = np.nan
    (tmp_path / "s.csv").write_text(table(["timestamp", "a", "b", "c"], rows))
    s = read_series(tmp_path / "s.csv", missing=missing)
    t = np.arange(40)
    for c in range(3):
        ok = ~np.isnan(x[:, c])
        want = hold_reference(x[:, c]) if missing == "hold" else np.interp(t, t[ok], x[ok, c])
        np.testing.assert_allclose(s.x[:, c], want.astype(np.float32), rtol=1e-6)
    assert s.filled == len(gaps)
    with pytest.raises(InputFileError, match=r"s.csv: line 2, column 'b': empty or NaN cell \(missing: error\)"):
        read_series(tmp_path / "s.csv", missing="error")


@pytest.mark.parametrize("content,kwargs,message", [
    ("timestamp,a,is_anomaly\n0,1,0\n1,2,0\n", {"label": "fault"},
     "no label column 'fault' (anomaly.label; columns: timestamp, a, is_anomaly)"),
    ("timestamp,a,b\n0,1,2\n1,2,x3\n", {}, "line 3, column 'b': non-numeric value 'x3'"),
    ("when,a\n2024-01-01,1\n2024-01-02,2\n", {}, "line 2, column 'when': non-numeric value '2024-01-01' "
                                                "(a time column? name it in anomaly.time)"),
    ("timestamp,a,b\n0,1,2\n1,2,3\n", {"columns": ["a", "z"]},
     "anomaly.columns: no column 'z' (columns: timestamp, a, b)"),
    ("timestamp,a\n0,1\n1,2,3\n", {}, "line 3: 3 fields, the header has 2"),
    ("timestamp,a\n0,1\n1,inf\n", {}, "line 3, column 'a': infinite value"),
    ("timestamp,a,label\n0,1,0\n1,2,2\n", {}, "line 3, column 'label': expected a label of 0 or 1, got 2"),
    ("a\n1\n2\n", {"time": "ts"}, "no time column 'ts' (anomaly.time; columns: a)"),
])
def test_bad_series_files_are_one_line_naming_file_line_and_column(tmp_path, content, kwargs, message):
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(InputFileError) as err:
        read_series(tmp_path / "bad.csv", **kwargs)
    assert str(err.value) == f"{tmp_path / 'bad.csv'}: {message}"


def test_cli_events_inside_the_warmup_are_not_scored(tmp_path, cli):
    file_config = tmp_path / "a.yaml"
    file_config.write_text("name: a\nmcu: nRF52840\nanomaly: {source: file, warmup: 1000, "
                           "detector: {kind: int8, units: 10, washout: 50}}\n")
    s = sensor_stream(np.random.default_rng(0), length=3000, per_class=1, clean=1000)
    labels = np.zeros(3000, int)
    for a, b, _ in s.events:
        labels[a:b] = 1
    labels[300:320] = labels[990:1005] = 1  # two labelled events that start inside the warm-up
    path = tmp_path / "rec.csv"
    path.write_text(table(["timestamp", "x", "y", "z", "is_anomaly"],
                          [[stamp(t), *map(cells, s.x[t]), labels[t]] for t in range(3000)]))
    out = tmp_path / "run"
    code, stdout, err = cli("adapt", file_config, "--method", "esn", f"anomaly.path={path}", "--out", out, "--json")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["series"]["events"] == {"labelled": 6, "in_warmup": 2, "scored": 4}
    assert data["series"]["file"]["columns"] == ["x", "y", "z"] and data["series"]["file"]["time"] == "timestamp"
    flags = np.loadtxt(out / "flags.csv", delimiter=",", skiprows=1, dtype=int)
    assert (flags[:, 2] == labels).all()  # every labelled event written back
    m = anomaly_metrics(flags[:, 1].astype(bool), [(a, b) for a, b, _ in s.events], tolerance=20)
    assert data["metrics"]["recall"] == m["recall"] and data["metrics"]["f1"] == pytest.approx(m["f1"])
    assert len(data["metrics"]["delays"]) == 4
    assert "2 labelled events inside the warm-up, not scored" in (out / "report.md").read_text()
    code, _, err = cli("adapt", file_config, "--method", "esn", "--stream", path, "anomaly.warmup=3000",
                       "--out", tmp_path / "x")
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"3000 of {path}" in err
    assert not (tmp_path / "x").exists()


@pytest.fixture
def regression_file(tmp_path):
    """The generated regression stream of seed 0 written as a SKAB-like file, and a config reading it."""
    s = regression_stream(np.random.default_rng(0), length=1600, drifts=(800,))
    path = tmp_path / "reg.csv"
    path.write_text(table(["datetime", "p", "q", "r", "flow", "anomaly", "changepoint"],
                          [[stamp(t), *map(cells, s.x[t]), cells(s.y[t]), 0, 0] for t in range(1600)], ";"))
    config = tmp_path / "r.yaml"
    config.write_text(f"name: r\nmcu: nRF52840\nregression:\n  source: file\n  path: {path}\n  target: flow\n"
                      "  models: {esn: {units: 20}}\ndetector: {name: cusum}\nreport: {window: 100, margin: 0.2}\n")
    return s, path, config


def test_cli_regression_from_a_file_scores_what_it_wrote(regression_file, tmp_path, cli):
    s, path, config = regression_file
    code, stdout, err = cli("adapt", config, "--method", "esn", "--out", tmp_path / "f", "--json")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["stream"]["inputs"] == ["p", "q", "r"]
    assert data["stream"]["file"]["excluded"] == ["anomaly", "changepoint"]
    table_ = np.loadtxt(tmp_path / "f" / "errors.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table_[:, 1], s.y, rtol=1e-5)
    for i, r in enumerate(data["regression"]):
        e = table_[:, 2 + i]
        assert r["rmse"] == pytest.approx(np.sqrt(np.mean(e[100:] ** 2)), rel=1e-4)
        want = [np.sqrt(np.mean(e[k:k + 100] ** 2)) for k in range(100, 1600, 100)]  # the first: the washout
        assert r["windows"][0] is None and r["windows"][1:] == pytest.approx(want, rel=1e-4)
        assert r["drifts"] == []  # drift points unknown: no recovery
    # the same stream generated: the same errors, sample for sample
    code, stdout, err = cli("adapt", config, "--method", "esn", "regression.source=sensors", "regression.length=1600",
                            "regression.drifts=[800]", "--out", tmp_path / "g", "--json")
    assert code == 0, err
    generated = np.loadtxt(tmp_path / "g" / "errors.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table_[:, 2:], generated[:, 2:], rtol=1e-5, atol=1e-6)
    code, stdout, err = cli("simulate-drift", config, "regression.drifts=[800]", "--check", "--out", tmp_path / "d",
                            "--json")
    assert code == 0, err
    from_file = json.loads(stdout)["regression"]
    generated_rows = json.loads((tmp_path / "g" / "report.json").read_text())["regression"]
    assert [r["drifts"][0]["recovery"] for r in from_file] == [r["drifts"][0]["recovery"] for r in generated_rows]
    code, _, err = cli("simulate-drift", config, "--check", "constraints.sram=512", "--out", tmp_path / "t")
    assert code == 3 and "does not fit" in err


@pytest.mark.parametrize("args,message", [
    (("regression.target=null",), "regression.target: name the target column"),
    (("regression.target=speed",), "regression.target: no value column 'speed' (value columns: p, q, r, flow)"),
    (("regression.columns=[p, zz]",), "no column 'zz'"),
    (("regression.drifts=[1700]",), "regression.drifts: [1700] must lie after"),
])
def test_bad_regression_file_settings_are_one_line(regression_file, tmp_path, cli, args, message):
    _, _, config = regression_file
    code, _, err = cli("adapt", config, "--method", "esn", *args, "--out", tmp_path / "x")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()
