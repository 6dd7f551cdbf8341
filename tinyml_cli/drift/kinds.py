"""Drift kinds: what changes at a drift. Each kind validates its own parameters and may change the
class mix (prior shift, a new class), the inputs (covariate shift) or the labels (real concept drift)
as a function of the schedule's level.

>>> import numpy as np
>>> kind = make_kind("permute", {}, num_classes=3, rng=np.random.default_rng(0))
>>> y = np.array([0, 1, 2, 0, 1, 2])
>>> kind.relabel(y, np.array([0, 0, 0, 1, 1, 1])).tolist()
[0, 1, 2, 1, 2, 0]
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..config import Field, list_of, integer, number, optional, validate
from ..errors import ConfigError, shown


class DriftKind:
    """Base: no change. ``discrete`` kinds need whole-number levels (no incremental schedule)."""

    name = "none"
    discrete = False
    schema: dict = {}

    def __init__(self, params: Mapping[str, Any], num_classes: int, rng: np.random.Generator) -> None:
        self.params = validate(dict(params), self.schema, "config", "stream.drift.params")
        self.num_classes = num_classes

    @property
    def num_labels(self) -> int:
        """Labels the drifted stream may carry."""
        return self.num_classes

    def renumber(self, y: np.ndarray) -> np.ndarray:
        """Source labels as this kind numbers them (before any drift)."""
        return y

    def class_weights(self, base: np.ndarray, concept: int) -> np.ndarray:
        """Class probabilities of concept ``concept`` (``base``: the source's frequencies)."""
        return base

    def transform(self, x: np.ndarray, level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Inputs as seen under the per-sample ``level``."""
        return x

    def relabel(self, y: np.ndarray, concept: np.ndarray) -> np.ndarray:
        """Labels as they are under the per-sample ``concept``."""
        return y


class Permute(DriftKind):
    """Real concept drift: the labels of ``classes`` (default all) are permuted with no fixed point,
    a fresh permutation for each new concept level (a recurring schedule brings the first one back)."""

    name = "permute"
    discrete = True
    schema = {"classes": Field(optional(list_of(integer(min_value=0), 2)), None,
                               "classes whose labels are permuted (default: all)")}

    def __init__(self, params: Mapping[str, Any], num_classes: int, rng: np.random.Generator) -> None:
        super().__init__(params, num_classes, rng)
        classes = self.params["classes"] or list(range(num_classes))
        if any(c >= num_classes for c in classes):
            raise ConfigError(f"stream.drift.params.classes: classes must be < {num_classes}, got {classes}")
        self.classes = np.array(sorted(set(classes)))
        self.rng = rng
        self.tables: list[np.ndarray] = [np.arange(num_classes)]

    def table(self, concept: int) -> np.ndarray:
        """Label map of one concept: a derangement of ``classes`` (a random cycle)."""
        while len(self.tables) <= concept:
            order = self.rng.permutation(self.classes)
            table = np.arange(self.num_classes)
            table[order] = np.roll(order, -1)
            self.tables.append(table)
        return self.tables[concept]

    def relabel(self, y: np.ndarray, concept: np.ndarray) -> np.ndarray:
        out = y.copy()
        for c in np.unique(concept):
            mask = concept == c
            out[mask] = self.table(int(c))[y[mask]]
        return out


class NewClass(DriftKind):
    """A class absent before the first drift appears after it. Its label is the last one, so a
    deployed model trained on the other classes has never seen it (labels are renumbered)."""

    name = "new-class"
    discrete = True
    schema = {"new_class": Field(optional(integer(min_value=0)), None, "the class that appears (default: last)")}

    def __init__(self, params: Mapping[str, Any], num_classes: int, rng: np.random.Generator) -> None:
        super().__init__(params, num_classes, rng)
        new = self.params["new_class"]
        new = num_classes - 1 if new is None else new
        if new >= num_classes:
            raise ConfigError(f"stream.drift.params.new_class: expected a class < {num_classes}, got {new}")
        order = np.array([c for c in range(num_classes) if c != new] + [new])
        self.rank = np.argsort(order)
        self.new = num_classes - 1

    def renumber(self, y: np.ndarray) -> np.ndarray:
        return self.rank[y]

    def class_weights(self, base: np.ndarray, concept: int) -> np.ndarray:
        w = base.copy()
        if concept == 0:
            w[self.new] = 0.0
        return w / w.sum()


class PriorShift(DriftKind):
    """The class frequencies change: ``weights`` (one per class) or, if not given, drawn from a
    Dirichlet with ``concentration`` (small: few dominant classes), one draw per concept level."""

    name = "prior"
    discrete = True
    schema = {"weights": Field(optional(list_of(number(min_value=0.0), 2)), None),
              "concentration": Field(number(min_value=1e-3), 0.3)}

    def __init__(self, params: Mapping[str, Any], num_classes: int, rng: np.random.Generator) -> None:
        super().__init__(params, num_classes, rng)
        w = self.params["weights"]
        if w is not None and (len(w) != num_classes or sum(w) <= 0):
            raise ConfigError(f"stream.drift.params.weights: expected {num_classes} weights with a positive sum")
        self.rng = rng
        self.drawn: dict[int, np.ndarray] = {}

    def class_weights(self, base: np.ndarray, concept: int) -> np.ndarray:
        if concept == 0:
            return base
        if self.params["weights"] is not None:
            w = np.asarray(self.params["weights"], np.float64)
            return w / w.sum()
        if concept not in self.drawn:
            self.drawn[concept] = self.rng.dirichlet(np.full(self.num_classes, self.params["concentration"]))
        return self.drawn[concept]


class Covariate(DriftKind):
    """Covariate shift of the sensor data, scaled by the level: ``x * (1 + l (gain - 1)) + l offset
    + l noise N(0, 1)``; for 1-D signals a time warp (stretch by ``warp ** l`` about the start), for
    images a rotation by ``l rotation`` degrees and a brightness change ``+ l brightness``."""

    name = "covariate"
    schema = {"gain": Field(number(), 1.0), "offset": Field(number(), 0.0),
              "noise": Field(number(min_value=0.0), 0.0), "warp": Field(number(min_value=0.1), 1.0),
              "rotation": Field(number(), 0.0), "brightness": Field(number(), 0.0)}

    def transform(self, x: np.ndarray, level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        image = x.shape[1] > 1
        if image and p["warp"] != 1.0:
            raise ConfigError("stream.drift.params.warp: a time warp applies to 1-D signals, not images")
        if not image and (p["rotation"] or p["brightness"]):
            raise ConfigError("stream.drift.params: rotation and brightness apply to images, not 1-D signals")
        lv = level.reshape(-1, 1, 1, 1)
        out = x.astype(np.float32).copy()
        if p["warp"] != 1.0:
            out = _warp(out, p["warp"] ** level)
        if p["rotation"]:
            out = _rotate(out, p["rotation"] * level)
        out = out * (1 + lv * (p["gain"] - 1)) + lv * (p["offset"] + p["brightness"])
        if p["noise"]:
            out = out + lv * p["noise"] * rng.standard_normal(out.shape)
        return out.astype(np.float32)


def _warp(x: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Resample each 1-D signal (N, 1, W, C) at ``t * factor`` (edge values held)."""
    width = x.shape[2]
    t = np.arange(width, dtype=np.float64)
    out = x.copy()
    for i in np.flatnonzero(factors != 1.0):
        for c in range(x.shape[3]):
            out[i, 0, :, c] = np.interp(t * factors[i], t, x[i, 0, :, c])
    return out


def _rotate(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate each image (N, H, W, C) by its angle in degrees about the centre (zeros outside)."""
    from scipy.ndimage import rotate

    out = x.copy()
    for i in np.flatnonzero(angles != 0.0):
        out[i] = rotate(x[i], float(angles[i]), axes=(0, 1), reshape=False, order=1, mode="constant")
    return out


class GeneratorConcept(DriftKind):
    """The synthetic generator's own concept follows the level (SEA's threshold, STAGGER's rule, the
    hyperplane's weights); only for synthetic sources."""

    name = "concept"


KINDS: dict[str, type[DriftKind]] = {
    "none": DriftKind, "concept": GeneratorConcept, "permute": Permute, "new-class": NewClass, "prior": PriorShift, "covariate": Covariate,
}


def make_kind(name: str, params: Mapping[str, Any], num_classes: int, rng: np.random.Generator) -> DriftKind:
    """A drift kind by registry name."""
    if name not in KINDS:
        raise ConfigError(f"unknown drift kind {shown(name)}; known: {', '.join(KINDS)}")
    return KINDS[name](params, num_classes, rng)
