"""``pareto.png``: validation accuracy against peak SRAM and against latency, feasible (trained)
candidates as dots with the Pareto front highlighted, infeasible ones (estimated, never trained) as
crosses at zero accuracy, and the budget as a dashed line. Each panel draws its own two-dimensional
front (accuracy against that cost)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from ..mcu import Budget
from ..report.figures import save_figure
from .leaderboard import pareto_front


def plot_pareto(study: optuna.Study, rows: list[dict], budget: Budget, path: Path) -> Path:
    """Draw and atomically write the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    infeasible = [t.user_attrs["costs"] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if t.user_attrs.get("status") == "infeasible" and t.user_attrs.get("costs")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, cost, scale, label, limit in (
            (axes[0], "peak_sram", 1 / 1024, "peak SRAM (KiB)", budget.sram),
            (axes[1], "latency_ms", 1.0, "latency (ms)", budget.latency_ms)):
        front = sorted((rows[i] for i in pareto_front(rows, (cost,))), key=lambda r: r[cost])
        ax.scatter([r[cost] * scale for r in rows], [100 * r["val_accuracy"] for r in rows],
                   s=18, c="tab:blue", label="feasible (trained)")
        ax.step([r[cost] * scale for r in front], [100 * r["val_accuracy"] for r in front], "o-",
                where="post", c="tab:orange", ms=5, label="Pareto front")
        if infeasible:
            ax.scatter([c[cost] * scale for c in infeasible], [0] * len(infeasible), marker="x",
                       c="tab:red", s=18, label="infeasible (not trained)")
        if limit is not None:
            ax.axvline(limit * scale, ls="--", c="grey", lw=1, label="budget")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    return save_figure(fig, path)
