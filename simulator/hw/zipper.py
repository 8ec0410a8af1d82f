"""Timing model of the ``zipper`` target and its run-time tile scheduler.

Units and latency rules:

- ``gemm``: output-stationary R x C systolic array; ``GEMM`` m x n x k takes
  ceil(m/R) * ceil(n/C) * (k + R + C - 2) cycles (the fold rule of :mod:`simulator.hw.fold`).
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
different units at the same time. This is the engine's :class:`~simulator.engine.ReadyWindow`
dispatch policy (tiles are its groups, a transfer's DRAM latency its completion latency), so
reports and timelines are shared with every other target.
"""

from __future__ import annotations

from simulator.config.zipper import ZipperConfig
from simulator.engine import Engine, EngineStats, ReadyWindow
from simulator.errors import TraceError
from simulator.hw import fold
from simulator.hw.common import build_result
from simulator.hw.vector import vector_cycles
from simulator.result import Result
from simulator.trace import Trace

#: the SAGA stages a GNN layer belongs to (``LayerInfo.args["stage"]``)
STAGES = ("scatter", "apply_edge", "gather", "apply_vertex")
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
    """An m x n x k GEMM on the output-stationary GEMM unit: the systolic fold rule."""
    return fold.gemm_cycles(m, n, k, cfg.gemm.rows, cfg.gemm.cols, "os")


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
    """Run the tile-window scheduler on the engine; per-instruction start/end and unit stats."""
    units, occupancy, tail = instruction_timing(trace, cfg)
    n = len(units)
    engine = Engine(dispatch=ReadyWindow(cfg.scheduler.tiles_in_flight))
    stats = engine.run_columns(units, occupancy, [None] * n, [0] * n,
                               [ins.deps for ins in trace.instructions], progress, latency=tail,
                               groups=[ins.dims.get("tile", 0) for ins in trace.instructions])
    stats.channel_busy = {"dram": stats.unit_busy.get("dma", 0)}   # the dma unit is the channel
    return stats


def stage_cycles(trace: Trace, occupancy: list[int]) -> dict[str, int]:
    """Busy cycles per SAGA stage (the layer's ``args.stage``), summed over units: with
    operator overlap the stages run at once, so this says what the hardware spends its time
    on, not which stage a given cycle belongs to."""
    stage_of = {layer.name: layer.args.get("stage", "other") for layer in trace.layers}
    out = dict.fromkeys(STAGES, 0)
    for ins, cycles in zip(trace.instructions, occupancy, strict=True):
        stage = stage_of.get(ins.layer, "other")
        out[stage] = out.get(stage, 0) + cycles
    return out


def simulate_zipper(trace: Trace, config: ZipperConfig, timeline: bool = False,
                    progress=None) -> Result:
    """The run-time scheduled trace, with the busy cycles of each SAGA stage in
    ``extras["stages"]``."""
    stats = schedule(trace, config, progress)
    result = build_result(trace, stats, config_name=config.name, clock_ghz=config.clock_ghz,
                          pe_count=config.pe_count, energy=config.energy, timeline=timeline,
                          hardware=config)
    result.extras["stages"] = stage_cycles(trace, instruction_timing(trace, config)[1])
    return result
