"""Anomaly detection on an unlabelled stream from a reservoir's states: an incremental PCA and a
one-class decision (squared prediction error or Hotelling's T^2 against a threshold that adapts, or
a one-class SVM trained on the clean warm-up), or, per channel, the error of a readout that learns
online to predict the next sample together with the signal's noise floor."""

from __future__ import annotations

import numpy as np

from ..base import FLOAT, Cost
from .pca import IncrementalPca
from .readout import Rls
from .reservoir import Reservoir, check, reservoir_cost
from .spectrum import OCTAVES, BandEnergies, Conditional

STATISTICS = ("prediction", "spe", "t2", "ocsvm")
FLOOR = 1e-12  # added to an energy before its log, so a constant signal scores finitely


class ReservoirAnomaly:
    """Flags samples that the reservoir's normal dynamics do not explain.

    Channels are standardised with the first ``washout`` samples' mean and deviation. The first
    ``warmup`` samples are taken as clean: the detector learns them and its score statistics start
    from their second half. Afterwards each sample is scored before it is learnt; a flagged sample
    teaches nothing, so an anomaly does not become normal.

    ``statistic`` picks the score:

    - ``prediction`` (default): a readout trained online by recursive least squares (forgetting
      factor ``forgetting``) predicts each next sample from the reservoir's state and the current
      input; per channel, the log of the squared one-step error's running mean over about ``window``
      samples, and the log of the squared second difference's running mean (the noise floor: it
      collapses when a sensor sticks); with ``cross`` and more than one channel, also the log of
      the running mean square of each channel's error when a linear readout (RLS, a 1 and the
      other channels' current values) estimates it from the others: a channel that goes its own
      way (a frequency, a level or a stuck value of its own) while the others keep the regime
      disagrees with them, where a regime switch moves every channel together. With ``cross``, also
      each channel's log energy in four octave bands (band-pass biquads centred on 1/32 to 1/4 cycles
      per sample, running mean squares over about ``band_window`` samples), each scored by its
      residual given all the other bands and channels under a running Gaussian (the conditional
      deviation, from the inverse covariance): a regime switch moves every channel's spectrum
      together, a weak channel that speeds up on its own puts energy in a band where the others have
      none. A score is out when it leaves ``threshold`` standard deviations around its running
      mean, in either direction; a sample is flagged when a score
      has been out for ``persist`` samples in a row (a regime the stream has shown before is
      recognised within that, an unseen frequency is not), or at once when one is out by twice
      the threshold (a spike, a jump); a band residual (slow: it has no instant rule) after
      ``band_persist`` samples in a row, once ``2 band_window`` samples have passed since the last
      flag (its energies still hold the last anomaly until then). Flagged samples and samples with a
      score out teach nothing, and move no mean or variance (a band residual out keeps only its own:
      its window outlasts the anomaly); while a sample's other scores are out, the band filters see
      the readout's prediction in its place and the band energies hold; the Gaussian learns every
      sample.
    - ``spe`` / ``t2``: the log of the states' squared prediction error off the PCA subspace, or
      their Hotelling's T^2, flagged above the threshold.
    - ``ocsvm``: the states' PCA coordinates, judged by a one-class SVM (``nu``, RBF kernel) fitted
      on the warm-up's second half (scikit-learn on the host; on the MCU its support vectors are
      state, see ``cost``); its negated decision function is the score, flagged above the
      threshold.

    The means and deviations the threshold is measured in follow the unflagged scores at rate
    ``adapt``. Parameters: ``inputs`` channels; ``units``, ``layers``, ``radius``, ``density``,
    ``input_scaling``, ``leak``, ``kind`` as for the reservoir; ``components`` kept by the PCA and its
    ``memory``; ``cross`` the cross-channel readouts and band residuals (``prediction``, more than one
    channel), ``band_window`` and ``band_persist`` the band residuals' window and run; ``seed`` an int
    or a numpy Generator.

    Reference: M. Bianchi et al., "Reservoir computing approaches for representation and
    classification of multivariate time series" (2020); S. J. Qin, "Statistical process monitoring:
    basics and beyond", J. Chemometrics 17 (2003); B. Schoelkopf et al., "Estimating the support of
    a high-dimensional distribution", Neural Computation 13 (2001).

    A sine stream that sticks at sample 1500 for 50 samples:

    >>> t = np.arange(2000)
    >>> stream = np.sin(0.1 * t)[:, None] + 0.01 * np.random.default_rng(1).normal(size=(2000, 1))
    >>> stream[1500:1550] = stream[1500]
    >>> detector = ReservoirAnomaly(1, units=30, seed=np.random.default_rng(0))
    >>> flags = [i for i, u in enumerate(stream) if detector.update(u)]
    >>> flags[0], flags[-1], len(flags)  # one run: the stuck span (after ``persist``) and the jump when it lets go
    (1517, 1579, 63)
    """

    def __init__(self, inputs: int, units: int = 50, layers: int = 1, radius: float = 0.9, density: float = 0.1,
                 input_scaling: float = 0.2, leak: float = 1.0, kind: str = "float", statistic: str = "prediction",
                 components: int = 12, memory: int = 2000, threshold: float = 4.0, adapt: float = 0.002,
                 window: int = 16, forgetting: float = 1.0, nu: float = 0.01, persist: int = 16, warmup: int = 1000,
                 washout: int = 100, cross: bool = True, band_window: int = 128, band_persist: int = 48,
                 seed: int | np.random.Generator = 0) -> None:
        check(statistic in STATISTICS, f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
        check(np.isfinite(threshold) and threshold > 0, f"threshold must be > 0, got {threshold}")
        check(0 < adapt < 1, f"adapt must be in (0, 1), got {adapt}")
        check(window >= 1, f"window must be >= 1, got {window}")
        check(persist >= 1, f"persist must be >= 1, got {persist}")
        check(band_persist >= 1, f"band_persist must be >= 1, got {band_persist}")
        check(0 < nu < 1, f"nu must be in (0, 1), got {nu}")
        check(2 <= washout < warmup, f"washout must be in 2..warmup-1, got {washout} with warmup {warmup}")
        self.reservoir = Reservoir(inputs, units, layers, radius, density, input_scaling, leak, kind,
                                   np.random.default_rng(seed))
        check(statistic == "prediction" or 1 <= components <= self.reservoir.features - 1,
              f"components must be in 1..{self.reservoir.features - 1}, got {components}")
        self.inputs, self.statistic, self.components, self.memory = inputs, statistic, components, memory
        self.threshold, self.adapt, self.window, self.forgetting, self.nu = threshold, adapt, window, forgetting, nu
        self.warmup, self.washout, self.persist = warmup, washout, persist
        self.cross = bool(cross) and statistic == "prediction" and inputs > 1
        self.band_window, self.band_persist = band_window, band_persist
        BandEnergies(1, window=band_window)  # checks the window
        Rls(1, 1, forgetting)  # checks the forgetting factor
        self._reset()

    def _reset(self) -> None:
        self.reservoir.reset()
        d, c = self.reservoir.features - 1, self.inputs
        self.pca = None if self.statistic == "prediction" else IncrementalPca(d, self.components, self.memory)
        self.readout = Rls(d + c + 1, c, self.forgetting)  # the state, the input and a 1
        # per channel: a linear readout of that channel from the others' current values (and a 1)
        self.others = [np.delete(np.arange(c), i) for i in range(c)] if self.cross else []
        self.crossing = [Rls(c, 1, self.forgetting) for _ in self.others]
        self.features: list[np.ndarray] = []  # the cross readouts' features for this sample
        self.n = 0
        self.first: list[np.ndarray] = []  # the washout's samples, for the standardisation
        self.offset, self.scale = np.zeros(c), np.ones(c)
        self.phi: np.ndarray | None = None  # the readout's features for the coming sample
        self.last = np.zeros((2, c))  # the two previous standardised samples
        # running mean squares: one-step errors, second differences, cross-channel errors
        self.energy = np.zeros((3 if self.cross else 2) * c)
        self.rates = np.repeat([1.0 / self.window, 2.0 / self.window, 1.0 / self.window][:len(self.energy) // c], c)
        self.warm: list[np.ndarray] = []  # the scores over the warm-up's second half
        self.mean = self.var = np.zeros(1)
        self.svm = None
        # with ``cross``: each channel's log energy in each octave band, and each one's residual given the others
        self.bands = BandEnergies(c, window=self.band_window) if self.cross else None
        self.conditional = Conditional(len(OCTAVES) * c) if self.cross else None
        self.band_logs = np.zeros(len(OCTAVES) * c if self.cross else 0)
        self.saved: tuple = ()  # the band filters before this sample
        self.prediction = np.zeros(c)  # the readout's prediction of this sample
        self.over = 0  # consecutive samples with a score outside the threshold (not counting band residuals)
        self.band_over = 0  # the same, of the band residuals
        self.last_flag = -2 ** 31  # the last flagged sample
        self.score = np.zeros(1)  # the last sample's scores, in deviations from their mean

    def update(self, u: np.ndarray) -> bool:
        """Feed one sample (all channels); True when it is anomalous."""
        u = np.asarray(u, np.float64)
        if u.shape != (self.inputs,) or not np.isfinite(u).all():  # the message only when needed: repr is dear
            check(False, f"a sample must be {self.inputs} finite values, got {u!r}")
        self.n += 1
        if self.n <= self.washout:
            self.first.append(u)
            if self.n == self.washout:
                first = np.array(self.first)
                self.offset, std = first.mean(axis=0), first.std(axis=0)
                self.scale = np.where(std > 1e-9, std, 1.0)
        z = (u - self.offset) / self.scale
        state = self.reservoir.step(z.astype(np.float32))[:-1].astype(np.float64)
        scores = self._scores(z, state)
        flagged = False
        if self.n <= self.warmup:
            if self.n > (self.warmup + self.washout) // 2:
                self.warm.append(scores)
            if self.n == self.warmup:
                self._start()
        else:
            flagged = self._judge(scores)
        if not flagged and not self.over and self.n > self.washout:  # suspect samples teach nothing either
            self._learn(z, state)
        if self.bands is not None:
            if self.over and self.n > self.warmup:  # the band filters see the prediction; energies hold
                self.bands.restore(self.saved)
                self.bands.step(self.prediction, hold=True)
            if self.n > self.washout + self.band_window:  # the band energies' Gaussian learns every sample
                self.conditional.learn(self.band_logs)
        self.phi = np.concatenate([state, z, [1.0]])
        self.last[1] = self.last[0]
        self.last[0] = z
        return flagged

    def _scores(self, z: np.ndarray, state: np.ndarray) -> np.ndarray:
        """This sample's raw scores (logs), before anything learns from it."""
        if self.statistic == "prediction":
            error = z - self.phi @ self.readout.w if self.phi is not None else np.zeros_like(z)
            self.prediction = z - error
            second = z - 2 * self.last[0] + self.last[1]
            errors = [error, second]
            if self.cross:
                self.features = [np.append(z[o], 1.0) for o in self.others]
                errors.append(np.array([z[i] - f @ r.w[:, 0] for i, (f, r) in
                                        enumerate(zip(self.features, self.crossing))]))
            self.energy += (np.concatenate(errors) ** 2 - self.energy) * self.rates
            if self.bands is None:
                return np.log(self.energy + FLOOR)
            self.saved = self.bands.snapshot()
            self.band_logs = self.bands.step(z).ravel()
            return np.concatenate([np.log(self.energy + FLOOR), self.conditional.residuals(self.band_logs)])
        proj, spe, t2 = self.pca.scores(state)
        if self.statistic == "ocsvm":
            return proj
        return np.log(np.array([spe if self.statistic == "spe" else t2]) + FLOOR)

    def _start(self) -> None:
        """At the end of the warm-up: the scores' mean and variance (the one-class SVM fitted first:
        its score is the negated decision function, in-sample on the warm-up)."""
        warm = np.array(self.warm)
        if self.statistic == "ocsvm":
            from sklearn.svm import OneClassSVM
            self.svm = OneClassSVM(nu=self.nu, gamma="scale").fit(warm)
            warm = -self.svm.decision_function(warm)[:, None]
        self.mean, self.var = warm.mean(axis=0), np.maximum(warm.var(axis=0), 1e-12)
        self.warm = []

    def _judge(self, scores: np.ndarray) -> bool:
        """Flag the sample; unflagged scores move the threshold's mean and variance."""
        if self.svm is not None:
            scores = -self.svm.decision_function(scores[None])
        self.score = (scores - self.mean) / np.sqrt(self.var)
        fast = len(self.energy) if self.statistic == "prediction" else len(self.score)
        outside = np.max(np.abs(self.score[:fast]) if self.statistic == "prediction" else self.score)
        spectral = np.max(np.abs(self.score[fast:]), initial=0.0)
        self.over = self.over + 1 if outside > self.threshold else 0
        self.band_over = self.band_over + 1 if spectral > self.threshold else 0
        # a band residual flags once its window has cleared the last flag (or it carries a run on)
        cleared = self.n - self.last_flag > 2 * self.band_window or self.last_flag == self.n - 1
        flag = (self.over >= self.persist or outside > 2 * self.threshold
                or (self.band_over >= self.band_persist and cleared))
        if flag:
            self.last_flag = self.n
        elif not self.over:  # the scores that are in move their means and variances: all, or the fast ones
            keep = slice(None) if not self.band_over else slice(0, fast)
            delta = scores[keep] - self.mean[keep]
            self.mean[keep] = self.mean[keep] + self.adapt * delta
            self.var[keep] = (1 - self.adapt) * (self.var[keep] + self.adapt * delta * delta)
        return flag

    def _learn(self, z: np.ndarray, state: np.ndarray) -> None:
        if self.statistic == "prediction":
            if self.phi is not None:
                self.readout.learn(self.phi, z)
                for i, (f, r) in enumerate(zip(self.features, self.crossing)):
                    r.learn(f, z[i:i + 1])
        elif self.svm is None:  # the one-class SVM's coordinates stay those it was fitted in
            self.pca.learn(state)

    def cost(self) -> Cost:
        """MCU memory and operations per sample: the reservoir (weights in flash, states in RAM), the
        standardisation, and the decision's state. ``prediction``: the RLS matrix (one triangle), the
        readout, two running energies (three with ``cross``), their means and variances per channel
        and the two previous samples; per sample one readout prediction and one RLS update, and
        with ``cross`` per channel one RLS of ``c`` features (triangle and weights), and the band energies
        (``4c`` biquads, their coefficients in flash; the Gaussian's moments and precision, renewed by an
        eigendecomposition every ``refresh`` samples). ``spe``/``t2``: the PCA (a
        covariance triangle, mean, directions and variances; its eigendecomposition, about ``10 d^3``
        operations, every ``refresh`` samples) and the score's mean and variance. ``ocsvm``: the
        PCA's mean and directions, frozen, and the SVM's support vectors and their weights; per
        sample one kernel (a distance and an exponential) per support vector."""
        flash, states, step = reservoir_cost(self.reservoir)
        d, k, c = self.reservoir.features - 1, self.components, self.inputs
        ops = step + 2 * c
        if self.statistic == "prediction":
            f = len(self.readout.w)
            blocks = len(self.energy) // c
            memory = f * (f + 1) // 2 + f * c + blocks * c * 3 + 2 * c
            ops += f * c + 2 * f * f + f + 2 * f * c + 4 * blocks * c
            activations = 2 * f + c
            if self.cross:  # c readouts of c features: the others, a 1
                memory += c * (c * (c + 1) // 2 + c)
                ops += c * (c + 2 * c * c + c + 2 * c)
                activations += 2 * c
                # b band energies: filter memories (4), energies, score means and variances, the Gaussian's mean,
                # covariance and precision (triangles); per sample the biquads (9), energies and logs (4), the
                # residuals (b^2 + 3b), the moments (b^2 + 3b), the eigendecomposition and precision (11 b^3) every
                # refresh, the scores' z (4b), and a second filter step on a suspect sample (9b)
                b, refresh = len(self.band_logs), self.conditional.moments.refresh
                memory += 8 * b + b * (b + 1)
                ops += 2 * b * b + 32 * b + 11 * b ** 3 // refresh
                activations += 2 * b  # the tentative filter outputs and energies, kept until the sample is judged
                flash += 5 * len(OCTAVES) * FLOAT  # the biquads' coefficients
        elif self.statistic == "ocsvm":
            vectors = 0 if self.svm is None else len(self.svm.support_vectors_)
            memory = d + k * d + vectors * (k + 1) + 1
            ops += k * d + vectors * (2 * k + 2)
            activations = d + k
        else:
            memory = d * (d + 1) // 2 + d + k * d + k + 2
            ops += d * (d + 1) + 2 * d + k * d + 10 * d ** 3 // self.pca.refresh
            activations = d + k
        return Cost(state=states + (memory + 2 * c) * FLOAT, activations=activations * FLOAT, flash=flash,
                    ops_per_update=ops)
