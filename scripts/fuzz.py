"""Fuzz the `tinyml` CLI: N mutated configs (every command's example configs and the MCU profiles)
and N corrupted .tflite files, each through the real entry point in this process under a time and
memory guard; prints the counts and every case that did not end well.

    python scripts/fuzz.py --configs 340 --tflite 400 --seed 0 --seconds 30 --stop-past-checks
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fuzzing import config_cases, run_cases, tflite_cases  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", type=int, default=100, help="mutated configs to try")
    parser.add_argument("--tflite", type=int, default=100, help="corrupted .tflite files to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=20.0, help="time guard per case")
    parser.add_argument("--stop-past-checks", action="store_true",
                        help="stop a command as soon as its run folder has its config.yaml (input checked)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cases = config_cases(rng, args.configs) + tflite_cases(rng, args.tflite)

    def show(o):
        if args.verbose or o.kind not in ("clean", "harmless"):
            print(f"[{o.kind}] rc={o.rc} {o.case.what}: {o.stderr.strip()[-300:]!r}", flush=True)

    start = time.time()
    tally = run_cases(cases, args.seconds, show, args.stop_past_checks)
    print(tally.summary())
    print(f"({time.time() - start:.0f} s; seed {args.seed})")


if __name__ == "__main__":
    main()
