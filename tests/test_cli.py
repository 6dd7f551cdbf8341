import json
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "tinyml_cli", *args], capture_output=True, text=True)


def test_version_and_mcus_json():
    assert run("--version").stdout.startswith("tinyml, version")
    out = run("mcus", "--json")
    assert out.returncode == 0
    assert {p["name"] for p in json.loads(out.stdout)} >= {"STM32H743", "RP2040"}


def test_unknown_command_is_usage_error():
    out = run("frobnicate")
    assert out.returncode == 2 and "Traceback" not in out.stderr
