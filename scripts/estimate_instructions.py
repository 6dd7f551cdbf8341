"""Instructions per estimate, counted by valgrind's callgrind: a figure that, unlike wall time on a
shared machine, does not move from run to run, for checking that a change keeps the estimator fast.

    PYTHONPATH=. python scripts/estimate_instructions.py [--graphs 300] [--passes 3]

Samples --graphs mbnet architectures (96x96x3, seed 0), then estimates each on the STM32F746
--passes times. The process runs twice under callgrind, once stopping before the estimates; the
difference over the estimates made is printed. --passes 1 is a first pass (memos empty), more
passes weigh in the memoized case. Needs `valgrind` on the PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def workload(graphs: int, passes: int, estimating: bool) -> None:
    """Build the sample, and estimate it ``passes`` times when ``estimating``."""
    import numpy as np

    from tinyml_cli.arch import build_graph, make_space
    from tinyml_cli.errors import ArchError
    from tinyml_cli.estimate import estimate
    from tinyml_cli.mcu import budget_for, load_profile

    space = make_space({"name": "mbnet"}, (96, 96, 3), 10)
    rng = np.random.default_rng(0)
    profile = load_profile("STM32F746")
    budget = budget_for(profile)
    sample = []
    while len(sample) < graphs:
        try:
            sample.append(build_graph(space.sample(rng)))
        except ArchError:
            continue
    if estimating:
        for _ in range(passes):
            for graph in sample:
                estimate(graph, profile, budget)


def instructions(graphs: int, passes: int, estimating: bool) -> int:
    """The instructions callgrind counts for one run of :func:`workload` in a child process."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        child = [sys.executable, __file__, "--child", "--graphs", str(graphs), "--passes", str(passes)]
        if not estimating:
            child.append("--setup-only")
        done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *child],
                              capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=300)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload(args.graphs, args.passes, not args.setup_only)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    setup = instructions(args.graphs, args.passes, False)
    total = instructions(args.graphs, args.passes, True)
    estimates = args.graphs * args.passes
    print(f"{estimates} estimates ({args.graphs} mbnet graphs x {args.passes} passes): "
          f"{(total - setup) / estimates:,.0f} instructions per estimate")


if __name__ == "__main__":
    main()
