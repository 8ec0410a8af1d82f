"""Timing model of the ``npu`` target: per-core units, one shared DRAM channel, NoC ports, barriers.

Units are ``core<i>.array`` (the systolic fold rule of the ``systolic`` target), ``core<i>.vector``,
``core<i>.dma_load``/``dma_store`` (DRAM transfers over the one ``dram`` channel every core shares,
or scratchpad moves at ``core.scratchpad_bandwidth`` when no DRAM byte is involved),
``core<i>.noc`` (a ``RECV`` over the core's inbound link ``noc<i>``, plus ``hop_latency`` per hop)
and ``sync`` (a ``BARRIER``: a kernel launch costs ``launch_cycles``; cores meeting cost
``sync_cycles_per_core`` per core plus the network diameter in hops).

Kernels run one after another (each starts at its launch, after the previous kernel's closing
barrier), so each kernel is simulated on its own and the timelines are concatenated: a network's
cycles are exactly the sum of its kernels' cycles, which is what lets the fusion tuner price
every candidate group separately.
"""

from __future__ import annotations

import math
import re

from simulator.config.npu import NpuConfig, diameter
from simulator.engine import Channel, Engine, EngineStats
from simulator.errors import TraceError
from simulator.hw.common import build_result
from simulator.hw.systolic import fold_overheads
from simulator.hw.vector import vector_cycles
from simulator.result import Result
from simulator.trace import Instruction, Trace

DRAM = "dram"
_CORE = re.compile(r"core(\d+)\.")


def sync_cycles(config: NpuConfig, cores: int) -> int:
    """Cost of ``cores`` cores meeting at a barrier (0 for one core)."""
    if cores <= 1:
        return 0
    return config.sync_cycles_per_core * cores + \
        config.noc.hop_latency * diameter(config.noc.topology, cores)


def kernel_bounds(trace: Trace) -> list[tuple[int, int]]:
    """``[start, end)`` instruction ranges of the kernels (each opens with a launch BARRIER)."""
    starts = [ins.id for ins in trace.instructions
              if ins.op == "BARRIER" and ins.dims.get("launch")]
    if trace.instructions and (not starts or starts[0] != 0):
        raise TraceError("an npu trace must open each kernel with a launch BARRIER "
                         "(dims.launch = 1)", where="instruction 0")
    ends = starts[1:] + [len(trace.instructions)]
    return list(zip(starts, ends, strict=True))


def _cycles(ins: Instruction, config: NpuConfig, head: int, tail: int) -> tuple[int, str | None,
                                                                               int]:
    """(cycles, channel, bytes) of one instruction."""
    op, d, b = ins.op, ins.dims, ins.bytes
    core = config.core
    if op == "GEMM":  # rows x cols of stationary data = folds of the physical array
        rows, cols = core.array.rows, core.array.cols
        pack = d.get("pack", 1)
        k_streamed = core.array.dataflow == "os"
        used_rows = d["rows"] if k_streamed else math.ceil(d["rows"] / pack)
        folds = -(-used_rows // rows) * -(-d["cols"] // cols)
        t = math.ceil(d["t"] / pack) if k_streamed else d["t"]
        per_fold = t + (head if d.get("first", 1) else 0) + (tail if d.get("last", 1) else 0)
        return folds * per_fold, None, 0
    if op == "VEC":
        return vector_cycles(d["work"], core.vector.lanes, core.vector.pipeline), None, 0
    if op in ("LOAD", "STORE"):
        dram = b.get("dram_read", 0) + b.get("dram_write", 0)
        if dram:
            return 0, DRAM, dram
        moved = max(b.get("sram_read", 0), b.get("sram_write", 0))
        return -(-moved // int(core.scratchpad_bandwidth)) if moved else 0, None, 0
    if op == "RECV":
        m = _CORE.match(ins.unit)
        return d.get("hops", 0) * config.noc.hop_latency, f"noc{m.group(1)}", b.get("noc", 0)
    if op == "BARRIER":
        return (config.launch_cycles if d.get("launch") else sync_cycles(config, d["cores"])), \
            None, 0
    raise TraceError(f"op {op} is not executed by the npu target; it runs LOAD, STORE, GEMM, "
                     "VEC, RECV, BARRIER", where=f"instruction {ins.id}")


#: the unit of a core each op runs on (``core<i>.<unit>``); a BARRIER runs on ``sync``
UNITS = {"GEMM": "array", "VEC": "vector", "LOAD": "dma_load", "STORE": "dma_store",
         "RECV": "noc"}
SYNC = "sync"


def _check_units(trace: Trace, config: NpuConfig) -> None:
    """Every instruction on the unit of a core the config has (or ``sync`` for a BARRIER), as
    the npu lowering emits them: a trace for other hardware is an error, not a replay."""
    used = {int(m.group(1)) for ins in trace.instructions if (m := _CORE.match(ins.unit))}
    if used and max(used) >= config.cores:
        raise TraceError(f"the trace uses core {max(used)} but the config has {config.cores} "
                         "cores; lower the workload again for this config")
    allowed = {op: {f"core{i}.{unit}" for i in range(config.cores)} for op, unit in UNITS.items()}
    allowed["BARRIER"] = {SYNC}
    for ins in trace.instructions:
        units = allowed.get(ins.op)
        if units is None:
            raise TraceError(f"op {ins.op} is not executed by the npu target; it runs LOAD, "
                             "STORE, GEMM, VEC, RECV, BARRIER", where=f"instruction {ins.id}")
        if ins.unit not in units:
            expected = SYNC if ins.op == "BARRIER" else f"core<i>.{UNITS[ins.op]} (i < " \
                f"{config.cores})"
            raise TraceError(f"{ins.op} on unit {ins.unit!r} is not executed by the npu target; "
                             f"{ins.op} runs on {expected}", where=f"instruction {ins.id}")
        if ins.op == "BARRIER" and "cores" not in ins.dims:
            raise TraceError("a BARRIER needs dims.cores", where=f"instruction {ins.id}")


def simulate_kernels(trace: Trace, config: NpuConfig, progress=None
                     ) -> tuple[EngineStats, list[int]]:
    """Simulate kernel after kernel; the stats of the whole trace and each kernel's cycles.
    Dependencies on earlier kernels are met by construction (kernels are serialized)."""
    _check_units(trace, config)
    head, tail = fold_overheads(config.core)  # type: ignore[arg-type]
    channels = [Channel(DRAM, config.dram.bandwidth, config.dram.latency)] + \
        [Channel(f"noc{i}", config.noc.link_bandwidth, 0) for i in range(config.cores)]
    engine = Engine(channels)
    n = len(trace.instructions)
    start, end = [0] * n, [0] * n
    busy: dict[str, int] = {}
    stall: dict[str, int] = {}
    ch_bytes = dict.fromkeys((c.name for c in channels), 0)
    ch_busy = dict.fromkeys((c.name for c in channels), 0)
    offset = 0
    durations: list[int] = []
    for lo, hi in kernel_bounds(trace):
        units, cycles, chans, nbytes, deps = [], [], [], [], []
        for ins in trace.instructions[lo:hi]:
            c, ch, nb = _cycles(ins, config, head, tail)
            units.append(ins.unit)
            cycles.append(c)
            chans.append(ch)
            nbytes.append(nb)
            deps.append(tuple(d - lo for d in ins.deps if d >= lo))
        stats = engine.run_columns(units, cycles, chans, nbytes, deps)
        for i in range(hi - lo):
            start[lo + i] = stats.start[i] + offset
            end[lo + i] = stats.end[i] + offset
        for u, v in stats.unit_busy.items():
            busy[u] = busy.get(u, 0) + v
            stall[u] = stall.get(u, 0) + stats.unit_stall[u]
        for ch, v in stats.channel_bytes.items():
            ch_bytes[ch] += v
            ch_busy[ch] += stats.channel_busy[ch]
        durations.append(stats.total_cycles)
        offset += stats.total_cycles
        if progress is not None:
            progress(hi, n)
    return EngineStats(total_cycles=offset, start=start, end=end, unit_busy=busy,
                       unit_stall=stall, channel_bytes=ch_bytes, channel_busy=ch_busy), durations


def kernel_summary(trace: Trace, durations: list[int]) -> list[dict]:
    """One entry per kernel: its layers, core count and cycles (the plan, read from the trace)."""
    by_kernel: dict[int, dict] = {}
    for layer in trace.layers:
        k = layer.dims.get("kernel", 0)
        entry = by_kernel.setdefault(k, {"kernel": k, "cores": layer.dims.get("cores", 1),
                                         "layers": []})
        entry["layers"].append(layer.name)
    out = []
    for k, cycles in enumerate(durations):
        entry = by_kernel.get(k, {"kernel": k, "cores": 1, "layers": []})
        out.append({**entry, "cycles": cycles})
    return out


def simulate_npu(trace: Trace, config: NpuConfig, timeline: bool = False,
                 progress=None) -> Result:
    stats, durations = simulate_kernels(trace, config, progress)
    pe = config.cores * config.core.array.rows * config.core.array.cols
    result = build_result(trace, stats, config_name=config.name, clock_ghz=config.clock_ghz,
                          pe_count=pe, energy=config.energy, timeline=timeline,
                          hardware=config)
    noc = sum(v for k, v in stats.channel_bytes.items() if k.startswith("noc"))
    result.extras["npu"] = {"kernels": kernel_summary(trace, durations), "noc_bytes": noc}
    return result
