"""`oneshot`: train one supernet, then search its subnets without training them (MCUNet / OFA).

1. Optionally shrink the space to the MCU first (TinyNAS): among the width x resolution settings,
   keep the one whose sampled fitting subnets have the most MACs (fill the memory budget best).
2. Train the supernet with the sandwich rule: each step the largest, the smallest and a few random
   subnets (Yu et al., BigNAS / OFA).
3. Evolve a population of subnets that fit the MCU, each scored by its validation accuracy with
   inherited weights after re-estimating batch-norm statistics on a few batches: no training per
   candidate, so thousands of architectures cost minutes.
4. Fine-tune the top-k and rank them.

>>> from tinyml_cli.arch import make_space
>>> space = make_space({"widths": [0.25, 0.5], "resolutions": [20, 40]}, (1, 40, 1), 10)
>>> ranked = shrink_space(space, lambda arch: arch.choices["width"] * arch.input_shape[1],
...                       fits=lambda arch: arch.input_shape[1] * arch.choices["width"] <= 10,
...                       samples=5, rng=np.random.default_rng(0))
>>> ranked.genes["width"], ranked.genes["resolution"]
((0.25,), (40,))
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..arch import Arch
from ..arch.mbnet import MbnetSpace
from ..arch.space import Genome
from ..config import Field, boolean, integer, number, validate
from ..data import Dataset
from ..errors import DoesNotFitError
from ..train.builder import GraphModule
from ..train.device import resolve_device
from ..train.loop import accuracy, fit
from .supernet import Supernet, dataset_at, recalibrate_bn, resize_inputs

ONESHOT_SCHEMA = {
    "supernet_epochs": Field(integer(min_value=1), 30, "epochs of sandwich-rule supernet training"),
    "random_subnets": Field(integer(min_value=0), 2, "random subnets per step besides the largest "
                            "and the smallest"),
    "population": Field(integer(min_value=2), 40),
    "generations": Field(integer(min_value=0), 20),
    "parents": Field(number(min_value=0.05, max_value=1.0), 0.25, "fraction of the population kept"),
    "mutation_share": Field(number(min_value=0.0, max_value=1.0), 0.5,
                            "share of children made by mutation (the rest by crossover)"),
    "bn_batches": Field(integer(min_value=1), 4, "batches used to recalibrate batch norm"),
    "top_k": Field(integer(min_value=1), 3, "subnets fine-tuned at the end"),
    "finetune_epochs": Field(integer(min_value=0), 5),
    "shrink": Field(boolean, True, "first pick the width and resolution that best fill the budget"),
    "shrink_samples": Field(integer(min_value=1), 200, "subnets sampled per setting when shrinking"),
}

Fits = Callable[[Arch], bool]


@dataclass
class Scored:
    """An architecture with its trained module and accuracies."""

    arch: Arch
    module: GraphModule
    val_accuracy: float
    test_accuracy: float
    metrics: dict = field(default_factory=dict)


@dataclass
class SearchOutcome:
    """The ranked candidates of a weight-sharing search and how many architectures it scored."""

    candidates: list[Scored]
    evaluated: int
    space: MbnetSpace
    history: list[dict] = field(default_factory=list)


def oneshot_settings(options: dict | None, source: str = "search.oneshot") -> dict:
    """ONESHOT_SCHEMA settings with defaults filled."""
    return validate(options or {}, ONESHOT_SCHEMA, source)


def _restricted(space: MbnetSpace, **genes: tuple) -> MbnetSpace:
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
                 rng: np.random.Generator) -> MbnetSpace:
    """The space restricted to the width x resolution setting whose fitting sampled subnets have the
    largest mean ``size`` (MACs), as TinyNAS does; DoesNotFitError when no setting has one."""
    best, best_score = None, -1.0
    for width in space.genes["width"]:
        for resolution in space.genes["resolution"]:
            sub = _restricted(space, width=(width,), resolution=(resolution,))
            archs = [sub.sample(rng) for _ in range(samples)]
            sizes = [size(a) for a in archs if fits(a)]
            if sizes and float(np.mean(sizes)) > best_score:
                best, best_score = sub, float(np.mean(sizes))
    if best is None:
        raise DoesNotFitError(f"no width x resolution setting of the mbnet space has a sampled "
                              f"architecture that fits the MCU budget ({samples} samples each)")
    return best


def _batches(data: Dataset, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    order = torch.randperm(len(data.x_train), generator=generator)
    for i in range(0, len(order) - 1, batch_size):
        idx = order[i:i + batch_size]
        if len(idx) >= 2:
            yield torch.from_numpy(data.x_train[idx.numpy()]), torch.from_numpy(data.y_train[idx.numpy()])


def train_supernet(net: Supernet, data: Dataset, train_cfg: dict, epochs: int, random_subnets: int,
                   rng: np.random.Generator, seed: int = 0, fits: Fits | None = None) -> list[float]:
    """Sandwich-rule training: each step sums the losses of the largest, the smallest and
    ``random_subnets`` random subnets (fitting ones when ``fits`` is given). Returns epoch losses."""
    device = resolve_device(train_cfg["device"])
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=train_cfg["lr"], weight_decay=train_cfg["weight_decay"])
    steps = epochs * max(1, -(-len(data.x_train) // train_cfg["batch_size"]))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=train_cfg["label_smoothing"])
    space, losses = net.space, []
    largest, smallest = space.decode(net.largest()), space.decode(net.smallest())
    for _ in range(epochs):
        net.train()
        total, count = 0.0, 0
        for x, y in _batches(data, train_cfg["batch_size"], generator):
            x, y = x.to(device), y.to(device)
            randoms = [space.decode(sample_fitting(space, fits, rng) if fits else space.sample_genome(rng))
                       for _ in range(random_subnets)]
            opt.zero_grad(set_to_none=True)
            for arch in (largest, smallest, *randoms):
                loss = loss_fn(net(resize_inputs(x, arch.input_shape), arch), y)
                loss.backward()
                total, count = total + float(loss.detach()), count + 1
            opt.step()
            sched.step()
        losses.append(total / max(count, 1))
    return losses


def inherited_accuracy(net: Supernet, arch: Arch, data: Dataset, bn_batches: int, batch_size: int,
                       seed: int = 0) -> tuple[GraphModule, float]:
    """The subnet's stand-alone module with inherited weights and batch norm recalibrated on training
    batches drawn with ``seed`` (the same batches for every subnet), and its validation accuracy."""
    module = net.extract(arch)
    local = dataset_at(data, arch.input_shape)
    recalibrate_bn(module, local.x_train, bn_batches, batch_size, np.random.default_rng(seed))
    return module, accuracy(module, local.x_val, local.y_val)


def _crossover(a: Genome, b: Genome, rng: np.random.Generator) -> Genome:
    return {k: (a[k] if rng.random() < 0.5 else b[k]) for k in a}


def evolve(net: Supernet, data: Dataset, fits: Fits, settings: dict, batch_size: int,
           rng: np.random.Generator, seed: int = 0, deadline: float | None = None,
           on_generation: Callable[[dict], None] | None = None) -> tuple[dict[str, tuple[Arch, float]], list[dict]]:
    """Evolution over fitting subnets scored by inherited accuracy. Returns every scored arch by key
    (arch, val accuracy) and per-generation records. Stops early at ``deadline`` (time.monotonic)."""
    space = net.space
    scores: dict[str, tuple[Arch, float]] = {}

    def score(genome: Genome) -> float:
        arch = space.decode(genome)
        if arch.key() not in scores:
            _, acc = inherited_accuracy(net, arch, data, settings["bn_batches"], batch_size, seed)
            scores[arch.key()] = (arch, acc)
        return scores[arch.key()][1]

    def child(parents: list[Genome]) -> Genome:
        for _ in range(100):
            a = parents[int(rng.integers(len(parents)))]
            if rng.random() < settings["mutation_share"]:
                g = space.mutate(a, rng)
            else:
                g = _crossover(a, parents[int(rng.integers(len(parents)))], rng)
            if fits(space.decode(g)):
                return g
        return sample_fitting(space, fits, rng)

    population = [sample_fitting(space, fits, rng) for _ in range(settings["population"])]
    history = []
    for generation in range(settings["generations"] + 1):
        ranked = sorted(population, key=score, reverse=True)
        record = {"generation": generation, "best_val_accuracy": score(ranked[0]), "evaluated": len(scores)}
        history.append(record)
        if on_generation:
            on_generation(record)
        if generation == settings["generations"] or (deadline is not None and time.monotonic() > deadline):
            break
        keep = max(1, int(round(settings["parents"] * len(ranked))))
        parents = ranked[:keep]
        population = parents + [child(parents) for _ in range(settings["population"] - keep)]
    return scores, history


def finetune(net: Supernet, arch: Arch, data: Dataset, train_cfg: dict, epochs: int, bn_batches: int,
             seed: int = 0) -> Scored:
    """Fine-tune a subnet from its inherited weights; accuracies on its own resolution."""
    module, inherited = inherited_accuracy(net, arch, data, bn_batches, train_cfg["batch_size"], seed)
    local = dataset_at(data, arch.input_shape)
    metrics: dict[str, Any] = {"inherited_val_accuracy": inherited}
    val = inherited
    if epochs:
        inherited_module = copy.deepcopy(module)
        result = fit(module, local, {**train_cfg, "epochs": epochs}, seed)
        metrics["finetune_epochs"] = result.epochs_run
        if result.val_accuracy >= inherited:  # fit keeps its best epoch; the inherited weights may be better
            val = result.val_accuracy
        else:
            module = inherited_module.eval()
    test = accuracy(module, local.x_test, local.y_test)
    return Scored(arch, module, val, test, {**metrics, "val_accuracy": val, "test_accuracy": test})


def run_oneshot(space: MbnetSpace, data: Dataset, fits: Fits, size: Callable[[Arch], float],
                train_cfg: dict, settings: dict, seed: int = 0, time_budget_s: float | None = None,
                log: Callable[[str], None] = lambda _: None) -> SearchOutcome:
    """The whole oneshot search; candidates ranked by validation accuracy, best first.

    ``fits`` says whether an arch fits the MCU, ``size`` is its MACs (for shrinking),
    ``train_cfg`` TRAIN_SCHEMA settings, ``settings`` ONESHOT_SCHEMA settings. With
    ``time_budget_s``, evolution stops once the time left is what fine-tuning is expected to need."""
    start = time.monotonic()
    rng = np.random.default_rng(seed)
    if settings["shrink"]:
        space = shrink_space(space, size, fits, settings["shrink_samples"], rng)
        log(f"oneshot: shrunk the space to width {space.genes['width'][0]}, "
            f"resolution {space.genes['resolution'][0]}")
    net = Supernet(space)
    sample_fitting(space, fits, rng)  # fail early when nothing fits
    losses = train_supernet(net, data, train_cfg, settings["supernet_epochs"], settings["random_subnets"],
                            rng, seed, fits)
    trained = time.monotonic() - start
    log(f"oneshot: supernet trained in {trained:.0f} s, final loss {losses[-1]:.3f}")
    deadline = None
    if time_budget_s is not None:
        per_epoch = trained / settings["supernet_epochs"]
        deadline = start + time_budget_s - settings["top_k"] * settings["finetune_epochs"] * per_epoch
    scores, history = evolve(net, data, fits, settings, train_cfg["batch_size"], rng, seed, deadline,
                             lambda r: log(f"oneshot: generation {r['generation']}: best inherited "
                                           f"accuracy {r['best_val_accuracy']:.3f}, {r['evaluated']} scored"))
    top = sorted(scores.values(), key=lambda item: item[1], reverse=True)[:settings["top_k"]]
    candidates = [finetune(net, arch, data, train_cfg, settings["finetune_epochs"], settings["bn_batches"],
                           seed) for arch, _ in top]
    candidates.sort(key=lambda c: c.val_accuracy, reverse=True)
    return SearchOutcome(candidates, len(scores), space, history)
