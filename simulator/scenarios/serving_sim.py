"""One serving run: Poisson requests of several tenants on a many-core chip, one scheduling policy.

A process per request (on the engine's :class:`~simulator.engine.Simulation` clock) walks its
model's layers in *blocks*; before each block it asks the scheduler for cores. The scheduler
serves waiting requests oldest first (FCFS by arrival) and decides at the moment cores are free:

- the block's extent: the whole model (model-wise), one layer (layer-wise), ``k`` layers (a
  fixed block), ``k`` from the feedback controller (which doubles ``k`` when more than ``high``
  of the last ``window`` decisions were conflicts and halves it below ``low``), or, for the
  adaptive block, as many layers as can meet their share of the request's remaining time on the
  cores free now (:meth:`~simulator.scenarios.serving_plan.BlockPlanner.target_block`, which
  also gives the cores it asks for);
- the cores it asks for (other policies): its count in the plan of the request's remaining
  layers, cut into blocks of that extent, with the fewest core-cycles that fits the remaining
  time to the QoS deadline (:mod:`~simulator.scenarios.serving_plan`), or the fastest count if
  no plan fits;
- the cores it gets: what it asks for, or the largest core count the chip offers that is free.
  Getting fewer is a *conflict*; the conflict rate is conflicts / decisions.

The block keeps its cores until its last layer ends. Each layer is one kernel on the shared
:class:`~simulator.scenarios.serving_chip.Chip`: with fixed compilation, the version fastest in
isolation on the granted cores; with adaptive compilation, of all versions on at most the granted
cores (other tilings, fewer cores: fewer replicated DRAM reads), the one fastest at the DRAM
contention level it would run under now.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from simulator.engine import Event, Simulation, WaitingLine
from simulator.scenarios.serving_chip import Chip, times_at
from simulator.scenarios.serving_plan import BlockPlanner
from simulator.scenarios.serving_profile import ModelProfile
from simulator.scenarios.serving_spec import AdaptiveBlockSpec, PolicySpec


@dataclass
class Tenant:
    """A served model with its latency tables and QoS target (cycles)."""

    name: str
    profile: ModelProfile
    qos: float
    weight: float = 1.0

    def __post_init__(self) -> None:
        p = self.profile
        self.fixed = p.fixed_version                        # (L, C)
        self.iso = p.isolated()                             # (L, C)
        self.layers = len(p.layers)
        self._planners: dict[float, BlockPlanner] = {}

    def planner(self, overhead: float) -> BlockPlanner:
        """The core planner for a per-block dispatch overhead (cycles); kept across runs."""
        if overhead not in self._planners:
            self._planners[overhead] = BlockPlanner(self.iso, self.profile.cores, overhead)
        return self._planners[overhead]


@dataclass
class Request:
    ident: int
    tenant: int
    arrival: float
    done: float = -1.0
    decisions: int = 0
    conflicts: int = 0


@dataclass
class RunResult:
    """What one run measured; times in cycles."""

    latency: np.ndarray
    tenant: np.ndarray
    qos: np.ndarray
    decisions: int
    conflicts: int
    makespan: float
    core_time: float
    cores: int
    mean_level: float
    block_sizes: list[int] = field(default_factory=list)
    grants: list[tuple[int, int, int, int, int, float]] = field(default_factory=list)

    @property
    def conflict_rate(self) -> float:
        return self.conflicts / self.decisions if self.decisions else 0.0

    @property
    def within_qos(self) -> np.ndarray:
        return self.latency <= self.qos

    @property
    def utilization(self) -> float:
        return self.core_time / (self.cores * self.makespan) if self.makespan else 0.0


class BlockController:
    """The feedback block size (see the module doc)."""

    def __init__(self, spec: AdaptiveBlockSpec) -> None:
        self.spec = spec
        self.k = spec.start
        self.flags: deque[bool] = deque(maxlen=spec.window)

    def record(self, conflict: bool) -> None:
        self.flags.append(conflict)
        if len(self.flags) < self.flags.maxlen:
            return
        rate = sum(self.flags) / len(self.flags)
        if rate > self.spec.high and self.k < self.spec.max:
            self.k = min(self.spec.max, 2 * self.k)
            self.flags.clear()
        elif rate < self.spec.low and self.k > self.spec.min:
            self.k = max(self.spec.min, self.k // 2)
            self.flags.clear()


class Scheduler:
    """Free cores and the requests waiting for them, oldest first."""

    def __init__(self, sim: Simulation, tenants: list[Tenant], cores: int,
                 options: list[int], policy: PolicySpec, adaptive: AdaptiveBlockSpec,
                 dispatch: float, alpha: float = 1.0) -> None:
        self.sim = sim
        self.alpha = alpha
        self.tenants = tenants
        self.free = cores
        self.options = options
        self.policy = policy
        self.dispatch = dispatch
        self.adaptive = adaptive
        self.controller = BlockController(adaptive) if policy.block == "feedback" else None
        #: requests waiting for cores, oldest first: (request, first layer, grant event)
        self.waiting: WaitingLine[tuple[Request, int, Event]] = WaitingLine()
        self.decisions = 0
        self.conflicts = 0
        self.core_time = 0.0
        self.block_sizes: list[int] = []
        #: every decision: (request, first layer, end layer, cores asked, cores granted, time)
        self.grants: list[tuple[int, int, int, int, int, float]] = []

    def next_block(self, req: Request, layer: int, release: int = 0,
                   held_since: float = 0.0) -> Event:
        """Give back ``release`` cores (held since ``held_since``) and queue for the block that
        starts at ``layer``; the event's value is ``(end layer, cores)``."""
        if release:
            self.free += release
            self.core_time += release * (self.sim.now - held_since)
        ev = self.sim.event()
        self.waiting.push((req.arrival, req.ident), (req, layer, ev))
        self._dispatch()
        return ev

    def finish(self, release: int, held_since: float) -> None:
        self.free += release
        self.core_time += release * (self.sim.now - held_since)
        self._dispatch()

    def _extent(self, tenant: Tenant, layer: int) -> int:
        g = self.policy.granularity
        if g == "model":
            return tenant.layers
        if g == "layer":
            return layer + 1
        k = self.controller.k if self.controller is not None else int(self.policy.block)
        return min(tenant.layers, layer + k)

    def demand(self, req: Request, tenant: Tenant, start: int, end: int) -> int:
        """Cores for the block in the least core-hungry plan that fits the remaining slack."""
        slack = req.arrival + tenant.qos - self.sim.now
        return tenant.planner(self.dispatch).cores(start, end - start, self.alpha * slack)

    def _dispatch(self) -> None:
        while self.waiting and self.free > 0:
            req, layer, ev = self.waiting.pop()
            tenant = self.tenants[req.tenant]
            if self.policy.granularity == "block" and self.policy.block == "adaptive":
                slack = self.alpha * (req.arrival + tenant.qos - self.sim.now)
                end, want = tenant.planner(self.dispatch).target_block(
                    layer, slack, self.free, self.adaptive.max)
            else:
                end = self._extent(tenant, layer)
                want = self.demand(req, tenant, layer, end)
            got = max(c for c in self.options if c <= min(want, self.free))
            conflict = got < want
            self.decisions += 1
            self.conflicts += conflict
            req.decisions += 1
            req.conflicts += conflict
            if self.controller is not None:
                self.controller.record(conflict)
            self.block_sizes.append(end - layer)
            self.grants.append((req.ident, layer, end, want, got, self.sim.now))
            self.free -= got
            ev.succeed((end, got))


def pick_kernel(tenant: Tenant, layer: int, cores: int, options: list[int], chip: Chip,
                adaptive: bool) -> tuple[np.ndarray, float]:
    """The (times per contention level, DRAM bytes) of the version a layer runs."""
    p = tenant.profile
    ci = options.index(cores)
    v = tenant.fixed[layer, ci]
    times, dram = p.cycles[layer, ci, v], p.dram[layer, ci, v]
    if not adaptive:
        return times, dram
    level = chip.level_with(times, dram) if chip.running else 1.0
    rows = p.cycles[layer, :ci + 1].reshape(-1, p.cycles.shape[-1])
    moved = p.dram[layer, :ci + 1].reshape(-1)
    best = int(np.argmin(times_at(np.maximum.accumulate(rows, axis=1), chip.levels, level)))
    return rows[best], float(moved[best])


def simulate_serving(tenants: list[Tenant], cores: int, options: list[int], bandwidth: float,
                     levels: list[float], policy: PolicySpec, adaptive: AdaptiveBlockSpec,
                     arrivals: np.ndarray, which: np.ndarray, dispatch: float = 0.0,
                     alpha: float = 1.0) -> RunResult:
    """Serve requests arriving at ``arrivals`` (cycles, sorted) of tenants ``which``."""
    sim = Simulation()
    chip = Chip(sim, bandwidth, levels)
    sched = Scheduler(sim, tenants, cores, options, policy, adaptive, dispatch, alpha)
    requests = [Request(i, int(t), float(a)) for i, (a, t) in
                enumerate(zip(arrivals, which, strict=True))]
    ac = policy.compilation == "adaptive"

    def serve(req: Request):
        tenant = tenants[req.tenant]
        layer, held, since = 0, 0, 0.0
        while layer < tenant.layers:
            end, held = yield sched.next_block(req, layer, held, since)
            since = sim.now
            if dispatch:
                yield sim.timeout(dispatch)
            for li in range(layer, end):
                times, dram = pick_kernel(tenant, li, held, options, chip, ac)
                yield chip.run(times, dram)
            layer = end
        sched.finish(held, since)
        req.done = sim.now

    def arrive():
        for req in requests:
            if req.arrival > sim.now:
                yield sim.timeout(req.arrival - sim.now)
            sim.process(serve(req))

    sim.process(arrive())
    sim.run()
    latency = np.array([r.done - r.arrival for r in requests])
    qos = np.array([tenants[r.tenant].qos for r in requests])
    mean_level = chip.level_time / chip.busy_time if chip.busy_time else 1.0
    return RunResult(latency, np.asarray(which), qos, sched.decisions, sched.conflicts,
                     float(sim.now), sched.core_time, cores, mean_level, sched.block_sizes,
                     sched.grants)
