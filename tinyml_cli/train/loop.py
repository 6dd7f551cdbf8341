"""Training and evaluation of a GraphModule on a Dataset."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..config import Field, choice, integer, number, string
from ..arch.graph import LayerGraph
from ..data import Dataset
from .builder import GraphModule, build_module
from .device import resolve_device

TRAIN_SCHEMA = {
    "device": Field(string, "auto", "auto (cuda when available), cpu or cuda[:N]"),
    "epochs": Field(integer(min_value=1), 20),
    "batch_size": Field(integer(min_value=1), 64),
    "optimizer": Field(choice("adam", "adamw", "sgd"), "adam"),
    "lr": Field(number(min_value=0.0), 3e-3),
    "weight_decay": Field(number(min_value=0.0), 0.0),
    "schedule": Field(choice("cosine", "constant"), "cosine"),
    "label_smoothing": Field(number(min_value=0.0, max_value=0.5), 0.0),
    "patience": Field(integer(min_value=0), 0, "early stopping after this many epochs without "
                      "validation improvement (0: off)"),
    "threads": Field(integer(min_value=0), 0, "torch CPU threads (0: torch's default)"),
}


@dataclass
class TrainResult:
    """What a training run achieved."""

    val_accuracy: float
    epochs_run: int
    history: list[dict]


def _optimizer(model: nn.Module, cfg: dict) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=0.9, weight_decay=cfg["weight_decay"], nesterov=True)
    cls = torch.optim.AdamW if cfg["optimizer"] == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


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


def fit(model: nn.Module, data: Dataset, cfg: dict, seed: int = 0,
        on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``model`` on ``data.x_train`` with the TRAIN_SCHEMA settings ``cfg``; keep the weights of
    the best validation epoch. ``on_epoch`` receives each epoch's metrics."""
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    device = resolve_device(cfg["device"])
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    opt = _optimizer(model, cfg)
    steps_per_epoch = max(1, -(-len(data.x_train) // cfg["batch_size"]))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["epochs"] * steps_per_epoch)
             if cfg["schedule"] == "cosine" else None)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])
    x_all = torch.from_numpy(data.x_train).to(device)
    y_all = torch.from_numpy(data.y_train).to(device)
    best_acc, best_state, since_best, history = -1.0, None, 0, []
    for epoch in range(cfg["epochs"]):
        model.train()
        order = torch.randperm(len(x_all), generator=generator).to(device)
        total = 0.0
        for i in range(0, len(order), cfg["batch_size"]):
            idx = order[i:i + cfg["batch_size"]]
            if len(idx) < 2:
                continue
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_all[idx]), y_all[idx])
            loss.backward()
            opt.step()
            if sched:
                sched.step()
            total += float(loss.detach()) * len(idx)
        val = accuracy(model, data.x_val, data.y_val, device)
        record = {"epoch": epoch + 1, "loss": total / len(x_all), "val_accuracy": val}
        history.append(record)
        if on_epoch:
            on_epoch(record)
        if val > best_acc:
            best_acc, best_state, since_best = val, copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
            if cfg["patience"] and since_best >= cfg["patience"]:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(best_acc, len(history), history)


def train_and_evaluate(graph: LayerGraph, data: Dataset, cfg: dict, seed: int = 0, epochs: int | None = None,
                       on_epoch: Callable[[dict], None] | None = None) -> tuple[GraphModule, dict]:
    """Build a fresh module for ``graph``, :func:`fit` it (``epochs`` overrides ``cfg['epochs']``) and
    measure it: validation and test accuracy, epochs run and training time in seconds."""
    model = build_module(graph)
    start = time.perf_counter()
    result = fit(model, data, {**cfg, "epochs": epochs or cfg["epochs"]}, seed, on_epoch)
    metrics = {"val_accuracy": result.val_accuracy,
               "test_accuracy": accuracy(model, data.x_test, data.y_test),
               "epochs_run": result.epochs_run, "train_time_s": time.perf_counter() - start}
    return model, metrics
