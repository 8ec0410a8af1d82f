"""Timing model of the ``systolic`` target: GEMM fold chunks on the array (the fold rule of
:mod:`simulator.hw.fold`), vector ops on the vector unit, every DRAM transfer over one channel."""

from __future__ import annotations

import math

from simulator.config.systolic import SystolicConfig
from simulator.engine import Channel, Engine
from simulator.errors import TraceError
from simulator.hw import fold
from simulator.hw.common import build_result
from simulator.hw.vector import vector_cycles
from simulator.result import Result
from simulator.trace import Trace

DRAM = "dram"
#: the unit each op runs on
UNITS = {"GEMM": "array", "VEC": "vector", "LOAD": "dma_load", "STORE": "dma_store",
         "IM2COL": "im2col"}
UNITS_TEXT = ", ".join(f"{op} on {unit}" for op, unit in UNITS.items())


def fold_overheads(config: SystolicConfig) -> tuple[int, int]:
    """(head, tail) cycles of one fold on the config's array."""
    array = config.array
    return fold.fold_overheads(array.rows, array.cols, array.dataflow)


def fold_cycles(config: SystolicConfig, t: int) -> int:
    """Cycles of a whole fold streaming ``t`` rows on the config's array."""
    array = config.array
    return fold.fold_cycles(t, array.rows, array.cols, array.dataflow)


def to_columns(trace: Trace, config: SystolicConfig) -> tuple[list, list, list, list, list]:
    """The engine's task columns (unit, cycles, channel, bytes, deps), one row per instruction."""
    head, tail = fold_overheads(config)
    rows, cols = config.array.rows, config.array.cols
    k_streamed = config.array.dataflow == "os"  # else K sits on the rows
    lanes, pipeline = config.vector.lanes, config.vector.pipeline
    n = len(trace.instructions)
    units: list[str] = [""] * n
    cycles = [0] * n
    channels: list[str | None] = [None] * n
    nbytes = [0] * n
    deps: list = [()] * n
    for ins in trace.instructions:
        i = ins.id
        if UNITS.get(ins.op) != ins.unit:
            raise TraceError(f"{ins.op} on unit {ins.unit!r} is not executed by the systolic "
                             f"target; it runs {UNITS_TEXT}", where=f"instruction {i}")
        units[i] = ins.unit
        deps[i] = ins.deps
        op = ins.op
        if op == "GEMM":
            d = ins.dims
            pack = d.get("pack", 1)  # K elements per PE per cycle (narrow weights)
            if (d["rows"] if k_streamed else math.ceil(d["rows"] / pack)) > rows or \
                    d["cols"] > cols:
                raise TraceError(
                    f"GEMM fold uses {d['rows']}x{d['cols']} PEs but the config's array is "
                    f"{rows}x{cols}; lower the workload again for this array",
                    where=f"instruction {i}")
            t = math.ceil(d["t"] / pack) if k_streamed else d["t"]
            cycles[i] = t + (head if d.get("first", 1) else 0) + \
                (tail if d.get("last", 1) else 0)
        elif op == "VEC":
            cycles[i] = vector_cycles(ins.dims["work"], lanes, pipeline)
        elif op in ("LOAD", "STORE", "IM2COL"):
            b = ins.bytes
            channels[i] = DRAM
            nbytes[i] = b.get("dram_read", 0) + b.get("dram_write", 0)
        else:
            raise TraceError(f"op {op} is not executed by the systolic target; it runs LOAD, "
                             "STORE, GEMM, IM2COL, VEC", where=f"instruction {i}")
    return units, cycles, channels, nbytes, deps


def simulate_systolic(trace: Trace, config: SystolicConfig, timeline: bool = False,
                      progress=None) -> Result:
    engine = Engine([Channel(DRAM, config.dram.bandwidth, config.dram.latency)])
    stats = engine.run_columns(*to_columns(trace, config), progress=progress)
    return build_result(trace, stats, config_name=config.name, clock_ghz=config.clock_ghz,
                        pe_count=config.array.rows * config.array.cols, energy=config.energy,
                        timeline=timeline, hardware=config)
