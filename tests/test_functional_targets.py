"""``--functional`` on every target: the trace each lowering emits, executed instruction by
instruction, against an independent reference (onnxruntime for DNN graphs, the catalogue's
whole-graph semantics for GNN programs), and corrupted traces that must fail."""

from __future__ import annotations

import copy

import pytest
from conftest import CONFIGS

from simulator import api
from simulator.cli import main
from simulator.functional import FunctionalMismatch, check_functional
from simulator.trace import read_trace, write_trace

DNN_TARGETS = [("systolic-128-os.yaml", []), ("systolic-32-ws.yaml", ["im2col=implicit"]),
               ("mlu.yaml", []), ("mlu-4.yaml", ["fusion=heuristic"]), ("dstc.yaml", [])]
DNN_WORKLOADS = ["zoo:tiny_cnn", "zoo:tiny_transformer", "zoo:mobilenet_v2?size=32",
                 "conv:12,12,6,3,3,10,2,1"]


def checked(config: str, workload: str, passes=(), **overrides):
    cfg = api.load_config(CONFIGS / config, overrides or None)
    graph = api.load(workload)
    lowered, trace = api.compile(cfg, graph, list(passes))
    return lowered, trace


@pytest.mark.parametrize("workload", DNN_WORKLOADS)
@pytest.mark.parametrize(("config", "passes"), DNN_TARGETS, ids=lambda v: str(v))
def test_dnn_traces_compute_what_onnxruntime_computes(config, passes, workload):
    lowered, trace = checked(config, workload, passes)
    report = check_functional(lowered, trace, seed=3)
    assert report.ok and report.max_rel < 1e-5
    assert report.reference.startswith("onnxruntime")


@pytest.mark.parametrize("model", ["gcn", "gat", "sage", "gin"])
@pytest.mark.parametrize(("config", "policy"), [("zipper.yaml", "zipper"),
                                                ("zipper.yaml", "op_by_op"),
                                                ("systolic-32-ws.yaml", None)])
def test_gnn_traces_compute_the_catalogue_semantics(config, policy, model):
    over = {"scheduler.policy": policy} if policy else {}
    if config == "zipper.yaml":   # small tiles: many tiles per destination interval
        over.update({"tiling.dst": 256, "tiling.src": 512, "tiling.max_edges": 700})
    lowered, trace = checked(config, f"gnn:{model}:cora", **over)
    report = check_functional(lowered, trace)
    assert report.ok and report.max_rel < 1e-5
    assert report.reference == "the catalogue's numpy semantics on the whole graph"


def _corrupt(trace, pick, change):
    """A copy of ``trace`` with ``change(dims)`` applied to the first instruction ``pick``s."""
    bad = copy.deepcopy(trace)
    ins = next(i for i in bad.instructions if pick(i))
    change(ins.dims)
    bad.instructions[ins.id] = ins   # a columnar trace's instructions are copies: put it back
    return bad


def _halve(key):
    def change(dims):
        dims[key] = dims[key] // 2
    return change


def test_a_missing_gemm_tile_is_caught_on_every_dnn_target():
    for config, op in (("systolic-32-ws.yaml", "GEMM"), ("mlu-4.yaml", "GEMM"),
                       ("dstc.yaml", "SPGEMM")):
        lowered, trace = checked(config, "zoo:tiny_cnn",
                                 ["fusion=none"] if config.startswith("mlu") else [])
        check_functional(lowered, trace)
        bad = _corrupt(trace, lambda i, op=op: i.op == op and i.dims["dk"] > 1, _halve("dk"))
        with pytest.raises(FunctionalMismatch):
            check_functional(lowered, bad)


def test_npu_cores_write_their_own_blocks():
    """On 4 cores a layer's GEMM is split; moving one core's block must break the result."""
    lowered, trace = checked("mlu-4.yaml", "zoo:tiny_cnn", default_cores=4)
    split = [i for i in trace.instructions if i.op == "GEMM" and i.dims["m0"] > 0]
    assert {i.unit for i in split} - {"core0.array"}   # other cores hold blocks off the origin
    bad = _corrupt(trace, lambda i: i.op == "GEMM" and i.dims["m0"] > 0,
                   lambda d: d.update(m0=0))
    with pytest.raises(FunctionalMismatch):
        check_functional(lowered, bad)


@pytest.mark.parametrize(("what", "pick", "change"), [
    ("an empty gather tile", lambda i: i.op == "GATHER" and i.dims["e1"] > i.dims["e0"],
     lambda d: d.update(e1=d["e0"])),
    ("a scatter of the wrong edges", lambda i: i.op == "SCATTER" and i.dims["e0"] > 0,
     lambda d: d.update(e0=d["e0"] - 1, e1=d["e1"] - 1)),
    ("a vertex tile never computed", lambda i: i.op == "GEMM" and "v0" in i.dims,
     lambda d: d.update(v0=d["v0"] + d["dv"])),
    ("an interval never made final", lambda i: i.dims.get("finish"),
     lambda d: d.pop("finish")),
])
def test_a_broken_zipper_tile_is_caught(what, pick, change):
    lowered, trace = checked("zipper.yaml", "gnn:gat:cora", **{
        "tiling.dst": 256, "tiling.src": 512, "tiling.max_edges": 700})
    with pytest.raises(FunctionalMismatch):
        check_functional(lowered, _corrupt(trace, pick, change))


def test_a_replayed_trace_file_computes_the_same(tmp_path):
    lowered, trace = checked("mlu-4.yaml", "zoo:tiny_transformer", ["fusion=heuristic"])
    write_trace(trace, tmp_path / "t.jsonl")
    again = check_functional(lowered, read_trace(tmp_path / "t.jsonl"))
    assert again.max_abs == check_functional(lowered, trace).max_abs


@pytest.mark.parametrize(("config", "workload"), [
    ("systolic-128-os.yaml", "zoo:tiny_cnn"), ("mlu.yaml", "zoo:tiny_cnn"),
    ("dstc.yaml", "zoo:tiny_cnn"), ("zipper.yaml", "gnn:gcn:cora"),
    ("dstc.yaml", "gemm:64,64,64")])
def test_cli_functional_on_every_target(config, workload, capsys):
    assert main(["run", str(CONFIGS / config), workload, "--functional", "--json"]) == 0
    err = capsys.readouterr().err
    assert "functional check vs" in err and err.rstrip().endswith("OK")


def test_quantized_weights_are_checked_against_the_lowered_graph(capsys):
    """SQuant replaces the weights: the user's model file is no longer the reference."""
    assert main(["run", str(CONFIGS / "systolic-32-ws.yaml"), "zoo:tiny_cnn", "--pass",
                 "squant:bits=4", "--functional"]) == 0
    assert "vs onnxruntime on the graph exported to ONNX" in capsys.readouterr().err
