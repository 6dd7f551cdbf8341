"""The leaderboard of a search, read from its study: feasible trained candidates ranked (fully
trained top-k first, then screened ones, by validation accuracy), the Pareto front (accuracy against
SRAM, flash and latency), and the CSV / JSON / Markdown files.

>>> rows = [{"val_accuracy": 0.9, "peak_sram": 10, "flash": 5, "latency_ms": 1.0},
...         {"val_accuracy": 0.8, "peak_sram": 20, "flash": 6, "latency_ms": 2.0},
...         {"val_accuracy": 0.7, "peak_sram": 5, "flash": 9, "latency_ms": 3.0}]
>>> pareto_front(rows)
[0, 2]
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ..runs import atomic_write_text, write_json
from ..units import format_bytes, format_count
from .final import EVALUATED, FINAL
from .ranking import rank

COLUMNS = ["rank", "trial", "stage", "candidate", "val_accuracy", "val_std", "test_accuracy",
           "int8_test_accuracy", "screen_val_accuracy", "macs", "params", "flash", "peak_sram", "latency_ms",
           "train_time_s", "epochs_run", "pareto"]
COSTS = ("peak_sram", "flash", "latency_ms")
HEADERS = {"rank": "#", "candidate": "folder", "val_accuracy": "val", "val_std": "± (folds)",
           "test_accuracy": "test", "int8_test_accuracy": "int8 test", "macs": "MACs", "peak_sram": "SRAM",
           "latency_ms": "ms", "train_time_s": "train s", "epochs_run": "epochs"}
BASELINES = "baselines"   # study attribute: the reference classifiers' rows


def pareto_front(rows: list[dict], costs: tuple[str, ...] = COSTS) -> list[int]:
    """Indices of rows no other row beats: higher accuracy and no higher cost (brute force)."""
    def dominates(a: dict, b: dict) -> bool:
        no_worse = a["val_accuracy"] >= b["val_accuracy"] and all(a[c] <= b[c] for c in costs)
        better = a["val_accuracy"] > b["val_accuracy"] or any(a[c] < b[c] for c in costs)
        return no_worse and better
    return [i for i, r in enumerate(rows) if not any(dominates(o, r) for o in rows)]


def trial_counts(study: optuna.Study) -> dict[str, int]:
    """How many trials were trained, scored with shared weights, infeasible, duplicates, failed."""
    out = {"complete": 0, "trained": 0, "scored": 0, "infeasible": 0, "duplicate": 0, "failed": 0}
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE:
            out["complete"] += 1
            out[t.user_attrs.get("status", "trained")] += 1
        elif t.state == TrialState.FAIL:
            out["failed"] += 1
    return out


def describe_counts(n: dict[str, int]) -> str:
    """One line of what happened to the trials.

    >>> describe_counts({"complete": 5, "trained": 3, "scored": 0, "infeasible": 1, "duplicate": 1, "failed": 0})
    '5 trials: 3 trained, 1 infeasible (never trained), 1 duplicate(s)'
    """
    evaluated = f"{n['scored']} scored with shared weights" if n["scored"] else f"{n['trained']} trained"
    return (f"{n['complete']} trials: {evaluated}, {n['infeasible']} infeasible (never trained), "
            f"{n['duplicate']} duplicate(s)")


def describe_ranking(ranking: dict | None) -> str:
    """One sentence on how candidates were ranked.

    >>> describe_ranking({"cv_folds": 5, "validation_samples": 30, "normalize": "standardize"})
    'Ranked by 5-fold cross-validation (mean ± spread over folds; near-ties to the fewest parameters); final models retrained on train + validation; inputs normalized inside the model (standardize).'
    """
    if not ranking:
        return ""
    if ranking["cv_folds"]:
        text = (f"Ranked by {ranking['cv_folds']}-fold cross-validation (mean ± spread over folds; near-ties "
                "to the fewest parameters); final models retrained on train + validation")
    else:
        text = f"Ranked by the validation split ({ranking['validation_samples']} samples)"
    if ranking["normalize"] != "none":
        text += f"; inputs normalized inside the model ({ranking['normalize']})"
    return text + "."


def leaderboard_rows(study: optuna.Study) -> list[dict]:
    """One row per feasible trained architecture, ranked."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get("status") not in EVALUATED:
            continue
        screen = t.user_attrs["metrics"]
        final = study.user_attrs.get(FINAL + t.user_attrs["arch_key"])
        metrics = final or screen
        row = {"trial": t.number, "stage": "final" if final else "screen",
               "candidate": final["candidate"] if final else "",
               "val_accuracy": metrics["val_accuracy"], "val_std": metrics.get("val_std"),
               "val_folds": metrics.get("val_folds"), "test_accuracy": metrics["test_accuracy"],
               "int8_test_accuracy": final["int8_test_accuracy"] if final else None,
               "screen_val_accuracy": screen["val_accuracy"], **t.user_attrs["costs"],
               "train_time_s": metrics["train_time_s"], "epochs_run": metrics["epochs_run"]}
        rows.append(row)
    rows = [rows[i] for stage in ("final", "screen")
            for i in [j for j in rank(rows) if rows[j]["stage"] == stage]]
    front = set(pareto_front(rows))
    for i, row in enumerate(rows):
        row["rank"] = i + 1
        row["pareto"] = i in front
    return [{c: r.get(c) for c in COLUMNS} for r in rows]


def _cell(column: str, value: object) -> str:
    if value is None or value == "":
        return "-"
    if column in ("peak_sram", "flash"):
        return format_bytes(int(value))
    if column in ("macs", "params"):
        return format_count(int(value))
    if column == "val_std":
        return f"±{100 * float(value):.2f}"
    if "accuracy" in column:
        return f"{100 * float(value):.2f}%"
    if column in ("latency_ms", "train_time_s"):
        return f"{float(value):.2f}"
    if column == "pareto":
        return "yes" if value else ""
    return str(value)


def table(rows: list[dict], limit: int | None = None,
          baselines: list[dict] = ()) -> tuple[list[str], list[list[str]]]:
    """Human-readable column headers and cells: the reference classifiers first (stage
    ``baseline``), then the candidates."""
    shown = [c for c in COLUMNS if c != "screen_val_accuracy"]
    references = [{"rank": "ref", "stage": "baseline", "candidate": b["model"], **b} for b in baselines]
    return [HEADERS.get(c, c) for c in shown], [[_cell(c, r.get(c)) for c in shown]
                                                for r in [*references, *rows[:limit]]]


def write_leaderboard(run_dir: Path, summary: dict) -> None:
    """``leaderboard.csv``, ``leaderboard.json`` (the whole summary) and ``leaderboard.md``."""
    rows = summary["leaderboard"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(run_dir / "leaderboard.csv", buffer.getvalue())
    write_json(run_dir / "leaderboard.json", summary)
    columns, cells = table(rows, baselines=summary.get("baselines", []))
    counts = summary["trials"]
    lines = [f"# Search leaderboard: {summary['name']}", "",
             f"Backend `{summary['backend']}` on {summary['mcu']} (budget: SRAM "
             f"{format_bytes(summary['budget']['sram'])}, flash {format_bytes(summary['budget']['flash'])}). "
             f"{describe_counts(counts)}. {describe_ranking(summary.get('ranking'))}", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    atomic_write_text(run_dir / "leaderboard.md", "\n".join(lines) + "\n")
