"""The measured CPU baseline of the GNN characterization computes what the GNN IR means: its
scipy.sparse/numpy execution equals the catalogue's whole-graph semantics (run by
``workloads.gnn.execute``) on every model, and its timings are charged to the right stages.
No timing is asserted (timings belong to ``bench/`` and ``archsim gnn-report``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulator import api
from simulator.cli import main
from simulator.passes import apply_passes
from simulator.scenarios.gnn_cpu import run_cpu
from workloads.gnn.execute import execute
from workloads.ops.gnn import STAGE_OF


@pytest.mark.parametrize("model", ["gcn", "sage", "gin", "gat"])
def test_cpu_baseline_equals_the_ir_semantics(model):
    graph = api.load(f"gnn:{model}:cora?layers=2")
    if model == "gat":
        graph = apply_passes(graph, ["gnn_redundancy"])
    run = run_cpu(graph, repeats=1)
    want = execute(graph, tiled=False)
    compared = [op.outputs[0] for op in graph.ops if op.outputs[0] in want]
    assert graph.outputs[0] in compared
    for out in compared:
        np.testing.assert_allclose(run.values[out], want[out], rtol=2e-5, atol=2e-6,
                                   err_msg=out)
    stages = {STAGE_OF[op.type] for op in graph.ops}
    assert {s for s, t in run.stage_s.items() if t > 0} == stages
    assert run.total_s == pytest.approx(sum(run.op_s.values()))


def test_max_gather_and_isolated_vertices():
    """A max gather over destination-sorted segments, with a vertex that has no in-edge."""
    from workloads.graph import Graph, Op, Tensor

    g = Graph("tiny")
    adj = np.array([[0, 1, 2, 0], [1, 1, 0, 3]])
    g.add_tensor(Tensor("adj", (2, 4), values=adj, dtype="int64"))
    x = np.arange(12, dtype=np.float32).reshape(4, 3) - 5
    g.add_tensor(Tensor("x", (4, 3), values=x))
    g.inputs = ["x"]
    g.add_tensor(Tensor("e", (4, 3)))
    g.add_op(Op("s", "GnnScatter", ["x", "adj"], ["e"], {"side": "src"}))
    g.add_tensor(Tensor("h", (4, 3)))
    g.add_op(Op("g", "GnnGather", ["e", "adj"], ["h"], {"reduce": "max"}))
    g.outputs = ["h"]
    got = run_cpu(g, 1).values["h"]
    np.testing.assert_array_equal(got, [x[2], np.maximum(x[0], x[1]), [0, 0, 0], x[0]])


def test_gnn_report_carries_the_cpu_measurement(capsys):
    assert main(["gnn-report", "--models", "gcn", "--graphs", "cora", "--json",
                 "--cpu-repeats", "1"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert set(row["cpu_stage_s"]) == {"scatter", "apply_edge", "gather", "apply_vertex"}
    assert row["cpu_us"] == pytest.approx(1e6 * sum(row["cpu_stage_s"].values()))
    assert row["zipper_us"] == pytest.approx(row["zipper_cycles"] / 1e3)
    assert main(["gnn-report", "--graphs", "cora", "--cpu-repeats", "-1"]) == 2
