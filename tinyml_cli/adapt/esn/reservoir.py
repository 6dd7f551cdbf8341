"""Leaky reservoirs: sparse random recurrent weights scaled to a spectral radius, in float, int8
(weights and states) or binary (+1/-1 weights, sign activations), stacked into a deep reservoir."""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError

KINDS = ("float", "int8", "binary")
Q = 127  # int8 full scale: states in [-1, 1] are stored as round(127 x)
FLOAT = 4  # bytes of a float32 on the MCU
INDEX = 2  # bytes of a stored column index or row offset of a sparse recurrent weight
WEIGHT_BYTES = {"float": FLOAT, "int8": 1, "binary": 1 / 8}
STATE_BYTES = {"float": FLOAT, "int8": 1, "binary": 1 / 8 + FLOAT}  # binary: the sign bit and its accumulator


def check(condition: bool, message: str) -> None:
    """Raise a ConfigError naming the echo state network when ``condition`` is false."""
    if not condition:
        raise ConfigError(f"esn: {message}")


def spectral_radius(w: np.ndarray) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(w))))


def recurrent_weights(units: int, density: float, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Sparse ``(units, units)`` weights: a ``density`` fraction of N(0, 1) entries, scaled so the
    spectral radius is ``radius``.

    >>> w = recurrent_weights(50, 0.2, 0.9, np.random.default_rng(0))
    >>> round(spectral_radius(w), 6), round(float(np.mean(w != 0)), 2)
    (0.9, 0.21)
    """
    w = np.where(rng.random((units, units)) < density, rng.standard_normal((units, units)), 0.0)
    rho = spectral_radius(w)
    check(rho > 1e-9, f"density {density} leaves {units} units with a nilpotent recurrent matrix; raise it")
    return w * (radius / rho)


class Layer:
    """One float reservoir: ``x <- (1 - leak) x + leak tanh(W_in [u; 1] + W x)``."""

    def __init__(self, w_in: np.ndarray, w: np.ndarray, leak: float) -> None:
        self.w_in, self.w, self.leak = w_in.astype(np.float32), w.astype(np.float32), leak
        self.units = len(w)

    def reset(self) -> np.ndarray:
        """The rest state."""
        return np.zeros(self.units, np.float32)

    def step(self, u: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The next state from input ``u`` (bias appended) and state ``x``."""
        return (1 - self.leak) * x + self.leak * np.tanh(self.w_in @ u + self.w @ x)

    def view(self, x: np.ndarray) -> np.ndarray:
        """The state as the next layer and the readout see it."""
        return x

    def nonzeros(self) -> int:
        """Stored recurrent weights (the input weights are dense)."""
        return int(np.count_nonzero(self.w))


class Int8Layer(Layer):
    """Int8 weights (one scale per matrix, from its largest magnitude) and int8 states (scale 1/127:
    the states lie in tanh's [-1, 1]). The recurrent product is an int8 x int8 sum in int32 (here
    float32 holding integers, exact below 2^24), rescaled once; tanh is a lookup on the MCU."""

    def __init__(self, w_in: np.ndarray, w: np.ndarray, leak: float) -> None:
        super().__init__(w_in, w, leak)
        self.s_in, self.w_in = _quantize(w_in)
        s_w, self.w = _quantize(w)
        self.s_rec = s_w / Q

    def step(self, u: np.ndarray, x: np.ndarray) -> np.ndarray:
        pre = self.s_in * (self.w_in @ u) + self.s_rec * (self.w @ x)
        new = (1 - self.leak) * x + (self.leak * Q) * np.tanh(pre)
        return np.clip(np.rint(new), -Q, Q)

    def view(self, x: np.ndarray) -> np.ndarray:
        return x / Q


class BinaryLayer(Layer):
    """+1/-1 weights on the same sparse pattern (the recurrent matrix gain keeps the spectral radius
    asked for) and sign activations: ``h <- (1 - leak) h + leak (W_in [u; 1] + g W x)``, ``x = sign(h)``.
    The state is one bit per unit; ``h`` is the pre-activation accumulator."""

    def __init__(self, w_in: np.ndarray, w: np.ndarray, leak: float) -> None:
        super().__init__(w_in, w, leak)
        self.s_in = float(np.mean(np.abs(w_in)))
        self.w_in = np.sign(w_in).astype(np.float32)
        self.w = np.sign(w).astype(np.float32)
        self.gain = spectral_radius(w) / spectral_radius(self.w)

    def reset(self) -> np.ndarray:
        return np.zeros(2 * self.units, np.float32)

    def step(self, u: np.ndarray, x: np.ndarray) -> np.ndarray:
        h, bits = x[:self.units], x[self.units:]
        h = (1 - self.leak) * h + self.leak * (self.s_in * (self.w_in @ u) + self.gain * (self.w @ bits))
        return np.concatenate([h, np.where(h >= 0, 1.0, -1.0).astype(np.float32)])

    def view(self, x: np.ndarray) -> np.ndarray:
        return x[self.units:]


def _quantize(w: np.ndarray) -> tuple[float, np.ndarray]:
    """Symmetric int8: ``(scale, integers as float32)`` with ``w ~ scale * integers``."""
    scale = float(np.max(np.abs(w))) / Q or 1.0
    return scale, np.rint(w / scale).astype(np.float32)


LAYERS: dict[str, type[Layer]] = {"float": Layer, "int8": Int8Layer, "binary": BinaryLayer}


class Reservoir:
    """A stack of ``layers`` leaky reservoirs of ``units`` each; layer 0 reads the input, layer ``l``
    reads layer ``l - 1``'s state. ``step(u)`` returns the features: every layer's state and a 1.

    >>> r = Reservoir(2, units=20, layers=2, rng=np.random.default_rng(0))
    >>> r.step(np.array([0.5, -0.5])).shape, round(spectral_radius(r.layers[1].w), 6)
    ((41,), 0.9)
    """

    def __init__(self, inputs: int, units: int = 100, layers: int = 1, radius: float = 0.9,
                 density: float = 0.1, input_scaling: float = 1.0, leak: float = 0.3, kind: str = "float",
                 rng: np.random.Generator | None = None) -> None:
        check(inputs >= 1 and units >= 1 and layers >= 1, "inputs, units and layers must be >= 1")
        check(radius > 0, f"radius must be > 0, got {radius}")
        check(0 < density <= 1, f"density must be in (0, 1], got {density}")
        check(input_scaling > 0, f"input_scaling must be > 0, got {input_scaling}")
        check(0 < leak <= 1, f"leak must be in (0, 1], got {leak}")
        check(kind in KINDS, f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        rng = rng if rng is not None else np.random.default_rng(0)
        self.inputs, self.units, self.kind = inputs, units, kind
        self.layers = []
        fan_in = inputs
        for _ in range(layers):
            w_in = rng.uniform(-input_scaling, input_scaling, (units, fan_in + 1))
            self.layers.append(LAYERS[kind](w_in, recurrent_weights(units, density, radius, rng), leak))
            fan_in = units
        self.features = units * layers + 1
        self.reset()

    def reset(self) -> None:
        """Every layer at rest."""
        self.states = [layer.reset() for layer in self.layers]

    def step(self, u: np.ndarray) -> np.ndarray:
        """Advance by one input vector; the features ``[states..., 1]``."""
        views = []
        signal = np.asarray(u, np.float32)
        for i, layer in enumerate(self.layers):
            self.states[i] = layer.step(np.append(signal, np.float32(1.0)), self.states[i])
            signal = layer.view(self.states[i])
            views.append(signal)
        return np.concatenate(views + [np.ones(1, np.float32)]).astype(np.float32)

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Features for a whole sequence ``(T, inputs)`` from the current state: ``(T, features)``."""
        return np.stack([self.step(u) for u in inputs]) if len(inputs) else np.zeros((0, self.features), np.float32)


def reservoir_cost(reservoir: Reservoir) -> tuple[int, int, int]:
    """``(flash, state bytes, operations per step)`` on the MCU: the weights in flash (the sparse
    recurrent ones with a column index each and row offsets, one scale per matrix), the states in
    RAM, and per step the multiply-accumulates of both products plus one tanh (or sign) per unit."""
    flash = ops = 0.0
    for layer in reservoir.layers:
        nnz, dense = layer.nonzeros(), layer.w_in.size
        flash += (nnz + dense) * WEIGHT_BYTES[reservoir.kind] + (nnz + layer.units + 1) * INDEX + 2 * FLOAT
        ops += nnz + dense + layer.units
    states = reservoir.units * len(reservoir.layers) * STATE_BYTES[reservoir.kind]
    return int(np.ceil(flash)), int(np.ceil(states)), int(ops)
