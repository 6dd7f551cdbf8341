"""``esn``: an echo state network on the stream's raw inputs in place of the deployed network: each
sample's window runs through a fixed random reservoir, a linear readout learns the labels online."""

from __future__ import annotations

import numpy as np

from ...config import Field, choice, integer
from ..base import FLOAT, Cost, Method
from .readout import READOUTS, Rls, make_readout
from .reservoir import Reservoir, check, reservoir_cost
from .schema import interval, reservoir_schema


def sequences(x: np.ndarray) -> np.ndarray:
    """NHWC samples as sequences over their width: ``(N, W, H * C)`` (a 1-D signal is ``(1, W, C)``)."""
    n, h, w, c = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, w, h * c)


def window_features(reservoir: Reservoir, window: np.ndarray) -> np.ndarray:
    """The reservoir's states over one window from rest: their mean, the last states, and a 1."""
    reservoir.reset()
    states = reservoir.run(window)
    return np.concatenate([states[:, :-1].mean(axis=0), states[-1]])


class Esn(Method):
    """Leaky echo state network classifier: each sample is a window of time steps (its width) read
    by the reservoir from rest; the readout on the states' mean and last value (one output per
    class, one-hot targets) learns from each arriving label, starts from the reference data, and on
    a detection restarts its correlations (RLS's ``P`` back to ``I / ridge``, ridge's sums cleared)
    so it relearns fast. It never uses the deployed network.

    Options: ``units``, ``layers``, ``radius``, ``density``, ``input_scaling``, ``leak``, ``kind``
    (``float``, ``int8``, ``binary``) of the reservoir; ``readout`` ``rls`` or ``ridge``;
    ``forgetting``; ``ridge``; ``batch`` (``ridge``). Channels are standardised with the reference
    data's statistics. Operations per update: the reservoir over one window and one readout update.
    Flash: the reservoir's weights (sparse recurrent ones with a 2-byte column
    index and row offsets) and the input statistics; RAM: the states, the readout, and the RLS
    matrix (or ridge's sums), both symmetric and stored as one triangle.

    >>> from tinyml_cli.adapt.demo import demo
    >>> from tinyml_cli.adapt.simulate import simulate
    >>> from tinyml_cli.drift.detectors import Adwin
    >>> ctx, x, z, y = demo()  # two classes; their labels swap at sample 300 of 600
    >>> trace = simulate(Esn(ctx, {"units": 20}), Adwin(), x, z, y, label_time=np.arange(len(y)))
    >>> f"{trace.correct[:300].mean():.2f} before, {trace.correct[-100:].mean():.2f} at the end"
    '0.90 before, 0.93 at the end'
    """

    name = "esn"
    schema = {**reservoir_schema(input_scaling=1.0, leak=0.3), "readout": Field(choice(*READOUTS), "rls"),
              "forgetting": Field(interval(0, 1), 0.995, "forgetting factor, (0, 1]"),
              "ridge": Field(interval(0), 1e-2, "regularisation (RLS starts from P = I / ridge), > 0"),
              "batch": Field(integer(min_value=1), 32)}
    uses_model = False

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        o = self.options
        check(ctx.ref_x is not None, "needs the reference inputs (the context's ref_x) to start from")
        ref = sequences(ctx.ref_x)
        self.mean, std = ref.mean(axis=(0, 1)), ref.std(axis=(0, 1))
        self.std = np.where(std > 1e-6, std, 1.0)
        self.reservoir = Reservoir(ref.shape[2], o["units"], o["layers"], o["radius"], o["density"],
                                   o["input_scaling"], o["leak"], o["kind"], np.random.default_rng(ctx.seed))
        self.steps = ref.shape[1]
        features = 2 * (self.reservoir.features - 1) + 1
        self.readout = make_readout(o["readout"], features, ctx.num_labels, o["forgetting"], o["ridge"], o["batch"])
        self.eye = np.eye(ctx.num_labels)
        for phi, label in zip(self._features(ctx.ref_x), ctx.ref_y):
            self.readout.learn(phi, self.eye[label])

    def _features(self, x: np.ndarray) -> np.ndarray:
        windows = ((sequences(x) - self.mean) / self.std).astype(np.float32)
        return np.array([window_features(self.reservoir, w) for w in windows], np.float64)

    def bind(self, x: np.ndarray, z: np.ndarray) -> None:
        self.phi = self._features(x)  # the features depend on the inputs only

    def predict(self, t: int) -> int:
        return int(np.argmax(self.readout.predict(self.phi[t])))

    def learn(self, t: int, y: int) -> None:
        self.readout.learn(self.phi[t], self.eye[y])

    def on_drift(self, t: int, since: int | None) -> None:
        self.readout.restart()

    def cost(self) -> Cost:
        o = self.options
        f, c = len(self.readout.w), self.ctx.num_labels
        flash, states, step = reservoir_cost(self.reservoir)
        units = self.reservoir.units * len(self.reservoir.layers)
        ops = self.steps * (step + units)  # the reservoir over the window, and the states' running mean
        triangle = f * (f + 1) // 2
        if isinstance(self.readout, Rls):
            memory, temps, ops = triangle, 2 * f, ops + 2 * f * f + f + 2 * f * c
        else:
            memory, temps, ops = triangle + f * c, f, ops + triangle + f * c + f ** 3 // (6 * o["batch"])
        return Cost(state=states + units * FLOAT + f * c * FLOAT, buffers=memory * FLOAT,
                    activations=(temps + c) * FLOAT, flash=flash + 2 * self.reservoir.inputs * FLOAT,
                    ops_per_update=ops + f * c)

    def state(self) -> dict[str, np.ndarray]:
        layers = {f"{name}_{i}": getattr(layer, name) for i, layer in enumerate(self.reservoir.layers)
                  for name in ("w_in", "w")}
        return {"readout": self.readout.w, "mean": self.mean, "std": self.std, **layers}
