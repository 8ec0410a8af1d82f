"""The shared chip of the serving study: kernels running at once slow each other through the DRAM.

Each running kernel has a profiled time ``t(x)`` for the DRAM channel slowed ``x`` times (its
cycles measured alone on a channel of bandwidth ``B/x``; piecewise linear in ``x`` between the
profiled levels, extrapolated beyond the last) and moves ``b`` DRAM bytes. Kernels whose average
demands ``b / t(1)`` fit in ``B`` together run as if alone. Otherwise the channel is saturated and
serves them all alike: every kernel sees it slowed by the same ``x``, the one at which their
demands fill it exactly, ``x * B = sum_k b_k / t_k(x)`` (a fluid model of a FIFO-shared channel).
Progress is tracked as the fraction of each kernel done; whenever a kernel starts or ends, the
level is solved again and every kernel's rate changes. One kernel alone runs exactly its
profiled cycles.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.engine import Event, Simulation

EPS = 1e-9


def time_at(times: Sequence[float], levels: Sequence[float], x: float) -> float:
    """``t(x)`` of one kernel (see the module doc); ``levels`` ascending, from 1."""
    if x <= levels[0]:
        return float(times[0])
    j = min(bisect.bisect_left(levels, x) - 1, len(levels) - 2)
    slope = (times[j + 1] - times[j]) / (levels[j + 1] - levels[j])
    return float(times[j] + slope * (x - levels[j]))


def times_at(times: np.ndarray, levels: np.ndarray, x: float) -> np.ndarray:
    """:func:`time_at` for every row of ``times`` (K, J) at once."""
    if x <= levels[0]:
        return times[:, 0]
    j = min(int(np.searchsorted(levels, x)) - 1, len(levels) - 2)
    slope = (times[:, j + 1] - times[:, j]) / (levels[j + 1] - levels[j])
    return times[:, j] + slope * (x - levels[j])


def contention_level(times: Sequence[Sequence[float]], dram: Sequence[float],
                     levels: Sequence[float], bandwidth: float) -> float:
    """The slowdown ``x >= 1`` of the shared channel for kernels with profiled ``times``
    (one row per kernel, non-decreasing along the levels) and DRAM bytes ``dram``; 1 when their
    demands fit. (Plain Python: a handful of kernels, solved at every kernel start and end.)"""
    n = len(levels)
    if not dram or n < 2:
        return 1.0
    j = -1
    for i, x in enumerate(levels):   # the first level at which the demands fit
        if x * bandwidth >= sum(b / t[i] for t, b in zip(times, dram, strict=True)):
            j = i
            break
    if j == 0:
        return 1.0
    j = j - 1 if j > 0 else n - 2    # solve on segment [j, j+1], or beyond the last level
    x0, x1 = levels[j], levels[j + 1]
    lines = [((t[j + 1] - t[j]) / (x1 - x0), b, t[j]) for t, b in
             zip(times, dram, strict=True)]
    x = x0   # the demands do not fit at x0: h(x0) < 0
    # h(x) = x*B - sum b/t(x), t linear in x on the segment, is increasing and concave: Newton
    # from the left of the root stays left of it and converges.
    for _ in range(50):
        h, dh = x * bandwidth, bandwidth
        for slope, b, t0 in lines:
            t = t0 + slope * (x - x0)
            h -= b / t
            dh += b * slope / (t * t)
        step = -h / dh
        x += step
        if abs(step) <= 1e-12 * x:
            break
    return max(1.0, x)


@dataclass(eq=False)
class _Kernel:
    times: tuple[float, ...]
    dram: float
    done: Event
    remaining: float = 1.0
    t_now: float = 0.0

    @property
    def demand(self) -> float:
        """Average DRAM bytes/cycle alone."""
        return self.dram / self.times[0] if self.times[0] > 0 else 0.0


class Chip:
    """The kernels running now, their progress, and the DRAM contention level they share."""

    def __init__(self, sim: Simulation, bandwidth: float, levels: list[float]) -> None:
        self.sim = sim
        self.bandwidth = bandwidth
        self.levels = np.asarray(levels, dtype=np.float64)
        self.level_list = [float(x) for x in levels]
        self.running: list[_Kernel] = []
        self.level = 1.0
        self._last = 0.0
        self._generation = 0
        #: time-weighted sum of the level while any kernel runs, and that time
        self.level_time = 0.0
        self.busy_time = 0.0

    def run(self, times: np.ndarray, dram: float) -> Event:
        """Start a kernel now; the returned event fires when it has finished."""
        self._advance()
        kernel = _Kernel(tuple(np.maximum.accumulate(np.asarray(times, dtype=np.float64))
                               .tolist()), float(dram), self.sim.event())
        self.running.append(kernel)
        self._reschedule()
        return kernel.done

    def level_with(self, times: np.ndarray, dram: float) -> float:
        """The contention level if a kernel with ``times``/``dram`` started now."""
        times = np.maximum.accumulate(np.asarray(times, dtype=np.float64))
        if sum(k.demand for k in self.running) + dram / times[0] <= self.bandwidth:
            return 1.0
        rows = [k.times for k in self.running] + [tuple(times.tolist())]
        moved = [k.dram for k in self.running] + [dram]
        return contention_level(rows, moved, self.level_list, self.bandwidth)

    def _advance(self) -> None:
        now = self.sim.now
        dt = now - self._last
        if dt > 0 and self.running:
            for k in self.running:
                k.remaining -= dt / k.t_now
            self.level_time += dt * self.level
            self.busy_time += dt
        self._last = now

    def _reschedule(self) -> None:
        self._generation += 1
        if not self.running:
            self.level = 1.0
            return
        if len(self.running) == 1 or sum(k.demand for k in self.running) <= self.bandwidth:
            self.level = 1.0
        else:
            self.level = contention_level([k.times for k in self.running],
                                          [k.dram for k in self.running], self.level_list,
                                          self.bandwidth)
        for k in self.running:
            k.t_now = k.times[0] if self.level == 1.0 else \
                time_at(k.times, self.level_list, self.level)
        wait = min(max(0.0, k.remaining) * k.t_now for k in self.running)
        generation = self._generation
        self.sim.timeout(wait).callbacks.append(self._wake(generation))

    def _wake(self, generation: int) -> Callable:
        def fire(_event) -> None:
            if generation != self._generation:
                return  # the running set changed since this wake-up was planned
            self._advance()
            finished = [k for k in self.running if k.remaining <= EPS]
            self.running = [k for k in self.running if k.remaining > EPS]
            self._reschedule()
            for k in finished:
                k.done.succeed()
        return fire
