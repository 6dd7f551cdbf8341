"""A drifting stream: samples, their labels before and after the drift, the drift level, when each
label arrives, and the pre-drift reference data a deployed model is trained on.

>>> cfg = validate({"source": "sea", "length": 400, "drift": {"kind": "concept", "positions": [200]}},
...                STREAM_SCHEMA, "demo")
>>> s = build_stream(cfg, {}, seed=0)
>>> s.x.shape, s.positions, s.num_labels, float(s.level[199]), float(s.level[200])
((400, 1, 3, 1), [200], 2, 0.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Field, choice, integer, list_of, mapping, number, validate
from ..data import DATA_SCHEMA, Dataset, load_dataset, resize_dataset, split_dataset
from ..data.files import load_npz
from ..errors import ConfigError, InputFileError, shown
from .kinds import KINDS, DriftKind, make_kind
from .labels import REGIMES, label_times
from .schedules import SCHEDULES, levels
from .sources import GENERATORS, generator_params

# The ``data:`` section of a drift config: any dataset the toolchain loads; its test split (half of
# the samples unless the files hold one) feeds the stream, the rest trains the deployed model.
STREAM_DATA_SCHEMA = {
    **DATA_SCHEMA,
    "val_fraction": Field(number(min_value=0.0, max_value=0.9), 0.1),
    "test_fraction": Field(number(min_value=0.05, max_value=0.9), 0.5,
                           "held out for the stream when the files hold no test split"),
}

STREAM_SCHEMA = {
    "source": Field(choice("data", *GENERATORS), "data",
                    "data (the config's data: section, streamed from its test split) or a generator"),
    "length": Field(integer(min_value=10, max_value=10**7), 3000, "stream length in samples"),
    "params": Field(mapping, {}, "generator parameters (noise, features, magnitude, seed)"),
    "drift": {
        "kind": Field(choice(*KINDS), "permute"),
        "schedule": Field(choice(*SCHEDULES), "abrupt"),
        "positions": Field(list_of(integer(min_value=1), 1), [1000]),
        "width": Field(integer(min_value=0), 0, "samples over which a gradual/incremental drift happens"),
        "params": Field(mapping, {}, "parameters of the drift kind"),
    },
    "labels": {
        "regime": Field(choice(*REGIMES), "all"),
        "delay": Field(integer(min_value=0), 0, "samples a label arrives after its prediction (delayed)"),
        "fraction": Field(number(min_value=0.0, max_value=1.0), 1.0, "fraction of samples labelled (fraction)"),
    },
}

REFERENCE_SAMPLES = 2000


@dataclass
class Stream:
    """A stream of ``n`` samples (NHWC float32) and everything needed to run and score it."""

    name: str
    x: np.ndarray
    y: np.ndarray
    source_y: np.ndarray
    level: np.ndarray
    positions: list[int]
    label_time: np.ndarray
    num_labels: int
    reference: Dataset

    def __len__(self) -> int:
        return len(self.y)

    def save(self, path: str | Path) -> Path:
        """Write the stream and its reference data to one ``.npz`` file (atomically)."""
        import io

        from ..runs import atomic_write_bytes

        buffer = io.BytesIO()
        r = self.reference
        np.savez_compressed(buffer, name=self.name, x=self.x, y=self.y, source_y=self.source_y,
                            level=self.level, positions=np.asarray(self.positions, np.int64),
                            label_time=self.label_time, num_labels=self.num_labels,
                            ref_x_train=r.x_train, ref_y_train=r.y_train, ref_x_val=r.x_val, ref_y_val=r.y_val)
        return atomic_write_bytes(path, buffer.getvalue())


def load_stream(path: str | Path) -> Stream:
    """Read a stream ``.npz``: ``x`` (N, H, W, C) or (N, W) and ``y`` are required; ``positions``,
    ``label_time``, ``level`` and the reference arrays (``ref_x_train``...) are optional; without a
    reference, the samples before the first drift position stand in for it."""
    path = Path(path)
    data = load_npz(path, "stream file", ("x", "y"))
    x, y = data["x"].astype(np.float32), data["y"].astype(np.int64)
    if x.ndim == 2:
        x = x[:, None, :, None]
    if x.ndim != 4 or len(x) != len(y):
        raise InputFileError(f"{path}: x must be (N, H, W, C) or (N, W) with N = len(y); got {x.shape} and {y.shape}")
    n = len(y)
    positions = [int(p) for p in data.get("positions", np.array([], np.int64))]
    if any(not 0 < p < n for p in positions):
        raise InputFileError(f"{path}: positions must lie inside the stream (1..{n - 1}), got {positions}")
    if "ref_x_train" in data:
        ref = Dataset("reference", data["ref_x_train"], data["ref_y_train"], data["ref_x_val"],
                      data["ref_y_val"], data["ref_x_val"][:0], data["ref_y_val"][:0])
    else:
        cut = positions[0] if positions else n
        ref = split_dataset("reference", x[:cut], y[:cut], 0.2, 0.0, seed=0)
    ref.class_names = [str(c) for c in range(int(max(ref.y_train.max(), ref.y_val.max())) + 1)]
    label_time = data.get("label_time", np.arange(n)).astype(np.int64)
    level = data.get("level", np.searchsorted(np.asarray(positions), np.arange(n), side="right").astype(np.float64))
    num_labels = int(data.get("num_labels", int(y.max()) + 1))
    return Stream(str(data.get("name", path.stem)), x, y, data.get("source_y", y).astype(np.int64),
                  level.astype(np.float64), positions, label_time, num_labels, ref)


def build_stream(cfg: dict, data_cfg: dict, seed: int, input_shape: tuple[int, int, int] | None = None,
                 data_seed: int | None = None) -> Stream:
    """Build the stream a validated ``STREAM_SCHEMA`` section describes, from the dataset of the
    ``STREAM_DATA_SCHEMA`` section ``data_cfg`` split with ``data_seed`` (default ``seed``; resized to ``input_shape``
    if given) or a generator; every draw of the stream comes from ``seed``."""
    if cfg["source"] in GENERATORS:
        rng = np.random.default_rng(seed)
        d = cfg["drift"]
        return _synthetic_stream(cfg, levels(d["schedule"], cfg["length"], d["positions"], d["width"], rng), rng, seed)
    data = load_dataset(data_cfg, seed if data_seed is None else data_seed)
    if input_shape is not None and tuple(input_shape) != data.input_shape:
        if input_shape[-1] != data.input_shape[-1]:
            raise ConfigError(f"data: the model takes {input_shape[-1]} channel(s), the dataset has "
                              f"{data.input_shape[-1]}")
        data = resize_dataset(data, tuple(input_shape))
    return stream_from_dataset(data, cfg, seed)


def stream_from_dataset(data: Dataset, cfg: dict, seed: int) -> Stream:
    """A drifting stream drawn from ``data``'s test split (held out from training); its train and
    validation splits become the pre-drift reference a deployed model is trained on."""
    if len(data.x_test) == 0:
        raise ConfigError(f"stream: dataset {shown(data.name)} has no held-out (test) samples to stream")
    rng = np.random.default_rng(seed)
    n, d = cfg["length"], cfg["drift"]
    level = levels(d["schedule"], n, d["positions"], d["width"], rng)
    kind = _kind(cfg, data.num_classes, rng, synthetic=False)
    concept = level.astype(np.int64)
    pool_x, pool_y = data.x_test, kind.renumber(data.y_test)
    base = np.bincount(pool_y, minlength=data.num_classes) / len(pool_y)
    classes = np.zeros(n, np.int64)
    for c in np.unique(concept):
        mask = concept == c
        classes[mask] = rng.choice(data.num_classes, size=int(mask.sum()), p=kind.class_weights(base, int(c)))
    index = _draw_from_pool(pool_y, classes, rng)
    x = kind.transform(pool_x[index], level, rng)
    source_y = pool_y[index]
    known = kind.num_labels - (1 if d["kind"] == "new-class" else 0)
    reference = _reference(data, kind, known)
    return Stream(data.name, x, kind.relabel(source_y, concept), source_y, level, list(d["positions"]),
                  _label_times(cfg, n, rng), kind.num_labels, reference)


def _kind(cfg: dict, num_classes: int, rng: np.random.Generator, synthetic: bool) -> DriftKind:
    d = cfg["drift"]
    kind = make_kind(d["kind"], d["params"], num_classes, rng)
    if kind.discrete and d["schedule"] == "incremental":
        raise ConfigError(f"stream.drift: kind {shown(kind.name)} changes discrete things and has no incremental "
                          "schedule; use gradual")
    if synthetic and kind.name in ("prior", "new-class"):
        raise ConfigError(f"stream.drift.kind: {shown(kind.name)} needs a dataset source, not a generator")
    if not synthetic and kind.name == "concept":
        raise ConfigError("stream.drift.kind: 'concept' is the synthetic generators' own drift; "
                          "for a dataset use permute, new-class, covariate or prior")
    return kind


def _synthetic_stream(cfg: dict, level: np.ndarray, rng: np.random.Generator, seed: int) -> Stream:
    d, source = cfg["drift"], cfg["source"]
    if source != "hyperplane" and d["kind"] == "concept" and d["schedule"] == "incremental":
        raise ConfigError(f"stream.drift: {source}'s concepts are discrete; use abrupt, gradual or recurring")
    generate, params = GENERATORS[source], generator_params(cfg["params"])
    kind = _kind(cfg, 2, rng, synthetic=True)
    x, source_y = generate(len(level), level if kind.name == "concept" else np.zeros_like(level), rng, params)
    x = kind.transform(x, level, rng)
    ref_x, ref_y = generate(REFERENCE_SAMPLES, np.zeros(REFERENCE_SAMPLES), rng, params)
    reference = split_dataset(source, ref_x, ref_y, 0.2, 0.0, seed)
    reference.class_names = ["0", "1"]
    return Stream(source, x, kind.relabel(source_y, level.astype(np.int64)), source_y, level,
                  list(d["positions"]), _label_times(cfg, len(level), rng), 2, reference)


def _draw_from_pool(pool_y: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pool indices with the wanted classes, going through each class's samples in a random order
    before any repeats."""
    index = np.zeros(len(classes), np.int64)
    for c in np.unique(classes):
        members = np.flatnonzero(pool_y == c)
        if len(members) == 0:
            raise ConfigError(f"stream: class {c} has no samples left for the stream; raise stream.samples")
        wanted = np.flatnonzero(classes == c)
        rounds = -(-len(wanted) // len(members))
        order = np.concatenate([rng.permutation(members) for _ in range(rounds)])
        index[wanted] = order[:len(wanted)]
    return index


def _reference(data: Dataset, kind: DriftKind, known: int) -> Dataset:
    """The pre-drift training data: renumbered like the stream, without a class that appears later."""
    ytr, yva = kind.renumber(data.y_train), kind.renumber(data.y_val)
    tr, va = ytr < known, yva < known
    return Dataset(data.name, data.x_train[tr], ytr[tr], data.x_val[va], yva[va], data.x_val[:0],
                   yva[:0], [str(c) for c in range(known)])


def _label_times(cfg: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    lab = cfg["labels"]
    return label_times(lab["regime"], n, lab["delay"], lab["fraction"], rng)
