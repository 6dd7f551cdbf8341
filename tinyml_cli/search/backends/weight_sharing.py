"""What the weight-sharing backends (``oneshot``, ``differentiable``) share: an mbnet supernet made
in ``prepare``, trials scored with inherited weights, and the top-k fine-tuned from them. The
networks and their training live in :mod:`tinyml_cli.search.weight_sharing`."""

from __future__ import annotations

import time
from typing import Any

from ...arch import Arch, SearchSpace
from ...arch.mbnet import MbnetSpace
from ...errors import ConfigError
from ...train.loop import accuracy
from ..weight_sharing import Supernet, finetune, inherited_accuracy
from .base import Backend, Context


def check_mbnet(space: SearchSpace, backend: str) -> MbnetSpace:
    """``space`` when it is an mbnet space; a ConfigError naming the key otherwise."""
    if not isinstance(space, MbnetSpace):
        raise ConfigError(f"space.name: the {backend} backend needs the mbnet space (a supernet), "
                          f"got {space.name!r}")
    return space


class WeightSharingBackend(Backend):
    """Base class: ``prepare`` makes ``self.net`` (the trained supernet) once per process through the
    subclass's ``build(context)``, which also sets whatever else its sampler needs; the sampler is
    made after that. Options include ``bn_batches``."""

    evaluated_status = "scored"
    cross_validates = False        # one supernet, scored on the validation split

    def __init__(self, options: Any = None, source: str = "config") -> None:
        super().__init__(options, source)
        self.net: Supernet | None = None

    def build(self, context: Context) -> Supernet:
        """Make and train the supernet (subclasses define it)."""
        raise TypeError(f"backend {self.name!r} defines no build()")

    def prepare(self, context: Context) -> None:
        """Make the supernet once per process."""
        if self.net is None:
            check_mbnet(context.space, self.name)
            self.net = self.build(context)

    def require_net(self) -> Supernet:
        """The supernet; a RuntimeError when ``prepare`` has not run (a driver bug, not a user's)."""
        if self.net is None:
            raise RuntimeError(f"backend {self.name!r}: prepare(context) must run before its sampler is made")
        return self.net

    def evaluate(self, context: Context, arch: Arch, epochs: int | None, on_epoch: Any = None,
                 stop_below: float | None = None) -> tuple[Any, dict]:
        """Validation accuracy with inherited weights after batch-norm recalibration: no training
        (nothing to race)."""
        start = time.perf_counter()
        data = context.data_for(arch)
        module, val = inherited_accuracy(self.require_net(), arch, data, self.options["bn_batches"],
                                         context.cfg["train"]["batch_size"], context.seed)
        return module, {"val_accuracy": val, "test_accuracy": accuracy(module, data.x_test, data.y_test),
                        "epochs_run": 0, "train_time_s": time.perf_counter() - start}

    def train_final(self, context: Context, arch: Arch) -> tuple[Any, dict]:
        """Fine-tune from the inherited weights for ``train.epochs``."""
        self.prepare(context)
        train = context.cfg["train"]
        return finetune(self.require_net(), arch, context.data_for(arch), train, train["epochs"],
                        self.options["bn_batches"], context.seed)
