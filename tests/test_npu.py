"""The npu target: one core equals the systolic target, core scaling, DRAM contention, traces."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CONFIGS, systolic_config

from simulator import api
from simulator.api import config_from_dict, load_config
from simulator.config.npu import KernelSpec
from simulator.errors import ConfigError, TraceError
from simulator.lower.npu import layer_by_layer, lower_kernels
from simulator.trace import read_trace, write_trace
from workloads.errors import WorkloadError

CORE = {"array": {"rows": 16, "cols": 16, "dataflow": "ws"},
        "sram": {"ifmap_kb": 8, "filter_kb": 8, "ofmap_kb": 8}}


def npu_config(cores=16, default_cores=1, bandwidth=64.0, latency=50, fold_group=1, launch=0,
               sync=0, **extra):
    data = {"kind": "npu", "name": "t-npu", "cores": cores, "default_cores": default_cores,
            "core": {**CORE, "fold_group": fold_group, **extra.pop("core", {})},
            "dram": {"bandwidth": bandwidth, "latency": latency}, "launch_cycles": launch,
            "sync_cycles_per_core": sync, **extra}
    return config_from_dict(data)


def tuning_config():
    """A config the heuristic profiles quickly (the profile is cached per config)."""
    return npu_config(cores=4, default_cores=4, fold_group=4, launch=100, sync=4,
                      core={"sram": {"ifmap_kb": 64, "filter_kb": 128, "ofmap_kb": 64}})


def unit_busy(result, suffix: str) -> int:
    return sum(u.busy for u in result.units if u.name.endswith(suffix))


@pytest.mark.parametrize("workload", ["gemm:200,90,150", "conv:20,20,24,3,3,40,1,1",
                                      "conv:17,17,8,1,1,32,1", "conv:30,30,16,5,5,20,2,2"])
@pytest.mark.parametrize("df", ["ws", "os", "is"])
def test_one_core_matches_systolic_target(workload, df):
    # Same array, buffers, DRAM; no launch/sync cost; per-fold instructions (fold_group 1).
    core = {"array": {"rows": 16, "cols": 16, "dataflow": df}}
    npu = npu_config(cores=4, core=core)
    sys_cfg = systolic_config(16, 16, df, bandwidth=64.0, latency=50,
                              sram=CORE["sram"])
    trace_s, sys_r = api.run(sys_cfg, workload, passes=["im2col=implicit"])
    trace_n, npu_r = api.run(npu, workload)
    assert npu_r.total_cycles == sys_r.total_cycles
    assert npu_r.bytes == sys_r.bytes
    assert npu_r.macs == sys_r.macs
    assert unit_busy(npu_r, "array") == unit_busy(sys_r, "array")


def test_fold_group_keeps_array_cycles_and_cuts_instructions():
    base = npu_config(cores=1, fold_group=1)
    grouped = npu_config(cores=1, fold_group=4)
    t1, r1 = api.run(base, "gemm:256,256,256")
    t4, r4 = api.run(grouped, "gemm:256,256,256")
    assert unit_busy(r4, "array") == unit_busy(r1, "array")  # the same folds, grouped
    assert len(t4.instructions) < len(t1.instructions) / 2


def test_doubling_cores_nearly_halves_a_large_gemm():
    # Huge bandwidth: compute-bound, so c -> 2c nearly halves the cycles.
    cycles = {}
    for c in (1, 2, 4, 8):
        cfg = npu_config(cores=8, default_cores=c, bandwidth=1e9, latency=0, fold_group=4)
        cycles[c] = api.run(cfg, "gemm:4096,256,256")[1].total_cycles
    for c in (1, 2, 4):
        assert 0.45 <= cycles[2 * c] / cycles[c] <= 0.56, cycles


def test_dram_bound_layer_does_not_speed_up_with_cores():
    # A batch-1 fully connected layer streams 4 MiB of weights through a 2 B/cycle DRAM:
    # all cores share that channel, so 16 cores are no faster than one.
    cycles = {}
    for c in (1, 16):
        cfg = npu_config(cores=16, default_cores=c, bandwidth=2, fold_group=4, sync=8)
        cycles[c] = api.run(cfg, "gemm:1,2048,2048")[1].total_cycles
    assert cycles[16] >= 0.95 * cycles[1], cycles
    assert cycles[1] >= 2048 * 2048 / 2  # the weights' DRAM time bounds both


def test_many_cores_on_a_small_layer_are_slower():
    cfg = {c: npu_config(cores=16, default_cores=c, fold_group=4, sync=8, launch=500)
           for c in (2, 16)}
    small = {c: api.run(cfg[c], "gemm:16,32,32")[1].total_cycles for c in cfg}
    assert small[16] > small[2]


def test_kernels_are_serialized_and_add_up():
    cfg = npu_config(cores=4, default_cores=2, fold_group=2, launch=300, sync=8)
    trace, result = api.run(cfg, "zoo:tiny_cnn")
    kernels = result.npu["kernels"]
    assert sum(k["cycles"] for k in kernels) == result.total_cycles
    assert all(k["cycles"] >= 300 for k in kernels)  # each pays its launch
    assert {k["cores"] for k in kernels} == {2}


def test_trace_round_trip_and_bytes_are_reproducible(tmp_path):
    cfg = tuning_config()
    trace, direct = api.run(cfg, "zoo:tiny_cnn", passes=["fusion=heuristic"])
    write_trace(trace, tmp_path / "a.jsonl")
    write_trace(api.lower(cfg, "zoo:tiny_cnn", ["fusion=heuristic"]), tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    replayed = api.replay(tmp_path / "a.jsonl")
    assert replayed.total_cycles == direct.total_cycles
    assert [lr.cycles for lr in replayed.layers] == [lr.cycles for lr in direct.layers]
    assert replayed.extras["npu"] == direct.extras["npu"]
    assert "fusion" not in read_trace(tmp_path / "a.jsonl").header()["config"]
    # the plan the tuner chose survives lower -> file -> replay; its wall-clock search time is
    # the lowering run's own and is never written (the two files are byte-identical above)
    assert replayed.notes["fusion"]["groups"] == direct.notes["fusion"]["groups"]
    assert replayed.notes["fusion"]["cost_model"] == direct.notes["fusion"]["cost_model"]
    assert "search_s" in direct.notes["fusion"] and "search_s" not in replayed.notes["fusion"]


def test_replay_on_fewer_cores_is_an_error(tmp_path):
    trace = api.lower(npu_config(cores=8, default_cores=8), "gemm:64,64,64")
    with pytest.raises(TraceError, match="uses core 7 but the config has 4"):
        api.simulate(trace, npu_config(cores=4))


def test_config_errors():
    with pytest.raises(ConfigError, match="default_cores"):
        npu_config(cores=4, default_cores=8)
    with pytest.raises(ConfigError, match="cores"):
        npu_config(cores=33)
    with pytest.raises(ConfigError, match="topology"):
        npu_config(noc={"topology": "torus"})


def test_plan_must_cover_ops_in_order():
    from workloads.loader import load_workload

    g = load_workload("zoo:tiny_cnn")
    cfg = npu_config(cores=4)
    kernels = layer_by_layer(g, 1)
    with pytest.raises(WorkloadError, match="every op once"):
        lower_kernels(g, cfg, kernels[1:])
    with pytest.raises(WorkloadError, match="asks for 8 cores"):
        lower_kernels(g, cfg, [KernelSpec(kernels[0].ops, 8), *kernels[1:]])


def test_shipped_configs_validate():
    big, small = load_config(CONFIGS / "mlu.yaml"), load_config(CONFIGS / "mlu-4.yaml")
    assert (big.kind, big.cores, small.cores) == ("npu", 16, 4)
    assert big.core_options() == [1, 2, 4, 8, 16] and small.core_options() == [1, 2, 4]


def test_cli_run_lower_replay_validate(tmp_path):
    cfg = str(CONFIGS / "mlu-4.yaml")
    exe = [sys.executable, "-m", "simulator.cli"]
    run = subprocess.run([*exe, "run", cfg, "conv:14,14,32,3,3,32,1,1", "--json"],
                         capture_output=True, text=True, check=True)
    assert '"kind": "npu"' in run.stdout
    trace = tmp_path / "t.jsonl"
    subprocess.run([*exe, "lower", cfg, "conv:14,14,32,3,3,32,1,1", "-o", str(trace)],
                   check=True, capture_output=True)
    replay = subprocess.run([*exe, "replay", str(trace), "--json"], capture_output=True,
                            text=True, check=True)
    assert replay.stdout.split('"total_cycles"')[1][:20] == \
        run.stdout.split('"total_cycles"')[1][:20]
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: npu\ncores: 4\ndefault_cores: 9\n")
    out = subprocess.run([*exe, "validate", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and "default_cores" in out.stderr
    assert "Traceback" not in out.stderr
