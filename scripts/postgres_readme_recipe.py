"""Run the README's PostgreSQL recipe exactly as written, against a throwaway local cluster.

    PYTHONPATH=. python scripts/postgres_readme_recipe.py [--config configs/search/digits_tiny.yaml]

Cuts the ``sh`` block under "Several GPU servers on one PostgreSQL study" out of README.md, starts
a PostgreSQL 15 cluster (scripts/postgres_workers.py), and runs the block with bash in a temporary
folder, the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD) and CONFIG set, ``tinyml`` and
``pip`` those of this Python. Prints each run folder's manifest status and the study's trial counts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).parent))
from postgres_workers import ROOT, throwaway_cluster  # noqa: E402


def recipe(readme: Path = ROOT / "README.md") -> str:
    """The shell block of the README's PostgreSQL section."""
    text = readme.read_text()
    section = text[text.index("### Several GPU servers on one PostgreSQL study"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/search/digits_tiny.yaml")
    args = parser.parse_args()
    block = recipe()
    with throwaway_cluster(create_db=False) as url, tempfile.TemporaryDirectory() as tmp:
        port = url.rsplit(":", 1)[1].split("/")[0]
        bin_dir = Path(tmp) / "bin"
        bin_dir.mkdir()
        for name, target in (("tinyml", f"{sys.executable} -m tinyml_cli"), ("pip", f"{sys.executable} -m pip")):
            (bin_dir / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
            (bin_dir / name).chmod(0o755)
        env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": port, "PGUSER": "tinyml", "PGPASSWORD": "unused",
               "CONFIG": str(ROOT / args.config), "PATH": f"{bin_dir}:{os.environ['PATH']}",
               "PYTHONPATH": str(ROOT)}
        start = time.time()
        done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.time() - start
        if done.returncode:
            raise SystemExit(f"the recipe failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=None, storage=url.replace("tinyml@", "tinyml:unused@"))
        states: dict[str, int] = {}
        for t in study.get_trials():
            key = t.user_attrs.get("status", t.state.name) if t.state.name == "COMPLETE" else t.state.name
            states[key] = states.get(key, 0) + 1
        for run in sorted((Path(tmp) / "runs").iterdir()):
            manifest = json.loads((run / "manifest.json").read_text())
            print(f"{run.name:14s} status {manifest['status']}, resumed {len(manifest['resumed'])}x")
        print(f"study {study.study_name}: {states}; workers "
              f"{len({t.user_attrs.get('worker') for t in study.get_trials()})}; recipe wall time {wall:.0f} s")


if __name__ == "__main__":
    main()
