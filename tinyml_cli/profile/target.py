"""What ``tinyml profile`` can be pointed at, and where its report goes: a .tflite file (report
``NAME.profile-MCU.json`` beside it) or an export folder (``model.tflite`` and the test samples
``tinyml export`` saved; report ``profile-MCU.json`` in it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..mcu import McuProfile
from ..runs import write_json
from ..tflite.model import TfliteModel, read_model
from .measure import Inputs, ProfileError, profile_model, random_inputs

SAMPLES_FILE = "test_samples.npz"      # written by tinyml export: x (model inputs), y (labels)


def resolve_model(target: str | Path) -> tuple[Path, Path]:
    """The .tflite of a target and the file its report is written to."""
    path = Path(target)
    if path.is_dir():
        if (path / "model.tflite").is_file():
            return path / "model.tflite", path
        if (path / "arch.yaml").is_file():
            raise InputFileError(f"{path}: a candidate is profiled once exported: tinyml export RUN_DIR --rank N "
                                 "--profile (or profile the export folder)")
        raise InputFileError(f"{path}: no model.tflite in this folder (expected an export folder)")
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.suffix != ".tflite":
        raise InputFileError(f"{path}: expected a .tflite file or an export folder")
    return path, path.parent


def load_inputs(model: TfliteModel, model_path: Path, inputs_file: str | None, samples: int,
                rng: np.random.Generator) -> Inputs:
    """The samples to run: ``inputs_file`` (.npy, or .npz with ``x``), else the export's saved
    test samples, else random ones."""
    if inputs_file is not None:
        x = _read_array(Path(inputs_file))[:samples]
        return Inputs(x, f"{len(x)} samples from {inputs_file}")
    saved = model_path.parent / SAMPLES_FILE
    if saved.is_file():
        x = _read_array(saved)[:samples]
        return Inputs(x, f"{len(x)} test samples saved by tinyml export")
    return random_inputs(model, samples, rng)


def report_path(model_path: Path, folder: Path, profile: McuProfile) -> Path:
    """Where the report of ``model_path`` on ``profile`` is saved."""
    if model_path.name == "model.tflite" and folder == model_path.parent:
        return folder / f"profile-{profile.name}.json"
    return folder / f"{model_path.stem}.profile-{profile.name}.json"


def profile_target(target: str | Path, profile: McuProfile, kernels: str, inputs_file: str | None,
                   samples: int, seed: int, timeout_s: float, out: str | Path | None = None) -> tuple[dict, Path]:
    """Profile a target and save its report (to ``out``, else beside the model); outputs that
    differ from TFLM-host's are an error (after the report, which shows them, is saved)."""
    model_path, folder = resolve_model(target)
    model = read_model(model_path)
    inputs = load_inputs(model, model_path, inputs_file, samples, np.random.default_rng(seed))
    report = profile_model(model, model_path.read_bytes(), profile, inputs, kernels, timeout_s)
    path = write_json(Path(out) if out else report_path(model_path, folder, profile), report)
    host = report["comparison"]["tflm_host"]
    if not host["equal"]:
        raise ProfileError(f"{model_path}: outputs on the emulated {report['core']} differ from TFLM-host's "
                           f"(largest difference {host['max_difference']:g}); report in {path}")
    return report, path


def _read_array(path: Path) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: not a .npy or .npz array file ({exc})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        if "x" not in data.files:
            raise InputFileError(f"{path}: expected an array named x (has {', '.join(data.files) or 'none'})")
        return data["x"]
    return data


__all__ = ["ProfileError", "profile_target", "resolve_model"]
