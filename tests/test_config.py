import pytest

from tinyml_cli.config import COMMON_SCHEMA, Field, apply_overrides, integer, load_config
from tinyml_cli.errors import ConfigError
from tinyml_cli.mcu import budget_for, list_profiles, load_profile


def test_overrides_and_sizes(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nconstraints: {sram: 2.5KB}\n")
    cfg = load_config(path, COMMON_SCHEMA, ["constraints.flash=4.5KB", "seed=7"])
    assert cfg["constraints"] == {"sram": 2560, "flash": 4608, "macs": None, "latency_ms": None}
    assert cfg["seed"] == 7


@pytest.mark.parametrize("text,message", [
    ("name: [unclosed\n", r"invalid YAML at line \d+"),
    ("nmae: x\n", r"unknown key 'nmae' \(did you mean 'name'\?\)"),
    ("constraints: {sram: -4KB}\n", r"constraints.sram: expected a size"),
    ("constraints: {sram: 0}\n", r"constraints.sram: expected a positive size"),
    ("seed: -1\n", r"seed: expected an integer >= 0"),
    ("- a\n- b\n", r"expected a mapping at the top level"),
])
def test_bad_configs_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, COMMON_SCHEMA)
    assert str(info.value).startswith(str(path))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml", COMMON_SCHEMA)


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_overrides({"a": 1}, ["a.b=2"])
    assert apply_overrides({}, ["a.b=[1, 2]"]) == {"a": {"b": [1, 2]}}


def test_required_field():
    with pytest.raises(ConfigError, match="missing required key 'epochs'"):
        load_config(None, {"epochs": Field(integer())})


def test_profiles_match_the_datasheets():
    table = {"STM32H743": (480, 512, 2048), "STM32F746": (216, 320, 1024), "STM32F412": (100, 256, 1024),
             "STM32L4R5": (120, 640, 2048), "nRF52840": (64, 256, 1024), "RP2040": (133, 264, 2048),
             "ESP32-S3": (240, 512, 8192), "RA6M4": (200, 256, 1024)}
    profiles = {p.name: p for p in list_profiles()}
    assert set(profiles) == set(table)
    for name, (mhz, sram_kb, flash_kb) in table.items():
        p = profiles[name]
        assert (p.clock_mhz, p.sram, p.flash) == (mhz, sram_kb * 1024, flash_kb * 1024)
        assert 0 < p.sram_for_model < p.sram


def test_profile_lookup_and_user_profiles(tmp_path):
    assert load_profile("esp32s3").name == "ESP32-S3"
    assert load_profile("Stm32-H743").name == "STM32H743"
    with pytest.raises(ConfigError, match="did you mean STM32F412"):
        load_profile("STM32F413")
    user = tmp_path / "tiny.yaml"
    user.write_text("name: tiny\ncore: Cortex-M0+\ncore_family: m0plus\nclock_mhz: 48\n"
                    "sram: 32KB\nflash: 128KB\nreserve: {sram: 4KB, flash: 32KB}\n")
    p = load_profile(str(user))
    assert budget_for(p, {"sram": 2560}).sram == 2560
    assert budget_for(p).flash == 96 * 1024
    user.write_text("name: tiny\ncore: x\ncore_family: m9\nclock_mhz: 48\nsram: 32KB\nflash: 128KB\n")
    with pytest.raises(ConfigError, match="core_family: expected one of"):
        load_profile(str(user))
