"""Regression mode of the ``esn`` method: an echo state network reads a sensor stream and its readout
learns online to predict a target whose relation to the sensors drifts; scored like the other
methods' drift runs, with the prediction error (RMSE per window) in place of the accuracy."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...config import Field, choice, integer, list_of, mapping, validate
from ...drift.detectors import make_detector
from ...drift.sensors import regression_stream
from ...errors import ConfigError, clip, shown
from ...mcu import budget_for, load_profile
from ...report.drift_metrics import error_metrics
from ..base import FLOAT, Cost
from .readout import READOUTS, Rls, make_readout
from .reservoir import Reservoir, check, reservoir_cost
from .schema import interval, reservoir_schema

WASHOUT = 100  # first samples: the channels' statistics, nothing predicted

MODEL_SCHEMA = {
    **reservoir_schema(input_scaling=0.5, leak=0.5),
    "readout": Field(choice(*READOUTS), "rls"),
    "forgetting": Field(interval(0, 1), 0.995, "forgetting factor, (0, 1]"),
    "ridge": Field(interval(0), 1e-2, "regularisation (RLS starts from P = I / ridge), > 0"),
    "batch": Field(integer(min_value=1), 32, "ridge: samples per solve"),
}

REGRESSION_SCHEMA = {
    "source": Field(choice("none", "sensors"), "none",
                    "none: a classification stream; sensors: regression mode of the esn method"),
    "length": Field(integer(min_value=2, max_value=1_000_000), 6000),
    "channels": Field(integer(min_value=1, max_value=64), 3),
    "drifts": Field(list_of(integer(min_value=1)), [2000, 4000], "samples where the target's relation changes"),
    "lags": Field(integer(min_value=1, max_value=256), 8, "past samples the target depends on"),
    "noise": Field(interval(0, open_lo=False), 0.05, "sensor noise"),
    "models": Field(mapping, {"esn": {}, "esn:int8": {"kind": "int8"}, "esn:binary": {"kind": "binary"},
                              "esn:ridge": {"readout": "ridge", "forgetting": 0.9}},
                    "label -> EsnRegressor options"),
}


class EsnRegressor:
    """Online regression with a leaky echo state network: the first ``washout`` samples give the
    channels' statistics (their errors are the targets: nothing is predicted yet); from the last of
    them on, each sample's standardised channels drive the reservoir (from rest); the readout on the state, the
    channels and a 1 predicts the target, then learns it (``rls`` with ``forgetting``, or ``ridge``
    over mini-batches of ``batch``). ``restart`` (on a detected drift) forgets the readout's
    correlations so it relearns fast. ``units=0`` is the baseline without a reservoir: a linear
    readout of the current channels.

    Reference: H. Jaeger, "The echo state approach to analysing and training recurrent neural
    networks", GMD Report 148 (2001); M. Lukosevicius, "A practical guide to applying echo state
    networks", Neural Networks: Tricks of the Trade (2012).

    >>> t = np.arange(3000)
    >>> x = np.sin(0.05 * t)[:, None].astype(np.float32)
    >>> y = np.roll(x[:, 0], 5)  # the input 5 samples ago: needs the reservoir's memory
    >>> model = EsnRegressor(1, units=30, seed=np.random.default_rng(0))
    >>> errors = np.array([model.update(u, target) for u, target in zip(x, y)])
    >>> bool(np.sqrt(np.mean(errors[-500:] ** 2)) < 0.05)
    True
    """

    def __init__(self, inputs: int, units: int = 50, layers: int = 1, radius: float = 0.9, density: float = 0.1,
                 input_scaling: float = 0.5, leak: float = 0.5, kind: str = "float", readout: str = "rls",
                 forgetting: float = 0.995, ridge: float = 1e-2, batch: int = 32, washout: int = WASHOUT,
                 seed: int | np.random.Generator = 0) -> None:
        check(washout >= 2, f"washout must be >= 2, got {washout}")
        self.inputs, self.washout = inputs, washout
        self.reservoir = Reservoir(inputs, units, layers, radius, density, input_scaling, leak, kind,
                                   np.random.default_rng(seed)) if units else None
        states = self.reservoir.features if self.reservoir else 1
        self.readout = make_readout(readout, states + inputs, 1, forgetting, ridge, batch)
        self.first: list[np.ndarray] = []
        self.offset, self.scale = np.zeros(inputs), np.ones(inputs)

    def update(self, u: np.ndarray, target: float) -> float:
        """Predict the target for channels ``u``, learn it; the prediction error (target - prediction)."""
        u = np.asarray(u, np.float64)
        if len(self.first) < self.washout:  # the statistics first: nothing is predicted or learnt
            self.first.append(u)
            if len(self.first) < self.washout:
                return float(target)
            first = np.array(self.first)
            self.offset, std = first.mean(axis=0), first.std(axis=0)
            self.scale = np.where(std > 1e-9, std, 1.0)
        z = (u - self.offset) / self.scale
        state = self.reservoir.step(z.astype(np.float32)) if self.reservoir else np.ones(1)
        phi = np.concatenate([state, z])
        error = float(target - phi @ self.readout.w[:, 0])
        self.readout.learn(phi, np.array([target]))
        return error

    def restart(self) -> None:
        self.readout.restart()

    def cost(self) -> Cost:
        """Flash: the reservoir's weights and the input statistics; RAM: the states, the readout and
        the RLS matrix (or ridge's sums) as one triangle. Operations: a reservoir step, a prediction
        and a readout update."""
        f = len(self.readout.w)
        flash, states, ops = reservoir_cost(self.reservoir) if self.reservoir else (0, 0, 0)
        triangle = f * (f + 1) // 2
        if isinstance(self.readout, Rls):
            memory, ops = triangle + f, ops + 2 * f * f + 3 * f
        else:
            memory, ops = triangle + 2 * f, ops + triangle + 2 * f + f ** 3 // (6 * self.readout.batch)
        return Cost(state=states + memory * FLOAT, activations=2 * f * FLOAT,
                    flash=flash + 2 * self.inputs * FLOAT, ops_per_update=ops + 2 * self.inputs)


@dataclass
class RegressionRun:
    """The stream, each model's per-sample errors and the report's data."""

    x: np.ndarray
    y: np.ndarray
    errors: dict[str, np.ndarray]
    data: dict


def model_options(cfg: dict, source: str) -> dict[str, dict]:
    """The validated options of each configured model (``regression.models``); the drifts checked."""
    r = cfg["regression"]
    if r["length"] <= 2 * WASHOUT:
        raise ConfigError(f"{source}: regression.length: {r['length']} leaves nothing after the {WASHOUT}-sample washout")
    if any(not WASHOUT < d < r["length"] for d in r["drifts"]):
        raise ConfigError(f"{source}: regression.drifts: {r['drifts']} must lie after the {WASHOUT}-sample washout "
                          f"and inside the {r['length']} samples")
    if not r["models"]:
        raise ConfigError(f"{source}: regression.models: name at least one model")
    for k, v in r["models"].items():
        if v is not None and not isinstance(v, dict):
            raise ConfigError(f"{source}: regression.models.{clip(str(k))}: expected a mapping of options, got {shown(v)}")
    return {str(k): validate(dict(v or {}), MODEL_SCHEMA, source, f"regression.models.{clip(str(k))}")
            for k, v in r["models"].items()}


def regress(cfg: dict, source: str = "config") -> RegressionRun:
    """Every configured model, and the linear baseline, on the generated regression stream."""
    r, report = cfg["regression"], cfg["report"]
    options = model_options(cfg, source)
    stream = regression_stream(np.random.default_rng(cfg["seed"]), r["length"], r["channels"], tuple(r["drifts"]),
                               r["lags"], r["noise"])
    budget = budget_for(load_profile(cfg["mcu"]), cfg["constraints"])
    rows, errors = [], {}
    for key, o in {"linear": {"units": 0}, **options}.items():
        model = EsnRegressor(stream.x.shape[1], **o, seed=np.random.default_rng(cfg["seed"]))
        detector = make_detector(cfg["detector"]["name"], cfg["detector"]["params"])
        detections, e = [], np.zeros(len(stream.y))
        start = time.perf_counter()
        for t, (u, target) in enumerate(zip(stream.x, stream.y)):
            e[t] = model.update(u, float(target))
            if detector.update(abs(e[t])):
                detections.append(t)
                model.restart()
        rate = len(e) / max(time.perf_counter() - start, 1e-9)
        metrics = error_metrics(e, stream.drifts, report["window"], report["margin"], model.washout)
        cost = model.cost().to_dict()
        matched = [next((d - p for d in detections if p <= d < p + report["max_delay"] + 1), None)
                   for p in stream.drifts]
        rows.append({"model": key, "options": o, **metrics, "detections": detections,
                     "detection_delays": matched, "samples_per_second": rate, "cost": cost,
                     "fits": {"ram": cost["ram"] <= budget.sram, "flash": cost["flash"] <= budget.flash}})
        errors[key] = e
    data = {"name": cfg["name"], "mcu": {"name": cfg["mcu"], "sram": budget.sram, "flash": budget.flash},
            "stream": {"length": r["length"], "channels": r["channels"], "drifts": stream.drifts, "lags": r["lags"],
                       "target_std": float(stream.y.std())},
            "washout": model.washout, "window": report["window"], "margin": report["margin"], "detector": cfg["detector"]["name"],
            "regression": rows}
    return RegressionRun(stream.x, stream.y, errors, data)
