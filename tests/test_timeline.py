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
