"""Full and read-only disks under real commands: each run ends in one line, a final manifest status
and no temporary file.

    sudo PYTHONPATH=. python scripts/disk_full.py [--free 8,40,130,170,250] [--json]

Mounts a 2 MiB tmpfs (root only), fills it to leave ``--free`` KiB, and runs a tiny ``tinyml search``
(MNIST-1D, 3 trials) and ``tinyml simulate-drift`` (SEA, 1200 samples) with ``--out`` on it; then
remounts it read-only and runs both again. Per run: exit code, the manifest's status, leftover
temporary files and the error line. A run must end in exit 0 (``ok``), 1 (disk full: ``failed``)
or 2 (read-only: refused before any work, no folder); never "internal error".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SIZE_KIB = 2048
SEARCH = {"name": "tiny", "mcu": "STM32F412", "seed": 0, "data": {"name": "mnist1d", "samples": 400},
          "space": {"name": "plain", "max_layers": 2, "channels": [4, 8], "kernels": [3, 5], "strides": [1, 2],
                    "units": [16], "max_dense": 1},
          "train": {"epochs": 2, "batch_size": 64, "threads": 1, "device": "cpu", "lr": 0.01},
          "fidelity": {"epochs": 1},
          "search": {"backend": "random", "trials": 3, "top_k": 1, "cv_folds": 0, "baseline": False}}
DRIFT = {"name": "sea-full", "mcu": "STM32F412",
         "stream": {"source": "sea", "length": 1200, "drift": {"kind": "concept", "positions": [400, 800]}},
         "model": {"train": {"epochs": 3, "device": "cpu"}}, "detector": {"name": "adwin"},
         "methods": {"none": {}, "tinyol": {}}, "report": {"window": 100}}


def _run(command: str, config: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tinyml_cli", command, str(config), "--out", str(out), "-q"],
                          env=env, capture_output=True, text=True)
    manifest = out / "manifest.json"
    return {"command": command, "exit": done.returncode,
            "status": json.loads(manifest.read_text())["status"] if manifest.exists() else None,
            "temporary_files": len([p for p in out.rglob(".*")]) if out.exists() else 0,
            "error": done.stderr.strip().splitlines()[-1] if done.returncode else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--free", default="8,40,130,170,250", help="KiB left free, comma-separated.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("disk_full.py mounts a tmpfs: run it as root")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        configs = Path(tmp) / "configs"
        configs.mkdir()
        (configs / "search.yaml").write_text(yaml.safe_dump(SEARCH))
        (configs / "drift.yaml").write_text(yaml.safe_dump(DRIFT))
        mnt = Path(tmp) / "mnt"
        mnt.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_KIB}k", "tmpfs", str(mnt)], check=True)
        try:
            for free in [int(f) for f in args.free.split(",")]:
                for command, config in (("search", "search.yaml"), ("simulate-drift", "drift.yaml")):
                    for entry in mnt.iterdir():
                        subprocess.run(["rm", "-rf", str(entry)], check=True)
                    (mnt / "filler").write_bytes(bytes((SIZE_KIB - free) * 1024))
                    rows.append({"disk": f"{free} KiB free", **_run(command, configs / config, mnt / "run")})
            for entry in mnt.iterdir():
                subprocess.run(["rm", "-rf", str(entry)], check=True)
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
            for command, config in (("search", "search.yaml"), ("simulate-drift", "drift.yaml")):
                rows.append({"disk": "read-only", **_run(command, configs / config, mnt / "run")})
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['disk']:13s} {r['command']:15s} exit {r['exit']}  status {str(r['status']):7s} "
              f"temporary files {r['temporary_files']}  {r['error']}")
    internal = sum("internal error" in r["error"] for r in rows)
    print(f"{len(rows)} runs, internal errors {internal}")


if __name__ == "__main__":
    main()
