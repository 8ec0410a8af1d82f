"""Timing of the simd machine on archsim's engine: one event per instruction.

- ``GEMM`` on ``lanes``: ``dk`` multiply-add steps over ceil(dm * dn / lanes) lane groups, plus
  the pipeline latency.
- ``VEC`` on ``lanes``: ceil(work / lanes) + pipeline.
- ``LOAD``/``STORE``/``IM2COL``: their DRAM bytes over the one ``dram`` channel.
"""

from __future__ import annotations

from simulator.engine import Channel, Engine
from simulator.errors import TraceError
from simulator.hw.common import build_result

DRAM = "dram"


def gemm_cycles(dm: int, dn: int, dk: int, lanes: int, pipeline: int) -> int:
    return dk * -(-(dm * dn) // lanes) + pipeline


def simulate_simd(trace, config, timeline: bool = False, progress=None):
    units, cycles, channels, nbytes, deps = [], [], [], [], []
    for ins in trace.instructions:
        units.append(ins.unit)
        deps.append(tuple(ins.deps))
        d, b = ins.dims, ins.bytes
        if ins.op == "GEMM":
            cycles.append(gemm_cycles(d["dm"], d["dn"], d["dk"], config.lanes, config.pipeline))
            channels.append(None)
            nbytes.append(0)
        elif ins.op == "VEC":
            work = d["work"]
            cycles.append(-(-work // config.lanes) + config.pipeline if work else 0)
            channels.append(None)
            nbytes.append(0)
        elif ins.op in ("LOAD", "STORE", "IM2COL"):
            cycles.append(0)
            channels.append(DRAM)
            nbytes.append(b.get("dram_read", 0) + b.get("dram_write", 0))
        else:
            raise TraceError(f"op {ins.op} is not executed by the simd target; it runs GEMM, "
                             "VEC, LOAD, STORE and IM2COL", where=f"instruction {ins.id}")
    engine = Engine([Channel(DRAM, config.dram.bandwidth, config.dram.latency)])
    stats = engine.run_columns(units, cycles, channels, nbytes, deps, progress=progress)
    return build_result(trace, stats, config_name=config.name, clock_ghz=config.clock_ghz,
                        pe_count=config.pe_count, energy=config.energy, timeline=timeline)
