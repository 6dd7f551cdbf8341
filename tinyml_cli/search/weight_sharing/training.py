"""Training and scoring the subnets of a supernet, shared by the `oneshot` and `differentiable`
backends (MCUNet / TinyNAS, Once-for-All, BigNAS).

- :func:`shrink_space`: TinyNAS's first step: among the width x resolution settings, keep the one
  whose sampled fitting subnets have the most MACs (fill the memory budget best).
- :func:`train_supernet`: the sandwich rule: each step sums the losses of the largest, the smallest
  and a few random subnets.
- :func:`inherited_accuracy`: a subnet's accuracy with inherited weights after re-estimating its
  batch-norm statistics on a few batches: no training per candidate.
- :func:`finetune`: a chosen subnet trained further from its inherited weights.

>>> from tinyml_cli.arch import make_space
>>> space = make_space({"widths": [0.25, 0.5], "resolutions": [20, 40]}, (1, 40, 1), 10)
>>> shrunk = shrink_space(space, lambda arch: arch.choices["width"] * arch.input_shape[1],
...                       fits=lambda arch: arch.input_shape[1] * arch.choices["width"] <= 10,
...                       samples=5, rng=np.random.default_rng(0))
>>> shrunk.genes["width"], shrunk.genes["resolution"]
((0.25,), (40,))
"""

from __future__ import annotations

import copy
import time
from typing import Callable

import numpy as np
import torch

from ...arch import Arch
from ...arch.mbnet import MbnetSpace
from ...arch.space import Genome
from ...data import Dataset
from ...errors import DoesNotFitError
from ...train.builder import GraphModule
from ...train.loop import accuracy, batches, fit, make_loss, make_optimizer, make_schedule, start, step, steps_per_epoch
from .supernet import Supernet, recalibrate_bn

Fits = Callable[[Arch], bool]
DataFor = Callable[[Arch], Dataset]


def restrict(space: MbnetSpace, **genes: tuple) -> MbnetSpace:
    """A copy of ``space`` whose named genes take only the given options."""
    out = copy.copy(space)
    out.genes = {**space.genes, **genes}
    return out


def sample_fitting(space: MbnetSpace, fits: Fits, rng: np.random.Generator, tries: int = 200) -> Genome:
    """A random genome whose architecture fits; DoesNotFitError after ``tries`` misses."""
    for _ in range(tries):
        genome = space.sample_genome(rng)
        if fits(space.decode(genome)):
            return genome
    raise DoesNotFitError(f"no sampled architecture of the mbnet space fits the MCU budget after {tries} "
                          "tries; lower space.widths or space.resolutions")


def shrink_space(space: MbnetSpace, size: Callable[[Arch], float], fits: Fits, samples: int,
                 rng: np.random.Generator, min_fit: float = 0.1) -> MbnetSpace:
    """The space restricted to the width x resolution setting whose fitting sampled subnets have the
    largest mean ``size`` (MACs), as TinyNAS does, among the settings where at least ``min_fit`` of
    the samples fit (so that fitting subnets can be drawn by rejection); DoesNotFitError when none."""
    best, best_score = None, -1.0
    for width in space.genes["width"]:
        for resolution in space.genes["resolution"]:
            sub = restrict(space, width=(width,), resolution=(resolution,))
            archs = [sub.sample(rng) for _ in range(samples)]
            sizes = [size(a) for a in archs if fits(a)]
            if sizes and len(sizes) >= min_fit * samples and float(np.mean(sizes)) > best_score:
                best, best_score = sub, float(np.mean(sizes))
    if best is None:
        raise DoesNotFitError(f"no width x resolution setting of the mbnet space has {100 * min_fit:.0f}% of "
                              f"its sampled architectures ({samples} each) fitting the MCU budget; lower "
                              "space.widths or space.resolutions")
    return best


def train_supernet(net: Supernet, data_for: DataFor, train_cfg: dict, epochs: int, random_subnets: int,
                   rng: np.random.Generator, seed: int = 0, fits: Fits | None = None) -> list[float]:
    """Sandwich-rule training: each step sums the losses of the largest, the smallest and
    ``random_subnets`` random subnets (fitting ones when ``fits`` is given), each on the step's
    batch at its own resolution (``data_for(arch)``), with the optimizer, schedule and label
    smoothing of ``train_cfg`` (:mod:`tinyml_cli.train.loop`). Returns each epoch's mean loss per
    subnet."""
    device, generator = start(train_cfg, seed)
    net.to(device)
    space = net.space
    largest, smallest = space.decode(net.largest()), space.decode(net.smallest())
    n = len(data_for(largest).x_train)
    net.fit_normalization(data_for(largest).x_train)
    opt = make_optimizer(net.parameters(), train_cfg)
    sched = make_schedule(opt, train_cfg, epochs * steps_per_epoch(n, train_cfg["batch_size"]))
    loss_fn = make_loss(train_cfg)
    losses = []
    for _ in range(epochs):
        net.train()
        total, count = 0.0, 0
        for idx in batches(n, train_cfg["batch_size"], generator):
            idx = idx.numpy()
            randoms = [space.decode(sample_fitting(space, fits, rng) if fits else space.sample_genome(rng))
                       for _ in range(random_subnets)]
            loss = 0.0
            for arch in (largest, smallest, *randoms):
                data = data_for(arch)
                x = torch.from_numpy(data.x_train[idx]).to(device)
                loss = loss + loss_fn(net(x, arch), torch.from_numpy(data.y_train[idx]).to(device))
            total, count = total + step(opt, loss, sched), count + 2 + random_subnets
        losses.append(total / max(count, 1))
    return losses


def inherited_accuracy(net: Supernet, arch: Arch, data: Dataset, bn_batches: int, batch_size: int,
                       seed: int = 0) -> tuple[GraphModule, float]:
    """The subnet's stand-alone module with inherited weights and batch norm recalibrated on training
    batches drawn with ``seed`` (the same batches for every subnet), and its validation accuracy.
    ``data`` is at the arch's input shape."""
    module = net.extract(arch)
    recalibrate_bn(module, data.x_train, bn_batches, batch_size, np.random.default_rng(seed))
    return module, accuracy(module, data.x_val, data.y_val)


def finetune(net: Supernet, arch: Arch, data: Dataset, train_cfg: dict, epochs: int, bn_batches: int,
             seed: int = 0) -> tuple[GraphModule, dict]:
    """Fine-tune a subnet from its inherited weights for ``epochs`` (``data`` at its input shape):
    the module (the inherited one when fine-tuning does not beat it on validation) and its metrics."""
    start = time.perf_counter()
    module, inherited = inherited_accuracy(net, arch, data, bn_batches, train_cfg["batch_size"], seed)
    val, epochs_run = inherited, 0
    if epochs:
        kept = copy.deepcopy(module)
        result = fit(module, data, {**train_cfg, "epochs": epochs}, seed)
        epochs_run = result.epochs_run
        if result.val_accuracy >= inherited:
            val = result.val_accuracy
        else:
            module = kept.eval()
    return module, {"val_accuracy": val, "test_accuracy": accuracy(module, data.x_test, data.y_test),
                    "inherited_val_accuracy": inherited, "epochs_run": epochs_run,
                    "train_time_s": time.perf_counter() - start}
