"""Timing model of the ``sparse_tc`` target, run three times: sparse, dense TC and 2:4.

Units: per SM ``smN.ld`` (L2 -> shared memory over the shared ``l2`` channel) and ``smN.tc``
(the sub-cores' outer-product tensor cores); ``l2fill`` (DRAM -> L2), ``store`` and
``dma_load`` (DRAM channel), ``encode`` (run-time bitmap encoding: DRAM traffic plus integer
work on all SMs' lanes) and ``cuda`` (non-GEMM operators on all SMs' lanes).

An ``SPGEMM`` takes max(outer-product steps, shared-memory bytes / bandwidth, im2col integer ops
/ lanes): the tensor cores, the shared-memory port and the integer lanes work concurrently.
The trace carries each quantity for the sparse run and, under ``dense:KEY`` / ``s24:KEY``, for
the baselines; :func:`variant_trace` picks one, so every variant is an ordinary engine run.
"""

from __future__ import annotations

import re
from dataclasses import replace

from simulator.config.sparse_tc import SparseTCConfig
from simulator.engine import Channel, Engine
from simulator.errors import TraceError
from simulator.hw.common import build_result
from simulator.hw.vector import vector_cycles
from simulator.result import Result
from simulator.trace import Trace

DRAM, L2 = "dram", "l2"
#: which units run each op (the SMs' units are sm<i>.ld and sm<i>.tc)
UNITS = {"SPGEMM": re.compile(r"sm\d+\.tc"), "LOAD": re.compile(r"sm\d+\.ld|l2fill|dma_load"),
         "STORE": re.compile(r"store"), "VEC": re.compile(r"encode|cuda")}
UNITS_TEXT = "SPGEMM on sm<i>.tc, LOAD on sm<i>.ld, l2fill or dma_load, STORE on store, VEC " \
    "on encode or cuda"
_NOWHERE = re.compile(r"(?!)")
BASELINES = {"dense": "dense_tc", "s24": "sparse_2_4"}


def _pick(ins, variant: str) -> tuple[dict, dict]:
    """(dims, bytes) of an instruction as the ``variant`` hardware sees it."""
    if variant == "sparse":
        return ins.dims, ins.bytes
    prefix = f"{variant}:"
    d, b = ins.dims, ins.bytes
    over = {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}
    if not over:
        return d, b
    return ({**d, **{k: v for k, v in over.items() if k in d}},
            {**b, **{k: v for k, v in over.items() if k in b}})


def variant_trace(trace: Trace, variant: str) -> Trace:
    """The trace as the ``variant`` (``sparse``, ``dense`` or ``s24``) hardware sees it."""
    out = []
    for ins in trace.instructions:
        dims, nbytes = _pick(ins, variant)
        out.append(replace(ins, dims=dims, bytes=nbytes) if dims is not ins.dims else ins)
    return Trace(trace.kind, trace.config, trace.workload, trace.layers, out)


def to_columns(trace: Trace, config: SparseTCConfig, variant: str = "sparse",
               totals: dict | None = None) -> tuple[list, list, list, list, list]:
    """The engine's task columns (unit, cycles, channel, bytes, deps), one row per instruction,
    for one variant; ``totals`` (if given) accumulates the variant's bytes per key."""
    lanes = config.sms * config.cuda.lanes
    n = len(trace.instructions)
    units: list[str] = [""] * n
    cycles = [0] * n
    channels: list[str | None] = [None] * n
    nbytes = [0] * n
    deps: list = [()] * n
    smem_bw, sm_lanes, dram_bw = config.smem_bandwidth, config.cuda.lanes, config.dram.bandwidth
    prefix = f"{variant}:"
    for ins in trace.instructions:
        i, op, unit, d, b = ins.id, ins.op, ins.unit, ins.dims, ins.bytes
        if not UNITS.get(op, _NOWHERE).fullmatch(unit):
            raise TraceError(f"{op} on unit {unit!r} is not executed by the sparse_tc target; "
                             f"it runs {UNITS_TEXT}", where=f"instruction {i}")
        units[i] = unit
        deps[i] = ins.deps
        if variant != "sparse" and d:
            b = {k: d.get(prefix + k, v) for k, v in b.items()}
        if totals is not None:
            for key, value in b.items():
                totals[key] = totals.get(key, 0) + value
        if op == "SPGEMM":
            steps, iops = (d["steps"], d.get("int_ops", 0)) if variant == "sparse" else \
                (d.get(prefix + "steps", d["steps"]), d.get(prefix + "int_ops",
                                                            d.get("int_ops", 0)))
            smem = -(-b.get("sram_read", 0) // smem_bw)
            cycles[i] = int(max(steps, smem, -(-iops // sm_lanes)))
            if unit[2:unit.index(".")].isdigit() and int(unit[2:unit.index(".")]) >= config.sms:
                raise TraceError(f"{unit} is not on a {config.sms}-SM config; lower the workload "
                                 "again for this config", where=f"instruction {i}")
        elif op == "LOAD" and unit.endswith(".ld"):
            channels[i], nbytes[i] = L2, b.get("sram_write", 0)
        elif op in ("LOAD", "STORE"):
            size = b.get("dram_read", 0) + b.get("dram_write", 0)
            if size:
                channels[i], nbytes[i] = DRAM, size
        elif op == "VEC" and unit == "encode":
            size = b.get("dram_read", 0) + b.get("dram_write", 0)
            work = -(-d.get(prefix + "work", d.get("work", 0)) // lanes)
            if size:
                channels[i], nbytes[i] = DRAM, size
                cycles[i] = int(max(0, work - -(-size // dram_bw)))
        elif op == "VEC":
            cycles[i] = vector_cycles(d["work"], lanes, config.cuda.pipeline)
        else:
            raise TraceError(f"op {op} on unit {unit} is not executed by the sparse_tc target; "
                             "it runs SPGEMM, LOAD, STORE and VEC", where=f"instruction {i}")
    return units, cycles, channels, nbytes, deps


def _engine(config: SparseTCConfig) -> Engine:
    return Engine([Channel(DRAM, config.dram.bandwidth, config.dram.latency),
                   Channel(L2, config.l2.bandwidth, config.l2.latency)])


def _run(trace: Trace, config: SparseTCConfig, timeline: bool, progress=None) -> Result:
    stats = _engine(config).run_columns(*to_columns(trace, config), progress=progress)
    return build_result(trace, stats, config_name=config.name, clock_ghz=config.clock_ghz,
                        pe_count=config.pe_count, energy=config.energy, timeline=timeline,
                        hardware=config)


def run_baseline(trace: Trace, config: SparseTCConfig, variant: str) -> dict:
    """A baseline's total cycles, bytes and per-layer cycles (measured as ``build_result``
    does: from the previous layer's completion to the layer's own)."""
    totals: dict[str, int] = {}
    stats = _engine(config).run_columns(*to_columns(trace, config, variant, totals))
    last: dict[str, int] = {}
    for ins in trace.instructions:
        end = stats.end[ins.id]
        if end > last.get(ins.layer, -1):
            last[ins.layer] = end
    layers, prev = {}, 0
    for layer in trace.layers:
        end = last.get(layer.name, prev)
        layers[layer.name] = max(0, end - prev)
        prev = max(prev, end)
    return {"total_cycles": stats.total_cycles, "bytes": totals, "layers": layers}


def simulate_variants(trace: Trace, config: SparseTCConfig) -> dict[str, int]:
    """Total cycles of the three runs of a trace, by variant name."""
    return {v: run_baseline(trace, config, v)["total_cycles"] for v in ("sparse", "dense", "s24")}


def simulate_sparse_tc(trace: Trace, config: SparseTCConfig, timeline: bool = False,
                       progress=None) -> Result:
    """The sparse run (``total_cycles``), with the baselines' totals and per-layer cycles in
    ``extras["baselines"]`` and the sparse path's counts in ``extras["sparse_stats"]``."""
    out = _run(trace, config, timeline, progress)
    baselines = out.extras["baselines"] = {}
    for variant, label in BASELINES.items():
        base = run_baseline(trace, config, variant)
        base["speedup"] = base["total_cycles"] / out.total_cycles if out.total_cycles \
            else 0.0
        baselines[label] = base
    spgemm = [ins for ins in trace.instructions if ins.op == "SPGEMM"]
    out.extras["sparse_stats"] = {
        "spgemm_instructions": len(spgemm),
        "conflict_cycles": sum(ins.dims.get("conflict", 0) for ins in spgemm),
        "issued_spwmma": sum(layer.dims.get("spwmma", 0) for layer in trace.layers),
    }
    return out
