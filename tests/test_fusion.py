"""The fusion tuner: exact traffic removal, DP == brute force, learned rules, the pass."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import CONFIGS
from test_npu import npu_config, tuning_config

from simulator import api
from simulator.api import load_config
from simulator.config.npu import KernelSpec
from simulator.lower.npu import layer_by_layer, lower_kernels
from simulator.passes import PassError
from simulator.passes.fusion_heuristic import (
    KernelFeatures,
    fit_weights,
    heuristic,
    learn,
    profile_samples,
    synth_graph,
    synth_group,
    synthesized_groups,
)
from simulator.passes.fusion_search import (
    brute_force,
    fusion_units,
    oracle,
)
from workloads.graph import Graph, Op, Tensor, add_conv


def plan_cycles(graph, cfg, kernels) -> int:
    """A plan lowered and simulated whole (the npu cost model's own check)."""
    return api.cost_model(cfg).plan_cycles(graph, kernels)


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
    best = oracle(g, api.cost_model(cfg), max_group)
    brute = brute_force(g, api.cost_model(cfg), max_group)
    assert best.predicted_cycles == brute.predicted_cycles
    # the DP's sum of separately simulated kernels is what the whole program takes
    assert plan_cycles(g, cfg, best.kernels) == best.predicted_cycles
    assert best.predicted_cycles <= plan_cycles(g, cfg, layer_by_layer(g, 1))


def test_fit_weights_recovers_a_linear_cost_exactly():
    rng = np.random.default_rng(0)
    rows = rng.uniform(1, 100, size=(40, 3))
    truth = np.array([2.0, 0.5, 7.0])
    assert fit_weights(rows, rows @ truth) == pytest.approx(tuple(truth))


def test_features_use_the_lowerings_on_chip_rule():
    g = chain(4, size=16, channels=32)
    cfg = npu_config(cores=4, fold_group=2, core={"scratchpad_kb": 8})
    feats = KernelFeatures(g, api.cost_model(cfg))
    for lo, hi in itertools.combinations(range(len(g.ops)), 2):
        for c in (1, 2, 4):
            assert feats.onchip(lo, hi, c) == feats.low.onchip(g.ops[lo:hi + 1], c)


def test_learned_rule_picks_the_best_cores_on_held_out_groups():
    # learn from every other synthesized fused group (plus two single layers) on the 16-core
    # chip, judge on the others: the core count the learned cost picks must be (nearly) the
    # simulated best, far better than any one fixed core count
    cfg = load_config(CONFIGS / "mlu.yaml")
    groups = [s for s in synthesized_groups() if s[1] <= 30 and s[2] <= 144
              and s[0] in ("chain", "bottleneck", "inverted", "squeeze")]
    train = [synth_group(*s) for s in groups[::2]] + [synth_graph("conv", 14, 32, 32, 3),
                                                       synth_graph("fc", 1, 1024, 1000, 1)]
    held = [synth_group(*s) for s in groups[1::2]]
    model = learn(train, api.cost_model(cfg))
    _, _, cycles, _ = profile_samples(held, api.cost_model(cfg))
    slowdown = []
    for g, sim in zip(held, cycles, strict=True):
        cores, _ = model.best_cores(KernelFeatures(g, api.cost_model(cfg)), 0, len(g.ops) - 1,
                                    cfg.core_options())
        slowdown.append(sim[cores] / min(sim.values()) - 1)
    mean = sum(slowdown) / len(slowdown)
    assert max(slowdown) < 0.10 and mean < 0.01
    fixed = min(sum(sim[c] / min(sim.values()) - 1 for sim in cycles) / len(cycles)
                for c in cfg.core_options())
    assert mean < fixed / 3
    assert len({min(sim, key=sim.get) for sim in cycles}) >= 3  # the best count really varies


def test_heuristic_plan_is_the_optimum_of_its_learned_cost_and_simulates_nothing(monkeypatch):
    """Once the rule is learned, the heuristic simulates nothing (a kernel coster that raises is
    never called) and returns the plan with the least learned cost over every partition into
    runs of units and every core count (enumerated here); that plan beats the baseline."""
    from simulator.passes.fusion_heuristic import profile
    from simulator.passes.fusion_search import DEFAULT_MAX_GROUP, compositions

    g = chain(4, size=16, channels=32)
    cfg = tuning_config()
    model = api.cost_model(cfg)
    table = profile(model)

    def no_simulation(*args, **kwargs):
        raise AssertionError("the heuristic simulated a kernel")

    monkeypatch.setattr(type(model), "kernel_coster", no_simulation)
    kernels, used, _ = heuristic(g, model, table=table)
    assert used is table
    monkeypatch.undo()
    feats = KernelFeatures(g, model)
    index = {op.name: i for i, op in enumerate(g.ops)}
    units = fusion_units(g)
    bounds = [(index[u[0].name], index[u[-1].name]) for u in units]
    best = math.inf
    for sizes in compositions(len(units), DEFAULT_MAX_GROUP):
        cuts = list(itertools.accumulate(sizes, initial=0))
        best = min(best, sum(min(table.cycles(feats, bounds[a][0], bounds[b - 1][1], c)
                                 for c in cfg.core_options())
                             for a, b in zip(cuts, cuts[1:], strict=False)))
    got = sum(table.cycles(feats, index[k.ops[0]], index[k.ops[-1]], k.cores) for k in kernels)
    assert got == pytest.approx(best, rel=1e-12)
    assert plan_cycles(g, cfg, kernels) < plan_cycles(g, cfg, layer_by_layer(g, 1))


def test_synthesized_training_layers_are_disjoint_from_every_evaluated_network():
    """No synthesized kernel the rule learns from has a layer with the shape of a layer of any
    network the fusion study evaluates (the report's six and the four held-out ones)."""
    from simulator.passes.fusion_heuristic import layer_signatures, synthesized_kernels
    from simulator.scenarios.fusion_study import HELD_OUT, NETWORKS, load_network

    synth = set().union(*(layer_signatures(k) for k in synthesized_kernels()))
    assert len(synth) > 60
    for name, workload in {**NETWORKS, **HELD_OUT}.items():
        shapes = layer_signatures(load_network(workload))
        assert shapes and not shapes & synth, name


def test_heuristic_is_close_to_the_oracle_on_a_chain():
    g = chain(6, size=28, channels=64)
    cfg = tuning_config()
    kernels, _, _ = heuristic(g, api.cost_model(cfg))
    best = oracle(g, api.cost_model(cfg))
    assert plan_cycles(g, cfg, kernels) <= 1.05 * best.predicted_cycles


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
    kernels = data["npu"]["kernels"]
    assert [k["layers"] for k in kernels] == [g["layers"] for g in fusion["groups"]]
    assert all(k["cores"] in (1, 2, 4) for k in kernels)
    base = subprocess.run([*exe, "run", str(CONFIGS / "mlu-4.yaml"), "zoo:tiny_cnn", "--pass",
                           "fusion=none", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(base.stdout)["total_cycles"] > data["total_cycles"]
    bad = subprocess.run([*exe, "run", str(CONFIGS / "systolic-32-ws.yaml"), "gemm:8,8,8",
                          "--pass", "fusion=oracle"], capture_output=True, text=True)
    assert bad.returncode == 2 and "npu" in bad.stderr and "Traceback" not in bad.stderr


def test_fusion_command_takes_an_onnx_file_with_input_shape(tmp_path, capsys):
    """An ONNX file with a dynamic batch: --input-shape pins it; the oracle's plan is never
    slower than the heuristic's or the baseline's, and a missing pin is a located error."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from simulator.cli import main

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 16, 3, 3)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "w2"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(
        nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16, 16, 16])], [w1, w2])
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    cfg = str(CONFIGS / "mlu-4.yaml")
    assert main(["fusion", cfg, str(path), "--input-shape", "x=2x3x16x16", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["oracle_cycles"] <= min(row["heuristic_cycles"], row["baseline_cycles"])
    assert main(["fusion", cfg, str(path)]) == 2
    assert "--input-shape" in capsys.readouterr().err
