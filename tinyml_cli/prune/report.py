"""``pruning.{csv,md,png}``: accuracy against MACs, SRAM, flash and latency per pruning level, with
the unpruned model and the search's own Pareto front (its leaderboard rows marked ``pareto``)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..report.figures import save_figure
from ..runs import atomic_write_text
from ..units import format_bytes, format_count

COLUMNS = ["kind", "label", "level", "ratio", "val_accuracy", "test_accuracy", "macs", "params", "flash",
           "peak_sram", "latency_ms", "fits", "candidate"]
AXES = (("macs", 1e-6, "MACs (M)"), ("peak_sram", 1 / 1024, "peak SRAM (KiB)"),
        ("flash", 1 / 1024, "model flash (KiB)"), ("latency_ms", 1.0, "latency (ms)"))


def search_front(run_dir: Path) -> list[dict]:
    """The search run's Pareto-front rows (``leaderboard.json``) that were trained in full (with a
    test accuracy), as report rows; none without a leaderboard."""
    path = run_dir / "leaderboard.json"
    try:
        board = json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return []
    rows = board.get("leaderboard", []) if isinstance(board, dict) else []
    return [{"kind": "search", "label": f"search {r.get('candidate') or 'trial ' + str(r.get('trial'))}",
             **{c: r.get(c) for c in COLUMNS if c in r and c not in ("kind", "label")}}
            for r in rows if isinstance(r, dict) and r.get("pareto") and r.get("macs") is not None
            and r.get("test_accuracy") is not None]


def _cell(column: str, value: object) -> str:
    if value is None:
        return "-"
    if column in ("val_accuracy", "test_accuracy"):
        return f"{100 * value:.1f}"
    if column in ("flash", "peak_sram"):
        return format_bytes(value)
    if column in ("macs", "params"):
        return format_count(value)
    if column in ("latency_ms", "ratio", "level"):
        return f"{value:.3g}"
    return str(value)


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table (accuracies in %)."""
    shown = [c for c in COLUMNS if c not in ("kind", "candidate")]
    lines = ["# Pruning", "", "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(_cell(c, r.get(c)) for c in shown) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, rows: list[dict], front: list[dict]) -> None:
    """Write ``pruning.csv``, ``pruning.md`` and ``pruning.png`` (every row: ours, then the front)."""
    everything = rows + front
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(everything)
    atomic_write_text(out_dir / "pruning.csv", buffer.getvalue())
    atomic_write_text(out_dir / "pruning.md", markdown(everything))
    plot(everything, out_dir / "pruning.png")


def plot(rows: list[dict], path: Path) -> Path:
    """Accuracy against each cost: the pruning levels as a line from the unpruned model, the
    search's front as squares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = [r for r in rows if r["kind"] in ("unpruned", "pruned")]
    front = [r for r in rows if r["kind"] == "search"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    for ax, (cost, scale, label) in zip(axes, AXES):
        ax.plot([r[cost] * scale for r in ours], [100 * r["test_accuracy"] for r in ours], "o-", c="tab:blue",
                label="pruned levels")
        ax.scatter([ours[0][cost] * scale], [100 * ours[0]["test_accuracy"]], s=80, c="tab:green", zorder=3,
                   label="unpruned")
        if front:
            ax.scatter([r[cost] * scale for r in front], [100 * r["test_accuracy"] for r in front], marker="s",
                       c="tab:orange", label="search Pareto front (trained)")
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    return save_figure(fig, path, dpi=100)
