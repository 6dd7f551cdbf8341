"""The 320 KB search: `tinyml search configs/search/stm32f746_engine.yaml` (runtime c, 3x3 patches,
MobileNetV2-style networks at 144x144 on an STM32F746), then the best network's estimate under
TFLM and under the C engine on the same budget, and `tinyml export` of the run (the C engine, the
run's runtime and patches by default) with its byte-for-byte check against TFLM-host. Exits 1 unless
the network fits under the engine, does not fit under TFLM, and the engine's outputs are TFLM's.

    PYTHONPATH=. python scripts/search_320kb.py [--out DIR]     # ~10 minutes on two cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tinyml_cli.config import read_yaml
from tinyml_cli.estimate.target import estimate_target
from tinyml_cli.mcu import budget_for, load_profile
from tinyml_cli.train.checkpoint import ranked_candidates

CONFIG = Path(__file__).parents[1] / "configs" / "search" / "stm32f746_engine.yaml"


def tinyml(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tinyml_cli", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the search and export runs (default: a temporary one)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="tinyml-320kb-"))
    run = out / "search"
    tinyml("search", str(CONFIG), "--out", str(run), "-q")
    cfg = read_yaml(run / "config.yaml")
    profile = load_profile(cfg["mcu"])
    budget = budget_for(profile, cfg["constraints"])
    best = ranked_candidates(run)[0]
    tflm = estimate_target(best, profile, budget, "tflm")
    engine = estimate_target(best, profile, budget, "c", cfg["engine"])
    tinyml("export", str(run), "--out", str(out / "export"), "-q")
    verify = json.loads((out / "export" / "engine" / "verify.json").read_text())
    print(f"best of {run}: {best.name}, {tflm.macs / 1e6:.1f}M MACs, on {profile.name} "
          f"(budget: SRAM {budget.sram // 1024} KiB, flash {budget.flash // 1024} KiB)")
    print(f"TFLM + CMSIS-NN: peak SRAM {tflm.peak_sram / 1024:.1f} KiB, flash {tflm.flash_model / 1024:.1f} KiB: "
          f"{'fits' if tflm.fits else 'does not fit: ' + '; '.join(tflm.violations)}")
    patches = engine.patches or {}
    print(f"C engine ({patches.get('patches', 1)}x{patches.get('patches', 1)} patches up to {patches.get('split', '-')}): "
          f"peak SRAM {engine.peak_sram / 1024:.1f} KiB (layer by layer "
          f"{patches.get('peak_sram_per_layer', engine.peak_sram) / 1024:.1f} KiB), flash {engine.flash_total / 1024:.1f} "
          f"KiB: {'fits' if engine.fits else 'does not fit'}")
    print(f"export {out / 'export'}: engine arena {verify['arena']} B, outputs identical to TFLM-host on "
          f"{verify['samples']} test samples: {verify['identical_to_tflm']}")
    if tflm.fits or not engine.fits or not verify["identical_to_tflm"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
