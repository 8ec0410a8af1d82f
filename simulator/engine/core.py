"""The discrete-event core: units drain task queues on a clock of integer cycles.

The engine is hardware-agnostic. A hardware model turns its instructions into :class:`Task` s (which
unit runs it, for how many cycles, or how many bytes it moves over which :class:`Channel`, and which
earlier tasks it waits for); the engine resolves what closed forms cannot: overlap, contention for
shared bandwidth, and dependencies. How a unit picks its next task is the run's dispatch policy:
:class:`InOrder` (a compiled instruction stream per unit, this module) or :class:`ReadyWindow`
(a run-time tile scheduler on SimPy, :mod:`simulator.engine.window`). In order, the events are
those the SimPy process it replaced made (one per task, never one per cycle), on one heap in
SimPy's order: a Python loop, and for large runs the same loop compiled with numba
(:mod:`simulator.engine._inorder_kernel`). tests/engine_reference.py keeps the SimPy version
they are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from heapq import heappop, heappush
from itertools import chain
from typing import Any

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
from simulator.errors import TraceError


class Engine:
    """Runs a task list on the given channels with one dispatch policy for every unit.

    In order, each distinct unit is one process. A task's end time is known the moment it
    starts, so a unit computes when its next task can begin (its dependencies' end times) and
    sleeps once: one event per task. A transfer first wakes at the moment it
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
            from simulator.engine.window import run_window  # SimPy: only here

            n = len(units)
            return run_window(units, cycles, channels, nbytes, deps,
                              latency or [0] * n, groups or [0] * n, self.dispatch.window,
                              self.channels, progress)
        if len(units) >= COMPILED_MIN_TASKS:
            stats = self.run_arrays(TaskArrays.of(units, cycles, channels, nbytes, deps,
                                                  latency, list(self.channels)), progress)
            stats.start, stats.end = stats.start.tolist(), stats.end.tolist()
            return stats
        return self._run_in_order(units, cycles, channels, nbytes, deps, latency, progress)

    def run_arrays(self, tasks: TaskArrays, progress: ProgressFn | None = None,
                   compiled: bool | None = None) -> EngineStats:
        """In order, on numpy columns (what a hardware model builds from a columnar trace):
        the same schedule as :meth:`run_columns`, with ``start``/``end`` as int64 arrays. Large
        runs (``compiled`` None: at least ``COMPILED_MIN_TASKS`` tasks) go through the numba
        kernel, which reports progress only at the end; smaller ones through the Python loop."""
        import numpy as np

        if isinstance(self.dispatch, ReadyWindow):
            raise ValueError("run_arrays runs the in-order policy; use run_columns")
        n = tasks.cycles.size
        names = tasks.channel_names
        # the first bad task, as the Python loop finds it: its dependencies, then its channel
        known = np.array([c in self.channels for c in names] + [True], dtype=bool)
        bad_channel = np.flatnonzero(~known[tasks.channel])
        owner = np.repeat(np.arange(n, dtype=np.int64), np.diff(tasks.dep_ptr))
        bad_dep = np.flatnonzero((tasks.dep_idx < 0) | (tasks.dep_idx >= owner))
        owner = owner[bad_dep[:1]]   # only the first bad one is reported: free the rest
        if bad_dep.size and (not bad_channel.size or owner[0] <= bad_channel[0]):
            raise forward_dependency(int(owner[0]), int(tasks.dep_idx[bad_dep[0]]))
        if bad_channel.size:
            first = int(bad_channel[0])
            raise unknown_channel(first, names[tasks.channel[first]], self.channels)
        if compiled is None:
            compiled = n >= COMPILED_MIN_TASKS
        if not compiled:
            lists = tasks.lists()
            stats = self._run_in_order(*lists, progress)
            stats.start = np.asarray(stats.start, dtype=np.int64)
            stats.end = np.asarray(stats.end, dtype=np.int64)
            return stats
        from simulator.engine._inorder_kernel import run_in_order as kernel

        links = [self.channels[c] for c in names]
        occ, tail, kind = _occupancy(tasks, links)
        order = np.argsort(tasks.unit, kind="stable")
        counts = np.bincount(tasks.unit, minlength=len(tasks.unit_names))
        present = np.flatnonzero(counts)
        # units in order of first appearance, as the Python loop keys them
        first = np.full(len(tasks.unit_names), n, dtype=np.int64)
        np.minimum.at(first, tasks.unit, np.arange(n, dtype=np.int64))
        units = present[np.argsort(first[present], kind="stable")]
        del first
        qptr = np.concatenate([[0], np.cumsum(counts[units])]).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)])
        qtask = np.concatenate([order[starts[u]:starts[u + 1]] for u in units]) \
            if units.size else np.zeros(0, np.int64)
        del order
        # no copies of arrays that already are int64: a 10M-task run must fit in 2 GB
        start, end, busy, stall, ch_busy, count = kernel(
            qptr, qtask.astype(np.int64, copy=False), occ,
            tasks.channel.astype(np.int64, copy=False), tail,
            tasks.dep_ptr.astype(np.int64, copy=False),
            tasks.dep_idx.astype(np.int64, copy=False), len(links))
        del qtask, tail
        if progress is not None:
            progress(int(count), n)
        if count < n:
            stuck = int(np.flatnonzero(end < 0)[0])
            raise TraceError(f"deadlock: instruction {stuck} "
                             f"({tasks.unit_names[tasks.unit[stuck]]}) never ran; its "
                             "dependencies form a cycle with its unit's queue order",
                             where=f"instruction {stuck}")
        channel_bytes = {}
        channel_busy = {}
        for c, link in enumerate(links):
            mine = tasks.channel == c
            channel_bytes[link.name] = int(tasks.nbytes[mine].sum())
            channel_busy[link.name] = kind[c](ch_busy[c])
        for link in self.channels.values():   # channels no task names
            channel_bytes.setdefault(link.name, 0)
            channel_busy.setdefault(link.name, 0)
        return EngineStats(
            total_cycles=int(end.max()) if n else 0, start=start, end=end,
            unit_busy={tasks.unit_names[u]: int(busy[k]) for k, u in enumerate(units)},
            unit_stall={tasks.unit_names[u]: int(stall[k]) for k, u in enumerate(units)},
            channel_bytes={c: channel_bytes[c] for c in self.channels},
            channel_busy={c: channel_busy[c] for c in self.channels})

    def _run_in_order(self, units: list[str], cycles: list[int], channels: list[str | None],
                      nbytes: list[int], deps: list, latency: list[int] | None,
                      progress: ProgressFn | None) -> EngineStats:
        """The in-order policy's event loop (see the module doc for the process it runs)."""
        n = len(units)
        queues: dict[str, list[int]] = {}
        for i in range(n):
            for d in deps[i]:
                if not 0 <= d < i:
                    raise forward_dependency(i, d)
            ch = channels[i]
            if ch is not None and ch not in self.channels:
                raise unknown_channel(i, ch, self.channels)
            queue = queues.get(units[i])
            if queue is None:
                queues[units[i]] = [i]
            else:
                queue.append(i)
        stats = run_in_order(list(queues.values()), cycles, channels, nbytes, deps,
                             latency or [0] * n, self.channels, progress)
        if min(stats.end, default=0) < 0:
            stuck = stats.end.index(-1)
            raise TraceError(f"deadlock: instruction {stuck} ({units[stuck]}) never ran; its "
                             "dependencies form a cycle with its unit's queue order",
                             where=f"instruction {stuck}")
        stats.unit_busy = dict(zip(queues, stats.unit_busy.values(), strict=True))
        stats.unit_stall = dict(zip(queues, stats.unit_stall.values(), strict=True))
        return stats


#: the smallest in-order run that goes through the compiled (numba) loop: below it the Python
#: loop is done before numba would have loaded (~0.6 s), above it the kernel is ~20x faster
COMPILED_MIN_TASKS = 200_000


@dataclass
class TaskArrays:
    """A task list as numpy columns: unit and channel as indices into their name lists (channel
    -1: none), dependencies as CSR (task i waits for ``dep_idx[dep_ptr[i]:dep_ptr[i + 1]]``)."""

    unit: Any
    unit_names: list[str]
    cycles: Any
    channel: Any
    channel_names: list[str]
    nbytes: Any
    dep_ptr: Any
    dep_idx: Any
    latency: Any = None

    @classmethod
    def of(cls, units: list[str], cycles: list[int], channels: list[str | None],
           nbytes: list[int], deps: list, latency: list[int] | None,
           channel_names: list[str]) -> TaskArrays:
        """From the list columns of :meth:`Engine.run_columns`."""
        import numpy as np

        # names numbered in order of first appearance (dict.fromkeys keeps it), looked up by map
        unit_index = {u: k for k, u in enumerate(dict.fromkeys(units))}
        unit = np.fromiter(map(unit_index.__getitem__, units), dtype=np.int64, count=len(units))
        channel_index = {c: k for k, c in enumerate(channel_names)}
        for c in dict.fromkeys(channels):   # channels the engine does not have: refused later
            if c is not None and c not in channel_index:
                channel_index[c] = len(channel_index)
        names = list(channel_index)
        channel_index[None] = -1   # type: ignore[index]
        channel = np.fromiter(map(channel_index.__getitem__, channels), dtype=np.int64,
                              count=len(channels))
        lengths = np.fromiter(map(len, deps), dtype=np.int64, count=len(deps))
        dep_ptr = np.zeros(len(deps) + 1, dtype=np.int64)
        np.cumsum(lengths, out=dep_ptr[1:])
        dep_idx = np.fromiter(chain.from_iterable(deps), dtype=np.int64, count=int(dep_ptr[-1]))
        return cls(unit, list(unit_index), np.asarray(cycles, dtype=np.int64), channel, names,
                   np.asarray(nbytes, dtype=np.int64), dep_ptr, dep_idx,
                   None if latency is None else np.asarray(latency, dtype=np.int64))

    def lists(self) -> tuple[list, list, list, list, list, list | None]:
        """The list columns of :meth:`Engine.run_columns` (units, cycles, channels, bytes,
        deps, latency)."""
        units = [self.unit_names[u] for u in self.unit.tolist()]
        channels = [None if c < 0 else self.channel_names[c] for c in self.channel.tolist()]
        ptr, idx = self.dep_ptr.tolist(), self.dep_idx.tolist()
        deps = [idx[ptr[i]:ptr[i + 1]] for i in range(len(units))]
        latency = None if self.latency is None else self.latency.tolist()
        return units, self.cycles.tolist(), channels, self.nbytes.tolist(), deps, latency


def _occupancy(tasks: TaskArrays, links: list[Channel]):
    """Per task, the cycles it holds its unit (a transfer: its bytes over the channel's
    bandwidth rounded up, as the Python loop computes it, plus its cycles) and the tail until
    dependants see it done; and per channel the type its busy total has in the Python loop
    (float when a float bandwidth moved bytes)."""
    import numpy as np

    occ = tasks.cycles.astype(np.int64, copy=True)
    tail = np.zeros_like(occ) if tasks.latency is None else \
        tasks.latency.astype(np.int64, copy=True)
    kind = []
    for c, link in enumerate(links):
        mine = np.flatnonzero((tasks.channel == c) & (tasks.nbytes > 0))
        sizes, where = np.unique(tasks.nbytes[mine], return_inverse=True)
        bw = link.bytes_per_cycle
        per = np.array([int(-(-int(size) // bw)) for size in sizes.tolist()], dtype=np.int64)
        occ[mine] += per[where] if sizes.size else 0
        tail[tasks.channel == c] += link.latency
        kind.append(float if isinstance(bw, float) and mine.size else int)
    return occ, tail, kind


#: bit positions of the event key: (time << _TIME) | (priority << _PRIO) | event id
_PRIO = 48
_TIME = 49
_URGENT, _NORMAL = 0, 1 << _PRIO


def run_in_order(queues: list[list[int]], cycles: list[int], channels: list[str | None],
                 nbytes: list[int], deps: list, latency: list[int], links: dict[str, Channel],
                 progress: ProgressFn | None) -> EngineStats:
    """Each queue (a unit's task indices, in order) drained by its unit; unit statistics are
    keyed by queue position. A task that never ran keeps ``end`` -1 (the caller reports it).

    This is a SimPy run without SimPy: each unit is the process described in the module doc,
    and every point where that process waits is an event on one heap ordered, as SimPy orders
    them, by (time, priority, creation order): a unit's start (urgent, at 0), a timeout (until
    a transfer may take its channel, or until the unit frees), and "task d is scheduled" (fired
    when d's start is fixed, waking the units waiting for it in the order they began to wait).
    Event for event, it is the schedule SimPy made (tests/engine_reference.py keeps that
    implementation; tests/test_engine_fast.py checks they agree), without SimPy's per-event
    objects, generators and callbacks.
    """
    n = len(cycles)
    start = [-1] * n
    end = [-1] * n
    nq = len(queues)
    pos = [0] * nq         # a unit's position in its queue
    phase = [0] * nq       # 0: at a task's start; 1: waiting for deps[didx]; 2: for its channel
    didx = [0] * nq
    free = [0] * nq        # when the unit freed for its current task
    ready = [0] * nq       # the current task's readiness so far
    busy = [0] * nq
    stall = [0] * nq
    names = list(links)
    channel_free = [0] * len(names)
    channel_bytes = [0] * len(names)
    channel_busy = [0] * len(names)
    bandwidth = [links[c].bytes_per_cycle for c in names]
    wire = [links[c].latency for c in names]
    index = {c: k for k, c in enumerate(names)}
    chan = [-1 if c is None else index[c] for c in channels]
    waited = bytearray(n)                 # some unit waits for the task to be scheduled
    waiters: dict[int, list[int]] = {}    # task -> units waiting for it to be scheduled
    heap = [(u, u) for u in range(nq)]    # the units' starts: urgent, at 0, in unit order
    push, pop = heappush, heappop
    eid = nq
    count = 0
    now = 0
    report = PROGRESS_MASK if progress is not None else -1

    def run(u: int) -> None:
        """Unit ``u``'s process from where it waited, until it waits again (or is done)."""
        nonlocal eid, count
        queue = queues[u]
        last = len(queue)
        p = pos[u]
        ph = phase[u]
        b = s = 0
        while True:
            if ph == 0:
                if p == last:
                    break
                i = queue[p]
                free_at = rdy = now
                di = deps[i]
                k = 0
            else:
                i = queue[p]
                free_at, rdy = free[u], ready[u]
                di = deps[i]
                k = didx[u]
                if ph == 1:   # the dependency it waited for is scheduled now
                    e = end[di[k]]
                    if e > rdy:
                        rdy = e
                    k += 1
            c = chan[i]
            if ph != 2:
                while k < len(di):
                    d = di[k]
                    e = end[d]
                    if e < 0:   # not yet scheduled: wait until it is
                        if waited[d]:
                            waiters[d].append(u)
                        else:
                            waited[d] = 1
                            waiters[d] = [u]
                        pos[u], phase[u], didx[u], free[u], ready[u] = p, 1, k, free_at, rdy
                        busy[u] += b
                        stall[u] += s
                        return
                    if e > rdy:
                        rdy = e
                    k += 1
                if c >= 0 and rdy > now:   # a transfer asks for its channel when ready
                    push(heap, ((int(rdy) << _TIME) | _NORMAL | eid, u))
                    eid += 1
                    pos[u], phase[u], free[u], ready[u] = p, 2, free_at, rdy
                    busy[u] += b
                    stall[u] += s
                    return
            if c < 0:
                st = rdy
                occupied = cycles[i]
                hold = rdy + occupied
                end[i] = hold + latency[i]
            else:
                size = nbytes[i]
                occupied = (-(-size // bandwidth[c]) if size > 0 else 0) + cycles[i]
                st = channel_free[c]
                if rdy > st:
                    st = rdy
                hold = channel_free[c] = st + occupied
                channel_bytes[c] += size
                channel_busy[c] += occupied
                end[i] = hold + wire[c] + latency[i]
            b += occupied
            start[i] = st
            s += st - free_at
            count += 1
            if not count & report:
                progress(count, n)
            if waited[i]:   # fire "i is scheduled"
                push(heap, ((now << _TIME) | _NORMAL | eid, ~i))
                eid += 1
            p += 1
            ph = 0
            if hold > now:
                push(heap, ((int(hold) << _TIME) | _NORMAL | eid, u))
                eid += 1
                pos[u], phase[u] = p, 0
                break
        busy[u] += b
        stall[u] += s

    while heap:
        key, code = pop(heap)
        now = key >> _TIME
        if code >= 0:
            run(code)
        else:
            for u in waiters.pop(~code):
                run(u)
    if progress is not None:
        progress(count, n)
    start = [int(x) for x in start]
    end = [int(x) for x in end]
    return EngineStats(
        total_cycles=max(end, default=0), start=start, end=end,
        unit_busy={u: int(b) for u, b in enumerate(busy)},
        unit_stall={u: int(s) for u, s in enumerate(stall)},
        channel_bytes=dict(zip(names, channel_bytes, strict=True)),
        channel_busy=dict(zip(names, channel_busy, strict=True)),
    )
