"""Multi-fidelity, second stage: the top-k screened candidates trained for ``train.epochs``, their
int8 accuracy estimated, and each saved as ``candidates/NNN/`` (arch.yaml, weights.pt, metrics.json,
estimate.json). Results are kept in the study (user attribute ``final:<arch key>``), so a resumed run
only trains the candidates still missing."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..arch import Arch
from ..export.quantize import int8_accuracies
from ..runs import write_json
from ..train.checkpoint import save_candidate
from .context import SearchContext
from .ranking import rank
from .trial import EVALUATED, assess

FINAL = "final:"




def screened(study: optuna.Study) -> list[FrozenTrial]:
    """Trained (non-duplicate) trials, best first by screening validation accuracy, near-ties to the
    cheaper model (:func:`~tinyml_cli.search.ranking.rank`)."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.user_attrs.get("status") in EVALUATED]
    order = rank([{**t.user_attrs["metrics"], **(t.user_attrs.get("costs") or {}), "trial": t.number}
                  for t in trials])
    return [trials[i] for i in order]


def train_top_k(ctx: SearchContext, study: optuna.Study, run_dir: Path,
                on_done: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Train the ``search.top_k`` best screened candidates in full (skipping those done before)."""
    results = []
    for rank, t in enumerate(screened(study)[:ctx.cfg["search"]["top_k"]], start=1):
        key = t.user_attrs["arch_key"]
        folder = run_dir / "candidates" / f"{rank:03d}"
        done = study.user_attrs.get(FINAL + key)
        if done is None or not (run_dir / done["candidate"] / "weights.pt").is_file():
            done = _train_one(ctx, Arch.from_dict(t.user_attrs["arch"]), t.number, folder, run_dir)
            study.set_user_attr(FINAL + key, done)
        results.append(done)
        if on_done is not None:
            on_done(rank, done)
    return results


def _train_one(ctx: SearchContext, arch: Arch, trial_number: int, folder: Path, run_dir: Path) -> dict:
    module, metrics = ctx.backend.train_final(ctx, arch)
    data = ctx.data_for(arch)
    calib = data.x_train[:ctx.cfg["search"]["calibration_samples"]]
    verdict = assess(ctx, arch)
    int8_val, int8_test = int8_accuracies(module, calib, (data.x_val, data.y_val), (data.x_test, data.y_test))
    if ctx.folds:                                      # the final model was trained on validation too
        int8_val = None
    metrics.update(
        int8_val_accuracy=int8_val, int8_test_accuracy=int8_test,
        trial=trial_number, arch_key=arch.key(), candidate=str(folder.relative_to(run_dir)),
        **verdict["costs"])
    save_candidate(folder, arch, module, metrics)
    write_json(folder / "estimate.json", verdict["estimate"])
    return metrics
