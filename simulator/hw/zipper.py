"""Timing model of the ``zipper`` target and its run-time tile scheduler.

Units and latency rules:

- ``gemm``: output-stationary R x C systolic array; ``GEMM`` m x n x k takes
  ceil(m/R) * ceil(n/C) * (k + R + C - 2) cycles (the systolic target's os fold rule).
- ``vector``: ``VEC`` takes ceil(work / lanes) + pipeline cycles.
- ``gs`` (gather/scatter unit): ``SCATTER``/``GATHER`` move or reduce ``elements`` at ``lanes``
  per cycle after a pipeline fill; a weighted gather (GAT's alpha * z) takes twice as long.
- ``dma``: every DRAM transfer, one at a time at ``dram.bandwidth`` bytes/cycle, done
  ``dram.latency`` cycles after its last byte (pipelined). A random-row ``LOAD`` (a tile's source
  vertices) moves each row as whole ``dram.burst_bytes`` bursts: the random-access cost.

The scheduler is the hardware's: instructions belong to scheduling tiles (``dims.tile``); tiles
are admitted in order, at most ``scheduler.tiles_in_flight`` (S) at a time, and a tile retires
when all its instructions have completed. Whenever a unit is idle it takes the oldest ready
instruction (dependencies complete, tile admitted), so instructions of different tiles run on
different units at the same time. One heap event per instruction; the engine's statistics type
carries the result, so reports and timelines are shared with every other target.
"""

from __future__ import annotations

import heapq

from simulator.config.zipper import ZipperConfig
from simulator.engine import EngineStats
from simulator.errors import TraceError
from simulator.hw.common import build_result
from simulator.hw.vector import vector_cycles
from simulator.result import Result
from simulator.trace import Trace

UNITS = {"LOAD": "dma", "STORE": "dma", "GEMM": "gemm", "VEC": "vector", "SCATTER": "gs",
         "GATHER": "gs"}


def transfer_cycles(cfg: ZipperConfig, dims: dict, nbytes: dict) -> int:
    """DRAM occupancy of one transfer (random rows rounded up to whole bursts)."""
    if dims.get("random"):
        burst = cfg.dram.burst_bytes
        size = dims["rows"] * (-(-dims["row_bytes"] // burst) * burst)
    else:
        size = nbytes.get("dram_read", 0) + nbytes.get("dram_write", 0)
    return int(-(-size // cfg.dram.bandwidth)) if size else 0


def gemm_cycles(cfg: ZipperConfig, m: int, n: int, k: int) -> int:
    r, c = cfg.gemm.rows, cfg.gemm.cols
    return -(-m // r) * -(-n // c) * (k + r + c - 2) if m and n and k else 0


def instruction_timing(trace: Trace, cfg: ZipperConfig) -> tuple[list[str], list[int], list[int]]:
    """(unit, occupancy, extra completion latency) of every instruction."""
    units, occupancy, tail = [], [], []
    g, v = cfg.gather, cfg.vector
    for ins in trace.instructions:
        unit = UNITS.get(ins.op)
        if unit is None or ins.unit != unit:
            accepted = ", ".join(f"{k} on {u}" for k, u in UNITS.items())
            raise TraceError(f"op {ins.op} on unit {ins.unit!r} is not executed by the zipper "
                             f"target; it runs {accepted}", where=f"instruction {ins.id}")
        d = ins.dims
        lat = 0
        if unit == "dma":
            cyc = transfer_cycles(cfg, d, ins.bytes)
            lat = cfg.dram.latency
        elif unit == "gemm":
            cyc = gemm_cycles(cfg, d["m"], d["n"], d["k"])
        elif unit == "vector":
            cyc = vector_cycles(d["work"], v.lanes, v.pipeline)
        else:
            cyc = vector_cycles(d["elements"], g.lanes, g.pipeline)
            if d.get("weighted"):
                cyc += -(-d["elements"] // g.lanes)
        units.append(unit)
        occupancy.append(cyc)
        tail.append(lat)
    return units, occupancy, tail


def schedule(trace: Trace, cfg: ZipperConfig, progress=None) -> EngineStats:
    """Run the tile-window list scheduler; returns per-instruction start/end and unit stats."""
    n = len(trace.instructions)
    units, occ, tail = instruction_timing(trace, cfg)
    tile = [ins.dims.get("tile", 0) for ins in trace.instructions]
    pending = [len(ins.deps) for ins in trace.instructions]
    dependents: list[list[int]] = [[] for _ in range(n)]
    for ins in trace.instructions:
        for d in ins.deps:
            if not 0 <= d < ins.id:
                raise TraceError(f"depends on {d}; dependencies must point to earlier "
                                 "instructions", where=f"instruction {ins.id}")
            dependents[d].append(ins.id)
    tiles = sorted(set(tile))
    rank = {t: i for i, t in enumerate(tiles)}
    members: list[list[int]] = [[] for _ in tiles]
    for i, t in enumerate(tile):
        members[rank[t]].append(i)
    left = [len(m) for m in members]
    window = cfg.scheduler.tiles_in_flight
    admitted = 0
    in_flight = 0
    ready: dict[str, list[int]] = {u: [] for u in set(units)}
    free_at = dict.fromkeys(ready, 0)
    busy = dict.fromkeys(ready, 0)
    start, end = [-1] * n, [-1] * n
    events: list[tuple[int, int]] = []   # (completion time, instruction)
    now = 0
    done = 0

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
        # next moment something changes: a completion or a unit becoming free with work
        wake = [free_at[u] for u, q in ready.items() if q and free_at[u] > now]
        if not events and not wake:
            stuck = next(i for i in range(n) if end[i] < 0)
            raise TraceError(f"deadlock: instruction {stuck} never became ready",
                             where=f"instruction {stuck}")
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
        if progress is not None and not done & 8191:
            progress(done, n)
    if progress is not None:
        progress(n, n)
    total = max(end, default=0)
    last = {u: 0 for u in ready}
    for i in range(n):
        last[units[i]] = max(last[units[i]], end[i] - tail[i])
    return EngineStats(total_cycles=total, start=start, end=end, unit_busy=busy,
                       unit_stall={u: last[u] - busy[u] for u in busy},
                       channel_bytes={}, channel_busy={"dram": busy.get("dma", 0)})


def simulate_zipper(trace: Trace, config: ZipperConfig, timeline: bool = False,
                    progress=None) -> Result:
    stats = schedule(trace, config, progress)
    return build_result(trace, stats, config_name=config.name, clock_ghz=config.clock_ghz,
                        pe_count=config.gemm.rows * config.gemm.cols, energy=config.energy,
                        timeline=timeline)
