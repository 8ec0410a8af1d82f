"""Processes on the engine's clock, for system-level studies (serving, scheduling of requests).

Scenario code writes generator processes that ``yield`` events, as in SimPy, whose small core
this mirrors; it never imports SimPy, so the one event loop stays in :mod:`simulator.engine`.
An :data:`Event` fires once: ``succeed(value)`` schedules it now; processes waiting on it resume
with ``value``; functions in its ``callbacks`` list are called with it when it fires. Events of
one moment fire in the order they were scheduled.
"""

from __future__ import annotations

from collections.abc import Generator
from heapq import heappop, heappush
from itertools import count
from typing import Any, Generic, TypeVar

import simpy

Event = simpy.Event
T = TypeVar("T")


class Simulation:
    """A clock and the processes running on it."""

    def __init__(self) -> None:
        self._env = simpy.Environment()

    @property
    def now(self) -> float:
        return self._env.now

    def event(self) -> Event:
        """A new event, fired later by ``succeed(value)``."""
        return self._env.event()

    def timeout(self, delay: float, value: Any = None) -> Event:
        """An event that fires ``delay`` from now with ``value``."""
        return self._env.timeout(delay, value)

    def process(self, generator: Generator[Event, Any, Any]) -> Event:
        """Start ``generator`` now; the returned event fires when it returns."""
        return self._env.process(generator)

    def run(self, until: float | None = None) -> None:
        """Run until no event is left (or until the clock reaches ``until``)."""
        self._env.run(until)


class WaitingLine(Generic[T]):
    """Waiters for a shared resource, served lowest key first and first come, first served
    among equal keys (a priority or FCFS queue: the caller decides what the key means)."""

    def __init__(self) -> None:
        self._heap: list[tuple[Any, int, T]] = []
        self._arrivals = count()

    def push(self, key: Any, item: T) -> None:
        heappush(self._heap, (key, next(self._arrivals), item))

    def pop(self) -> T:
        """The first waiter in line (removed)."""
        return heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)
