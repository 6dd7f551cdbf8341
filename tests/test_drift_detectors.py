"""Change detectors: bounded delay on an abrupt shift, silence on a stationary stream, River parity."""

import numpy as np
import pytest

from tinyml_cli.drift.detectors import DETECTORS, Adwin, PageHinkley, make_detector
from tinyml_cli.errors import ConfigError

# detector -> (parameters, input kind, maximum delay in values)
CASES = {
    "page-hinkley": ({"threshold": 100, "delta": 0.5}, "gauss", 120),
    "cusum": ({}, "gauss", 30),
    "adwin": ({}, "gauss", 40),
    "ddm": ({"warm_start": 100, "drift_threshold": 5}, "bits", 200),
    "ici": ({"training": 20}, "gauss", 200),
}


def _streams(kind, seed, n=1000):
    rng = np.random.default_rng(seed)
    if kind == "bits":
        before, after = (rng.random(2 * n) < 0.1), (rng.random(n) < 0.5)
    else:
        before, after = rng.normal(0.0, 1.0, 2 * n), rng.normal(2.0, 1.0, n)
    stationary = before.astype(float)
    shifted = np.concatenate([before[:n], after]).astype(float)
    return stationary, shifted


def test_every_registered_detector_is_covered():
    assert set(CASES) == set(DETECTORS)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detects_abrupt_shift_within_bound_and_is_silent_when_stationary(name, seed):
    params, kind, bound = CASES[name]
    stationary, shifted = _streams(kind, seed)
    assert make_detector(name, params).run(stationary) == []
    detections = make_detector(name, params).run(shifted)
    assert detections, f"{name} missed the shift"
    assert 1000 <= detections[0] <= 1000 + bound


def _river_indices(detector, values):
    out = []
    for i, v in enumerate(values):
        detector.update(float(v))
        if detector.drift_detected:
            out.append(i)
    return out


def _mixed_stream(seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, 600), rng.normal(1.5, 1, 600), rng.normal(-1, 2, 600),
                           (rng.random(600) < 0.3).astype(float)])


@pytest.mark.parametrize("params", [{}, {"delta": 0.05, "clock": 1},
                                    {"delta": 0.01, "clock": 8, "max_buckets": 3, "min_window_length": 10,
                                     "grace_period": 30}])
def test_adwin_agrees_with_river(params):
    from river import drift

    for seed in range(5):
        values = _mixed_stream(seed)
        ours = Adwin(**params).run(values)
        assert ours == _river_indices(drift.ADWIN(**params), values)
        assert ours  # the stream has changes; parity on silence alone would prove little


@pytest.mark.parametrize("params", [{}, {"threshold": 20, "delta": 0.1, "mode": "up"},
                                    {"alpha": 0.99, "threshold": 10, "mode": "down", "min_instances": 5}])
def test_page_hinkley_agrees_with_river(params):
    from river import drift

    for seed in range(5):
        values = _mixed_stream(seed)
        ours = PageHinkley(**params).run(values)
        assert ours == _river_indices(drift.PageHinkley(**params), values)
        assert ours


def test_ici_estimates_change_start():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(0, 1, 800), rng.normal(2, 1, 400)])
    ici = make_detector("ici", {"training": 20})
    detected = ici.run(values)[0]
    assert abs((detected - ici.change_start) - 800) <= 20  # within one window of the true start


def test_bad_names_and_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="unknown detector 'adwn'"):
        make_detector("adwn")
    with pytest.raises(ConfigError, match="detector adwin: delta"):
        make_detector("adwin", {"delta": 2})
    with pytest.raises(ConfigError, match="unexpected keyword"):
        make_detector("ddm", {"bogus": 1})


def test_ici_does_not_alarm_on_one_success_of_an_always_wrong_model():
    errors = np.ones(800)
    errors[500] = 0.0  # one correct prediction in a stream of errors
    assert make_detector("ici").run(errors) == []
    assert make_detector("ici", {"min_sigma": 1e-3}).run(errors) != []  # why the floor exists
