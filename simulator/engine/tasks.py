"""What the engine is given and what it measures: tasks, channels, dispatch policies, statistics.

Kept apart from the loops that run them so every policy shares one vocabulary and one set of
error messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
    ``cycles`` of fixed overhead). It starts after every task in ``deps`` has completed.

    ``latency``: cycles between the moment the task frees its unit (and channel) and the moment
    its dependants see it done (a pipelined memory read). ``group``: the scheduling group (tile)
    a :class:`ReadyWindow` admits it with; ignored by :class:`InOrder`.
    """

    unit: str
    cycles: int = 0
    channel: str | None = None
    nbytes: int = 0
    deps: tuple[int, ...] = ()
    latency: int = 0
    group: int = 0


@dataclass(frozen=True)
class InOrder:
    """Each unit runs its tasks in list order: a compiler-ordered instruction stream per unit.
    A task waits at the head of its unit's queue until its dependencies are done."""


@dataclass(frozen=True)
class ReadyWindow:
    """A run-time scheduler that picks work by readiness, not by list order.

    Groups (tiles) are admitted in ascending group id, at most ``window`` in flight; a group
    retires when all its tasks have completed, which admits the next. Whenever a unit is idle it
    takes the lowest-index ready task (dependencies done, group admitted). All completions of a
    moment are handled before that moment's dispatch round.
    """

    window: int

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"a ready window needs at least one group in flight, not "
                             f"{self.window}")


Dispatch = InOrder | ReadyWindow


@dataclass
class EngineStats:
    """What the engine measured: per-task start/end, per-unit busy/stall, per-channel bytes/busy.

    A unit's stall is the time it sat idle before its last task freed it (waiting for
    dependencies, for its channel, or for work)."""

    total_cycles: int
    start: list[int]
    end: list[int]
    unit_busy: dict[str, int] = field(default_factory=dict)
    unit_stall: dict[str, int] = field(default_factory=dict)
    channel_bytes: dict[str, int] = field(default_factory=dict)
    channel_busy: dict[str, int] = field(default_factory=dict)


def forward_dependency(task: int, dep: int) -> TraceError:
    return TraceError(f"task {task} depends on {dep}; dependencies must point to earlier "
                      "instructions", where=f"instruction {task}")


def unknown_channel(task: int, channel: str, known) -> TraceError:
    return TraceError(f"unknown channel {channel!r}; known: {', '.join(known) or 'none'}",
                      where=f"instruction {task}")
