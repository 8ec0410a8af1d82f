"""Timing model of the ``systolic`` target: the array's fold latency rule and the DMA channel.

A fold on an R x C array streams T operand rows. Output stationary: T + R + C - 2 cycles (R-1 to
skew the inputs in, C-1 to drain the outputs). Weight/input stationary: T + 2R + C - 2 (R more to
preload the stationary operand). These are SCALE-Sim's rules without its final -1 (it reports the
index of the last cycle, not the count). A fold cut into T-chunks pays the head on its first chunk
and the drain on its last, so an uninterrupted fold costs the same whole or chunked.
"""

from __future__ import annotations

import math

from simulator.config.systolic import SystolicConfig
from simulator.engine import Channel, Engine
from simulator.errors import TraceError
from simulator.hw.common import build_result
from simulator.hw.vector import vector_cycles
from simulator.result import Result
from simulator.trace import Trace

DRAM = "dram"


def fold_overheads(config: SystolicConfig) -> tuple[int, int]:
    """(head, tail) cycles of one fold: the fill before the first row and the drain after."""
    rows, cols = config.array.rows, config.array.cols
    head = rows - 1 if config.array.dataflow == "os" else 2 * rows - 1
    return head, cols - 1


def fold_cycles(config: SystolicConfig, t: int) -> int:
    """Cycles of a whole fold streaming ``t`` rows (the closed form tests check against)."""
    head, tail = fold_overheads(config)
    return t + head + tail


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
                        timeline=timeline)
