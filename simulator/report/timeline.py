"""Perfetto / Chrome trace-event JSON: the instructions on their units, the layers, and DRAM
bandwidth as a counter.

Timestamps are in microseconds in that format; we write cycles as microseconds scaled by the
clock, so the UI's time axis reads in real time (1 cycle = 1/clock_ghz ns). Open the file in
ui.perfetto.dev or chrome://tracing.

Perfetto draws the slices of one track only if they nest. A DMA unit's transfers overlap (the
channel is free again while the last transfer's latency is still running), and so do layers (a
layer's loads start before the previous layer ends), so each unit and the layers get as many
tracks (``dma_load``, ``dma_load #2``, ...) as they have slices in flight at once: a slice goes
on the first of its unit's tracks whose last slice has ended. No slice partly overlaps another
on its track.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from simulator.result import Result

PID = 1
LAYERS = "layers"
DRAM_COUNTER = "DRAM GB/s"


def lanes(spans: Iterable[tuple[int, int]]) -> list[int]:
    """The track (0, 1, ...) of each ``(start, end)`` span, in the order given: the first track
    whose last span ended at or before this one's start (greedy interval partitioning, optimal
    for spans sorted by start)."""
    ends: list[int] = []
    out = []
    for start, end in spans:
        for track, last in enumerate(ends):
            if last <= start:
                ends[track] = end
                out.append(track)
                break
        else:
            ends.append(end)
            out.append(len(ends) - 1)
    return out


def chrome_trace(result: Result, buckets: int = 400) -> dict:
    if result.timeline is None:
        raise ValueError("the result carries no timeline; simulate with timeline=True")
    us = 1.0 / (result.clock_ghz * 1000.0)   # microseconds per cycle
    events: list[dict] = [
        {"ph": "M", "pid": PID, "name": "process_name",
         "args": {"name": f"{result.config_name} ({result.kind}) - {result.workload}"}},
    ]
    tids: dict[str, int] = {}

    def tid(track: str) -> int:
        if track not in tids:
            tids[track] = len(tids) + 1
            events.append({"ph": "M", "pid": PID, "tid": tids[track], "name": "thread_name",
                           "args": {"name": track}})
            events.append({"ph": "M", "pid": PID, "tid": tids[track],
                           "name": "thread_sort_index", "args": {"sort_index": tids[track]}})
        return tids[track]

    layer_rows = sorted((lr for lr in result.layers if lr.end > lr.start),
                        key=lambda lr: (lr.start, lr.end))
    for lr, lane in zip(layer_rows, lanes((lr.start, lr.end) for lr in layer_rows),
                        strict=True):
        track = LAYERS if lane == 0 else f"{LAYERS} #{lane + 1}"
        events.append({"ph": "X", "pid": PID, "tid": tid(track), "name": lr.name, "cat": lr.op,
                       "ts": lr.start * us, "dur": (lr.end - lr.start) * us,
                       "args": {"op": lr.op, "cycles": lr.cycles, "macs": lr.macs}})
    by_unit: dict[str, list] = {}
    for ev in result.timeline:
        by_unit.setdefault(ev.unit, []).append(ev)
    for unit in sorted(by_unit):
        evs = sorted(by_unit[unit], key=lambda e: (e.start, e.end, e.instruction))
        for ev, lane in zip(evs, lanes((e.start, e.end) for e in evs), strict=True):
            track = unit if lane == 0 else f"{unit} #{lane + 1}"
            events.append({
                "ph": "X", "pid": PID, "tid": tid(track), "name": f"{ev.op} {ev.layer}",
                "cat": ev.op, "ts": ev.start * us, "dur": (ev.end - ev.start) * us,
                "args": {"id": ev.instruction, "layer": ev.layer, "start_cycle": ev.start,
                         "end_cycle": ev.end, "dram_bytes": ev.dram_bytes},
            })
    events += dram_counter(result, us, buckets)
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"total_cycles": result.total_cycles, "clock_ghz": result.clock_ghz}}


def dram_counter(result: Result, us: float, buckets: int) -> list[dict]:
    """DRAM bandwidth over time (GB/s) in ``buckets`` equal windows: each transfer's bytes
    spread evenly over its span."""
    total = result.total_cycles
    if not total or not any(ev.dram_bytes for ev in result.timeline):
        return []
    width = max(1, -(-total // buckets))
    moved = [0.0] * (-(-total // width))
    for ev in result.timeline:
        if not ev.dram_bytes:
            continue
        start, end = ev.start, max(ev.end, ev.start + 1)
        rate = ev.dram_bytes / (end - start)
        for b in range(start // width, (end - 1) // width + 1):
            lo, hi = max(start, b * width), min(end, (b + 1) * width)
            moved[b] += rate * (hi - lo)
    cycle_ns = 1.0 / result.clock_ghz
    return [{"ph": "C", "pid": PID, "name": DRAM_COUNTER, "ts": b * width * us,
             "args": {"GB/s": moved[b] / (width * cycle_ns)}} for b in range(len(moved))]


def timeline_json(result: Result) -> str:
    return json.dumps(chrome_trace(result), separators=(",", ":")) + "\n"
