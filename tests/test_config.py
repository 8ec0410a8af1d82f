"""Config loading: shipped configs, defaults, dotted overrides, and located errors."""

from __future__ import annotations

import pytest
from conftest import CONFIGS

from simulator.api import load_config
from simulator.errors import ConfigError


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    from simulator.targets import kinds

    cfg = load_config(path)
    assert cfg.kind in kinds()
    assert cfg.energy.dram_pj_per_byte > 0
    if cfg.kind == "systolic":
        assert cfg.array.rows >= 1


def test_shipped_set_covers_required_geometries():
    geos = {(c.array.rows, c.array.cols, c.array.dataflow)
            for c in map(load_config, CONFIGS.glob("*.yaml")) if c.kind == "systolic"}
    assert {(256, 256, "ws"), (128, 128, "os")} <= geos
    assert any(r == 32 for r, _, _ in geos)


def test_defaults_fill_in(tmp_path):
    p = tmp_path / "min.yaml"
    p.write_text("kind: systolic\narray: {rows: 8, cols: 4}\n")
    cfg = load_config(p)
    assert cfg.array.dataflow == "ws" and cfg.word_bytes == 1 and cfg.clock_ghz == 1.0
    assert cfg.energy.mac_pj == pytest.approx(0.2)


def test_dotted_overrides(tmp_path):
    cfg = load_config(CONFIGS / "systolic-32-ws.yaml",
                      {"array.dataflow": "os", "dram.bandwidth": 8, "sram.ifmap_kb": 128})
    assert (cfg.array.dataflow, cfg.dram.bandwidth, cfg.sram.ifmap_kb) == ("os", 8, 128)


BAD = {
    "unknown_key": ("kind: systolic\narray: {rows: 4, cols: 4}\nsram:\n  ifmap_kb: 1\n"
                    "  filtr_kb: 2\n", 5, "sram.filtr_kb: unknown key; accepted keys here: "
                    "ifmap_kb, filter_kb, ofmap_kb"),
    "unknown_dataflow": ("kind: systolic\narray:\n  rows: 4\n  cols: 4\n  dataflow: rs\n", 5,
                         "array.dataflow: got 'rs'; input should be 'os', 'ws' or 'is'"),
    "wrong_type": ("kind: systolic\narray: {rows: 4, cols: 4}\ndram:\n  bandwidth: fast\n", 4,
                   "dram.bandwidth: input should be a valid number"),
    "out_of_range": ("kind: systolic\narray: {rows: 0, cols: 4}\n", 2,
                     "array.rows: input should be greater than or equal to 1, got 0"),
    "bad_yaml": ("kind: systolic\narray: {rows: 4, cols: 4\n", 3, "invalid YAML"),
    "unknown_kind": ("kind: gpu\n", 1, "kind: 'gpu' is unknown; accepted kinds: systolic"),
    "missing": ("kind: systolic\nname: x\n", 1, "array: required key is missing"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_names_file_line_and_field(tmp_path, case):
    text, line, message = BAD[case]
    p = tmp_path / f"{case}.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert str(info.value).startswith(f"{p}:{line}: ")
    assert message in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")
