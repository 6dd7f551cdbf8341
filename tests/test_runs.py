"""The run folder: how a command's block ends in the manifest, saves that leave the whole old file or
nothing (a full disk simulated by an fsync that fails), and folders that cannot be made."""

import errno
import json
import os
from contextlib import nullcontext

import pytest

from tinyml_cli.errors import ConfigError, RunDirError, SaveError
from tinyml_cli.runs import atomic_write_bytes, check_out, create_run_dir, record_outcome, run_folder, start_manifest


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


# ---- the run folder every command opens: atomic saves, disk errors, final status -------------------


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "pareto.png"
    atomic_write_bytes(target, b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SaveError, match=r"pareto.png: cannot save: no space left on the device \(disk full\)"):
        atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"old" and _files(tmp_path) == ["pareto.png"]


def test_a_full_disk_ends_the_manifest_failed_with_one_line(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    with pytest.raises(SaveError) as exc:
        with run_folder("search", "x", 0, out=folder, config={"name": "x"}, argv=["tinyml"]):
            (folder / "leaderboard.csv").write_text("kept\n")

            def full(fd):  # from here on the disk takes no new file, the manifest's included
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(os, "fsync", full)
            atomic_write_bytes(folder / "pareto.png", b"png")
    message = str(exc.value)
    assert "\n" not in message and "pareto.png: cannot save: no space left" in message
    assert message.endswith(f"run {folder} marked failed")
    manifest = json.loads((folder / "manifest.json").read_text())  # overwritten in place
    assert manifest["status"] == "failed" and manifest["finished"]
    assert _files(folder) == ["config.yaml", "leaderboard.csv", "manifest.json"]


def test_a_disk_full_from_the_start_leaves_no_folder(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SaveError, match=r"manifest.json: cannot save: no space .* not kept$"):
        with run_folder("adapt", "x", 0, out=tmp_path / "run"):
            pass
    assert _files(tmp_path) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_an_os_error_from_any_writer_ends_failed(tmp_path, code):
    folder = tmp_path / "run"
    with pytest.raises(SaveError, match=r"marked failed$"):
        with run_folder("adapt", "x", 0, out=folder):
            raise OSError(code, os.strerror(code), str(folder / "accuracy.png"))
    assert json.loads((folder / "manifest.json").read_text())["status"] == "failed"


def test_an_unwritable_out_is_refused_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="file is a file, not a folder"):
        check_out(tmp_path / "file" / "run")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path / "ro") else real(p, mode))
    (tmp_path / "ro").mkdir()
    with pytest.raises(RunDirError, match="ro is not writable"):
        check_out(tmp_path / "ro" / "run")
    assert _files(tmp_path) == ["file", "ro"] and not any((tmp_path / "ro").iterdir())


def test_only_resumable_commands_suggest_resume(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x").write_text("x")
    with pytest.raises(RunDirError) as plain:
        check_out(tmp_path / "run")
    with pytest.raises(RunDirError, match="or continue it with --resume"):
        check_out(tmp_path / "run", resumable=True)
    assert "resume" not in str(plain.value)
