"""The discrete-event core: units that drain in-order task queues on a SimPy clock of integer cycles.

The engine is hardware-agnostic. A hardware model turns its instructions into :class:`Task` s (which
unit runs it, for how many cycles, or how many bytes it moves over which :class:`Channel`, and which
earlier tasks it waits for); the engine resolves what closed forms cannot: overlap, contention for
shared bandwidth, and dependencies. One SimPy event per task, never one per cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from simulator.errors import TraceError


@dataclass(frozen=True)
class Channel:
    """A shared link moving ``bytes_per_cycle``; ``latency`` cycles are added after each transfer
    (pipelined: the link is free again once the last byte is sent). Transfers are served FIFO."""

    name: str
    bytes_per_cycle: float
    latency: int = 0

    def occupancy(self, nbytes: int) -> int:
        return math.ceil(nbytes / self.bytes_per_cycle) if nbytes > 0 else 0


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
    """Runs a list of tasks. Each distinct ``Task.unit`` becomes one SimPy process."""

    def __init__(self, channels: list[Channel] | None = None) -> None:
        self.channels = {c.name: c for c in channels or []}

    def run(self, tasks: list[Task]) -> EngineStats:
        env = simpy.Environment()
        n = len(tasks)
        start = [-1] * n
        end = [-1] * n
        done = [False] * n
        waiters: dict[int, simpy.Event] = {}
        queues: dict[str, list[int]] = {}
        for i, task in enumerate(tasks):
            for d in task.deps:
                if not 0 <= d < i:
                    raise TraceError(f"task {i} depends on {d}; dependencies must point to earlier "
                                     "instructions", where=f"instruction {i}")
            if task.channel is not None and task.channel not in self.channels:
                raise TraceError(f"unknown channel {task.channel!r}; known: "
                                 f"{', '.join(self.channels) or 'none'}", where=f"instruction {i}")
            queues.setdefault(task.unit, []).append(i)
        channel_free = {name: 0 for name in self.channels}
        channel_bytes = {name: 0 for name in self.channels}
        channel_busy = {name: 0 for name in self.channels}
        unit_busy = {u: 0 for u in queues}
        unit_stall = {u: 0 for u in queues}

        def complete(i: int) -> None:
            done[i] = True
            end[i] = int(env.now)
            ev = waiters.pop(i, None)
            if ev is not None:
                ev.succeed()

        def unit_process(unit: str, queue: list[int]):
            busy = stall = 0
            for i in queue:
                task = tasks[i]
                ready_at = env.now
                for d in task.deps:
                    if not done[d]:
                        ev = waiters.get(d)
                        if ev is None:
                            ev = waiters[d] = env.event()
                        yield ev
                if task.channel is None:
                    start[i] = int(env.now)
                    stall += env.now - ready_at
                    if task.cycles:
                        yield env.timeout(task.cycles)
                    busy += task.cycles
                    complete(i)
                    continue
                ch = self.channels[task.channel]
                begin = max(env.now, channel_free[task.channel])
                occupied = ch.occupancy(task.nbytes) + task.cycles
                channel_free[task.channel] = begin + occupied
                channel_bytes[task.channel] += task.nbytes
                channel_busy[task.channel] += occupied
                start[i] = int(begin)
                stall += begin - ready_at
                busy += occupied
                yield env.timeout(begin + occupied - env.now)
                if ch.latency:
                    env.timeout(ch.latency).callbacks.append(lambda _e, i=i: complete(i))
                else:
                    complete(i)
            unit_busy[unit] = busy
            unit_stall[unit] = int(stall)

        for unit, queue in queues.items():
            env.process(unit_process(unit, queue))
        env.run()
        if not all(done):
            stuck = done.index(False)
            raise TraceError(f"deadlock: instruction {stuck} ({tasks[stuck].unit}) never ran; its "
                             "dependencies form a cycle with its unit's queue order",
                             where=f"instruction {stuck}")
        return EngineStats(
            total_cycles=max(end, default=0), start=start, end=end, unit_busy=unit_busy,
            unit_stall=unit_stall, channel_bytes=channel_bytes, channel_busy=channel_busy,
        )
