"""The anomaly report: ``flags.csv`` (one row per sample), ``report.json``, ``report.md`` and
``anomaly.png`` (the series, the flags and the labelled anomalies)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runs import atomic_write_text, write_json
from ..units import format_bytes
from .figures import save_figure


def anomaly_markdown(data: dict) -> str:
    """Markdown of an anomaly report document."""
    s, m, c = data["series"], data["mcu"], data["cost"]
    d = data["detector"]
    fits = "yes" if all(data["fits"].values()) else "no (" + ", ".join(k for k, v in data["fits"].items() if not v) + ")"
    lines = [f"# Anomaly report: {data['name']}", "",
             f"Series: {s['source']}, {s['length']} samples, {s['channels']} channels, the first {s['warmup']} "
             f"taken as clean. Detector: {d['kind']} reservoir of {d['units']} x {d['layers']}, "
             f"statistic {d['statistic']}. {data['flagged']} samples flagged, "
             f"{data['samples_per_second']:,.0f} samples/s on this host.", "",
             f"MCU {m['name']}: RAM {format_bytes(c['ram'])} of {format_bytes(m['sram'])}, flash "
             f"{format_bytes(c['flash'])} of {format_bytes(m['flash'])}, {c['ops_per_update']:,} operations per "
             f"sample; fits: {fits}.", ""]
    if s.get("file"):
        lines += [file_columns(s["file"]), ""]
    if s.get("events", {}).get("in_warmup"):
        lines += [f"{s['events']['in_warmup']} labelled events inside the warm-up, not scored; "
                  f"{s['events']['scored']} scored.", ""]
    if data["metrics"] is None:
        lines.append("No labels: flags only (flags.csv).")
        return "\n".join(lines) + "\n"
    rows = [("all", data["metrics"])] + sorted((data["per_class"] or {}).items())
    lines += [f"An alarm is the first flag of a run; it is true inside an anomaly or within "
              f"{data['metrics']['tolerance']} samples after it.", "",
              "| anomalies | precision | recall | F1 | mean delay | false alarms / 1,000 |", "|---|---|---|---|---|---|"]
    for name, r in rows:
        delay = "-" if r["mean_delay"] is None else f"{r['mean_delay']:.1f}"
        lines.append(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {delay} "
                     f"| {r['false_alarms_per_1000']:.2f} |")
    return "\n".join(lines) + "\n"


def file_columns(f: dict) -> str:
    """One sentence on the columns a series file was read from (``Series.describe``)."""
    return (f"Columns: values {', '.join(f['columns'])}; time {f['time'] or '-'}; label {f['label'] or '-'}"
            + (f"; left out (label-like or unnamed): {', '.join(map(repr, f['excluded']))}" if f["excluded"] else "")
            + f". {f['filled']} empty or NaN cells filled ({f['missing']}).")


def plot_anomalies(x: np.ndarray, flags: np.ndarray, events: list | None, path: Path) -> Path:
    """The channels over time, labelled anomalies shaded, flags as ticks below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4))
    t = np.arange(len(x))
    for c in range(x.shape[1]):
        ax.plot(t, x[:, c], lw=0.6)
    for start, end, kind in events or []:
        ax.axvspan(start, end, color="tab:red", alpha=0.2)
        ax.text(start, 1.0, kind, transform=ax.get_xaxis_transform(), fontsize=7, va="bottom", rotation=45)
    low = float(x.min()) - 0.1 * float(np.ptp(x) or 1.0)
    ax.plot(t[flags], np.full(int(flags.sum()), low), "|", color="black", ms=8, label="flagged")
    ax.set_xlabel("sample")
    ax.legend(loc="upper right", fontsize=8)
    return save_figure(fig, path)


def write_anomaly_report(data: dict, x: np.ndarray, flags: np.ndarray, events: list | None, run_dir: Path) -> None:
    """Write flags.csv, report.json, report.md and anomaly.png into ``run_dir``."""
    label = np.zeros(len(flags), int)
    for start, end, _ in events or []:
        label[start:end] = 1
    rows = ["sample,flag" + (",label" if events is not None else "")]
    rows += [f"{i},{int(f)}" + (f",{label[i]}" if events is not None else "") for i, f in enumerate(flags)]
    atomic_write_text(run_dir / "flags.csv", "\n".join(rows) + "\n")
    write_json(run_dir / "report.json", data)
    atomic_write_text(run_dir / "report.md", anomaly_markdown(data))
    plot_anomalies(x, flags, events, run_dir / "anomaly.png")


def regression_markdown(data: dict) -> str:
    """Markdown of a regression report document (the esn method's regression mode)."""
    s, m = data["stream"], data["mcu"]
    if s["source"] == "sensors":
        stream = (f"Stream: generated sensors, {s['length']} samples, {s['channels']} channels; the target reads the "
                  f"last {s['lags']} samples through a random nonlinear map drawn anew at {s['drifts']}")
    else:
        stream = (f"Series: {s['source']}, {s['length']} samples; target {s['target']}, inputs "
                  f"{', '.join(s['inputs'])}; drift points {s['drifts'] or 'unknown (no recovery scored)'}")
    lines = [f"# Regression report: {data['name']}", "",
             f"{stream} (target std {s['target_std']:.3f}). Each sample is predicted, then learnt; detector "
             f"{data['detector']} on the absolute error restarts the readout. Errors count after the "
             f"{data['washout']}-sample washout. Recovery: samples until the RMSE over {data['window']} samples is "
             f"within {100 * data['margin']:.0f}% of the pre-drift RMSE. MCU {m['name']}.", ""]
    if s.get("file"):
        lines += [file_columns(s["file"]), ""]
    lines += [
             "| model | RMSE | before | final | peak (1st drift) | recovery per drift | detection delays "
             "| RAM | flash | ops/sample | fits | samples/s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["regression"]:
        c = r["cost"]
        peak = f"{r['drifts'][0]['peak']:.3f}" if r["drifts"] and r["drifts"][0]["peak"] is not None else "-"
        recovery = ", ".join("-" if d["recovery"] is None else str(d["recovery"]) for d in r["drifts"])
        delays = ", ".join("-" if d is None else str(d) for d in r["detection_delays"])
        lines.append(f"| {r['model']} | {r['rmse']:.3f} | {r['before']:.3f} | {r['final']:.3f} | {peak} | {recovery} "
                     f"| {delays} | {format_bytes(c['ram'])} | {format_bytes(c['flash'])} | {c['ops_per_update']:,} "
                     f"| {'yes' if all(r['fits'].values()) else 'no'} | {r['samples_per_second']:,.0f} |")
    rows = data["regression"]
    lines += ["", f"RMSE per window of {data['window']} samples:", "",
              "| samples | " + " | ".join(r["model"] for r in rows) + " |", "|---" * (len(rows) + 1) + "|"]
    for k, _ in enumerate(rows[0]["windows"]):
        start = k * data["window"]
        cells = ["-" if r["windows"][k] is None else f"{r['windows'][k]:.3f}" for r in rows]
        lines.append(f"| {start}-{min(start + data['window'], s['length'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_regression_report(data: dict, y: np.ndarray, errors: dict[str, np.ndarray], run_dir: Path) -> None:
    """Write errors.csv (the target and each model's error per sample), report.json and report.md."""
    keys = list(errors)
    rows = ["sample,target," + ",".join(f"error_{k}" for k in keys)]
    rows += [f"{i},{y[i]:.6g}," + ",".join(f"{errors[k][i]:.6g}" for k in keys) for i in range(len(y))]
    atomic_write_text(run_dir / "errors.csv", "\n".join(rows) + "\n")
    write_json(run_dir / "report.json", data)
    atomic_write_text(run_dir / "report.md", regression_markdown(data))
