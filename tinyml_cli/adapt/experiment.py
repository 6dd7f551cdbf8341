"""A drift experiment: build the stream, load or train the deployed model, run each configured
method with its own change detector on the same stream, score it and check its memory on the MCU."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch

from ..arch import Arch, build_graph
from ..config import COMMON_SCHEMA, Field, choice, integer, load_config, mapping, number, optional, string, validate
from ..data import DATA_SCHEMA
from ..errors import ConfigError, clip, shown
from ..drift.detectors import DETECTORS, make_detector
from ..drift.kinds import KINDS
from ..drift.sources import GENERATOR_SCHEMA, GENERATORS
from ..drift.stream import STREAM_DATA_SCHEMA, STREAM_SCHEMA, Stream, build_stream, load_stream
from ..estimate import estimate
from ..mcu import Budget, McuProfile, resolve
from ..report.drift_metrics import drift_metrics
from ..train.builder import GraphModule
from ..train.loop import TRAIN_SCHEMA
from . import METHODS, Context, Method, make_method
from .esn.detect import ANOMALY_SCHEMA, detector_options
from .esn.regress import REGRESSION_SCHEMA, model_options
from .deployed import Deployed, candidate_folder, features, load_deployed, training_data_config
from .simulate import Trace, simulate


def _methods(value: Any) -> dict:
    """``{name or name:label: {options}}``; every name must be a registered method."""
    value = mapping(value)
    if not value:
        raise ValueError("expected at least one method")
    for key, options in value.items():
        name = str(key).split(":")[0]
        if name not in METHODS:
            raise ValueError(f"unknown method {shown(name)}; known: {', '.join(METHODS)}")
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"{clip(str(key))}: expected a mapping of options, got {shown(options)}")
    return {str(k): dict(v or {}) for k, v in value.items()}


DRIFT_SCHEMA = {
    **COMMON_SCHEMA,
    "data": STREAM_DATA_SCHEMA,
    "stream": STREAM_SCHEMA,
    "model": {
        "path": Field(optional(string), None, "candidate folder or search run directory (default: train one)"),
        "train": {**TRAIN_SCHEMA, "threads": Field(integer(min_value=0), 1, "torch CPU threads (0: torch's default)")},
    },
    "detector": {"name": Field(choice(*DETECTORS), "ici"), "params": Field(mapping, {})},
    "methods": Field(_methods, {"none": {}, "tinyol": {}, "tml-cd": {}, "tinytl": {}, "finetune-last": {}},
                     "method name (or name:label) -> options"),
    "anomaly": ANOMALY_SCHEMA,
    "regression": REGRESSION_SCHEMA,
    "report": {
        "window": Field(integer(min_value=1), 200, "samples per accuracy window"),
        "margin": Field(number(min_value=0.0, max_value=1.0), 0.02, "recovered: within this of pre-drift accuracy"),
        "max_delay": Field(integer(min_value=1), 500, "a detection later than this after a drift is a false alarm"),
    },
}


@dataclass
class MethodRun:
    """One method's outcome on the stream."""

    key: str
    method: Method
    trace: Trace
    metrics: dict
    cost: dict
    fits: dict


@dataclass
class Experiment:
    """Everything a report needs."""

    cfg: dict
    stream: Stream
    deployed: Deployed
    model_cost: dict
    budget: dict
    stream_file: str | None = None
    runs: list[MethodRun] = field(default_factory=list)


def model_cost(arch: Arch, profile: McuProfile, budget: Budget) -> dict:
    """Flash and peak SRAM of the deployed model as int8 under TFLite Micro (the estimator's)."""
    est = estimate(build_graph(arch), profile, budget)
    return {"flash": est.flash_model, "sram": est.peak_sram, "macs": est.macs, "latency_ms": est.latency_ms}


def make_context(deployed: Deployed, stream: Stream, seed: int) -> Context:
    """What the methods start from: the deployed network and its features of the reference data."""
    return Context(deployed.arch, deployed.module, features(deployed.module, stream.reference.x_train),
                   stream.reference.y_train, stream.num_labels, seed, stream.reference.x_train)


def run_experiment(cfg: dict, model_path: str | None = None, stream_file: str | None = None,
                   only: str | None = None, progress: Callable[[str], None] | None = None) -> Experiment:
    """Run every configured method (or only the method ``only``) on the configured stream (or the
    stream saved in ``stream_file``)."""
    seed = cfg["seed"]
    if cfg["model"]["train"]["threads"]:
        torch.set_num_threads(cfg["model"]["train"]["threads"])
    model_path = model_path or cfg["model"]["path"]
    shape = Arch.load(candidate_folder(model_path) / "arch.yaml").input_shape if model_path else None
    if stream_file:
        stream = load_stream(stream_file)
    else:
        data_cfg, data_seed = _stream_data(cfg, model_path)
        stream = build_stream(cfg["stream"], data_cfg, seed, shape, data_seed=data_seed)
    deployed = load_deployed(model_path, stream.reference, stream.num_labels, cfg["model"]["train"], seed)
    z = features(deployed.module, stream.x)
    ctx = make_context(deployed, stream, seed)
    profile, budget = resolve(cfg)
    cost = model_cost(deployed.arch, profile, budget)
    exp = Experiment(cfg, stream, deployed, cost, {"sram": budget.sram, "flash": budget.flash}, stream_file)
    methods = cfg["methods"]
    if only is not None:
        configured = [(k, v) for k, v in methods.items() if k.split(":")[0] == only]
        methods = dict(configured[:1]) or {only: {}}
    r = cfg["report"]
    for key, options in methods.items():
        method = make_method(key.split(":")[0], ctx, options)
        detector = make_detector(cfg["detector"]["name"], cfg["detector"]["params"])
        trace = simulate(method, detector, stream.x, z, stream.y, stream.label_time)
        metrics = drift_metrics(trace.correct, stream.positions, trace.detections, r["window"], r["margin"], r["max_delay"])
        c = method.cost().to_dict()
        base = cost if method.uses_model else {"sram": 0, "flash": 0}
        fits = {"ram": base["sram"] + c["ram"] <= budget.sram, "flash": base["flash"] + c["flash"] <= budget.flash}
        exp.runs.append(MethodRun(key, method, trace, metrics, c, fits))
        if progress:
            progress(f"{key}: accuracy {metrics['accuracy']:.3f}, {trace.samples_per_second:,.0f} samples/s")
    return exp


def _stream_data(cfg: dict, model_path: str | None) -> tuple[dict, int]:
    """The dataset section and its split seed: a searched model's own (so the stream comes from its
    held-out test split, never from samples it was trained on), else the drift config's."""
    if model_path and cfg["stream"]["source"] == "data":
        found = training_data_config(model_path)
        if found is not None:
            data, data_seed = found
            return validate(data, DATA_SCHEMA, f"{model_path} (its run's config.yaml)", "data"), data_seed
    return cfg["data"], cfg["seed"]


def adapted_candidate(method: Method, deployed: Deployed) -> tuple[Arch, GraphModule] | None:
    """The adapted network and its Arch (more classes if the method grew outputs), or None."""
    module = method.adapted()
    if module is None:
        return None
    classes = module.classifier.out_features
    arch = deployed.arch
    if classes != arch.num_classes:
        arch = replace(arch, num_classes=classes)
    return arch, module


def load_drift_config(path: str | None, overrides: list[str]) -> dict:
    """The validated experiment config, method options and detector parameters included (so a
    mistake is reported before any run directory exists)."""
    cfg = load_config(path, DRIFT_SCHEMA, overrides)
    source = str(path) if path is not None else "config"
    for key, options in cfg["methods"].items():
        validate(options, METHODS[key.split(":")[0]].schema, source, f"methods.{key}")
    stream = cfg["stream"]
    validate(stream["drift"]["params"], KINDS[stream["drift"]["kind"]].schema, source, "stream.drift.params")
    if stream["source"] in GENERATORS:
        validate(stream["params"], GENERATOR_SCHEMA, source, "stream.params")
    try:
        make_detector(cfg["detector"]["name"], cfg["detector"]["params"])
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if cfg["anomaly"]["source"] != "none":
        cfg["anomaly"]["detector"] = detector_options(cfg, source)
    if cfg["regression"]["source"] != "none":
        if cfg["anomaly"]["source"] != "none":
            raise ConfigError(f"{source}: regression.source: anomaly mode and regression mode exclude each other")
        cfg["regression"]["models"] = model_options(cfg, source)
    return cfg


__all__ = ["DRIFT_SCHEMA", "Experiment", "MethodRun", "adapted_candidate", "load_drift_config",
           "make_context", "model_cost", "run_experiment"]
