"""Benchmark of the on-device learning methods on a fixed drifting stream (MNIST-1D, every label
permuted at sample 1000 of 3000, seed 0): recovery time, final accuracy, memory and samples/s.

    PYTHONPATH=. python scripts/bench_drift.py [CONFIG] [key.sub=value ...]

Targets (issue 5): tml-cd hybrid back within 2 points of its pre-drift accuracy in at most 300
samples with at most 32 KB of adaptation state; at least 5,000 samples/s per method on one core.
"""

from __future__ import annotations

import sys
import time

import torch

from tinyml_cli.adapt.experiment import load_drift_config, run_experiment
from tinyml_cli.drift.detectors import DETECTORS, make_detector

DEFAULT = "configs/drift/mnist1d_permute.yaml"


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    config = argv[0] if argv and "=" not in argv[0] else DEFAULT
    cfg = load_drift_config(config, [a for a in argv if "=" in a])
    start = time.perf_counter()
    exp = run_experiment(cfg)
    total = time.perf_counter() - start
    window, margin = cfg["report"]["window"], cfg["report"]["margin"]
    print(f"stream: {config}, {len(exp.stream)} samples, drift at {exp.stream.positions}; "
          f"deployed model validation accuracy {100 * exp.deployed.val_accuracy:.1f}%")
    print(f"recovery: samples until the accuracy of the next {window} samples is within "
          f"{100 * margin:g} points of the method's pre-drift accuracy")
    header = f"{'method':<16}{'before %':>9}{'recovery':>9}{'final %':>9}{'state B':>9}{'RAM B':>9}{'flash B':>9}{'samples/s':>11}"
    print(header)
    print("-" * len(header))
    ok, hybrid = True, None
    for run in exp.runs:
        m, c = run.metrics, run.cost
        rec = m["drifts"][0]["recovery"] if m["drifts"] else None
        sps = run.trace.samples_per_second
        print(f"{run.key:<16}{100 * m['before']:>9.1f}{rec if rec is not None else '-':>9}{100 * m['final']:>9.1f}"
              f"{c['state']:>9,}{c['ram']:>9,}{c['flash']:>9,}{sps:>11,.0f}")
        ok &= sps >= 5000
        if run.key == "tml-cd" and run.method.options["mode"] == "hybrid":
            hybrid = (rec is not None and rec <= 300, c["state"] <= 32 * 1024)
    print(f"total wall time {total:.1f} s (stream, training, features and every method)")
    frozen = next((run for run in exp.runs if run.key == "none"), None)
    if frozen is not None and exp.stream.positions:
        _detectors(frozen.trace.correct, exp.stream.positions[0], cfg["report"]["max_delay"])
    if hybrid is not None:
        print(f"target tml-cd hybrid recovery <= 300 samples: {'met' if hybrid[0] else 'MISSED'}; "
              f"state <= 32 KB: {'met' if hybrid[1] else 'MISSED'}")
    print(f"target >= 5,000 samples/s per method: {'met' if ok else 'MISSED'}")
    return 0


def _detectors(correct, position: int, max_delay: int) -> None:
    """Each detector, default parameters, on the frozen model's error stream."""
    print(f"detectors on the frozen model's errors (drift at {position}; later than {max_delay} after it: false alarm)")
    for name in DETECTORS:
        hits = make_detector(name).run(~correct)
        delay = next((d - position for d in hits if position <= d <= position + max_delay), None)
        false = len(hits) - (delay is not None)
        print(f"  {name:<14} delay {delay if delay is not None else '-':>5}   false alarms {false}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
