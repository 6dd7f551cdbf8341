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


def test_a_space_name_that_is_not_a_name_is_one_line_before_any_run_folder(cli, tmp_path):
    config = tmp_path / "listname.yaml"
    config.write_text("space: {name: [plain]}\ndata: {name: mnist1d, samples: 200}\n")
    code, _, err = cli("search", config, "--out", tmp_path / "run")
    assert code == 2 and f"{config}: space: name: expected one of mbnet, plain, got ['plain']" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
