"""The documented Python API: ``from simulator import api`` gives the pipeline and sweeps, and
results come back as DataFrames."""

from __future__ import annotations

import pytest
from conftest import CONFIGS

from simulator import api


def test_the_front_door_has_the_documented_functions():
    for name in ("load_config", "lower", "simulate", "run", "replay", "sweep", "load_sweep",
                 "compile", "functional"):
        assert callable(getattr(api, name)), name


def test_lower_then_simulate_equals_run_and_replay(tmp_path):
    config = api.load_config(CONFIGS / "systolic-32-ws.yaml", {"array.dataflow": "os"})
    trace = api.lower(config, "conv:14,14,8,3,3,16,1,1")
    api.write_trace(trace, tmp_path / "t.jsonl")
    direct = api.run(config, "conv:14,14,8,3,3,16,1,1")[1]
    assert api.simulate(trace, config).total_cycles == direct.total_cycles
    assert api.replay(tmp_path / "t.jsonl").total_cycles == direct.total_cycles


def test_sweep_from_python_and_its_dataframe(tmp_path):
    pytest.importorskip("pandas")
    spec = tmp_path / "s.yaml"
    spec.write_text(f"base: {CONFIGS / 'systolic-32-ws.yaml'}\nworkloads: ['gemm:64,64,64']\n"
                    "grid:\n  array.rows: [8, 16]\n")
    report = api.sweep(spec, tmp_path / "out", workers=1)
    frame = api.load_sweep(tmp_path / "out")
    assert report.ok == 2 and list(frame["array.rows"]) == [8, 16]
    for rows, cycles in zip(frame["array.rows"], frame["total_cycles"], strict=True):
        config = api.load_config(CONFIGS / "systolic-32-ws.yaml", {"array.rows": int(rows)})
        assert api.run(config, "gemm:64,64,64")[1].total_cycles == cycles
