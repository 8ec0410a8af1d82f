"""Timing model of the ``systolic`` target: GEMM fold chunks on the array (the fold rule of
:mod:`simulator.hw.fold`), vector ops on the vector unit, every DRAM transfer over one channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.engine import Channel, Engine, TaskArrays
from simulator.errors import TraceError
from simulator.hw import fold
from simulator.hw.common import build_result
from simulator.result import Result
from simulator.trace import InstructionTable, Trace

if TYPE_CHECKING:   # the pydantic models: a run reads its config without them
    from simulator.config.systolic import SystolicConfig

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


def task_arrays(trace: Trace, config: SystolicConfig) -> TaskArrays:
    """The engine's tasks, one per instruction, computed column by column from the trace's
    :class:`~simulator.trace.InstructionTable` (a list of instructions is converted first)."""
    import numpy as np

    try:
        table = InstructionTable.of(trace.instructions)
    except ValueError as err:
        raise TraceError(str(err)) from None
    n = len(table)
    op = table.column("op")
    unit = table.column("unit")
    op_names, unit_names = table.ops.names, table.units.names
    # each (op, unit) pair present must be one this target runs
    width = max(1, len(unit_names))
    unit_pairs = op * width + unit
    # (bincount, not np.unique: that imports numpy.ma, ~12 ms of a small run's start-up)
    bad = [int(p) for p in np.flatnonzero(np.bincount(unit_pairs)).tolist()
           if UNITS.get(op_names[p // width]) != unit_names[p % width]]
    first_bad = int(np.flatnonzero(np.isin(unit_pairs, bad))[0]) if bad else n
    code = {name: op_names.index(name) if name in op_names else -1 for name in UNITS}
    del unit_pairs
    cycles = np.zeros(n, dtype=np.int64)
    problem: tuple[int, str] | None = None
    # each op's facts are read for its own instructions only (a 10M-instruction trace must
    # simulate in 2 GB)
    gemm = np.flatnonzero(op == code["GEMM"])
    if gemm.size:
        head, tail = fold_overheads(config)
        array = config.array
        dims = {key: table.dim(key, at=gemm) for key in ("rows", "cols", "t")}
        for key, values in dims.items():   # a damaged trace: the first GEMM lacking one
            lacking = np.flatnonzero(values < 0)
            if lacking.size and (problem is None or gemm[lacking[0]] < problem[0]):
                problem = (int(gemm[lacking[0]]), f"GEMM lacks dims.{key}, which the systolic "
                                                  "target times it with")
        pack = np.maximum(table.dim("pack", 1, at=gemm), 1)
        k_streamed = array.dataflow == "os"   # else K sits on the rows
        rows = dims["rows"] if k_streamed else -(-dims["rows"] // pack)
        oversized = np.flatnonzero((rows > array.rows) | (dims["cols"] > array.cols))
        if oversized.size and (problem is None or gemm[oversized[0]] < problem[0]):
            j = int(oversized[0])
            problem = (int(gemm[j]), f"GEMM fold uses {int(dims['rows'][j])}x"
                                     f"{int(dims['cols'][j])} PEs but the config's array is "
                                     f"{array.rows}x{array.cols}; lower the workload again "
                                     "for this array")
        t = -(-dims["t"] // pack) if k_streamed else dims["t"]
        cycles[gemm] = t + head * (table.dim("first", 1, at=gemm) != 0) + \
            tail * (table.dim("last", 1, at=gemm) != 0)
        del dims, pack, rows, t
    vec = np.flatnonzero(op == code["VEC"])
    if vec.size:
        work = table.dim("work", at=vec)
        lacking = np.flatnonzero(work < 0)
        if lacking.size and (problem is None or vec[lacking[0]] < problem[0]):
            problem = (int(vec[lacking[0]]), "VEC lacks dims.work, which the systolic target "
                                             "times it with")
        lanes, pipeline = config.vector.lanes, config.vector.pipeline
        cycles[vec] = np.where(work > 0, -(-work // lanes) + pipeline, 0)
    if first_bad < n and (problem is None or first_bad <= problem[0]):
        ins = table[first_bad]
        raise TraceError(f"{ins.op} on unit {ins.unit!r} is not executed by the systolic "
                         f"target; it runs {UNITS_TEXT}", where=f"instruction {first_bad}")
    if problem is not None:
        raise TraceError(problem[1], where=f"instruction {problem[0]}")
    transfer = np.flatnonzero(np.isin(op, [code[name] for name in ("LOAD", "STORE", "IM2COL")]))
    del op
    channel = np.full(n, -1, dtype=np.int64)
    channel[transfer] = 0
    nbytes = np.zeros(n, dtype=np.int64)
    nbytes[transfer] = table.nbytes("dram_read", at=transfer) + \
        table.nbytes("dram_write", at=transfer)
    del transfer
    dep_ptr, dep_idx = table.deps_csr()
    return TaskArrays(unit, list(unit_names), cycles, channel, [DRAM], nbytes, dep_ptr,
                      dep_idx)


def simulate_systolic(trace: Trace, config: SystolicConfig, timeline: bool = False,
                      progress=None) -> Result:
    engine = Engine([Channel(DRAM, config.dram.bandwidth, config.dram.latency)])
    stats = engine.run_arrays(task_arrays(trace, config), progress=progress)
    return build_result(trace, stats, config_name=config.name, clock_ghz=config.clock_ghz,
                        pe_count=config.array.rows * config.array.cols, energy=config.energy,
                        timeline=timeline, hardware=config)
