"""Candidate folders: ``arch.yaml`` + ``weights.pt`` (+ ``metrics.json``), the unit every command
passes on: search writes them, export and adapt read them, adapt writes adapted ones."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import torch

from ..arch import Arch, build_graph
from ..errors import InputFileError
from ..runs import atomic_write_bytes, write_json, write_yaml
from .builder import GraphModule, build_module


def save_candidate(folder: str | Path, arch: Arch, module: GraphModule | None,
                   metrics: dict | None = None) -> Path:
    """Write ``arch.yaml``, ``weights.pt`` (the module's state dict) and ``metrics.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_yaml(folder / "arch.yaml", arch.to_dict())
    if module is not None:
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buffer)
        atomic_write_bytes(folder / "weights.pt", buffer.getvalue())
    if metrics is not None:
        write_json(folder / "metrics.json", metrics)
    return folder


def load_weights(module: GraphModule, path: str | Path) -> GraphModule:
    """Load a state dict into ``module``; a missing, corrupt or mismatched file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, pickle.UnpicklingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"{path}: weights do not match the architecture or are corrupt: {first}") from None
    return module.eval()


def load_candidate(folder: str | Path) -> tuple[Arch, GraphModule, dict]:
    """Arch, trained module (eval mode) and metrics of a candidate folder."""
    folder = Path(folder)
    if not (folder / "arch.yaml").is_file():
        raise InputFileError(f"{folder}: not a candidate folder (no arch.yaml)")
    arch = Arch.load(folder / "arch.yaml")
    module = load_weights(build_module(build_graph(arch)), folder / "weights.pt")
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return arch, module, metrics


def ranked_candidates(run_dir: Path) -> list[Path]:
    """Candidate folders of a search run, best first: in the order of the leaderboard rows that name
    one (``leaderboard.json``), then any others by folder name (``candidates/NNN``)."""
    folder = run_dir / "candidates"
    if not folder.is_dir():
        raise InputFileError(f"{run_dir}: no candidates/ folder (is it a search run directory?)")
    candidates = sorted(p for p in folder.iterdir() if (p / "arch.yaml").is_file())
    if not candidates:
        raise InputFileError(f"{folder}: no candidate folders with an arch.yaml")
    board = run_dir / "leaderboard.json"
    ranked: list[Path] = []
    if board.is_file():
        try:
            summary = json.loads(board.read_text())
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{board}: unreadable leaderboard: {exc}") from None
        rows = summary.get("leaderboard", []) if isinstance(summary, dict) else []
        named = [run_dir / str(r["candidate"]) for r in rows if isinstance(r, dict) and r.get("candidate")]
        ranked = [p for p in dict.fromkeys(named) if p in candidates]
    return ranked + [p for p in candidates if p not in ranked]
