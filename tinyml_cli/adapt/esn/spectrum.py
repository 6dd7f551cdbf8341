"""Per-channel band energies of a stream (a bank of band-pass biquads, running mean squares) and each
band energy's residual given all the others (a Gaussian's conditional), for the anomaly detector:
a channel whose spectrum moves while the others' keep the regime disagrees with them."""

from __future__ import annotations

import numpy as np

from .pca import IncrementalPca
from .reservoir import check

OCTAVES = (1 / 32, 1 / 16, 1 / 8, 1 / 4)  # band centres in cycles per sample, one octave apart
Q = 2 ** 0.5  # a band-pass of quality sqrt(2) is about one octave wide (-3 dB at f0 / sqrt(2) and f0 sqrt(2))
FLOOR = 1e-12  # added to an energy before its log
VARIANCE_FLOOR = 1e-4  # the least variance a direction of the log energies is given (a constant channel)


def bandpass(centre: float, q: float = Q) -> tuple[np.ndarray, np.ndarray]:
    """The band-pass biquad of unit gain at ``centre`` (cycles per sample) and quality ``q``
    (R. Bristow-Johnson, "Cookbook formulae for audio equalizer biquad filter coefficients"):
    ``y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2]``; returns ``(b0, b1, b2), (a1, a2)``.

    >>> b, a = bandpass(0.125)
    >>> np.round(b, 4).tolist(), np.round(a, 4).tolist()
    ([0.2, 0.0, -0.2], [-1.1314, 0.6])
    """
    check(0 < centre < 0.5 and q > 0, f"a band needs a centre in (0, 0.5) cycles/sample and q > 0, got {centre}, {q}")
    w = 2 * np.pi * centre
    alpha = np.sin(w) / (2 * q)
    return np.array([alpha, 0.0, -alpha]) / (1 + alpha), np.array([-2 * np.cos(w), 1 - alpha]) / (1 + alpha)


class BandEnergies:
    """The log running mean square (rate ``1 / window``) of each channel in each band of ``centres``.

    ``step(x)`` filters one sample; ``hold=True`` moves the filters on but keeps the energies (a sample
    that should teach nothing). ``snapshot``/``restore`` let the caller take a step back.

    >>> bank = BandEnergies(1, window=64)
    >>> t = np.arange(2000)
    >>> logs = [bank.step(np.array([np.sin(2 * np.pi * t_ / 16)])) for t_ in t][-1]
    >>> int(np.argmax(logs[:, 0])), round(float(np.exp(logs[1, 0])), 2)  # in the 1/16 band, at unit gain: power 1/2
    (1, 0.5)
    """

    def __init__(self, channels: int, centres: tuple[float, ...] = OCTAVES, window: int = 128, q: float = Q) -> None:
        check(window >= 1, f"band_window must be >= 1, got {window}")
        pairs = [bandpass(c, q) for c in centres]
        self.b = np.array([b for b, _ in pairs])[:, :, None]  # (bands, 3, 1)
        self.a = np.array([a for _, a in pairs])[:, :, None]  # (bands, 2, 1)
        self.window = window
        self.x = np.zeros((len(centres), 2, channels))  # x[n-1], x[n-2]
        self.y = np.zeros((len(centres), 2, channels))  # y[n-1], y[n-2]
        self.energy = np.zeros((len(centres), channels))

    def step(self, x: np.ndarray, hold: bool = False) -> np.ndarray:
        """Filter one sample (all channels); the log energies ``(bands, channels)``."""
        b, a = self.b, self.a
        y = (b[:, 0] * x + b[:, 1] * self.x[:, 0] + b[:, 2] * self.x[:, 1]
             - a[:, 0] * self.y[:, 0] - a[:, 1] * self.y[:, 1])
        self.x[:, 1], self.x[:, 0] = self.x[:, 0], x
        self.y[:, 1], self.y[:, 0] = self.y[:, 0], y
        if not hold:
            self.energy = self.energy + (y * y - self.energy) / self.window
        return np.log(self.energy + FLOOR)

    def snapshot(self) -> tuple[np.ndarray, ...]:
        return self.x.copy(), self.y.copy(), self.energy.copy()

    def restore(self, saved: tuple[np.ndarray, ...]) -> None:
        self.x, self.y, self.energy = saved


class Conditional:
    """Each coordinate's residual given all the others under a running Gaussian (mean and covariance
    of ``IncrementalPca``, fading after ``memory`` samples, its precision renewed every ``refresh``):
    ``(P u)_j / sqrt(P_jj)`` with ``u = x - mean`` and ``P`` the inverse covariance, which is the
    error of regressing coordinate ``j`` linearly on the others over their conditional deviation.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0, 1, (2000, 1)) @ [[1.0, 1.0, 1.0]] + 0.1 * rng.normal(0, 1, (2000, 3))
    >>> cond = Conditional(3, memory=10 ** 6)
    >>> for row in x:
    ...     cond.learn(row)
    >>> np.round(cond.residuals(np.array([1.0, 1.0, 1.0])), 1).tolist()  # together: as the others say
    [0.0, 0.0, 0.1]
    >>> np.round(cond.residuals(np.array([1.0, 1.0, 2.0])), 1).tolist()  # the third goes its own way
    [-4.1, -3.9, 8.2]
    """

    def __init__(self, dims: int, memory: int = 2000, refresh: int = 50) -> None:
        self.moments = IncrementalPca(dims, dims, memory, refresh)
        self.precision = np.eye(dims)

    def learn(self, x: np.ndarray) -> None:
        self.moments.learn(x)
        if self.moments.n % self.moments.refresh == 0:
            v = self.moments.directions()
            self.precision = (v.T / np.maximum(self.moments.variances(), VARIANCE_FLOOR)) @ v

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self.precision @ (x - self.moments.mean) / np.sqrt(np.diag(self.precision))
