"""The anomaly detector's band residuals: the band energies against the biquad's analytic response,
the conditional residuals against least squares, and the weak-channel frequency change they were
added for (seed 22 of the sensor streams, found by no other score)."""

import numpy as np

from tinyml_cli.adapt.esn.anomaly import ReservoirAnomaly
from tinyml_cli.adapt.esn.spectrum import OCTAVES, BandEnergies, Conditional, bandpass
from tinyml_cli.drift.sensors import sensor_stream
from tinyml_cli.report.anomaly_metrics import anomaly_metrics


def response(b: np.ndarray, a: np.ndarray, f: float) -> float:
    """|H| of the biquad at ``f`` cycles per sample, from its transfer function."""
    z = np.exp(-2j * np.pi * f * np.arange(3))
    return float(abs(b @ z / (np.concatenate([[1.0], a]) @ z)))


def test_band_energies_are_the_biquads_power_response():
    t = np.arange(4000)
    freqs = [0.02, 1 / 32, 0.05, 1 / 16, 0.1, 1 / 8, 0.2, 1 / 4, 0.35]
    bank = BandEnergies(len(freqs), window=400)
    for n in t:  # one unit sine per channel
        logs = bank.step(np.sin(2 * np.pi * np.array(freqs) * n))
    for i, centre in enumerate(OCTAVES):
        b, a = bandpass(centre)
        assert abs(response(b, a, centre) - 1) < 1e-12  # unit gain at the centre
        # the half-power points lie BW octaves apart, 1/Q = 2 sinh(ln 2 / 2 BW w0 / sin w0) (the cookbook's
        # bilinear-transform bandwidth), found by bisection on the response either side of the centre
        edges = []
        for lo, hi in ((1e-6, centre), (centre, 0.5 - 1e-6)):
            for _ in range(60):
                mid = (lo + hi) / 2
                if (response(b, a, mid) > 2 ** -0.5) == (lo < centre):
                    hi = mid
                else:
                    lo = mid
            edges.append(mid)
        w0 = 2 * np.pi * centre
        octaves = np.arcsinh(1 / (2 * 2 ** 0.5)) * 2 / np.log(2) * np.sin(w0) / w0
        assert abs(np.log2(edges[1] / edges[0]) / octaves - 1) < 0.02
        for j, f in enumerate(freqs):  # a sine's mean square after the filter: |H|^2 / 2
            assert abs(np.exp(logs[i, j]) / (response(b, a, f) ** 2 / 2) - 1) < 0.03


def test_band_energies_hold_and_step_back():
    bank = BandEnergies(2, window=16)
    rng = np.random.default_rng(0)
    for x in rng.normal(size=(100, 2)):
        bank.step(x)
    saved = bank.snapshot()
    before = bank.step(np.array([5.0, -5.0]))
    bank.restore(saved)
    held = bank.step(np.array([0.1, 0.1]), hold=True)
    assert np.allclose(np.exp(held), saved[2] + 1e-12, rtol=1e-12, atol=0) and not np.allclose(before, held)


def test_conditional_residuals_are_least_squares_errors_over_their_deviation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 5)) @ rng.normal(size=(5, 5)) + [1.0, -2.0, 0.5, 3.0, 0.0]
    cond = Conditional(5, memory=10 ** 6)
    for row in x:
        cond.learn(row)
    probe = x.mean(axis=0) + rng.normal(size=5)
    design = np.column_stack([np.ones(len(x)), x])
    for j in range(5):
        others = [0] + [k + 1 for k in range(5) if k != j]
        coef = np.linalg.lstsq(design[:, others], x[:, j], rcond=None)[0]
        deviation = np.sqrt(np.mean((x[:, j] - design[:, others] @ coef) ** 2))
        expected = (probe[j] - np.concatenate([[1.0], np.delete(probe, j)]) @ coef) / deviation
        assert abs(cond.residuals(probe)[j] - expected) < 1e-6


def test_a_weak_channels_frequency_change_is_found_without_false_alarms():
    # seed 22, sample 4132: channel 1 (signal std 0.09, noise 0.05) speeds up x1.8 while the others keep
    # the regime; its one-step error never leaves 4 deviations, its band residual does
    stream = sensor_stream(np.random.default_rng(22), length=8000, per_class=3, clean=2000)
    detector = ReservoirAnomaly(3, kind="int8", warmup=2000, seed=np.random.default_rng(22))
    flags = np.array([detector.update(u) for u in stream.x])
    m = anomaly_metrics(flags, stream.spans(), tolerance=20)
    assert (4132, 4290, "frequency") in stream.events
    assert flags[4132:4310].any() and m["recall"] == 1.0 and m["false_alarms"] == 0
    plain = ReservoirAnomaly(3, kind="int8", warmup=2000, cross=False, seed=np.random.default_rng(22))
    assert len(plain.band_logs) == 0 and plain.cost().state < detector.cost().state
