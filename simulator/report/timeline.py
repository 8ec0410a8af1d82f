"""Perfetto / Chrome trace-event JSON: the instructions on their units, the layers, DRAM
bandwidth as a counter, and (given the trace, on systolic) the bytes resident in each operand
SRAM as counters.

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
from collections import deque
from collections.abc import Iterable
from typing import Any

from simulator.result import Result

PID = 1
LAYERS = "layers"
DRAM_COUNTER = "DRAM GB/s"
#: the counter of bytes resident in one systolic operand SRAM (``ifmap``, ``filter``, ``ofmap``)
SRAM_COUNTER = "{} SRAM bytes"
SYSTOLIC_SRAMS = ("ifmap", "filter", "ofmap")


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


def chrome_trace(result: Result, buckets: int = 400, trace: Any = None) -> dict:
    """The trace-event JSON of a simulated ``result``; with the ``trace`` it ran (systolic),
    also the SRAM occupancy counters (:func:`sram_occupancy`)."""
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
    if trace is not None:
        starts = {ev.instruction: ev.start for ev in result.timeline}
        for sram, steps in sram_occupancy(trace, starts).items():
            events += [{"ph": "C", "pid": PID, "name": SRAM_COUNTER.format(sram),
                        "ts": cycle * us, "args": {"bytes": resident}}
                       for cycle, resident in steps]
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


class _Tile:
    __slots__ = ("key", "nbytes")

    def __init__(self, key: tuple | None, nbytes: int) -> None:
        self.key, self.nbytes = key, nbytes


def sram_occupancy(trace: Any, starts: dict[int, int]) -> dict[str, list[tuple[int, int]]]:
    """Bytes resident in each operand SRAM of a systolic ``trace`` over time: for ``ifmap``,
    ``filter`` and ``ofmap``, the ``(cycle, bytes)`` steps (the first at cycle 0), given each
    instruction's start cycle (``starts``: id -> cycle). Other kinds: ``{}``.

    Read from the instructions as the systolic lowering fills its SRAMs (whole tiles, the
    oldest evicted first when a new one does not fit the capacity in the trace's config):

    - a ``LOAD`` with ``sram_write`` bytes fills a tile of that many bytes: into ``ifmap`` if
      it loads the layer's A operand (``args.a``), ``ofmap`` if it reloads spilled partial
      sums (tensor ``*.psum``), else ``filter``;
    - a ``GEMM`` whose output block (tensor, group, m0, n0, dm, dn) is not resident fills an
      ``ofmap`` tile of dm x dn x the layer's output bytes per element;
    - a tile is resident from the start of the instruction that fills it to the start of the
      fill that evicts it (or the end of the run). Reused tiles cost no LOAD, so they stay.

    At every step the bytes are those of the tiles the lowering holds in that SRAM: allocated
    space, whether or not the data has arrived yet."""
    if trace.kind != "systolic":
        return {}
    sram = trace.config.get("sram", {})
    capacity = {b: max(1, int(float(sram.get(f"{b}_kb", 0)) * 1024)) for b in SYSTOLIC_SRAMS}
    a_operand = {layer.name: layer.args.get("a") for layer in trace.layers}
    c_bytes: dict[str, float] = {}   # output bytes per element: from a GEMM that writes
    for ins in trace.instructions:
        if ins.op == "GEMM" and ins.bytes.get("sram_write") and ins.layer not in c_bytes:
            c_bytes[ins.layer] = ins.bytes["sram_write"] / (ins.dims["dm"] * ins.dims["dn"])
    fifo: dict[str, deque[_Tile]] = {b: deque() for b in SYSTOLIC_SRAMS}
    used = dict.fromkeys(SYSTOLIC_SRAMS, 0)
    resident: dict[tuple, _Tile] = {}         # output blocks in ofmap, by key
    deltas: dict[str, list[tuple[int, int]]] = {b: [] for b in SYSTOLIC_SRAMS}
    pending_psum: _Tile | None = None

    def fill(buf: str, tile: _Tile, at: int) -> None:
        evicted = 0
        queue = fifo[buf]
        while queue and used[buf] + tile.nbytes > capacity[buf]:
            old = queue.popleft()
            used[buf] -= old.nbytes
            evicted += old.nbytes
            if old.key is not None:
                resident.pop(old.key, None)
        queue.append(tile)
        used[buf] += tile.nbytes
        deltas[buf].append((at, tile.nbytes - evicted))

    for ins in trace.instructions:
        at = starts.get(ins.id)
        if at is None:
            continue
        if ins.op == "LOAD" and ins.bytes.get("sram_write"):
            tensor = ins.tensor or ""
            tile = _Tile(None, ins.bytes["sram_write"])
            if tensor.endswith(".psum"):
                fill("ofmap", tile, at)
                pending_psum = tile
            else:
                fill("ifmap" if tensor == a_operand.get(ins.layer) else "filter", tile, at)
        elif ins.op == "GEMM":
            d = ins.dims
            key = (ins.tensor, d.get("group", 0), d["m0"], d["n0"], d["dm"], d["dn"])
            if pending_psum is not None:      # the partial sums just reloaded are this block
                pending_psum.key, resident[key] = key, pending_psum
                pending_psum = None
            elif key not in resident:
                tile = _Tile(key, round(d["dm"] * d["dn"] * c_bytes.get(ins.layer, 0)))
                resident[key] = tile
                fill("ofmap", tile, at)
    out = {}
    for buf in SYSTOLIC_SRAMS:
        steps: dict[int, int] = {0: 0}
        level = 0
        for at, delta in sorted(deltas[buf], key=lambda x: x[0]):
            level += delta
            steps[at] = level
        out[buf] = sorted(steps.items())
    return out


def timeline_json(result: Result, trace: Any = None) -> str:
    return json.dumps(chrome_trace(result, trace=trace), separators=(",", ":")) + "\n"
