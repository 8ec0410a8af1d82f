"""The ready-window dispatch policy: a run-time tile scheduler on the engine's SimPy clock.

Tasks belong to groups (tiles) admitted in ascending id, at most ``window`` in flight; a group
retires when its last task completes, which admits the next. An idle unit takes the
lowest-index ready task of an admitted group, so tasks of different groups overlap on different
units. One SimPy event per *moment* drives it: it first completes every task ending then (which
may ready dependants and retire groups), then runs a dispatch round in which each idle unit with
ready work takes one task. A moment is scheduled when a task will complete, or when a busy unit
with waiting work becomes free. A zero-occupancy task never makes its unit busy, so after one
its unit is next offered work at the next moment (a task ending at once makes another moment
at the same time, after this one).
"""

from __future__ import annotations

from heapq import heappop, heappush

from simulator.engine.tasks import (
    PROGRESS_MASK,
    Channel,
    EngineStats,
    ProgressFn,
    forward_dependency,
    unknown_channel,
)
from simulator.errors import TraceError


def run_window(units: list[str], cycles: list[int], channels: list[str | None],
               nbytes: list[int], deps: list, latency: list[int], groups: list[int],
               window: int, links: dict[str, Channel], progress: ProgressFn | None
               ) -> EngineStats:
    """Run a task list under :class:`~simulator.engine.tasks.ReadyWindow` (see the module doc)."""
    n = len(units)
    pending = [len(d) for d in deps]
    dependents: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for d in deps[i]:
            if not 0 <= d < i:
                raise forward_dependency(i, d)
            dependents[d].append(i)
        ch = channels[i]
        if ch is not None and ch not in links:
            raise unknown_channel(i, ch, links)
    rank_of = {g: r for r, g in enumerate(sorted(set(groups)))}
    rank = [rank_of[g] for g in groups]
    members: list[list[int]] = [[] for _ in rank_of]
    for i, r in enumerate(rank):
        members[r].append(i)
    left = [len(m) for m in members]
    names = list(dict.fromkeys(units))          # units in order of first appearance
    index = {u: k for k, u in enumerate(names)}
    unit = [index[u] for u in units]
    ready: list[list[int]] = [[] for _ in names]   # per unit: heap of ready task indices
    free_at = [0] * len(names)
    busy = [0] * len(names)
    stall = [0] * len(names)
    channel_free = dict.fromkeys(links, 0)
    channel_bytes = dict.fromkeys(links, 0)
    channel_busy = dict.fromkeys(links, 0)
    start, end = [-1] * n, [-1] * n
    admitted = in_flight = done = 0
    import simpy  # ~60 ms to import: only where a ready-window run needs its clock

    env = simpy.Environment()
    timeout = env.timeout
    #: moments with an event scheduled, and the tasks completing at each
    moments: dict[int, list[int]] = {}

    def at(t: int) -> list[int]:
        """The tasks completing at ``t``, scheduling that moment if it was not yet."""
        tasks = moments.get(t)
        if tasks is None:
            tasks = moments[t] = []
            timeout(t - env.now, t).callbacks.append(moment)
        return tasks

    def make_ready(i: int, now: int) -> None:
        k = unit[i]
        heappush(ready[k], i)
        if free_at[k] > now and free_at[k] not in moments:   # busy: offer work when it frees
            at(free_at[k])

    def admit(now: int) -> None:
        nonlocal admitted, in_flight
        while admitted < len(members) and in_flight < window:
            for i in members[admitted]:
                if pending[i] == 0:
                    make_ready(i, now)
            in_flight += 1
            admitted += 1

    def moment(event) -> None:
        nonlocal done, in_flight
        now = event.value
        for i in moments.pop(now):          # first every completion of the moment
            done += 1
            for j in dependents[i]:
                pending[j] -= 1
                if pending[j] == 0 and rank[j] < admitted:
                    make_ready(j, now)
            r = rank[i]
            left[r] -= 1
            if left[r] == 0:
                in_flight -= 1
                admit(now)
            if progress is not None and not done & PROGRESS_MASK:
                progress(done, n)
        for k, queue in enumerate(ready):   # then one dispatch round
            if not queue or free_at[k] > now:
                continue
            i = heappop(queue)
            ch = channels[i]
            if ch is None:
                begin, occupied, tail = now, cycles[i], latency[i]
            else:
                link = links[ch]
                size = nbytes[i]
                occupied = (-(-size // link.bytes_per_cycle) if size > 0 else 0) + cycles[i]
                begin = max(now, channel_free[ch])
                channel_free[ch] = begin + occupied
                channel_bytes[ch] += size
                channel_busy[ch] += occupied
                tail = link.latency + latency[i]
            hold = begin + occupied
            stall[k] += begin - free_at[k]
            busy[k] += occupied
            free_at[k] = hold
            start[i] = begin
            end[i] = finish = hold + tail
            tasks = moments.get(finish)
            if tasks is None:
                moments[finish] = [i]
                timeout(finish - now, finish).callbacks.append(moment)
            else:
                tasks.append(i)
            if queue and hold > now and hold not in moments:
                at(hold)

    admit(0)
    at(0)
    env.run()
    if progress is not None:
        progress(done, n)
    if done < n:
        # the first task left in an admitted group waits on a group never admitted
        stuck = next((i for i in range(n) if end[i] < 0 and rank[i] < admitted),
                     end.index(-1))
        raise TraceError(f"deadlock: instruction {stuck} ({units[stuck]}) never ran; it waits "
                         f"on a group that is admitted only after its own retires (groups are "
                         f"admitted in order, {window} at a time)", where=f"instruction {stuck}")
    start = [int(x) for x in start]
    end = [int(x) for x in end]
    return EngineStats(
        total_cycles=max(end, default=0), start=start, end=end,
        unit_busy={u: int(busy[k]) for k, u in enumerate(names)},
        unit_stall={u: int(stall[k]) for k, u in enumerate(names)},
        channel_bytes=channel_bytes, channel_busy=channel_busy,
    )
