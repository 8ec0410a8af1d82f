"""Turning engine statistics into a :class:`Result`: shared by every hardware kind."""

from __future__ import annotations

from typing import Any

from simulator.config.base import EnergyTable
from simulator.engine import EngineStats
from simulator.hw.energy import event_energies
from simulator.result import BYTE_KEYS, LayerResult, Result, TimelineEvent, UnitResult
from simulator.trace import Trace


def energy_pj(table: EnergyTable, macs: int, nbytes: dict[str, int], vector_ops: int = 0,
              cycles: int = 0, hardware: Any = None) -> dict[str, float]:
    """Energy by part (pJ) of ``macs`` MACs, ``vector_ops`` vector ops, the bytes moved and
    ``cycles`` of leakage on ``hardware`` (its config; simulator.hw.energy)."""
    return event_energies(table, hardware).split(macs, nbytes, vector_ops, cycles)


def _layer_energy(split: dict[str, float]) -> dict[str, float]:
    return {"energy_pj": split["total"], **{f"energy_{part}_pj": split[part] for part in (
        "mac", "vector", "sram", "dram", "leakage", "sram_read", "sram_write", "dram_read",
        "dram_write")}}


def build_result(trace: Trace, stats: EngineStats, *, config_name: str, clock_ghz: float,
                 pe_count: int, energy: EnergyTable, timeline: bool,
                 hardware: Any = None) -> Result:
    """Aggregate per layer (by instruction tag, in the order the trace lists layers).
    ``hardware`` (the config) gives the energy model its buffers, leakage and area; without
    it only ``energy``'s own numbers apply (no capacity model, leakage or area)."""
    per_event = event_energies(energy, hardware)
    order = [layer.name for layer in trace.layers]
    info = {layer.name: layer for layer in trace.layers}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    layer_bytes = {name: dict.fromkeys(BYTE_KEYS, 0) for name in order}
    for ins in trace.instructions:
        tag = ins.layer
        if tag not in layer_bytes:  # instructions tagged with a layer the header does not list
            order.append(tag)
            layer_bytes[tag] = dict.fromkeys(BYTE_KEYS, 0)
        s, e = stats.start[ins.id], stats.end[ins.id]
        first[tag] = min(first.get(tag, s), s)
        last[tag] = max(last.get(tag, e), e)
        lb = layer_bytes[tag]
        for key, value in ins.bytes.items():
            if key in lb:
                lb[key] += value
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
    if timeline:
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
