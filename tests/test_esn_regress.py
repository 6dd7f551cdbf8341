"""The esn method's regression mode: the online regressor against batch least squares on the same
reservoir features, the error metrics against a brute-force window scan, the generated stream, and
the CLI end to end (its reported RMSEs recomputed from the errors it wrote)."""

import json

import numpy as np
import pytest

from tinyml_cli.adapt.esn.regress import EsnRegressor
from tinyml_cli.adapt.esn.reservoir import Reservoir
from tinyml_cli.drift.sensors import regression_stream
from tinyml_cli.errors import ConfigError
from tinyml_cli.report.drift_metrics import error_metrics


def test_rls_regressor_matches_least_squares_on_the_reservoir_features():
    s = regression_stream(np.random.default_rng(2), length=800, drifts=(400,))
    model = EsnRegressor(3, units=20, forgetting=1.0, ridge=1e-6, washout=100, seed=np.random.default_rng(2))
    for u, target in zip(s.x, s.y):
        model.update(u, float(target))
    # the features recomputed outside the model: the same reservoir from the same seed, numpy standardisation
    z = (s.x.astype(np.float64) - s.x[:100].mean(axis=0)) / s.x[:100].std(axis=0)
    reservoir = Reservoir(3, 20, 1, 0.9, 0.1, 0.5, 0.5, "float", np.random.default_rng(2))
    phi = np.concatenate([reservoir.run(z[99:].astype(np.float32)), z[99:]], axis=1)  # from the washout's end
    w = np.linalg.lstsq(phi, s.y[99:].astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(phi @ model.readout.w[:, 0], phi @ w, atol=2e-3)


def brute_recovery(errors, p, end, window, margin, before):
    for r in range(end - p - window + 1):
        if np.sqrt(np.mean(errors[p + r:p + r + window] ** 2)) <= (1 + margin) * before:
            return r
    return None


def test_error_metrics_match_a_brute_force_scan():
    rng = np.random.default_rng(0)
    errors = np.concatenate([rng.normal(0, 0.1, 500), rng.normal(0, 1.0, 80) * np.linspace(1, 0.1, 80),
                             rng.normal(0, 0.1, 420), rng.normal(0, 0.5, 500)])
    errors[:30] = 100.0  # a washout, left out
    m = error_metrics(errors, [500, 1000], window=50, margin=0.2, start=30)
    before = np.sqrt(np.mean(errors[30:500] ** 2))
    assert m["before"] == pytest.approx(before)
    assert [d["recovery"] for d in m["drifts"]] == [brute_recovery(errors, 500, 1000, 50, 0.2, before),
                                                    brute_recovery(errors, 1000, 1500, 50, 0.2, before)]
    assert m["drifts"][1]["recovery"] is None  # the last concept stays five times noisier
    assert m["final"] == pytest.approx(np.sqrt(np.mean(errors[-50:] ** 2)))


def test_regression_stream_is_seeded_and_drifts_where_asked():
    a = regression_stream(np.random.default_rng(3), length=3000, drifts=(1000, 2000))
    b = regression_stream(np.random.default_rng(3), length=3000, drifts=(1000, 2000))
    np.testing.assert_array_equal(a.y, b.y)
    lags = np.stack([np.roll(a.x, k, axis=0) for k in range(8)], axis=2).reshape(3000, -1)[8:]
    y = a.y[8:].astype(np.float64)
    # a linear fit of the target on the lags: good within a concept, worse across a drift
    fit = [np.linalg.lstsq(np.c_[lags[i:j], np.ones(j - i)], y[i:j], rcond=None)[1][0] / (j - i)
           for i, j in ((0, 992), (992, 1992), (0, 1992))]
    assert fit[2] > 1.5 * max(fit[0], fit[1])
    with pytest.raises(ConfigError, match="inside"):
        regression_stream(np.random.default_rng(0), length=1000, drifts=(1000,))


@pytest.fixture
def regression_config(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\nmcu: nRF52840\nregression:\n  source: sensors\n  length: 2400\n  drifts: [1200]\n"
                    "  models: {esn: {units: 20}, 'esn:int8': {units: 20, kind: int8}}\n"
                    "detector: {name: cusum}\nreport: {window: 100, margin: 0.2}\n")
    return path


def test_cli_regression_mode_reports_what_its_errors_score(regression_config, tmp_path, cli):
    out = tmp_path / "run"
    code, stdout, err = cli("adapt", regression_config, "--method", "esn", "--out", out, "--json")
    assert code == 0, err
    data = json.loads(stdout)
    table = np.loadtxt(out / "errors.csv", delimiter=",", skiprows=1)
    s = regression_stream(np.random.default_rng(0), length=2400, drifts=(1200,))  # the config's seed 0
    np.testing.assert_allclose(table[:, 1], s.y, rtol=1e-5, atol=1e-6)
    rows = {r["model"]: r for r in data["regression"]}
    assert list(rows) == ["linear", "esn", "esn:int8"]
    for i, (key, r) in enumerate(rows.items()):
        e = table[:, 2 + i]
        assert r["rmse"] == pytest.approx(np.sqrt(np.mean(e[100:] ** 2)), rel=1e-4)  # after the washout
        assert r["drifts"][0]["recovery"] == brute_recovery(e, 1200, 2400, 100, 0.2, r["before"])
    assert rows["esn"]["before"] < 0.5 * rows["linear"]["before"]  # the target needs the reservoir's memory
    assert "| esn:int8 |" in (out / "report.md").read_text()
    code, _, err = cli("simulate-drift", regression_config, "--out", tmp_path / "sd", "--check",
                       "constraints.sram=1024")
    assert code == 3 and "does not fit" in err


@pytest.mark.parametrize("args,message", [
    (("--method", "tinyol"), "runs esn only"),
    (("--method", "esn", "regression.drifts=[5000]"), "regression.drifts"),
    (("--method", "esn", "regression.models.esn.kind=int4"), "regression.models.esn.kind"),
    (("--method", "esn", "regression.models.esn=5"), "regression.models.esn: expected a mapping"),
    (("--method", "esn", "regression.length=150"), "regression.length"),
])
def test_bad_regression_settings_are_one_line(regression_config, tmp_path, cli, args, message):
    code, _, err = cli("adapt", regression_config, *args, "--out", tmp_path / "x")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
