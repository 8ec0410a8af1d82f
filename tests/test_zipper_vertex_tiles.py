"""Vertex-phase row tiles on zipper: GCN's X*W runs in GEMM-fold row tiles so the DRAM read of
the next tile's features overlaps the GEMM of this one; bytes and MACs stay the same, the
dependencies on stored row ranges are exact."""

from __future__ import annotations

import pytest
from test_zipper import zipper

from simulator import api
from simulator.hw.zipper import gemm_cycles, schedule, transfer_cycles
from simulator.lower.zipper import ZipperLowering, vertex_rows
from workloads.gnn.ir import segments

NUM_V, FEAT, HIDDEN = 2708, 1433, 16   # Cora, GCN's first layer


@pytest.fixture(scope="module")
def gcn():
    cfg = zipper()
    return cfg, *api.run(cfg, "gnn:gcn:cora")


def test_rows_per_vertex_tile_come_from_the_buffer_share_in_gemm_folds():
    cfg = zipper()
    graph = api.load("gnn:gcn:cora")
    ops = segments(graph)[0][1]
    # 1 MiB / (S=4 * (1433 + 16) words * 4 B) = 45 rows -> one 32-row fold
    assert vertex_rows(graph, ops, cfg) == 32
    assert vertex_rows(graph, ops, zipper(scheduler__tiles_in_flight=1)) == 160
    # never below one fold: a partial fold costs a whole one on the GEMM unit
    assert vertex_rows(graph, ops, zipper(buffers__vertex_kb=64)) == 32
    assert vertex_rows(graph, ops, zipper(tiling__vertex_rows=100)) == 100


def test_feature_loads_overlap_the_gemm(gcn):
    cfg, trace, result = gcn
    xw = [i for i in trace.instructions if i.layer == "l0.xw"]
    gemms = [i for i in xw if i.op == "GEMM"]
    loads = [i for i in xw if i.op == "LOAD" and i.tensor == "x"]
    assert len(gemms) == len(loads) == -(-NUM_V // 32)
    assert len({i.dims["tile"] for i in gemms}) == len(gemms)   # one scheduling tile each
    assert sum(i.dims["m"] for i in gemms) == NUM_V
    assert sum(i.bytes["dram_read"] for i in loads) == NUM_V * FEAT * 4
    gemm_total = gemm_cycles(cfg, NUM_V, HIDDEN, FEAT)   # whole folds: same as one big GEMM
    assert sum(gemm_cycles(cfg, i.dims["m"], i.dims["n"], i.dims["k"]) for i in gemms) \
        == gemm_total
    stats = schedule(trace, cfg)
    w = next(i for i in xw if i.op == "LOAD" and i.tensor == "l0.W")
    first = sum(transfer_cycles(cfg, i.dims, i.bytes) for i in (w, loads[0])) \
        + cfg.dram.latency
    # after the weights and the first tile's features, the GEMM unit never waits for features
    assert max(stats.end[i.id] for i in gemms) == first + gemm_total
    one_tile, serial = api.run(zipper(tiling__vertex_rows=NUM_V), "gnn:gcn:cora")
    assert result.total_cycles < 0.7 * serial.total_cycles
    assert result.bytes == serial.bytes and result.macs == serial.macs


def test_store_dependencies_cover_exactly_the_rows_read():
    cfg = zipper()
    graph = api.prepare(cfg, "gnn:gcn:cora")
    low = ZipperLowering(graph, cfg)
    low.lower_zipper()
    starts, ends, ids = low.stores["l0.xw"]
    assert starts[0] == 0 and ends[-1] == NUM_V and starts[1:] == ends[:-1]
    for lo, hi in [(0, 1), (31, 33), (100, 700), (2700, 2708), (0, NUM_V), (64, 64)]:
        want = [s for a, b, s in zip(starts, ends, ids, strict=True) if a < hi and b > lo]
        assert low.store_deps("l0.xw", lo, hi) == want
