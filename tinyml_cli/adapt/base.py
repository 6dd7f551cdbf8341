"""What every on-device learning method shares: the context it starts from, its memory cost on the
MCU, and the small interface the stream simulator drives.

The simulator is prequential: for each sample ``t`` it asks ``predict(t)``, then hands over the
labels that arrive (``learn(s, y)``), and calls ``on_drift(t, since)`` when the method's detector
fires (``since``: the first stream index the detector considers part of the new concept, or None).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import torch

from ..arch import Arch
from ..config import validate
from ..train.builder import GraphModule

FLOAT = 4  # bytes of a float32 on the MCU
LABEL = 1  # bytes of a stored class label
STAMP = 4  # bytes of a stored arrival index


@dataclass(frozen=True)
class Cost:
    """Bytes a method needs on the MCU beyond the deployed model, and multiply-accumulates per update."""

    state: int
    buffers: int = 0
    gradients: int = 0
    activations: int = 0
    flash: int = 0
    ops_per_update: int = 0

    @property
    def ram(self) -> int:
        """Adaptation state, buffers, gradients and kept activations: all in SRAM."""
        return self.state + self.buffers + self.gradients + self.activations

    def to_dict(self) -> dict:
        """JSON-ready, with the RAM total."""
        return {**asdict(self), "ram": self.ram}


@dataclass
class Context:
    """What a method starts from: the deployed network and the features of its training data."""

    arch: Arch
    module: GraphModule
    ref_z: np.ndarray
    ref_y: np.ndarray
    num_labels: int
    seed: int
    ref_x: np.ndarray | None = None  # the reference inputs themselves (for methods on raw inputs)


class Method:
    """Base: the frozen model (``none``). ``schema`` lists the method's options; ``uses_model`` is
    False for a method that runs in place of the deployed network (its memory then stands alone)."""

    name = "none"
    schema: dict = {}
    changes_weights = False
    uses_model = True

    def __init__(self, ctx: Context, options: Mapping[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.options = validate(dict(options or {}), self.schema, "config", f"methods.{self.name}")
        self.head = LinearHead.from_module(ctx.module, ctx.ref_z)

    def bind(self, x: np.ndarray, z: np.ndarray) -> None:
        """Receive the stream's inputs ``x`` and frozen features ``z`` before the first prediction."""
        self.z = self.head.standardize(z)
        self._pred = np.argmax(self.head.logits(self.z), axis=1)

    def predict(self, t: int) -> int:
        """Class predicted for sample ``t`` with the current state."""
        return int(self._pred[t])

    def learn(self, t: int, y: int) -> None:
        """The label ``y`` of sample ``t`` has arrived."""

    def on_drift(self, t: int, since: int | None) -> None:
        """The detector fired at sample ``t``."""

    def cost(self) -> Cost:
        """Memory and operations on the MCU."""
        return Cost(state=0)

    def state(self) -> dict[str, np.ndarray]:
        """The adapted state, as arrays to save."""
        return {}

    def adapted(self) -> GraphModule | None:
        """The adapted network when the method changes network weights, else None."""
        return None


class LinearHead:
    """A last layer ``W z + b`` in numpy that learns on standardised features ``(z - mean) / std``
    (SGD converges far better on them) and can grow an output for a class it has never seen.

    >>> head = LinearHead(np.eye(2, dtype=np.float32), np.zeros(2, np.float32))
    >>> head.grow(3); head.w.shape, head.logits(np.ones((1, 2), np.float32)).tolist()
    ((3, 2), [[1.0, 1.0, 0.0]])
    >>> z = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    >>> std = LinearHead(np.eye(2, dtype=np.float32), np.zeros(2, np.float32), z)
    >>> np.allclose(std.logits(std.standardize(z)), z)  # same scores as the raw layer
    True
    """

    def __init__(self, w: np.ndarray, b: np.ndarray, ref_z: np.ndarray | None = None) -> None:
        f = w.shape[1]
        self.mean = ref_z.mean(axis=0).astype(np.float32) if ref_z is not None else np.zeros(f, np.float32)
        std = ref_z.std(axis=0) if ref_z is not None else np.ones(f)
        self.std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        self.w = (w * self.std).astype(np.float32)
        self.b = (b + w @ self.mean).astype(np.float32)

    @classmethod
    def from_module(cls, module: GraphModule, ref_z: np.ndarray | None = None) -> "LinearHead":
        """The deployed network's classifier (standardised with ``ref_z``'s statistics, if given)."""
        fc = module.classifier
        return cls(fc.weight.detach().numpy(), fc.bias.detach().numpy(), ref_z)

    @property
    def classes(self) -> int:
        """Number of outputs."""
        return len(self.b)

    def standardize(self, z: np.ndarray) -> np.ndarray:
        """Features as the head sees them."""
        return ((z - self.mean) / self.std).astype(np.float32)

    def raw(self) -> tuple[np.ndarray, np.ndarray]:
        """Weights and biases of the same layer on raw features (for the network)."""
        w = self.w / self.std
        return w.astype(np.float32), (self.b - w @ self.mean).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        """Weights and biases on standardised features, and the standardisation (what to save)."""
        return {"weight": self.w, "bias": self.b, "mean": self.mean, "std": self.std}

    def grow(self, classes: int) -> None:
        """Add zero-initialised outputs up to ``classes`` (TinyOL's new class on request)."""
        extra = classes - self.classes
        if extra > 0:
            self.w = np.vstack([self.w, np.zeros((extra, self.w.shape[1]), np.float32)])
            self.b = np.concatenate([self.b, np.zeros(extra, np.float32)])

    def logits(self, zs: np.ndarray) -> np.ndarray:
        """Scores for standardised features ``zs`` (N, F)."""
        return zs @ self.w.T + self.b

    def sgd(self, zs: np.ndarray, y: np.ndarray, lr: float) -> None:
        """One SGD step of softmax cross-entropy on a mini-batch (mean over the batch)."""
        self.grow(int(y.max()) + 1)
        logits = self.logits(zs)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1.0
        p /= len(y)
        self.w -= lr * (p.T @ zs)
        self.b -= lr * p.sum(axis=0)


def with_head(module: GraphModule, head: LinearHead) -> GraphModule:
    """A copy of ``module`` whose classifier is ``head`` (which may have grown outputs)."""
    copy_ = copy.deepcopy(module)
    fc = copy_.classifier
    w, b = head.raw()
    with torch.no_grad():
        fc.weight = torch.nn.Parameter(torch.from_numpy(w))
        fc.bias = torch.nn.Parameter(torch.from_numpy(b))
    fc.out_features = head.classes
    return copy_.eval()
