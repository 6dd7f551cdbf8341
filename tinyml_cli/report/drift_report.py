"""The drift report: ``report.json`` (every figure), ``report.md`` (tables for people) and
``accuracy.png`` (windowed prequential accuracy, one line per method, drifts and detections marked)."""

from __future__ import annotations

from pathlib import Path

from ..runs import atomic_write_text, write_json
from .figures import save_figure
from ..units import format_bytes
from .drift_metrics import windowed


def report_data(exp) -> dict:
    """The JSON document of an Experiment."""
    s, cfg = exp.stream, exp.cfg
    return {
        "name": cfg["name"],
        "mcu": {"name": cfg["mcu"], **exp.budget},
        "stream": {"source": s.name, "length": len(s), "positions": s.positions, "labels": s.num_labels,
                   "file": exp.stream_file,
                   "drift": None if exp.stream_file else cfg["stream"]["drift"],
                   "label_regime": None if exp.stream_file else cfg["stream"]["labels"],
                   "labelled": int((s.label_time >= 0).sum())},
        "model": {"origin": exp.deployed.origin, "arch": exp.deployed.arch.to_dict(),
                  "val_accuracy": exp.deployed.val_accuracy, **exp.model_cost},
        "detector": cfg["detector"],
        "settings": cfg["report"],
        "methods": [{
            "method": run.key, "options": run.method.options, **run.metrics,
            "samples_per_second": run.trace.samples_per_second, "cost": run.cost, "fits": run.fits,
        } for run in exp.runs],
    }


def _fmt(value, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}" if percent else str(value)


def report_markdown(data: dict) -> str:
    """Markdown tables of a report document."""
    m, model, st = data["mcu"], data["model"], data["stream"]
    lines = [f"# Drift report: {data['name']}", "",
             f"Stream: {st['source']}, {st['length']} samples, drift at {st['positions']}, "
             f"{st['labelled']} labelled. Detector: {data['detector']['name']}. "
             f"MCU {m['name']}: {format_bytes(m['sram'])} SRAM, {format_bytes(m['flash'])} flash for the model.",
             f"Model: {model['origin']} (validation accuracy {100 * model['val_accuracy']:.1f}%, "
             f"int8 on the MCU: flash {format_bytes(model['flash'])}, peak SRAM {format_bytes(model['sram'])}).", "",
             f"Recovery: samples after the drift until the accuracy over the next {data['settings']['window']} "
             f"samples is within {100 * data['settings']['margin']:g} points of the pre-drift accuracy.", "",
             "| method | accuracy % | before % | drop (pts) | recovery | after % | final % | detection delay "
             "| false alarms | RAM | flash | ops/update | fits | samples/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["methods"]:
        first = r["drifts"][0] if r["drifts"] else {}
        c = r["cost"]
        fits = "yes" if all(r["fits"].values()) else "no (" + ", ".join(k for k, v in r["fits"].items() if not v) + ")"
        lines.append(
            f"| {r['method']} | {_fmt(r['accuracy'])} | {_fmt(r['before'])} | {_fmt(first.get('drop'))} "
            f"| {_fmt(first.get('recovery'), False)} | {_fmt(first.get('after'))} | {_fmt(r['final'])} "
            f"| {_fmt(first.get('detection_delay'), False)} | {r['false_alarms']} | {format_bytes(c['ram'])} "
            f"| {format_bytes(c['flash'])} | {c['ops_per_update']:,} | {fits} | {r['samples_per_second']:,.0f} |")
    if any(len(r["drifts"]) > 1 for r in data["methods"]):
        lines += ["", "## Every drift", "", "| method | position | drop (pts) | recovery | after % | detection delay |",
                  "|---|---|---|---|---|---|"]
        for r in data["methods"]:
            for d in r["drifts"]:
                lines.append(f"| {r['method']} | {d['position']} | {_fmt(d['drop'])} | {_fmt(d['recovery'], False)} "
                             f"| {_fmt(d['after'])} | {_fmt(d['detection_delay'], False)} |")
    lines += ["", "RAM: adaptation state + buffers + gradients + kept activations (bytes beyond the deployed "
              "model); fits: the model's peak SRAM + RAM within the SRAM budget and model + method flash within "
              "the flash budget (the model's figures from the estimator); a method that runs in place of the model "
              "(esn) counts its own RAM and flash only.", ""]
    return "\n".join(lines)


def plot_accuracy(exp, path: Path) -> Path:
    """Windowed prequential accuracy per method, drift positions dashed, detections as triangles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = exp.cfg["report"]["window"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for run in exp.runs:
        curve = windowed(run.trace.correct, window)
        line, = ax.plot(curve, label=run.key, linewidth=1.3)
        if run.trace.detections:
            ax.plot(run.trace.detections, curve[run.trace.detections], "v", color=line.get_color(), markersize=7)
    for i, p in enumerate(exp.stream.positions):
        ax.axvline(p, color="black", linestyle="--", linewidth=1, label="drift" if i == 0 else None)
    ax.set_xlabel("stream sample")
    ax.set_ylabel(f"accuracy (last {window} samples)")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{exp.cfg['name']}: prequential accuracy (triangles: detections)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def write_report(exp, run_dir: Path) -> dict:
    """Write report.json, report.md and accuracy.png into ``run_dir``; return the JSON document."""
    data = report_data(exp)
    write_json(run_dir / "report.json", data)
    atomic_write_text(run_dir / "report.md", report_markdown(data))
    plot_accuracy(exp, run_dir / "accuracy.png")
    return data
