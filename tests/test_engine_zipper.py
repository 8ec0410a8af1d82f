"""Zipper's tile scheduler runs on the engine's ready window; this pins it to the hand-written
heap list scheduler it replaced (kept here, on columns, as the reference): identical start/end,
unit busy and stall on GNN workloads and on random task lists."""

from __future__ import annotations

import heapq

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_zipper import zipper

from simulator import api
from simulator.engine import Engine, ReadyWindow
from simulator.errors import TraceError
from simulator.hw.zipper import instruction_timing, schedule


def reference_schedule(units, occ, tail, tile, deps, window):
    """The scheduler zipper had before the engine ran it (commit deb841f), unchanged in logic:
    returns (start, end, busy, stall)."""
    n = len(units)
    pending = [len(d) for d in deps]
    dependents: list[list[int]] = [[] for _ in range(n)]
    for i, ds in enumerate(deps):
        for d in ds:
            dependents[d].append(i)
    tiles = sorted(set(tile))
    rank = {t: i for i, t in enumerate(tiles)}
    members: list[list[int]] = [[] for _ in tiles]
    for i, t in enumerate(tile):
        members[rank[t]].append(i)
    left = [len(m) for m in members]
    admitted = in_flight = 0
    ready: dict[str, list[int]] = {u: [] for u in set(units)}
    free_at = dict.fromkeys(ready, 0)
    busy = dict.fromkeys(ready, 0)
    start, end = [-1] * n, [-1] * n
    events: list[tuple[int, int]] = []
    now = done = 0

    def admit() -> None:
        nonlocal admitted, in_flight
        while admitted < len(members) and in_flight < window:
            for i in members[admitted]:
                if pending[i] == 0:
                    heapq.heappush(ready[units[i]], i)
            in_flight += 1
            admitted += 1

    admit()
    while done < n:
        for unit, queue in ready.items():
            if queue and free_at[unit] <= now:
                i = heapq.heappop(queue)
                start[i] = now
                free_at[unit] = now + occ[i]
                busy[unit] += occ[i]
                end[i] = now + occ[i] + tail[i]
                heapq.heappush(events, (end[i], i))
        wake = [free_at[u] for u, q in ready.items() if q and free_at[u] > now]
        if not events and not wake:
            raise TraceError("deadlock")
        now = min(wake + ([events[0][0]] if events else []))
        while events and events[0][0] <= now:
            _, i = heapq.heappop(events)
            done += 1
            for j in dependents[i]:
                pending[j] -= 1
                if pending[j] == 0 and rank[tile[j]] < admitted:
                    heapq.heappush(ready[units[j]], j)
            r = rank[tile[i]]
            left[r] -= 1
            if left[r] == 0:
                in_flight -= 1
                admit()
    last = dict.fromkeys(ready, 0)
    for i in range(n):
        last[units[i]] = max(last[units[i]], end[i] - tail[i])
    return start, end, busy, {u: last[u] - busy[u] for u in busy}


@pytest.mark.parametrize("workload, over", [
    ("gnn:gcn:cora", {}),
    ("gnn:gat:cora", {"scheduler__tiles_in_flight": 2}),
    ("gnn:sage:cora", {"scheduler__tiles_in_flight": 1}),
    ("gnn:gin:citeseer", {"scheduler__tiles_in_flight": 8, "tiling__dst": 1024,
                          "tiling__src": 2048}),
    ("gnn:sage:citeseer", {"scheduler__tiles_in_flight": 2, "tiling__dst": 1024,
                           "tiling__src": 2048}),
    ("gnn:gcn:citeseer", {"scheduler__policy": "op_by_op"}),
    ("gnn:gcn:rmat?edges=20000&scale=11", {"tiling__dst": 256, "tiling__src": 512}),
])
def test_engine_schedule_equals_the_heap_scheduler(workload, over):
    cfg = zipper(**over)
    trace = api.lower(cfg, workload)
    units, occ, tail = instruction_timing(trace, cfg)
    tiles = [ins.dims.get("tile", 0) for ins in trace.instructions]
    start, end, busy, stall = reference_schedule(
        units, occ, tail, tiles, [ins.deps for ins in trace.instructions],
        cfg.scheduler.tiles_in_flight)
    stats = schedule(trace, cfg)
    if cfg.scheduler.policy == "zipper":    # op_by_op: one chain, no tiles
        assert len(set(tiles)) > cfg.scheduler.tiles_in_flight    # the window binds
    assert stats.start == start and stats.end == end
    assert stats.unit_busy == busy and stats.unit_stall == stall
    assert stats.total_cycles == max(end)
    assert stats.channel_busy == {"dram": busy["dma"]} and stats.channel_bytes == {}


@st.composite
def columns(draw):
    """Random zipper-like columns: four units, zero-cycle tasks and DRAM-latency tails (on any
    unit, to hold the rule in general), tiles in any order (a narrow window may deadlock)."""
    n = draw(st.integers(1, 40))
    units = [draw(st.sampled_from(["dma", "gemm", "vector", "gs"])) for _ in range(n)]
    occ = [draw(st.sampled_from([0, 1, 2, 5, 13, 40])) for _ in range(n)]
    tail = [draw(st.sampled_from([0, 0, 0, 7, 100])) for _ in range(n)]
    tile = [draw(st.integers(0, 6)) for _ in range(n)]
    if draw(st.booleans()):
        tile.sort()     # tiles in program order: never deadlocks
    deps = [tuple(sorted(draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True))))
            if i else () for i in range(n)]
    return units, occ, tail, tile, deps, draw(st.integers(1, 4))


@settings(max_examples=400, deadline=None)
@given(columns())
def test_random_task_lists_schedule_exactly_as_the_heap_scheduler(cols):
    units, occ, tail, tile, deps, window = cols
    n = len(units)
    try:
        expected = reference_schedule(units, occ, tail, tile, deps, window)
    except TraceError:
        expected = None
    engine = Engine(dispatch=ReadyWindow(window))
    if expected is None:
        with pytest.raises(TraceError, match="deadlock"):
            engine.run_columns(units, occ, [None] * n, [0] * n, deps, latency=tail, groups=tile)
        return
    stats = engine.run_columns(units, occ, [None] * n, [0] * n, deps, latency=tail, groups=tile)
    start, end, busy, stall = expected
    assert (stats.start, stats.end) == (start, end)
    assert stats.unit_busy == busy and stats.unit_stall == stall
