"""Turning engine statistics into a :class:`Result`: shared by every hardware kind."""

from __future__ import annotations

from itertools import groupby, repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from simulator.engine import EngineStats
from simulator.hw.energy import event_energies
from simulator.result import BYTE_KEYS, LayerResult, Result, TimelineEvent, UnitResult
from simulator.trace import InstructionTable, Trace

if TYPE_CHECKING:   # the pydantic models: a run reads its config without them
    from simulator.config.base import EnergyTable


def energy_pj(table: EnergyTable, macs: int, nbytes: dict[str, int], vector_ops: int = 0,
              cycles: int = 0, hardware: Any = None) -> dict[str, float]:
    """Energy by part (pJ) of ``macs`` MACs, ``vector_ops`` vector ops, the bytes moved and
    ``cycles`` of leakage on ``hardware`` (its config; simulator.hw.energy)."""
    return event_energies(table, hardware).split(macs, nbytes, vector_ops, cycles)


def _layer_energy(split: dict[str, float]) -> dict[str, float]:
    return {"energy_pj": split["total"], **{f"energy_{part}_pj": split[part] for part in (
        "mac", "vector", "sram", "dram", "leakage", "sram_read", "sram_write", "dram_read",
        "dram_write")}}


def _layer_spans(trace: Trace, stats: EngineStats, order: list[str]
                 ) -> tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]]:
    """Per layer tag: its first start, last end and bytes by kind. Tags a header does not list
    are appended to ``order``. A layer's instructions come in runs (usually one), so start and
    end are reduced a run at a time (C-level min/max over list slices), not per instruction."""
    instructions = trace.instructions
    start = stats.start if isinstance(stats.start, list) else stats.start.tolist()
    end = stats.end if isinstance(stats.end, list) else stats.end.tolist()
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    layer_bytes = {name: dict.fromkeys(BYTE_KEYS, 0) for name in order}
    tags = [ins.layer for ins in instructions]
    ids = [ins.id for ins in instructions]
    consecutive = ids == list(range(len(ids)))
    a = 0
    for tag, run in groupby(tags):
        b = a + len(list(run))
        if tag not in layer_bytes:  # instructions tagged with a layer the header does not list
            order.append(tag)
            layer_bytes[tag] = dict.fromkeys(BYTE_KEYS, 0)
        if consecutive:
            s, e = min(start[a:b]), max(end[a:b])
        else:
            s, e = min(start[i] for i in ids[a:b]), max(end[i] for i in ids[a:b])
        if tag in first:
            s, e = min(first[tag], s), max(last[tag], e)
        first[tag], last[tag] = s, e
        lb = layer_bytes[tag]
        counts = list(map(attrgetter("bytes"), instructions[a:b]))
        for key in BYTE_KEYS:
            lb[key] += sum(map(dict.get, counts, repeat(key, b - a), repeat(0, b - a)))
        a = b
    return first, last, layer_bytes


def _table_spans(table: InstructionTable, stats: EngineStats, order: list[str]
                 ) -> tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]]:
    """:func:`_layer_spans` on a columnar trace: the same figures, reduced a run of one layer
    at a time by numpy (exact integer sums)."""
    import numpy as np

    layer = table.column("layer")
    names = table.layers.names
    start = np.asarray(stats.start, dtype=np.int64)
    end = np.asarray(stats.end, dtype=np.int64)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    layer_bytes = {name: dict.fromkeys(BYTE_KEYS, 0) for name in order}
    if not layer.size:
        return first, last, layer_bytes
    runs = np.concatenate([[0], np.flatnonzero(np.diff(layer)) + 1])
    run_first = np.minimum.reduceat(start, runs).tolist()
    run_last = np.maximum.reduceat(end, runs).tolist()
    run_bytes = {key: np.add.reduceat(table.nbytes(key), runs).tolist() for key in BYTE_KEYS}
    for r, code in enumerate(layer[runs].tolist()):
        tag = names[code]
        if tag not in layer_bytes:
            order.append(tag)
            layer_bytes[tag] = dict.fromkeys(BYTE_KEYS, 0)
        s, e = run_first[r], run_last[r]
        if tag in first:
            s, e = min(first[tag], s), max(last[tag], e)
        first[tag], last[tag] = s, e
        lb = layer_bytes[tag]
        for key in BYTE_KEYS:
            lb[key] += run_bytes[key][r]
    return first, last, layer_bytes


def _table_events(table: InstructionTable, stats: EngineStats) -> list[TimelineEvent]:
    units, ops, layers = table.units.names, table.ops.names, table.layers.names
    dram = (table.nbytes("dram_read") + table.nbytes("dram_write")).tolist()
    start = stats.start if isinstance(stats.start, list) else stats.start.tolist()
    end = stats.end if isinstance(stats.end, list) else stats.end.tolist()
    return [TimelineEvent(units[u], start[i], end[i], i, ops[o], layers[la], dram[i])
            for i, (u, o, la) in enumerate(zip(table.column("unit").tolist(),
                                               table.column("op").tolist(),
                                               table.column("layer").tolist(), strict=True))]


def build_result(trace: Trace, stats: EngineStats, *, config_name: str, clock_ghz: float,
                 pe_count: int, energy: EnergyTable, timeline: bool,
                 hardware: Any = None) -> Result:
    """Aggregate per layer (by instruction tag, in the order the trace lists layers).
    ``hardware`` (the config) gives the energy model its buffers, leakage and area; without
    it only ``energy``'s own numbers apply (no capacity model, leakage or area)."""
    per_event = event_energies(energy, hardware)
    order = [layer.name for layer in trace.layers]
    info = {layer.name: layer for layer in trace.layers}
    columnar = isinstance(trace.instructions, InstructionTable)
    first, last, layer_bytes = (_table_spans if columnar else _layer_spans)(
        trace.instructions if columnar else trace, stats, order)
    layers: list[LayerResult] = []
    prev_end = 0
    for name in order:
        end = last.get(name, prev_end)
        cycles = max(0, end - prev_end)
        layer = info.get(name)
        macs = layer.macs if layer else 0
        vops = layer.vector_ops if layer else 0
        util = macs / (cycles * pe_count) if cycles and pe_count else 0.0
        layers.append(LayerResult(
            name=name, op=layer.op if layer else "?", cycles=cycles,
            start=first.get(name, prev_end), end=end, macs=macs, utilization=util,
            bytes=layer_bytes[name],
            **_layer_energy(per_event.split(macs, layer_bytes[name], vops, cycles)),
            dims=dict(layer.dims) if layer else {}, vector_ops=vops,
        ))
        prev_end = max(prev_end, end)
    total = stats.total_cycles
    totals = {key: sum(lr.bytes[key] for lr in layers) for key in BYTE_KEYS}
    macs = sum(lr.macs for lr in layers)
    vector_ops = sum(lr.vector_ops for lr in layers)
    units = [UnitResult(u, stats.unit_busy[u], stats.unit_stall[u],
                        stats.unit_busy[u] / total if total else 0.0) for u in stats.unit_busy]
    events = None
    if timeline and columnar:
        events = _table_events(trace.instructions, stats)
    elif timeline:
        events = [TimelineEvent(ins.unit, stats.start[ins.id], stats.end[ins.id], ins.id, ins.op,
                                ins.layer, ins.bytes.get("dram_read", 0) +
                                ins.bytes.get("dram_write", 0))
                  for ins in trace.instructions]
    return Result(
        kind=trace.kind, config_name=config_name, workload=trace.workload, total_cycles=total,
        clock_ghz=clock_ghz, macs=macs, utilization=macs / (total * pe_count) if total else 0.0,
        pe_count=pe_count, instructions=len(trace.instructions), layers=layers, units=units,
        bytes=totals, energy_pj=per_event.split(macs, totals, vector_ops, total),
        timeline=events, area_mm2=per_event.area_mm2,
    )
