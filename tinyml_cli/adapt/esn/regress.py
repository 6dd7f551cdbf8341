"""Regression mode of the ``esn`` method: an echo state network reads a sensor stream and its readout
learns online to predict a target whose relation to the sensors drifts; scored like the other
methods' drift runs, with the prediction error (RMSE per window) in place of the accuracy."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...config import Field, choice, integer, list_of, mapping, optional, string, validate
from ...data.series import FILE_SCHEMA, read_series
from ...drift.detectors import make_detector
from ...drift.sensors import regression_stream
from ...errors import ConfigError, InputFileError, clip, shown
from ...mcu import budget_for, load_profile
from ...report.drift_metrics import error_metrics
from ..base import FLOAT, Cost
from .readout import READOUTS, Rls, make_readout
from .reservoir import Reservoir, check, reservoir_cost
from .schema import interval, reservoir_schema

WASHOUT = 100  # first samples: the channels' statistics, nothing predicted
DRIFTS = [2000, 4000]  # the generated stream's drift points unless regression.drifts says otherwise

MODEL_SCHEMA = {
    **reservoir_schema(input_scaling=0.5, leak=0.5),
    "readout": Field(choice(*READOUTS), "rls"),
    "forgetting": Field(interval(0, 1), 0.995, "forgetting factor, (0, 1]"),
    "ridge": Field(interval(0), 1e-2, "regularisation (RLS starts from P = I / ridge), > 0"),
    "batch": Field(integer(min_value=1), 32, "ridge: samples per solve"),
}

REGRESSION_SCHEMA = {
    "source": Field(choice("none", "sensors", "file"), "none",
                    "none: a classification stream; sensors (generated) or file: regression mode of the esn method"),
    "path": Field(optional(string), None, "time-series .csv/.tsv/.txt or .npz (source: file; --stream overrides)"),
    "target": Field(optional(string), None, "source: file: the target column; the other value columns are the inputs"),
    **FILE_SCHEMA,
    "length": Field(integer(min_value=2, max_value=1_000_000), 6000),
    "channels": Field(integer(min_value=1, max_value=64), 3),
    "drifts": Field(optional(list_of(integer(min_value=1), min_length=1)), None,
                    f"samples where the target's relation changes (sensors: default {DRIFTS}; a file: "
                    "known drift points, for recovery; default none)"),
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


def check_drifts(drifts: list[int], length: int, where: str) -> None:
    """Drift points lie after the washout and inside the series."""
    if any(not WASHOUT < d < length for d in drifts):
        raise ConfigError(f"{where}: regression.drifts: {drifts} must lie after the {WASHOUT}-sample washout "
                          f"and inside the {length} samples")


def model_options(cfg: dict, source: str) -> dict[str, dict]:
    """The validated options of each configured model (``regression.models``); the drifts checked
    (a file's once it is read)."""
    r = cfg["regression"]
    if r["source"] == "sensors":
        if r["length"] <= 2 * WASHOUT:
            raise ConfigError(f"{source}: regression.length: {r['length']} leaves nothing after the {WASHOUT}-sample "
                              f"washout")
        check_drifts(DRIFTS if r["drifts"] is None else r["drifts"], r["length"], source)
    elif r["target"] is None:
        raise ConfigError(f"{source}: regression.target: name the target column (regression.source: file)")
    if not r["models"]:
        raise ConfigError(f"{source}: regression.models: name at least one model")
    for k, v in r["models"].items():
        if v is not None and not isinstance(v, dict):
            raise ConfigError(f"{source}: regression.models.{clip(str(k))}: expected a mapping of options, got {shown(v)}")
    return {str(k): validate(dict(v or {}), MODEL_SCHEMA, source, f"regression.models.{clip(str(k))}")
            for k, v in r["models"].items()}


def load_regression(cfg: dict, series_file: str | None = None,
                    source: str = "config") -> tuple[np.ndarray, np.ndarray, list[int], dict]:
    """Inputs (T, C), target (T,), drift points and a description: the generated stream, or a file's
    value columns (``regression.columns``, default every one left) with ``regression.target`` split off."""
    r = cfg["regression"]
    if r["source"] == "sensors" and not series_file:
        drifts = DRIFTS if r["drifts"] is None else r["drifts"]
        stream = regression_stream(np.random.default_rng(cfg["seed"]), r["length"], r["channels"], tuple(drifts),
                                   r["lags"], r["noise"])
        described = {"source": "sensors", "length": r["length"], "channels": r["channels"], "drifts": stream.drifts,
                     "lags": r["lags"]}
        return stream.x, stream.y, stream.drifts, described
    path, target = series_file or r["path"], r["target"]
    if not path:
        raise ConfigError(f"{source}: regression.path: a time-series file is needed with regression.source: file "
                          f"(or --stream)")
    if target is None:
        raise ConfigError(f"{source}: regression.target: name the target column of {path}")
    columns = None if r["columns"] is None else [target] + [c for c in r["columns"] if c != target]
    series = read_series(path, "none", columns, r["time"], r["missing"], key="regression")
    if target not in series.columns:
        raise InputFileError(f"{path}: regression.target: no value column {shown(target)} "
                             f"(value columns: {', '.join(series.columns[:12])})")
    if len(series.columns) < 2:
        raise InputFileError(f"{path}: regression.target: {shown(target)} is the only value column; no input left")
    i = series.columns.index(target)
    x, y = np.delete(series.x, i, axis=1), series.x[:, i].astype(np.float64)
    if len(x) <= 2 * WASHOUT:
        raise InputFileError(f"{path}: {len(x)} time steps leave nothing after the {WASHOUT}-sample washout")
    drifts = r["drifts"] or []
    check_drifts(drifts, len(x), str(path))
    inputs = [c for c in series.columns if c != target]
    return x, y, drifts, {"source": str(path), "length": len(x), "channels": x.shape[1], "drifts": drifts,
                          "target": target, "inputs": inputs, "file": series.describe()}


def window_rmse(errors: np.ndarray, window: int, start: int) -> list[float | None]:
    """RMSE over each run of ``window`` samples (``[k * window, (k + 1) * window)``), the first
    ``start`` samples left out (None: a window wholly inside them)."""
    square = np.asarray(errors, np.float64) ** 2
    square[:start] = np.nan
    return [None if np.isnan(w).all() else float(np.sqrt(np.nanmean(w)))
            for w in (square[k:k + window] for k in range(0, len(square), window))]


def regress(cfg: dict, source: str = "config", series_file: str | None = None) -> RegressionRun:
    """Every configured model, and the linear baseline, on the generated regression stream or a file."""
    r, report = cfg["regression"], cfg["report"]
    options = model_options(cfg, source)
    x, y, drifts, described = load_regression(cfg, series_file, source)
    budget = budget_for(load_profile(cfg["mcu"]), cfg["constraints"])
    rows, errors = [], {}
    for key, o in {"linear": {"units": 0}, **options}.items():
        model = EsnRegressor(x.shape[1], **o, seed=np.random.default_rng(cfg["seed"]))
        detector = make_detector(cfg["detector"]["name"], cfg["detector"]["params"])
        detections, e = [], np.zeros(len(y))
        start = time.perf_counter()
        for t, (u, target) in enumerate(zip(x, y)):
            e[t] = model.update(u, float(target))
            if detector.update(abs(e[t])):
                detections.append(t)
                model.restart()
        rate = len(e) / max(time.perf_counter() - start, 1e-9)
        metrics = error_metrics(e, drifts, report["window"], report["margin"], model.washout)
        cost = model.cost().to_dict()
        matched = [next((d - p for d in detections if p <= d < p + report["max_delay"] + 1), None) for p in drifts]
        rows.append({"model": key, "options": o, **metrics, "windows": window_rmse(e, report["window"], model.washout),
                     "detections": detections, "detection_delays": matched, "samples_per_second": rate, "cost": cost,
                     "fits": {"ram": cost["ram"] <= budget.sram, "flash": cost["flash"] <= budget.flash}})
        errors[key] = e
    data = {"name": cfg["name"], "mcu": {"name": cfg["mcu"], "sram": budget.sram, "flash": budget.flash},
            "stream": {**described, "target_std": float(y.std())},
            "washout": model.washout, "window": report["window"], "margin": report["margin"], "detector": cfg["detector"]["name"],
            "regression": rows}
    return RegressionRun(x, y, errors, data)
