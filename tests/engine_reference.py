"""The in-order engine as it was written on SimPy (one generator process per unit), kept as the
reference the event loop of :mod:`simulator.engine.core` is checked against: the same start and
end of every task, unit and channel statistics, on random task lists and on real traces."""

from __future__ import annotations

import simpy

from simulator.engine.tasks import (
    PROGRESS_MASK,
    Channel,
    EngineStats,
    ProgressFn,
    forward_dependency,
    unknown_channel,
)
from simulator.errors import TraceError


def run_in_order_simpy(links_in: dict[str, Channel], units: list[str], cycles: list[int],
                       channels: list[str | None], nbytes: list[int], deps: list,
                       latency: list[int] | None = None, progress: ProgressFn | None = None
                       ) -> EngineStats:
    env = simpy.Environment()
    n = len(units)
    lat = latency or [0] * n
    start = [-1] * n
    end = [-1] * n   # known as soon as the task is scheduled
    scheduled: dict[int, simpy.Event] = {}
    queues: dict[str, list[int]] = {}
    for i in range(n):
        for d in deps[i]:
            if not 0 <= d < i:
                raise forward_dependency(i, d)
        ch = channels[i]
        if ch is not None and ch not in links_in:
            raise unknown_channel(i, ch, links_in)
        queues.setdefault(units[i], []).append(i)
    channel_free = dict.fromkeys(links_in, 0)
    channel_bytes = dict.fromkeys(links_in, 0)
    channel_busy = dict.fromkeys(links_in, 0)
    unit_busy = dict.fromkeys(queues, 0)
    unit_stall = dict.fromkeys(queues, 0)
    link = {name: (c.bytes_per_cycle, c.latency) for name, c in links_in.items()}
    scheduled_count = [0]

    def unit_process(unit: str, queue: list[int]):
        busy = stall = 0
        timeout = env.timeout
        for i in queue:
            free_at = env.now
            ready = free_at
            for d in deps[i]:
                if end[d] < 0:  # not yet scheduled: wait until it is
                    ev = scheduled.get(d)
                    if ev is None:
                        ev = scheduled[d] = env.event()
                    yield ev
                if end[d] > ready:
                    ready = end[d]
            ch = channels[i]
            if ch is None:
                start[i] = ready
                hold = ready + cycles[i]
                end[i] = hold + lat[i]
                busy += cycles[i]
            else:
                if ready > env.now:
                    yield timeout(ready - env.now)
                bw, latency = link[ch]
                size = nbytes[i]
                occupied = (-(-size // bw) if size > 0 else 0) + cycles[i]
                begin = max(ready, channel_free[ch])
                hold = channel_free[ch] = begin + occupied
                channel_bytes[ch] += size
                channel_busy[ch] += occupied
                start[i] = begin
                end[i] = hold + latency + lat[i]
                busy += occupied
            stall += start[i] - free_at
            scheduled_count[0] += 1
            if progress is not None and not scheduled_count[0] & PROGRESS_MASK:
                progress(scheduled_count[0], n)
            ev = scheduled.pop(i, None)
            if ev is not None:
                ev.succeed()
            if hold > env.now:
                yield timeout(hold - env.now)
        unit_busy[unit] = int(busy)
        unit_stall[unit] = int(stall)

    for unit, queue in queues.items():
        env.process(unit_process(unit, queue))
    env.run()
    if progress is not None:
        progress(scheduled_count[0], n)
    if min(end, default=0) < 0:
        stuck = end.index(-1)
        raise TraceError(f"deadlock: instruction {stuck} ({units[stuck]}) never ran; its "
                         "dependencies form a cycle with its unit's queue order",
                         where=f"instruction {stuck}")
    start = [int(x) for x in start]
    end = [int(x) for x in end]
    return EngineStats(
        total_cycles=max(end, default=0), start=start, end=end, unit_busy=unit_busy,
        unit_stall=unit_stall, channel_bytes=channel_bytes, channel_busy=channel_busy,
    )
