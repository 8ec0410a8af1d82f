"""The fusion tuner: exact traffic removal, DP == brute force, learned rules, the pass."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
from conftest import CONFIGS
from test_npu import npu_config, tuning_config

from simulator import api
from simulator.lower.npu import KernelSpec, layer_by_layer, lower_kernels
from simulator.passes import PassError
from simulator.passes.fusion_heuristic import fit_steps, heuristic
from simulator.passes.fusion_search import (
    brute_force,
    fusion_units,
    oracle,
    plan_cycles,
)
from workloads.graph import Graph, Op, Tensor, add_conv


def chain(layers: int = 3, size: int = 12, channels: int = 16) -> Graph:
    """Conv+Relu layers in a chain (3x3, same padding)."""
    g = Graph("chain")
    g.add_tensor(Tensor("x", (1, channels, size, size)))
    g.inputs = ["x"]
    x = "x"
    for i in range(layers):
        y = add_conv(g, f"conv{i}", x, channels, (3, 3), pads=(1, 1, 1, 1))
        g.add_tensor(Tensor(f"relu{i}.Y", g.tensor(y).shape))
        g.add_op(Op(f"relu{i}", "Relu", [y], [f"relu{i}.Y"]))
        x = f"relu{i}.Y"
    g.outputs = [x]
    return g


def dram_bytes_of(trace, tensors: set[str]) -> int:
    return sum(i.bytes.get("dram_read", 0) + i.bytes.get("dram_write", 0)
               for i in trace.instructions if i.tensor in tensors and i.op in ("LOAD", "STORE"))


@pytest.mark.parametrize("cores", [1, 4])
def test_fusion_removes_intermediate_dram_traffic_exactly(cores):
    g = chain()
    cfg = npu_config(cores=4, fold_group=2, launch=200, sync=8)
    unfused = lower_kernels(g, cfg, layer_by_layer(g, cores))
    fused = lower_kernels(g, cfg, [KernelSpec(tuple(op.name for op in g.ops), cores)])
    intermediates = {t for op in g.ops for t in op.outputs} - set(g.outputs)
    moved = dram_bytes_of(unfused, intermediates)
    assert moved >= 2 * sum(g.tensor(t).numel for t in intermediates)  # stored and read back
    assert dram_bytes_of(fused, intermediates) == 0
    r_un, r_fu = api.simulate(unfused, cfg), api.simulate(fused, cfg)
    dram = lambda r: r.bytes["dram_read"] + r.bytes["dram_write"]  # noqa: E731
    assert dram(r_un) - dram(r_fu) == moved
    assert r_fu.total_cycles < r_un.total_cycles


def test_fusion_spills_when_the_scratchpad_is_too_small():
    g = chain()
    cfg = npu_config(cores=4, fold_group=2, core={"scratchpad_kb": 1})
    unfused = api.simulate(lower_kernels(g, cfg, layer_by_layer(g, 1)), cfg)
    fused = api.simulate(lower_kernels(g, cfg, [KernelSpec(tuple(o.name for o in g.ops), 1)]),
                         cfg)
    assert fused.bytes["dram_read"] + fused.bytes["dram_write"] == \
        unfused.bytes["dram_read"] + unfused.bytes["dram_write"]


def test_units_keep_epilogues_with_their_layer():
    units = fusion_units(chain(3))
    assert [[op.name for op in u] for u in units] == [["conv0", "relu0"], ["conv1", "relu1"],
                                                       ["conv2", "relu2"]]


@pytest.mark.parametrize("layers,max_group", [(3, 3), (4, 2)])
def test_dp_oracle_equals_brute_force(layers, max_group):
    g = chain(layers, size=8, channels=8)
    cfg = npu_config(cores=4, fold_group=2, launch=150, sync=20, core={"scratchpad_kb": 1.5})
    best = oracle(g, cfg, max_group)
    brute = brute_force(g, cfg, max_group)
    assert best.predicted_cycles == brute.predicted_cycles
    # the DP's sum of separately simulated kernels is what the whole program takes
    assert plan_cycles(g, cfg, best.kernels) == best.predicted_cycles
    assert best.predicted_cycles <= plan_cycles(g, cfg, layer_by_layer(g, 1))


def test_fit_steps_is_the_best_monotone_assignment():
    options = [1, 2, 4]
    samples = [(10, {1: 100, 2: 120, 4: 150}), (100, {1: 200, 2: 150, 4: 160}),
               (1000, {1: 900, 2: 500, 4: 300}), (50, {1: 130, 2: 120, 4: 200})]
    thresholds, counts = fit_steps(samples, options)
    ordered = sorted(samples)

    def regret(assign):
        return sum(s[1][c] / min(s[1].values()) - 1 for s, c in zip(ordered, assign, strict=True))
    best = min(regret(a) for a in itertools.product(options, repeat=len(ordered))
               if list(a) == sorted(a))
    chosen = [counts[sum(m >= t for t in thresholds)] for m, _ in ordered]
    assert regret(chosen) == pytest.approx(best)
    assert counts == sorted(counts)


def test_heuristic_plan_beats_the_baseline_without_simulating():
    g = chain(4, size=16, channels=32)
    cfg = tuning_config()
    kernels, table, seconds = heuristic(g, cfg)
    assert table.profiled_layers > 20 and seconds < 1.0
    assert plan_cycles(g, cfg, kernels) < plan_cycles(g, cfg, layer_by_layer(g, 1))


def test_pass_needs_an_npu_config():
    from conftest import systolic_config

    with pytest.raises(PassError, match="npu"):
        api.lower(systolic_config(), "gemm:8,8,8", ["fusion=oracle"])
    with pytest.raises(PassError, match="one of none, heuristic, oracle"):
        api.lower(npu_config(), "gemm:8,8,8", ["fusion=best"])


def test_cli_json_reports_groups_cores_and_search_time():
    exe = [sys.executable, "-m", "simulator.cli"]
    out = subprocess.run([*exe, "run", str(CONFIGS / "mlu-4.yaml"), "zoo:tiny_cnn", "--pass",
                          "fusion=oracle", "--json"], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    fusion = data["notes"]["fusion"]
    assert fusion["mode"] == "oracle" and fusion["search_s"] > 0
    assert fusion["predicted_cycles"] == data["total_cycles"]
    kernels = data["notes"]["npu"]["kernels"]
    assert [k["layers"] for k in kernels] == [g["layers"] for g in fusion["groups"]]
    assert all(k["cores"] in (1, 2, 4) for k in kernels)
    base = subprocess.run([*exe, "run", str(CONFIGS / "mlu-4.yaml"), "zoo:tiny_cnn", "--pass",
                           "fusion=none", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(base.stdout)["total_cycles"] > data["total_cycles"]
    bad = subprocess.run([*exe, "run", str(CONFIGS / "systolic-32-ws.yaml"), "gemm:8,8,8",
                          "--pass", "fusion=oracle"], capture_output=True, text=True)
    assert bad.returncode == 2 and "npu" in bad.stderr and "Traceback" not in bad.stderr
