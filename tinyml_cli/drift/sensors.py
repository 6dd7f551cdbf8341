"""Multichannel sensor-like streams for anomaly detection: channels mixed from a few latent
oscillators, operating regimes that switch, slow drift of the baseline and noise, with injected
anomalies of known span and class (spikes, level shifts, frequency changes, flat lines)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

ANOMALIES = ("spike", "level-shift", "frequency", "flatline")
SPANS = {"spike": (1, 3), "level-shift": (60, 150), "frequency": (100, 200), "flatline": (60, 150)}


@dataclass
class SensorStream:
    """``x`` (T, channels); ``events`` (start, end, class) of the injected anomalies, in order;
    ``regime`` per sample; ``clean`` the first samples, free of anomalies (a warm-up window)."""

    x: np.ndarray
    events: list[tuple[int, int, str]]
    regime: np.ndarray
    clean: int

    def spans(self, kind: str | None = None) -> list[tuple[int, int]]:
        """``(start, end)`` of the events of one class (all when None)."""
        return [(s, e) for s, e, k in self.events if kind is None or k == kind]


def sensor_stream(rng: np.random.Generator, length: int = 6000, channels: int = 3,
                  anomalies: tuple[str, ...] = ANOMALIES, per_class: int = 3, clean: int = 1500,
                  regime_length: int = 400, drift: float = 0.5, noise: float = 0.05,
                  magnitude: float = 1.0) -> SensorStream:
    """A stream with ``per_class`` anomalies of each class in ``anomalies`` after ``clean`` samples.

    Two latent oscillators per regime (three regimes, switching after ``regime_length`` samples on
    average) are mixed into ``channels``; the baseline drifts by ``drift`` over the stream; ``noise``
    is the Gaussian noise level; ``magnitude`` scales spikes and level shifts (in channel standard
    deviations: 5 and 2.5 at 1) and frequency changes (x1.8 at 1).

    Every anomaly touches one channel while the others carry on: a regime switch changes the
    frequencies of every channel at once (the channels mix the same oscillators), so a frequency
    change of the whole stream is something the normal process does; a frequency change of one
    channel, out of step with the others, is not.

    >>> s = sensor_stream(np.random.default_rng(0), length=3000, per_class=1, clean=1000)
    >>> s.x.shape, [k for _, _, k in s.events], all(start >= 1000 for start, _, _ in s.events)
    ((3000, 3), ['flatline', 'frequency', 'level-shift', 'spike'], True)
    """
    unknown = sorted(set(anomalies) - set(ANOMALIES))
    if unknown:
        raise ConfigError(f"sensor stream: unknown anomaly classes {unknown}; known: {', '.join(ANOMALIES)}")
    if length <= clean:
        raise ConfigError(f"sensor stream: length {length} leaves no room after the clean window of {clean}")
    regime = np.cumsum(rng.random(length) < 1.0 / regime_length) % 3
    freq = rng.uniform(0.01, 0.08, (3, 2))  # cycles per sample, per regime and oscillator
    mix = rng.normal(0, 1, (channels, 2))
    events = _place(rng, length, clean, [k for k in anomalies for _ in range(per_class)])
    phase = 2 * np.pi * np.cumsum(freq[regime], axis=0) + rng.uniform(0, 2 * np.pi, 2)
    latent = np.sin(phase)
    base = np.linspace(0, drift, length)[:, None] * rng.normal(0, 1, channels)
    x = latent @ mix.T + base + rng.normal(0, noise, (length, channels))
    std = x[:clean].std(axis=0)
    for start, end, kind in events:
        c = int(rng.integers(channels))
        sign = rng.choice([-1.0, 1.0])
        if kind == "spike":
            x[start:end, c] += sign * 5.0 * magnitude * std[c]
        elif kind == "level-shift":
            x[start:end, c] += sign * 2.5 * magnitude * std[c]
        elif kind == "flatline":
            x[start:end, c] = x[start, c]
        elif kind == "frequency":  # one channel's oscillators speed up; the others keep the regime's
            fast = phase[start] + (1.0 + 0.8 * magnitude) * (phase[start:end] - phase[start])
            x[start:end, c] += (np.sin(fast) - latent[start:end]) @ mix[c]
    return SensorStream(x.astype(np.float32), events, regime, clean)


def _place(rng: np.random.Generator, length: int, clean: int, kinds: list[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping spans in random order after ``clean``, evenly spread with random jitter."""
    order = [kinds[i] for i in rng.permutation(len(kinds))]
    if not order:
        return []
    slot = (length - clean) // len(order)
    if slot < 2 * max(hi for _, hi in SPANS.values()):
        raise ConfigError(f"sensor stream: {len(order)} anomalies do not fit in {length - clean} samples; "
                          "lengthen the stream or inject fewer")
    events = []
    for i, kind in enumerate(order):
        lo, hi = SPANS[kind]
        span = int(rng.integers(lo, hi + 1))
        start = clean + i * slot + int(rng.integers(slot // 4, slot - span - slot // 4))
        events.append((start, start + span, kind))
    return events


@dataclass
class RegressionStream:
    """``x`` (T, channels) the sensor channels; ``y`` (T,) the target; ``drifts`` the samples where
    the target's relation to the channels changes."""

    x: np.ndarray
    y: np.ndarray
    drifts: list[int]


def regression_stream(rng: np.random.Generator, length: int = 6000, channels: int = 3,
                      drifts: tuple[int, ...] = (2000, 4000), lags: int = 8, noise: float = 0.05,
                      target_noise: float = 0.02) -> RegressionStream:
    """A regression stream with concept drift: the channels of a clean sensor stream (regimes, slow
    drift, ``noise``; no anomalies), and a target read from their last ``lags`` samples through a
    random nonlinear map, ``y_t = sum_j a_j tanh(sum_{c,k} v_{jck} x_{c,t-k})`` (4 hidden units), plus
    ``target_noise``. At each position in ``drifts`` the map is drawn anew: the sensors carry on,
    their relation to the target changes.

    >>> s = regression_stream(np.random.default_rng(0), length=3000, drifts=(1000,))
    >>> s.x.shape, s.y.shape, s.drifts
    ((3000, 3), (3000,), [1000])
    """
    drifts = sorted(int(d) for d in drifts)
    if any(not 0 < d < length for d in drifts):
        raise ConfigError(f"regression stream: drift positions {drifts} must lie inside the {length} samples")
    if lags < 1:
        raise ConfigError(f"regression stream: lags must be >= 1, got {lags}")
    x = sensor_stream(rng, length, channels, (), 1, 1, noise=noise).x.astype(np.float64)
    x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)
    past = np.stack([np.roll(x, k, axis=0) for k in range(lags)], axis=2)  # (T, channels, lags)
    past[:lags] = 0.0
    y = np.zeros(length)
    for start, end in zip([0] + drifts, drifts + [length]):
        v = rng.normal(0, 1.0 / np.sqrt(channels * lags), (4, channels, lags))
        a = rng.normal(0, 1, 4)
        y[start:end] = np.tanh(np.einsum("tck,jck->tj", past[start:end], v)) @ a
    y += rng.normal(0, target_noise, length)
    return RegressionStream(x.astype(np.float32), y.astype(np.float32), drifts)
