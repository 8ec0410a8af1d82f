"""The Perfetto timeline draws: slices on a track nest (no partial overlap), layers have their
own track, and the DRAM bandwidth counter accounts for every byte moved."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS

from simulator import api
from simulator.cli import main
from simulator.report.timeline import DRAM_COUNTER, chrome_trace, lanes


def partial_overlaps(events: list[dict]) -> int:
    """Slices on one track that start inside another and end after it (Perfetto needs slices
    on a track to nest)."""
    by_track: dict[int, list[dict]] = {}
    for e in events:
        if e["ph"] == "X":
            by_track.setdefault(e["tid"], []).append(e)
    bad = 0
    for slices in by_track.values():
        slices.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: list[float] = []
        for e in slices:
            start, end = e["ts"], e["ts"] + e["dur"]
            while stack and stack[-1] <= start + 1e-9:
                stack.pop()
            if stack and end > stack[-1] + 1e-9:
                bad += 1
            stack.append(end)
    return bad


def test_lanes_partition_overlapping_spans_greedily():
    assert lanes([(0, 10), (5, 12), (10, 20), (11, 13), (12, 14)]) == [0, 1, 0, 2, 1]
    assert lanes([(0, 5), (5, 9), (9, 9)]) == [0, 0, 0]


@pytest.mark.parametrize(("config", "workload"), [
    ("systolic-32-ws.yaml", "resnet18"), ("mlu-4.yaml", "alexnet"),
    ("zipper.yaml", "gnn:gat:cora"), ("dstc.yaml", "gemm:512,512,512")])
def test_slices_nest_and_every_dram_byte_is_counted(config, workload):
    cfg = api.load_config(CONFIGS / config)
    _, result = api.run(cfg, workload, timeline=True)
    trace = chrome_trace(result)
    events = trace["traceEvents"]
    assert partial_overlaps(events) == 0
    names = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert "layers" in names and {u.name for u in result.units} <= names
    x = [e for e in events if e["ph"] == "X"]
    assert len(x) == result.instructions + sum(1 for lr in result.layers if lr.end > lr.start)
    counter = [e for e in events if e["ph"] == "C" and e["name"] == DRAM_COUNTER]
    moved = sum(ev.dram_bytes for ev in result.timeline)
    assert moved == result.bytes["dram_read"] + result.bytes["dram_write"]
    if moved:   # GB/s x window (ns) = bytes: the counter integrates to the bytes moved
        window_ns = (counter[1]["ts"] - counter[0]["ts"]) * 1000.0
        assert sum(c["args"]["GB/s"] for c in counter) * window_ns == pytest.approx(moved,
                                                                                   rel=1e-9)


def test_cli_writes_a_timeline_that_nests(tmp_path, capsys):
    path = tmp_path / "t.json"
    assert main(["run", str(CONFIGS / "systolic-32-ws.yaml"), "resnet18",
                 "--timeline", str(path)]) == 0
    assert partial_overlaps(json.loads(path.read_text())["traceEvents"]) == 0


# --- SRAM occupancy counters (systolic) ---

def occupancy_run(workload: str, overrides: dict | None = None):
    """Lower ``workload`` with a SystolicLowering kept at hand (its own SRAM bookkeeping is the
    reference), simulate the trace with a timeline and read the occupancy from the trace."""
    from simulator.lower.systolic import SystolicLowering
    from simulator.report.timeline import sram_occupancy
    from workloads.loader import load_workload

    cfg = api.load_config(CONFIGS / "systolic-32-ws.yaml", overrides or {})
    graph = load_workload(workload)
    lowering = SystolicLowering(cfg)
    layers = [lowering.lower_layer(graph, op) for op in graph.ops]
    trace = lowering.out.trace("systolic", cfg, workload, layers)
    result = api.simulate(trace, cfg, timeline=True)
    starts = {ev.instruction: ev.start for ev in result.timeline}
    return cfg, lowering, trace, result, sram_occupancy(trace, starts)


def test_sram_occupancy_of_a_gemm_that_fits_is_its_operands():
    """64x48x80 int8 GEMM on 64 KiB SRAMs: nothing is evicted, each operand is loaded once, so
    each SRAM ends holding exactly its operand (A = M*K, B = K*N, C = M*N bytes) and its
    counter only rises, at the start of each LOAD into it."""
    m, n, k = 64, 48, 80
    _, _, trace, result, occ = occupancy_run(f"gemm:{m},{n},{k}")
    assert {b: steps[-1][1] for b, steps in occ.items()} == {
        "ifmap": m * k, "filter": k * n, "ofmap": m * n}
    for steps in occ.values():
        levels = [v for _, v in steps]
        assert levels == sorted(levels)
    a_loads = sorted(ev.start for ev in result.timeline if ev.op == "LOAD"
                     and trace.instructions[ev.instruction].tensor == "A")
    assert [c for c, _ in occ["ifmap"]] == sorted({0, *a_loads})


def test_sram_occupancy_with_evictions_stays_at_capacity():
    """256x32x32 on ws with a 4 KiB ifmap: A streams in 64-row chunks (half the SRAM: 64 x 32
    bytes = 2 KiB), four tiles of which the SRAM holds two; so the ifmap counter reads 2, 4,
    4, 4 KiB as the four LOADs start, never more than the capacity."""
    _, _, _, _, occ = occupancy_run("gemm:256,32,32", {"sram.ifmap_kb": 4})
    levels = [v for c, v in occ["ifmap"] if c > 0 or v > 0]
    assert levels[:1] == [2048] and max(levels) == 4096 and levels[-1] == 4096
    assert occ["filter"][-1][1] == 32 * 32 and occ["ofmap"][-1][1] == 256 * 32


@pytest.mark.parametrize(("workload", "overrides"), [
    ("resnet18", {}),
    ("gemm:300,200,500", {"sram.ofmap_kb": 4, "sram.ifmap_kb": 8}),   # partial sums spill
    ("gemm:300,200,500", {"array.dataflow": "is", "sram.ofmap_kb": 4}),
    ("gemm:300,200,500", {"array.dataflow": "os", "sram.filter_kb": 8})])
def test_sram_occupancy_matches_the_lowerings_own_bookkeeping(workload, overrides):
    """Read back from the trace alone, each SRAM ends with the bytes the lowering's buffers
    hold after the last layer, and never holds more than its capacity."""
    cfg, lowering, _, _, occ = occupancy_run(workload, overrides)
    for buf, steps in occ.items():
        capacity = int(getattr(cfg.sram, f"{buf}_kb") * 1024)
        assert steps[-1][1] == getattr(lowering, buf).used
        assert 0 <= min(v for _, v in steps) and max(v for _, v in steps) <= capacity


def test_sram_counters_in_the_cli_timeline(tmp_path):
    from simulator.report.timeline import SRAM_COUNTER

    path = tmp_path / "t.json"
    assert main(["run", str(CONFIGS / "systolic-32-ws.yaml"), "gemm:64,48,80",
                 "--timeline", str(path)]) == 0
    events = json.loads(path.read_text())["traceEvents"]
    last = {}
    for e in events:
        if e["ph"] == "C" and e["name"].endswith("SRAM bytes"):
            last[e["name"]] = e["args"]["bytes"]
    assert last == {SRAM_COUNTER.format("ifmap"): 64 * 80,
                    SRAM_COUNTER.format("filter"): 80 * 48,
                    SRAM_COUNTER.format("ofmap"): 64 * 48}


def test_no_sram_counters_without_the_trace_or_off_systolic():
    cfg = api.load_config(CONFIGS / "dstc.yaml")
    trace, result = api.run(cfg, "gemm:128,128,128", timeline=True)
    assert not [e for e in chrome_trace(result, trace=trace)["traceEvents"]
                if e["ph"] == "C" and "SRAM" in e["name"]]
