"""The manifest records how a command's block ends."""

import json
from contextlib import nullcontext

import pytest

from tinyml_cli.errors import ConfigError
from tinyml_cli.runs import create_run_dir, record_outcome, start_manifest


def _status(run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return manifest["status"], manifest["finished"] is not None, manifest.get("best")


@pytest.mark.parametrize("error,status", [(None, "ok"), (ConfigError("bad"), "failed"),
                                          (KeyboardInterrupt(), "interrupted")])
def test_record_outcome(tmp_path, error, status):
    run_dir = create_run_dir("test", "x", tmp_path / "run")
    start_manifest(run_dir, "test", 0, [])
    assert _status(run_dir) == ("running", False, None)
    with pytest.raises(type(error)) if error else nullcontext():
        with record_outcome(run_dir) as extra:
            extra["best"] = 1
            if error:
                raise error
    assert _status(run_dir) == (status, True, 1 if status == "ok" else None)
