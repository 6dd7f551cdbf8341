"""Training and evaluation of a GraphModule on a Dataset."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..arch.graph import LayerGraph
from ..arch.normalization import NORMALIZATIONS
from ..config import Field, choice, integer, learning_rate, number, string
from ..data import Dataset
from ..data.augment import AUGMENT_SCHEMA, Augmenter
from .builder import GraphModule, build_module
from .device import resolve_device

AUTO = "auto"
# ``epochs: auto``: enough epochs for about this many optimizer steps, within these bounds: 300 epochs
# of a few steps each for 30 samples, 20 epochs of a few hundred for 30,000.
AUTO_STEPS = 3000
AUTO_EPOCHS = (20, 300)


def epochs_or_auto(value: Any) -> int | str:
    """A positive number of epochs, or ``auto``."""
    return value if value == AUTO else integer(min_value=1)(value)


def patience_or_auto(value: Any) -> int | str:
    """Epochs without improvement of the validation loss before stopping (0: never), or ``auto``."""
    return value if value == AUTO else integer(min_value=0)(value)


def normalize_or_auto(value: Any) -> str:
    """An input normalization (arch/normalization.py), or ``auto``."""
    return choice(AUTO, *NORMALIZATIONS)(value)


TRAIN_SCHEMA = {
    "device": Field(string, "auto", "auto (cuda when available), cpu or cuda[:N]"),
    "epochs": Field(epochs_or_auto, AUTO, f"training epochs; auto: about {AUTO_STEPS} optimizer steps, "
                    f"between {AUTO_EPOCHS[0]} and {AUTO_EPOCHS[1]} epochs"),
    "batch_size": Field(integer(min_value=2, max_value=65536), 64),
    "optimizer": Field(choice("adam", "adamw", "sgd"), "adamw"),
    "lr": Field(learning_rate, 3e-3),
    "weight_decay": Field(number(min_value=0.0), 0.01, "decoupled (adamw) or L2 (adam, sgd)"),
    "schedule": Field(choice("cosine", "constant"), "cosine"),
    "label_smoothing": Field(number(min_value=0.0, max_value=0.5), 0.1),
    "patience": Field(patience_or_auto, AUTO, "early stopping after this many epochs without a lower "
                      "validation loss (0: off; auto: off with the cosine schedule, whose annealing "
                      "at the end lowers the loss most; a fifth of the epochs, at least 10, otherwise)"),
    "normalize": Field(normalize_or_auto, AUTO, "input normalization inside the model, applied to raw "
                       "inputs on the MCU too: standardize (per channel, fitted on the training data), "
                       "znorm (each window by its own mean and std), none; auto: standardize for 1-D "
                       "signals, none for images"),
    "augment": AUGMENT_SCHEMA,
    "threads": Field(integer(min_value=0, max_value=1024), 0, "torch CPU threads (0: torch's default)"),
}


@dataclass
class TrainResult:
    """What a training run achieved: validation accuracy and loss at the kept epoch (the most
    accurate, the lower loss on a tie), that epoch, how many ran and every epoch's record (no
    validation data: nan, and the last epoch is kept)."""

    val_accuracy: float
    val_loss: float
    best_epoch: int
    epochs_run: int
    history: list[dict]


def resolve_epochs(epochs: int | str, samples: int, batch_size: int) -> int:
    """The number of epochs ``epochs`` stands for with ``samples`` training samples.

    >>> resolve_epochs("auto", 36, 64), resolve_epochs("auto", 4000, 64), resolve_epochs(7, 36, 64)
    (300, 48, 7)
    """
    if epochs != AUTO:
        return int(epochs)
    steps_per_epoch = max(1, -(-samples // batch_size))
    return int(np.clip(-(-AUTO_STEPS // steps_per_epoch), *AUTO_EPOCHS))


def resolve_patience(patience: int | str, epochs: int, schedule: str) -> int:
    """Early-stopping patience for a run of ``epochs`` (0: off).

    >>> resolve_patience("auto", 300, "cosine"), resolve_patience("auto", 300, "constant")
    (0, 60)
    >>> resolve_patience("auto", 20, "constant"), resolve_patience(3, 20, "cosine")
    (10, 3)
    """
    if patience != AUTO:
        return int(patience)
    return 0 if schedule == "cosine" else max(10, epochs // 5)


def resolve_normalize(normalize: str, input_shape: tuple[int, ...]) -> str:
    """The input normalization ``normalize`` stands for on inputs of ``input_shape``.

    >>> resolve_normalize("auto", (1, 40, 3)), resolve_normalize("auto", (28, 28, 1))
    ('standardize', 'none')
    """
    if normalize != AUTO:
        return normalize
    return "standardize" if input_shape[0] == 1 else "none"


# The pieces of the one training loop. :func:`fit` trains a GraphModule with them; the weight-sharing
# search (a supernet trained with the sandwich rule, a relaxed network alternating weight and choice
# steps) drives the same pieces, so every network honours ``train.optimizer``, ``lr``,
# ``weight_decay``, ``schedule``, ``label_smoothing``, ``device`` and ``threads``.


def start(cfg: dict, seed: int) -> tuple[torch.device, torch.Generator]:
    """Set torch's threads (``cfg['threads']``) and seed, and return the device and the generator
    that shuffles the batches."""
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    torch.manual_seed(seed)
    return resolve_device(cfg["device"]), torch.Generator().manual_seed(seed)


def make_optimizer(params: Iterable[nn.Parameter], cfg: dict) -> torch.optim.Optimizer:
    """The optimizer ``cfg['optimizer']`` names (adam, adamw, sgd with Nesterov momentum 0.9) at
    ``cfg['lr']`` and ``cfg['weight_decay']``."""
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=0.9, weight_decay=cfg["weight_decay"], nesterov=True)
    cls = torch.optim.AdamW if cfg["optimizer"] == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


def make_schedule(opt: torch.optim.Optimizer, cfg: dict,
                  steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule ``cfg['schedule']`` names over ``steps`` optimizer steps (None:
    constant)."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps)) if cfg["schedule"] == "cosine" else None


def make_loss(cfg: dict) -> nn.Module:
    """Cross-entropy with ``cfg['label_smoothing']``."""
    return nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])


def steps_per_epoch(samples: int, batch_size: int) -> int:
    """Optimizer steps of one epoch over ``samples`` (at least 1)."""
    return max(1, -(-samples // batch_size))


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled index batches over ``n`` samples; a last batch of one sample is dropped (batch norm).

    >>> [len(b) for b in batches(9, 4, torch.Generator().manual_seed(0))]
    [4, 4]
    """
    order = torch.randperm(n, generator=generator)
    for i in range(0, n, batch_size):
        if len(order[i:i + batch_size]) >= 2:
            yield order[i:i + batch_size]


def step(opt: torch.optim.Optimizer, loss: torch.Tensor,
         schedule: torch.optim.lr_scheduler.LRScheduler | None = None) -> float:
    """One optimizer step on ``loss`` (the gradients of ``opt``'s parameters cleared first); the
    loss's value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if schedule is not None:
        schedule.step()
    return float(loss.detach())


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 512, device: torch.device | None = None) -> np.ndarray:
    """Logits for NHWC inputs, in eval mode."""
    device = device or next(model.parameters()).device
    model.eval()
    outs = [model(torch.from_numpy(x[i:i + batch_size]).to(device)).float().cpu()
            for i in range(0, len(x), batch_size)]
    return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device | None = None) -> float:
    """Top-1 accuracy in [0, 1]."""
    if len(x) == 0:
        return float("nan")
    return float((predict(model, x, device=device).argmax(1) == y).mean())


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray,
             device: torch.device | None = None) -> tuple[float, float]:
    """Mean cross-entropy (no label smoothing) and top-1 accuracy (nan, nan for no samples)."""
    if len(x) == 0:
        return float("nan"), float("nan")
    logits = torch.from_numpy(predict(model, x, device=device))
    labels = torch.from_numpy(y)
    return float(F.cross_entropy(logits, labels)), float((logits.argmax(1) == labels).float().mean())


def fit(model: nn.Module, data: Dataset, cfg: dict, seed: int = 0,
        on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``model`` on ``data.x_train`` with the TRAIN_SCHEMA settings ``cfg`` (augmented batches,
    label smoothing, the learning-rate schedule); with validation data keep the weights of the most
    accurate epoch (the lower validation loss on a tie) and stop early after ``patience`` epochs
    without a lower validation loss, without validation data keep the last. ``on_epoch`` receives
    each epoch's metrics."""
    device, generator = start(cfg, seed)
    model.to(device)
    epochs = resolve_epochs(cfg["epochs"], len(data.x_train), cfg["batch_size"])
    patience = resolve_patience(cfg["patience"], epochs, cfg["schedule"])
    augment = Augmenter(cfg["augment"], data.x_train)
    classes = max(data.num_classes, int(data.y_train.max()) + 1)
    opt = make_optimizer(model.parameters(), cfg)
    sched = make_schedule(opt, cfg, epochs * steps_per_epoch(len(data.x_train), cfg["batch_size"]))
    loss_fn = make_loss(cfg)
    x_all = torch.from_numpy(data.x_train).to(device)
    y_all = torch.from_numpy(data.y_train).to(device)
    has_val = len(data.x_val) > 0
    best = TrainResult(float("nan"), float("inf"), 0, 0, [])
    best_state, lowest_loss, since_lowest = None, float("inf"), 0
    for epoch in range(1, epochs + 1):
        model.train()
        total = 0.0
        for idx in batches(len(x_all), cfg["batch_size"], generator):
            idx = idx.to(device)
            x, target = x_all[idx], y_all[idx]
            if augment.enabled:
                x, target = augment(x, target, classes, generator)
            total += step(opt, loss_fn(model(x), target), sched) * len(idx)
        record = {"epoch": epoch, "loss": total / len(x_all)}
        if has_val:
            record["val_loss"], record["val_accuracy"] = evaluate(model, data.x_val, data.y_val, device)
        best.history.append(record)
        best.epochs_run = epoch
        if on_epoch:
            on_epoch(record)
        if not has_val:
            continue
        if best_state is None or (record["val_accuracy"], -record["val_loss"]) > (best.val_accuracy, -best.val_loss):
            best.val_loss, best.val_accuracy, best.best_epoch = record["val_loss"], record["val_accuracy"], epoch
            best_state = copy.deepcopy(model.state_dict())
        lowest_loss, since_lowest = ((record["val_loss"], 0) if record["val_loss"] < lowest_loss
                                     else (lowest_loss, since_lowest + 1))
        if patience and since_lowest >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    elif not has_val:
        best.best_epoch = best.epochs_run
    return best


def train_model(graph: LayerGraph, data: Dataset, cfg: dict, seed: int = 0, epochs: int | None = None,
                on_epoch: Callable[[dict], None] | None = None) -> tuple[GraphModule, TrainResult]:
    """A fresh module for ``graph`` (initialised from ``seed``), its input normalization fitted on
    the training inputs, then :func:`fit` (``epochs`` overrides ``cfg['epochs']``)."""
    torch.manual_seed(seed)
    model = build_module(graph)
    model.fit_normalization(data.x_train)
    return model, fit(model, data, {**cfg, "epochs": epochs or cfg["epochs"]}, seed, on_epoch)


def train_and_evaluate(graph: LayerGraph, data: Dataset, cfg: dict, seed: int = 0, epochs: int | None = None,
                       on_epoch: Callable[[dict], None] | None = None) -> tuple[GraphModule, dict]:
    """:func:`train_model`, then its metrics: validation accuracy and loss, test accuracy (nan
    without test data), the kept epoch, epochs run and training time."""
    start = time.perf_counter()
    model, result = train_model(graph, data, cfg, seed, epochs, on_epoch)
    metrics = {"val_accuracy": result.val_accuracy, "val_loss": result.val_loss,
               "test_accuracy": accuracy(model, data.x_test, data.y_test),
               "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
               "train_time_s": time.perf_counter() - start}
    return model, metrics
