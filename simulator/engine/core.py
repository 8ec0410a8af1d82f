"""The discrete-event core: units drain in-order task queues on a SimPy clock of integer cycles.

The engine is hardware-agnostic. A hardware model turns its instructions into :class:`Task` s (which
unit runs it, for how many cycles, or how many bytes it moves over which :class:`Channel`, and which
earlier tasks it waits for); the engine resolves what closed forms cannot: overlap, contention for
shared bandwidth, and dependencies. One SimPy event per task, never one per cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from simulator.errors import TraceError

ProgressFn = Callable[[int, int], None]
PROGRESS_MASK = 8191  # report every 8192 tasks


@dataclass(frozen=True)
class Channel:
    """A shared link moving ``bytes_per_cycle``; ``latency`` cycles are added after each transfer
    (pipelined: the link is free again once the last byte is sent). Transfers are served FIFO."""

    name: str
    bytes_per_cycle: float
    latency: int = 0

    def occupancy(self, nbytes: int) -> int:
        return -(-nbytes // self.bytes_per_cycle) if nbytes > 0 else 0


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work. Either ``cycles`` of compute, or ``nbytes`` over ``channel`` (plus
    ``cycles`` of fixed overhead). It starts after every task in ``deps`` has completed."""

    unit: str
    cycles: int = 0
    channel: str | None = None
    nbytes: int = 0
    deps: tuple[int, ...] = ()


@dataclass
class EngineStats:
    """What the engine measured: per-task start/end, per-unit busy/stall, per-channel bytes/busy."""

    total_cycles: int
    start: list[int]
    end: list[int]
    unit_busy: dict[str, int] = field(default_factory=dict)
    unit_stall: dict[str, int] = field(default_factory=dict)
    channel_bytes: dict[str, int] = field(default_factory=dict)
    channel_busy: dict[str, int] = field(default_factory=dict)


class Engine:
    """Runs a task list. Each distinct unit becomes one SimPy process.

    A task's end time is known the moment it starts, so a unit computes when its next task can
    begin (its dependencies' end times) and sleeps once: one SimPy event per task. A transfer
    first wakes at the moment it is ready, so the channel is granted in the order requests
    really arrive (FIFO), then sleeps until its last byte has left.
    """

    def __init__(self, channels: list[Channel] | None = None) -> None:
        self.channels = {c.name: c for c in channels or []}

    def run(self, tasks: list[Task], progress: ProgressFn | None = None) -> EngineStats:
        return self.run_columns([t.unit for t in tasks], [t.cycles for t in tasks],
                                [t.channel for t in tasks], [t.nbytes for t in tasks],
                                [t.deps for t in tasks], progress)

    def run_columns(self, units: list[str], cycles: list[int], channels: list[str | None],
                    nbytes: list[int], deps: list, progress: ProgressFn | None = None
                    ) -> EngineStats:
        """The same as :meth:`run` on parallel columns (what hardware models build, cheaply).

        ``progress(done, total)`` is called every few thousand scheduled tasks and at the end.
        """
        env = simpy.Environment()
        n = len(units)
        start = [-1] * n
        end = [-1] * n   # known as soon as the task is scheduled
        scheduled: dict[int, simpy.Event] = {}
        queues: dict[str, list[int]] = {}
        for i in range(n):
            for d in deps[i]:
                if not 0 <= d < i:
                    raise TraceError(f"task {i} depends on {d}; dependencies must point to earlier "
                                     "instructions", where=f"instruction {i}")
            ch = channels[i]
            if ch is not None and ch not in self.channels:
                raise TraceError(f"unknown channel {ch!r}; known: "
                                 f"{', '.join(self.channels) or 'none'}", where=f"instruction {i}")
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
                    end[i] = finish = ready + cycles[i]
                    busy += cycles[i]
                    hold = finish
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
                    end[i] = hold + latency
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
