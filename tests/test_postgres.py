"""A real PostgreSQL 15 study (slow): a coordinator and two workers, one killed with SIGKILL in the
middle of a trial; the oracle is the study read back from the database and the leaderboard file."""

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("postgres_workers", ROOT / "scripts" / "postgres_workers.py")
postgres_workers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(postgres_workers)

needs_postgres = pytest.mark.skipif(
    not (postgres_workers.PG_BIN / "initdb").exists() or importlib.util.find_spec("psycopg") is None
    or shutil.which("runuser") is None, reason="PostgreSQL 15 binaries, psycopg 3 or runuser missing")


@pytest.mark.slow
@needs_postgres
def test_a_worker_killed_mid_trial_loses_nothing_finished(tmp_path):
    with postgres_workers.throwaway_cluster() as url:
        r = postgres_workers.kill_one_worker(url, tmp_path, trials=6)
    assert r["killed_trial"] is not None and r["killed_trial_state"] == "FAIL"
    assert r["complete_before_kill"] >= 2 and r["kept_unchanged"] == r["complete_before_kill"]
    assert r["trained"] == 6 and r["trained_twice"] == 0 and r["running_left"] == 0
    assert r["leaderboard_matches_study"] and r["coordinator_trained"] == 6
    assert r["coordinator_wait_after_kill_s"] < 300  # not search.stale_after_s (900 s)
    assert r["resume_of_killed_worker"]["exit"] == 0 and r["resume_of_killed_worker"]["status"] == "ok"
