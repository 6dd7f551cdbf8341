"""The int8 reservoir anomaly detector on real labelled recordings: every time-series file under DIR
(.csv, .tsv, .txt, .npz, searched recursively) that has a label column, through the same code
path as ``tinyml adapt CONFIG --method esn --stream FILE`` (the config defaults, the int8
reservoir; ``--warmup`` and ``--tolerance`` as ``anomaly.warmup`` and ``anomaly.tolerance``).

Per file: channels, length, warm-up, labelled events scored (and those starting inside the
warm-up, which are taken as clean and not scored), precision, recall, F1, mean detection delay,
false alarms per 1,000 samples, flagged samples outside every event (and its tolerance), samples
per CPU second of the whole run (file reading included; one thread) and the detector's MCU state.

    PYTHONPATH=. python scripts/bench_esn_real.py DIR [--warmup 2000] [--tolerance 20] [-o key=value ...]

The files of the README's table, in the TimeEval/GutenTAG format (timestamp, value columns,
is_anomaly), come in the aeon wheel:

    pip download aeon==1.6.0 --no-deps -d /tmp/aeon && (cd /tmp/aeon && unzip -q aeon-1.6.0-*.whl \\
        'aeon/datasets/data/Daphnet_S06R02E0/*' 'aeon/datasets/data/KDD-TSAD_135/*' \\
        'aeon/datasets/data/UnitTest/ecg-diff-count-3_TEST.csv')
    PYTHONPATH=. python scripts/bench_esn_real.py /tmp/aeon/aeon/datasets/data
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # small products: threads only add overhead

from tinyml_cli.adapt.esn.detect import detect  # noqa: E402
from tinyml_cli.adapt.experiment import load_drift_config  # noqa: E402
from tinyml_cli.data.series import TABLE_SUFFIXES, read_series  # noqa: E402
from tinyml_cli.errors import TinymlError  # noqa: E402

SUFFIXES = TABLE_SUFFIXES + (".npz",)


def labelled_files(folder: Path) -> list[Path]:
    """Every time-series file under ``folder`` with a label column (a file that cannot be read as a
    series is named on stderr and left out)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()):
        try:
            if read_series(path).labels is not None:
                found.append(path)
        except TinymlError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder searched for labelled time-series files")
    parser.add_argument("--warmup", type=int, default=None, help="anomaly.warmup (default: the config's)")
    parser.add_argument("--tolerance", type=int, default=None, help="anomaly.tolerance (default: the config's)")
    parser.add_argument("-o", "--option", action="append", default=[], help="another override, key=value")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"{args.folder}: not a folder", file=sys.stderr)
        return 2
    overrides = ["anomaly.source=file", "anomaly.detector.kind=int8", *args.option]
    overrides += [f"anomaly.warmup={args.warmup}"] * (args.warmup is not None)
    overrides += [f"anomaly.tolerance={args.tolerance}"] * (args.tolerance is not None)
    print("| file | channels | length | warm-up | events scored (in warm-up) | precision | recall | F1 | delay "
          "| false alarms / 1,000 | flagged outside | samples/s | state |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in labelled_files(args.folder):
        cfg = load_drift_config(None, overrides + [f"anomaly.path={path}"])
        try:
            start = time.process_time()
            data = detect(cfg).data
            rate = data["series"]["length"] / max(time.process_time() - start, 1e-9)
        except TinymlError as exc:
            print(f"| {path.relative_to(args.folder)} | not run: {exc} |")
            continue
        s, m, events = data["series"], data["metrics"], data["series"]["events"]
        scored = events["scored"] > 0
        cells = [f"{m[k]:.3f}" if scored else "-" for k in ("precision", "recall", "f1")]
        delay = "-" if m["mean_delay"] is None else f"{m['mean_delay']:.1f}"
        print(f"| {path.relative_to(args.folder)} | {s['channels']} | {s['length']:,} | {s['warmup']:,} "
              f"| {events['scored']} ({events['in_warmup']}) | {' | '.join(cells)} | {delay} "
              f"| {m['false_alarms_per_1000']:.2f} | {m['flagged_outside']} | {rate:,.0f} "
              f"| {data['cost']['state']:,} B |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
