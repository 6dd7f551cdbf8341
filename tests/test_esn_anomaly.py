"""Anomaly mode: incremental PCA against numpy's, the metrics on hand-made cases with a known answer,
the sensor stream generator, and the reservoir detector on a seeded sensor stream."""

import numpy as np
import pytest

from tinyml_cli.adapt.esn.anomaly import ReservoirAnomaly
from tinyml_cli.adapt.esn.pca import IncrementalPca
from tinyml_cli.drift.sensors import ANOMALIES, sensor_stream
from tinyml_cli.errors import ConfigError
from tinyml_cli.report.anomaly_metrics import alarms, anomaly_metrics


def test_incremental_pca_finds_numpys_subspace():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (4000, 6)) @ rng.normal(0, 1, (6, 6)) * [4, 3, 2, 0.3, 0.2, 0.1]
    pca = IncrementalPca(6, 2, memory=10 ** 6)
    for row in x:
        pca.learn(row)
    top = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)[2][:2]
    # the two subspaces coincide: every principal angle between them is near zero
    assert np.linalg.svd(top @ pca.directions().T, compute_uv=False).min() > 0.97
    _, spe, t2 = pca.scores(x[0])
    assert spe >= 0 and t2 >= 0


def test_metrics_on_a_hand_made_case():
    flags = np.zeros(2000, bool)
    flags[[50, 500, 501, 502, 1005, 1400, 1401, 1700]] = True
    events = [(500, 510), (1000, 1003), (1500, 1600)]  # found at once; found 2 after its end; missed
    m = anomaly_metrics(flags, events, tolerance=5)
    assert alarms(flags).tolist() == [50, 500, 1005, 1400, 1700]
    assert m["delays"] == [0, 5, None] and m["mean_delay"] == 2.5
    assert m["precision"] == pytest.approx(2 / 5) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * 0.4 * (2 / 3) / (0.4 + 2 / 3))
    assert m["false_alarms"] == 3 and m["false_alarms_per_1000"] == pytest.approx(1.5)
    assert anomaly_metrics(flags, events, tolerance=0)["delays"] == [0, None, None]


def test_metrics_when_nothing_happens():
    quiet = anomaly_metrics(np.zeros(100, bool), [])
    assert (quiet["precision"], quiet["recall"], quiet["f1"], quiet["false_alarms"]) == (1.0, 1.0, 1.0, 0)
    assert anomaly_metrics(np.zeros(100, bool), [(10, 20)])["f1"] == 0.0


def test_sensor_stream_is_seeded_and_places_every_class():
    a = sensor_stream(np.random.default_rng(4), length=5000, per_class=2, clean=1000)
    b = sensor_stream(np.random.default_rng(4), length=5000, per_class=2, clean=1000)
    np.testing.assert_array_equal(a.x, b.x)
    assert sorted(k for _, _, k in a.events) == sorted(ANOMALIES * 2)
    spans = sorted(a.spans())
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:])) and spans[0][0] >= 1000
    flat = a.spans("flatline")[0]
    assert np.ptp(a.x[flat[0]:flat[1]], axis=0).min() == 0.0  # one channel stuck
    with pytest.raises(ConfigError, match="unknown anomaly classes"):
        sensor_stream(np.random.default_rng(0), anomalies=("drop",))
    with pytest.raises(ConfigError, match="do not fit"):
        sensor_stream(np.random.default_rng(0), length=2000, clean=1500)


def test_reservoir_detector_finds_spikes_and_level_shifts_with_few_false_alarms():
    s = sensor_stream(np.random.default_rng(1), length=5000, anomalies=("spike", "level-shift"),
                      per_class=3, clean=2000)
    detector = ReservoirAnomaly(3, warmup=2000, seed=np.random.default_rng(1))
    flags = np.array([detector.update(u) for u in s.x])
    assert not flags[:2000].any()
    m = anomaly_metrics(flags, s.spans(), tolerance=20)
    assert m["recall"] == 1.0 and m["false_alarms_per_1000"] <= 1.0 and m["mean_delay"] < 10


@pytest.mark.parametrize("kwargs,word", [({"statistic": "svm"}, "statistic"), ({"components": 99, "statistic": "spe"}, "components"),
                                         ({"washout": 2000}, "washout"), ({"forgetting": 0.0}, "forgetting"), ({"window": 0}, "window"), ({"adapt": 1.0}, "adapt")])
def test_bad_detector_parameters_name_themselves(kwargs, word):
    with pytest.raises(ConfigError, match=f"esn: .*{word}"):
        ReservoirAnomaly(2, **kwargs)
