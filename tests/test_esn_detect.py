"""The esn method's anomaly mode: the prediction statistic and the one-class SVM on seeded sensor
streams (scored against the generator's labels), the time-series reader, and the CLI end to end
(its reported scores recomputed from the flags it wrote and the labels)."""

import json

import numpy as np
import pytest

from tinyml_cli.adapt.esn.anomaly import ReservoirAnomaly
from tinyml_cli.data.series import events_of, read_series
from tinyml_cli.drift.sensors import ANOMALIES, sensor_stream
from tinyml_cli.report.anomaly_metrics import anomaly_metrics, class_metrics


def run(detector, x):
    return np.array([detector.update(u) for u in x])


def test_prediction_statistic_finds_every_class_on_a_seeded_stream():
    s = sensor_stream(np.random.default_rng(0), length=6000, per_class=1, clean=2000)
    flags = run(ReservoirAnomaly(3, kind="int8", warmup=2000, seed=np.random.default_rng(0)), s.x)
    assert not flags[:2000].any()
    assert all(class_metrics(flags, s.events, kind, tolerance=20)["recall"] == 1.0 for kind in ANOMALIES)
    assert anomaly_metrics(flags, s.spans(), tolerance=20)["false_alarms_per_1000"] <= 0.5


def test_a_stuck_channel_is_flagged_by_its_noise_floor_alone():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (3000, 2))  # white noise: nothing to predict, only the floor can tell
    x[2500:2600, 1] = x[2500, 1]
    flags = run(ReservoirAnomaly(2, warmup=2000, seed=np.random.default_rng(3)), x)
    m = anomaly_metrics(flags, [(2500, 2600)], tolerance=20)
    assert m["recall"] == 1.0 and m["mean_delay"] < 40 and m["false_alarms"] == 0


def test_one_class_svm_finds_level_shifts_and_counts_its_support_vectors():
    s = sensor_stream(np.random.default_rng(1), length=4000, anomalies=("spike", "level-shift"),
                      per_class=2, clean=2000)
    detector = ReservoirAnomaly(3, statistic="ocsvm", warmup=2000, seed=np.random.default_rng(1))
    flags = run(detector, s.x)
    assert anomaly_metrics(flags, s.spans("level-shift"), tolerance=20)["recall"] == 1.0
    vectors, k = len(detector.svm.support_vectors_), detector.components
    assert vectors >= 1 and detector.svm.support_vectors_.shape[1] == k
    without = ReservoirAnomaly(3, statistic="ocsvm", warmup=2000, seed=np.random.default_rng(1)).cost()
    assert detector.cost().state - without.state == vectors * (k + 1) * 4  # float32 vectors + weights


def test_class_metrics_set_a_run_aside_whole():
    flags = np.zeros(300, bool)
    flags[100:160] = True  # starts in the spike, outlasts it, covers the shift
    events = [(100, 101, "spike"), (130, 140, "level-shift")]
    assert class_metrics(flags, events, "spike", 20)["f1"] == 1.0
    shift = class_metrics(flags, events, "level-shift", 20)
    assert shift["recall"] == 0.0 and shift["false_alarms"] == 0
    # the plain metric on the same flags: one alarm, inside the spike, both events covered
    assert anomaly_metrics(flags, [(100, 101), (130, 140)], 20)["recall"] == 1.0


def test_series_files_read_back(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    labels = np.array([0, 0, 1, 1, 0, 1])
    np.savez(tmp_path / "s.npz", x=x, label=labels)
    s = read_series(tmp_path / "s.npz")
    np.testing.assert_array_equal(s.x, x)
    assert events_of(s.labels) == [(2, 4), (5, 6)] and s.columns == ["0", "1"] and s.label == "label"
    (tmp_path / "s.csv").write_text("a,label,b\n" + "".join(f"{p},{q},{r}\n" for (p, r), q in zip(x, labels)))
    s = read_series(tmp_path / "s.csv")
    np.testing.assert_array_equal(s.x, x)
    assert s.labels.tolist() == labels.astype(bool).tolist()
    none = read_series(tmp_path / "s.csv", label="none")
    assert none.labels is None and none.columns == ["a", "b"]  # a label-like column stays out of the values




@pytest.fixture
def anomaly_config(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("name: a\nmcu: nRF52840\nanomaly:\n  source: sensors\n  warmup: 1500\n"
                    "  sensors: {length: 3500, per_class: 1}\n  detector: {kind: int8, units: 30}\n")
    return path


def test_cli_anomaly_mode_reports_what_its_flags_score(anomaly_config, tmp_path, cli):
    out = tmp_path / "run"
    code, stdout, err = cli("adapt", anomaly_config, "--method", "esn", "--out", out, "--json")
    assert code == 0, err
    data = json.loads(stdout)
    table = np.loadtxt(out / "flags.csv", delimiter=",", skiprows=1, dtype=int)
    assert (table[:, 0] == np.arange(3500)).all()
    s = sensor_stream(np.random.default_rng(0), length=3500, per_class=1, clean=1500)  # the config's seed 0
    assert events_of(table[:, 2].astype(bool)) == sorted((a, b) for a, b, _ in s.events)
    m = anomaly_metrics(table[:, 1].astype(bool), s.spans(), tolerance=20)
    assert data["metrics"]["f1"] == pytest.approx(m["f1"]) and set(data["per_class"]) == set(ANOMALIES)
    assert data["fits"] == {"ram": True, "flash": True} and data["cost"]["ram"] < 64 * 1024
    assert (out / "anomaly.png").read_bytes()[:4] == b"\x89PNG" and "| spike |" in (out / "report.md").read_text()
    # the same series as an unlabelled file: flags alone
    np.savez(tmp_path / "series.npz", x=s.x)
    code, stdout, err = cli("adapt", anomaly_config, "--method", "esn", "--stream", tmp_path / "series.npz",
                            "--out", tmp_path / "file", "--json")
    assert code == 0, err
    assert json.loads(stdout)["metrics"] is None
    assert np.loadtxt(tmp_path / "file" / "flags.csv", delimiter=",", skiprows=1).shape == (3500, 2)


@pytest.mark.parametrize("override,message", [
    ("anomaly.detector.leak=0", "anomaly.detector.leak: expected a finite number in (0, 1], got 0"),
    ("anomaly.detector.forgetting=1.5", "anomaly.detector.forgetting: expected a finite number in (0, 1]"),
    ("anomaly.detector.radius=0", "anomaly.detector.radius: expected a finite number in (0, inf)"),
    ("anomaly.detector.threshold=.nan", "anomaly.detector.threshold: expected a finite number"),
    ("methods={esn: {ridge: -1}}", "methods.esn.ridge: expected a finite number in (0, inf)"),
])
def test_bad_esn_settings_are_one_line_naming_file_and_key(anomaly_config, tmp_path, cli, override, message):
    code, _, err = cli("adapt", anomaly_config, "--method", "esn", override, "--out", tmp_path / "x")
    assert code == 2 and f"{anomaly_config}: {message}" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_anomaly_mode_check_and_simulate_drift(anomaly_config, tmp_path, cli):
    args = ("anomaly.sensors.length=3000", "anomaly.sensors.per_class=1", "anomaly.warmup=1000",
            "anomaly.detector.units=10", "anomaly.detector.washout=50")
    code, _, err = cli("adapt", anomaly_config, "--method", "esn", "--check", "constraints.sram=512", *args,
                       "--out", tmp_path / "tight")
    data = json.loads((tmp_path / "tight" / "report.json").read_text())
    assert code == 3 and "does not fit" in err and data["cost"]["ram"] > 512 and data["fits"]["ram"] is False
    code, stdout, err = cli("simulate-drift", anomaly_config, *args, "--out", tmp_path / "sd", "--json")
    assert code == 0, err
    assert json.loads(stdout)["fits"]["ram"] is True and (tmp_path / "sd" / "flags.csv").is_file()
    code, _, err = cli("adapt", anomaly_config, "--method", "tinyol", "--out", tmp_path / "x")
    assert code == 2 and "runs esn only" in err


def centroid(x: np.ndarray) -> float:
    """Power-weighted mean frequency of a signal (cycles per sample)."""
    power = np.abs(np.fft.rfft(x - x.mean())) ** 2
    return float(np.sum(np.fft.rfftfreq(len(x)) * power) / np.sum(power))


def test_a_frequency_change_is_one_channel_out_of_step_with_the_others():
    s = sensor_stream(np.random.default_rng(5), length=6000, per_class=2, clean=2000)
    calm = sensor_stream(np.random.default_rng(5), length=6000, per_class=2, clean=2000, magnitude=0.0)
    for start, end in s.spans("frequency"):
        changed = np.flatnonzero(np.abs(s.x[start:end] - calm.x[start:end]).max(axis=0) > 0)
        assert len(changed) == 1  # the others keep the regime's frequencies
        assert len(np.unique(s.regime[start:end])) <= 2  # the regime switches as usual, or not
        c = changed[0]
        ratio = centroid(s.x[start:end, c]) / centroid(calm.x[start:end, c])
        assert 1.4 < ratio < 2.2  # x1.8 at magnitude 1, blurred by the noise and the span's edges


def test_cross_channel_readouts_find_a_channel_out_of_step():
    rng = np.random.default_rng(7)
    t = np.arange(4000)
    rate = np.where((t // 250) % 2 == 0, 0.03, 0.054)  # regimes: every channel switches frequency together
    phase = 2 * np.pi * np.cumsum(rate)
    x = np.stack([np.sin(phase), 0.5 * np.sin(phase + 1.0), -np.sin(phase + 2.0)], axis=1)
    fast = phase[3010] + 1.8 * (phase[3010:3160] - phase[3010])
    x[3010:3160, 1] = 0.5 * np.sin(fast + 1.0)  # channel 1 alone speeds up, in the middle of a regime
    x += rng.normal(0, 0.05, x.shape)
    detector = ReservoirAnomaly(3, kind="int8", warmup=2000, seed=np.random.default_rng(7))
    flags = run(detector, x)
    m = anomaly_metrics(flags, [(3010, 3160)], tolerance=20)
    assert m["recall"] == 1.0 and m["false_alarms"] == 0  # eight regime switches after the warm-up: no alarm
    alone = ReservoirAnomaly(3, kind="int8", warmup=2000, cross=False, seed=np.random.default_rng(7))
    # three readouts of three features (a 3x3 triangle and 3 weights each), one more energy, mean and
    # variance per channel: 27 + 9 floats; 12 band energies (4 octaves x 3 channels): filter memories,
    # energies, score means and variances, the Gaussian's mean (8 x 12), covariance and precision (2 x 78)
    assert detector.cost().state - alone.cost().state == (3 * (6 + 3) + 3 * 3 + 8 * 12 + 12 * 13) * 4
