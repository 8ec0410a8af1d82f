"""The zipper target: latency rules, trace round trip, the run-time scheduler (more tiles in
flight never slower, utilization <= 1), op-by-op and systolic baselines, CLI."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS

from simulator import api
from simulator.api import config_from_dict, load_config
from simulator.cli import main
from simulator.hw.zipper import gemm_cycles, instruction_timing
from simulator.trace import read_trace, write_trace
from workloads.gnn.ir import GATHER, SCATTER, op_cost


def zipper(**over):
    cfg = load_config(CONFIGS / "zipper.yaml")
    data = cfg.model_dump()
    for dotted, value in over.items():
        node = data
        *path, last = dotted.split("__")
        for part in path:
            node = node[part]
        node[last] = value
    return config_from_dict(data)


@pytest.fixture(scope="module")
def gat_run():
    return api.run(zipper(), "gnn:gat:cora")


def test_trace_round_trip_gives_identical_cycles_and_bytes(tmp_path, gat_run):
    trace, result = gat_run
    path = tmp_path / "gat.jsonl"
    write_trace(trace, path)
    again = tmp_path / "gat2.jsonl"
    write_trace(read_trace(path), again)
    assert path.read_bytes() == again.read_bytes()
    replayed = api.replay(path)
    assert replayed.total_cycles == result.total_cycles
    assert replayed.bytes == result.bytes


def test_trace_work_equals_the_ir_op_counts(gat_run):
    trace, _ = gat_run
    for layer in trace.layers:
        ins = [i for i in trace.instructions if i.layer == layer.name]
        gemm = sum(i.dims["m"] * i.dims["n"] * i.dims["k"] for i in ins if i.op == "GEMM")
        assert gemm == layer.macs
        gs = sum(i.dims["elements"] for i in ins if i.op in ("SCATTER", "GATHER"))
        assert gs == layer.args["gs_elements"]
        if layer.op not in (GATHER,):   # a gather's normalisation runs per destination
            assert sum(i.dims["work"] for i in ins if i.op == "VEC") == layer.vector_ops


def test_utilization_is_at_most_one_and_units_overlap(gat_run):
    _, result = gat_run
    busy = {u.name: u.busy for u in result.units}
    assert all(0 < u.utilization <= 1 for u in result.units)
    assert set(busy) == {"gemm", "vector", "gs", "dma"}
    assert sum(busy.values()) > result.total_cycles   # operator-level parallelism


@pytest.mark.parametrize("model", ["gcn", "gat"])
def test_more_tiles_in_flight_is_never_slower(model):
    cycles = []
    for s in (1, 2, 4, 8, 16):
        cfg = zipper(scheduler__tiles_in_flight=s, tiling__dst=512, tiling__src=1024,
                     tiling__max_edges=2048)
        cycles.append(api.run(cfg, f"gnn:{model}:cora")[1].total_cycles)
    assert all(b <= a for a, b in zip(cycles, cycles[1:], strict=False))
    assert cycles[-1] < 0.8 * cycles[0]


def test_replay_on_another_window_re_times_the_same_trace(tmp_path, gat_run):
    trace, result = gat_run
    path = tmp_path / "t.jsonl"
    write_trace(trace, path)
    one = tmp_path / "s1.yaml"
    one.write_text((CONFIGS / "zipper.yaml").read_text().replace("tiles_in_flight: 4",
                                                                  "tiles_in_flight: 1"))
    assert api.replay(path, one).total_cycles > result.total_cycles


def test_op_by_op_is_serial_and_slower(gat_run):
    trace, result = gat_run
    cfg = zipper(scheduler__policy="op_by_op")
    serial_trace, serial = api.run(cfg, "gnn:gat:cora")
    assert serial.total_cycles > result.total_cycles
    _, occ, tail = instruction_timing(serial_trace, cfg)
    assert serial.total_cycles >= sum(occ)   # no two instructions overlap
    assert serial.bytes["dram_write"] > result.bytes["dram_write"]   # edge tensors spill


def test_latency_rules():
    cfg = zipper(gemm__rows=8, gemm__cols=4)
    assert gemm_cycles(cfg, 20, 5, 7) == 3 * 2 * (7 + 8 + 4 - 2)


def test_scatter_of_a_one_tile_graph_has_the_closed_form():
    cfg = zipper(tiling__dst=10_000, tiling__src=10_000, tiling__max_edges=10**7)
    trace, _ = api.run(cfg, "gnn:gcn:cora")
    graph = api.load("gnn:gcn:cora")
    scatters = [i for i in trace.instructions if i.op == "SCATTER"]
    assert len(scatters) == 2   # one tile per layer
    assert scatters[0].dims["elements"] == op_cost(graph, graph.ops[1]).gs_elements
    assert graph.ops[1].type == SCATTER


def test_systolic_baseline_runs_the_same_gnn():
    """The systolic baseline runs the GNN's dense ops on its array: the array's busy cycles are
    the os fold rule summed over GCN's two X.W GEMMs (ceil(M/R) ceil(N/C) folds of K + R + C - 2
    cycles; SRAMs large enough that no fold is cut), and the MACs are the IR's."""
    import math

    from simulator.api import config_from_dict
    from workloads.ops.gnn import APPLY_VERTEX

    cfg = config_from_dict({"kind": "systolic", "name": "os32",
                            "array": {"rows": 32, "cols": 32, "dataflow": "os"},
                            "sram": {"ifmap_kb": 1 << 20, "filter_kb": 1 << 20,
                                     "ofmap_kb": 1 << 20},
                            "dram": {"bandwidth": 1e12, "latency": 0}})
    trace, result = api.run(cfg, "gnn:gcn:cora")
    graph = api.load("gnn:gcn:cora")
    want = 0
    for op in graph.ops:
        if op.type == APPLY_VERTEX:
            (m, k), n = graph.tensor(op.inputs[0]).shape, graph.tensor(op.inputs[1]).shape[1]
            want += math.ceil(m / 32) * math.ceil(n / 32) * (k + 32 + 32 - 2)
    assert trace.kind == "systolic"
    assert {u.name: u.busy for u in result.units}["array"] == want
    assert result.macs == sum(op_cost(graph, op).macs for op in graph.ops)


def test_cli_run_lower_replay_validate_and_errors(tmp_path, capsys):
    cfg = str(CONFIGS / "zipper.yaml")
    assert main(["run", cfg, "gnn:gcn:cora", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "zipper" and summary["total_cycles"] > 0
    out = tmp_path / "t.jsonl"
    assert main(["lower", cfg, "gnn:gcn:cora", "-o", str(out)]) == 0
    assert main(["replay", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_cycles"] == summary["total_cycles"]
    assert main(["validate", cfg]) == 0
    capsys.readouterr()
    assert main(["run", cfg, "gemm:8,8,8"]) == 2
    assert "zipper target runs GNN workloads" in capsys.readouterr().err
    assert main(["run", cfg, "gnn:gcn:cora", "--set", "scheduler.policy=fast"]) == 2
    assert "scheduler.policy" in capsys.readouterr().err


def test_gnn_report_json(capsys):
    assert main(["gnn-report", "--models", "gat", "--graphs", "cora", "--json",
                 "--options", "layers=1"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["model"] == "gat" and row["ops_saved"]["macs"] > 0
    assert row["op_by_op_cycles"] > row["zipper_cycles"]
    assert set(row["stage_share"]) == {"scatter", "apply_edge", "gather", "apply_vertex"}
    assert abs(sum(row["stage_share"].values()) - 1) < 1e-9
