"""The discrete-event core: units drain task queues on a SimPy clock of integer cycles.

The engine is hardware-agnostic. A hardware model turns its instructions into :class:`Task` s (which
unit runs it, for how many cycles, or how many bytes it moves over which :class:`Channel`, and which
earlier tasks it waits for); the engine resolves what closed forms cannot: overlap, contention for
shared bandwidth, and dependencies. How a unit picks its next task is the run's dispatch policy:
:class:`InOrder` (a compiled instruction stream per unit, this module) or :class:`ReadyWindow`
(a run-time tile scheduler, :mod:`simulator.engine.window`). One SimPy event per task, never one
per cycle.
"""

from __future__ import annotations

import simpy

from simulator.engine.tasks import (
    PROGRESS_MASK,
    Channel,
    Dispatch,
    EngineStats,
    InOrder,
    ProgressFn,
    ReadyWindow,
    Task,
    forward_dependency,
    unknown_channel,
)
from simulator.engine.window import run_window
from simulator.errors import TraceError


class Engine:
    """Runs a task list on the given channels with one dispatch policy for every unit.

    In order, each distinct unit becomes one SimPy process. A task's end time is known the
    moment it starts, so a unit computes when its next task can begin (its dependencies' end
    times) and sleeps once: one SimPy event per task. A transfer first wakes at the moment it
    is ready, so the channel is granted in the order requests really arrive (FIFO), then sleeps
    until its last byte has left.
    """

    def __init__(self, channels: list[Channel] | None = None,
                 dispatch: Dispatch | None = None) -> None:
        self.channels = {c.name: c for c in channels or []}
        self.dispatch = dispatch or InOrder()

    def run(self, tasks: list[Task], progress: ProgressFn | None = None) -> EngineStats:
        latency = [t.latency for t in tasks]
        return self.run_columns([t.unit for t in tasks], [t.cycles for t in tasks],
                                [t.channel for t in tasks], [t.nbytes for t in tasks],
                                [t.deps for t in tasks], progress,
                                latency=latency if any(latency) else None,
                                groups=[t.group for t in tasks])

    def run_columns(self, units: list[str], cycles: list[int], channels: list[str | None],
                    nbytes: list[int], deps: list, progress: ProgressFn | None = None, *,
                    latency: list[int] | None = None, groups: list[int] | None = None
                    ) -> EngineStats:
        """The same as :meth:`run` on parallel columns (what hardware models build, cheaply).

        ``latency`` and ``groups`` default to 0 for every task. ``progress(done, total)`` is
        called every few thousand tasks and at the end.
        """
        if isinstance(self.dispatch, ReadyWindow):
            n = len(units)
            return run_window(units, cycles, channels, nbytes, deps,
                              latency or [0] * n, groups or [0] * n, self.dispatch.window,
                              self.channels, progress)
        return self._run_in_order(units, cycles, channels, nbytes, deps, latency, progress)

    def _run_in_order(self, units: list[str], cycles: list[int], channels: list[str | None],
                      nbytes: list[int], deps: list, latency: list[int] | None,
                      progress: ProgressFn | None) -> EngineStats:
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
            if ch is not None and ch not in self.channels:
                raise unknown_channel(i, ch, self.channels)
            queues.setdefault(units[i], []).append(i)
        channel_free = dict.fromkeys(self.channels, 0)
        channel_bytes = dict.fromkeys(self.channels, 0)
        channel_busy = dict.fromkeys(self.channels, 0)
        unit_busy = dict.fromkeys(queues, 0)
        unit_stall = dict.fromkeys(queues, 0)
        link = {name: (c.bytes_per_cycle, c.latency) for name, c in self.channels.items()}
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
