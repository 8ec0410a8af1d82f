"""Perfetto / Chrome trace-event JSON: one track (thread) per unit, one slice per instruction.

Timestamps are in microseconds in that format; we write cycles as microseconds scaled by the
clock, so the UI's time axis reads in real time (1 cycle = 1/clock_ghz ns). Open the file in
ui.perfetto.dev or chrome://tracing.
"""

from __future__ import annotations

import json

from simulator.result import Result


def chrome_trace(result: Result) -> dict:
    if result.timeline is None:
        raise ValueError("the result carries no timeline; simulate with timeline=True")
    ns_per_cycle = 1.0 / result.clock_ghz
    units = sorted({ev.unit for ev in result.timeline})
    tid = {u: i + 1 for i, u in enumerate(units)}
    events: list[dict] = [
        {"ph": "M", "pid": 1, "name": "process_name",
         "args": {"name": f"{result.config_name} ({result.kind}) - {result.workload}"}},
    ]
    for unit in units:
        events.append({"ph": "M", "pid": 1, "tid": tid[unit], "name": "thread_name",
                       "args": {"name": unit}})
    for ev in result.timeline:
        events.append({
            "ph": "X", "pid": 1, "tid": tid[ev.unit], "name": f"{ev.op} {ev.layer}",
            "cat": ev.op, "ts": ev.start * ns_per_cycle / 1000.0,
            "dur": (ev.end - ev.start) * ns_per_cycle / 1000.0,
            "args": {"id": ev.instruction, "layer": ev.layer, "start_cycle": ev.start,
                     "end_cycle": ev.end},
        })
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"total_cycles": result.total_cycles, "clock_ghz": result.clock_ghz}}


def timeline_json(result: Result) -> str:
    return json.dumps(chrome_trace(result), separators=(",", ":")) + "\n"
