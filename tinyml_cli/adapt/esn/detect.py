"""Anomaly mode of the ``esn`` method: the reservoir detector over a generated sensor stream or a
time-series file, scored against the labelled anomalies when there are any, with its MCU cost."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...config import Field, boolean, choice, integer, mapping, optional, string, validate
from ...data.series import FILE_SCHEMA, events_of, read_series
from ...drift.sensors import ANOMALIES, sensor_stream
from ...errors import ConfigError
from ...mcu import budget_for, load_profile
from ...report.anomaly_metrics import anomaly_metrics, class_metrics
from .anomaly import STATISTICS, ReservoirAnomaly
from .schema import interval, reservoir_schema

DETECTOR_SCHEMA = {
    **reservoir_schema(input_scaling=0.2, leak=1.0),
    "statistic": Field(choice(*STATISTICS), "prediction"),
    "components": Field(integer(min_value=1), 12, "PCA components (spe, t2, ocsvm)"),
    "memory": Field(integer(min_value=2), 2000, "samples the PCA remembers"),
    "threshold": Field(interval(0), 4.0, "standard deviations of a score around its mean"),
    "adapt": Field(interval(0, 1, open_hi=True), 0.002, "rate at which the threshold follows normal scores"),
    "window": Field(integer(min_value=1), 16, "samples the running error energy spans (prediction)"),
    "forgetting": Field(interval(0, 1), 1.0, "forgetting factor of the predicting readout, (0, 1]"),
    "persist": Field(integer(min_value=1), 16, "samples a score must stay out before a flag (prediction)"),
    "nu": Field(interval(0, 1, open_hi=True), 0.01, "one-class SVM: bound on the warm-up's outliers"),
    "washout": Field(integer(min_value=2), 100, "first samples: reservoir transient and standardisation"),
    "cross": Field(boolean, True, "prediction: also score each channel against the others"),
    "band_window": Field(integer(min_value=1, max_value=65536), 128, "prediction: samples the band energies span"),
    "band_persist": Field(integer(min_value=1, max_value=65536), 48, "prediction: samples a band residual stays out before a flag"),
}

ANOMALY_SCHEMA = {
    "source": Field(choice("none", "sensors", "file"), "none",
                    "none: a classification stream; sensors or file: anomaly mode of the esn method"),
    "path": Field(optional(string), None, "time-series .csv/.tsv/.txt or .npz (source: file; --stream overrides)"),
    "label": Field(string, "auto", "the 0/1 label column or array: auto (label, is_anomaly, anomaly, labels, "
                                   "is_outlier), none (flags only), or its name"),
    **FILE_SCHEMA,
    "warmup": Field(integer(min_value=3), 2000, "first samples, taken as clean"),
    "tolerance": Field(integer(min_value=0), 20, "a flag this many samples after an anomaly still detects it"),
    "sensors": {"length": Field(integer(min_value=2), 8000), "channels": Field(integer(min_value=1), 3),
                "per_class": Field(integer(min_value=1), 3),
                "magnitude": Field(interval(0), 1.0, "size of the injected anomalies"),
                "noise": Field(interval(0, open_lo=False), 0.05), "drift": Field(interval(-1e9, open_lo=False), 0.5)},
    "detector": Field(mapping, {}, "ReservoirAnomaly options"),
}


@dataclass
class Detection:
    """One detector run: the series, its flags, the labelled events (start, end, class) and the report."""

    x: np.ndarray
    flags: np.ndarray
    events: list[tuple[int, int, str]] | None
    data: dict


def detector_options(cfg: dict, source: str) -> dict:
    """The validated detector options of a config's anomaly section."""
    return validate(cfg["anomaly"]["detector"], DETECTOR_SCHEMA, source, "anomaly.detector")


def load_series(cfg: dict, series_file: str | None) -> tuple[np.ndarray, list | None, str, dict | None]:
    """The series, its labelled events (None: unlabelled), a description and, for a file, the
    columns it was read from (``Series.describe``)."""
    a = cfg["anomaly"]
    path = series_file or a["path"]
    if series_file or a["source"] == "file":
        if not path:
            raise ConfigError("anomaly.path: a time-series file is needed with anomaly.source: file (or --stream)")
        series = read_series(path, a["label"], a["columns"], a["time"], a["missing"])
        labels = series.labels
        events = None if labels is None else [(s, e, "labelled") for s, e in events_of(labels)]
        return series.x, events, str(path), series.describe()
    s = a["sensors"]
    stream = sensor_stream(np.random.default_rng(cfg["seed"]), s["length"], s["channels"], ANOMALIES, s["per_class"],
                           a["warmup"], drift=s["drift"], noise=s["noise"], magnitude=s["magnitude"])
    described = f"generated sensor stream ({s['channels']} channels, {s['per_class']} per class)"
    return stream.x, stream.events, described, None


def detect(cfg: dict, series_file: str | None = None, source: str = "config") -> Detection:
    """Run the reservoir detector over the configured series; score it when labelled."""
    a, options = cfg["anomaly"], detector_options(cfg, source)
    x, events, described, columns = load_series(cfg, series_file)
    if a["warmup"] >= len(x):
        raise ConfigError(f"{source}: anomaly.warmup: {a['warmup']} leaves no sample to judge in the {len(x)} of "
                          f"{described}")
    if not options["washout"] < a["warmup"]:
        raise ConfigError(f"{source}: anomaly.detector.washout: must be below anomaly.warmup ({a['warmup']})")
    detector = ReservoirAnomaly(x.shape[1], warmup=a["warmup"], seed=np.random.default_rng(cfg["seed"]), **options)
    start = time.perf_counter()
    flags = np.array([detector.update(u) for u in x], bool)
    rate = len(x) / max(time.perf_counter() - start, 1e-9)
    profile = load_profile(cfg["mcu"])
    budget = budget_for(profile, cfg["constraints"])
    cost = detector.cost().to_dict()
    data = {"name": cfg["name"], "mcu": {"name": cfg["mcu"], "sram": budget.sram, "flash": budget.flash},
            "series": {"source": described, "length": len(x), "channels": int(x.shape[1]), "warmup": a["warmup"],
                       "labelled": events is not None, "file": columns},
            "detector": options, "flagged": int(flags.sum()), "samples_per_second": rate, "cost": cost,
            "fits": {"ram": cost["ram"] <= budget.sram, "flash": cost["flash"] <= budget.flash},
            "metrics": None, "per_class": None}
    if events is not None:
        scored = [e for e in events if e[0] >= a["warmup"]]  # those in the warm-up: taken as clean, not scored
        data["series"]["events"] = {"labelled": len(events), "in_warmup": len(events) - len(scored),
                                    "scored": len(scored)}
        data["metrics"] = anomaly_metrics(flags, [(s, e) for s, e, _ in scored], a["tolerance"])
        data["metrics"]["tolerance"] = a["tolerance"]
        kinds = sorted({k for _, _, k in scored})
        if len(kinds) > 1:
            data["per_class"] = {k: class_metrics(flags, scored, k, a["tolerance"]) for k in kinds}
    return Detection(x, flags, events, data)
