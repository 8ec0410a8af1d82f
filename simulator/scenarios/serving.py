"""The multi-tenant serving study (VELTAIR, ASPLOS 2022) on the ``npu`` target.

Several models (tenants) share one many-core chip; requests arrive as seeded Poisson processes and
each has a QoS latency target. Per-layer latencies come from the real npu lowering and timing at
every core count, compiled version and DRAM contention level (:mod:`.serving_profile`); the
serving timeline is a SimPy process model (:mod:`.serving_sim`) on a chip whose co-running
kernels slow each other through the shared DRAM (:mod:`.serving_chip`). For every policy
(model-wise FCFS, layer-wise, layer-block, with fixed or adaptive compilation) and load the study
reports requests, requests served within QoS, QoS satisfaction, mean/p99 latency and the conflict
rate, and over a sweep of rates the highest load still held at the QoS satisfaction target.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator.api import load_config
from simulator.config.npu import NpuConfig
from simulator.errors import ConfigError
from simulator.scenarios.serving_profile import ModelProfile, default_cache_dir, load_profile
from simulator.scenarios.serving_sim import RunResult, Tenant, simulate_serving
from simulator.scenarios.serving_spec import PolicySpec, ServingSpec


@dataclass
class LoadPoint:
    """One policy at one arrival rate."""

    rate_rps: float
    requests: int
    within_qos: int
    mean_ms: float
    p99_ms: float
    conflict_rate: float
    decisions: int
    utilization: float
    mean_contention: float
    mean_block: float
    p99_over_qos: float = 0.0
    tenants: dict[str, dict] = field(default_factory=dict)

    @property
    def satisfaction(self) -> float:
        return self.within_qos / self.requests if self.requests else 0.0

    def to_json(self) -> dict:
        return {"rate_rps": self.rate_rps, "requests": self.requests,
                "within_qos": self.within_qos, "qos_satisfaction": self.satisfaction,
                "mean_ms": self.mean_ms, "p99_ms": self.p99_ms,
                "conflict_rate": self.conflict_rate, "decisions": self.decisions,
                "utilization": self.utilization, "mean_contention": self.mean_contention,
                "mean_block_layers": self.mean_block, "p99_over_qos": self.p99_over_qos,
                "tenants": self.tenants}


@dataclass
class PolicyReport:
    policy: PolicySpec
    loads: dict[str, LoadPoint]
    sweep: list[LoadPoint]
    max_load_rps: float | None
    max_load_bound: str   # "=" (a swept rate), ">=" (held at every swept rate) or "<" (at none)

    def to_json(self) -> dict:
        return {"granularity": self.policy.granularity, "block": self.policy.block,
                "compilation": self.policy.compilation,
                "loads": {k: v.to_json() for k, v in self.loads.items()},
                "sweep": [p.to_json() for p in self.sweep],
                "max_load_rps": self.max_load_rps, "max_load_bound": self.max_load_bound}


@dataclass
class ServingReport:
    name: str
    target: str
    cores: int
    clock_ghz: float
    qos_satisfaction: float
    tenants: list[dict]
    policies: dict[str, PolicyReport]
    profile_seconds: float
    profile_cache_hits: int
    simulate_seconds: float

    def to_json(self) -> dict:
        return {"name": self.name, "target": self.target, "cores": self.cores,
                "clock_ghz": self.clock_ghz, "qos_satisfaction_target": self.qos_satisfaction,
                "tenants": self.tenants,
                "policies": {k: v.to_json() for k, v in self.policies.items()},
                "profile_seconds": self.profile_seconds,
                "profile_cache_hits": self.profile_cache_hits,
                "simulate_seconds": self.simulate_seconds}


def load_npu(spec: ServingSpec) -> NpuConfig:
    config = load_config(spec.target, spec.target_set)
    if not isinstance(config, NpuConfig):
        raise ConfigError(f"target: the serving study runs on an npu config, got kind "
                          f"{config.kind!r}", where=spec.target)
    return config


def build_tenants(spec: ServingSpec, config: NpuConfig, profiles: list[ModelProfile]
                  ) -> list[Tenant]:
    """Tenants with QoS targets in cycles (``qos_ms``, or ``qos_factor`` x best isolated)."""
    per_ms = config.clock_ghz * 1e6
    out = []
    for t, prof in zip(spec.tenants, profiles, strict=True):
        qos = t.qos_ms * per_ms if t.qos_ms is not None else t.qos_factor * prof.best_latency()
        out.append(Tenant(t.name, prof, float(qos), t.weight))
    return out


def unit_arrivals(spec: ServingSpec) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times at rate 1 (unit exponential gaps) and the tenant of each request; every
    rate scales the same draws, so policies and rates see common random numbers."""
    rng = np.random.default_rng(spec.seed)
    gaps = rng.exponential(1.0, spec.requests)
    weights = np.array([t.weight for t in spec.tenants], dtype=np.float64)
    which = rng.choice(len(spec.tenants), size=spec.requests, p=weights / weights.sum())
    return np.cumsum(gaps), which


def summarize(run: RunResult, rate: float, tenants: list[Tenant], warmup: int,
              clock_ghz: float) -> LoadPoint:
    per_ms = clock_ghz * 1e6
    lat = run.latency[warmup:] / per_ms
    ok = run.within_qos[warmup:]
    which = run.tenant[warmup:]
    per_tenant = {}
    for i, t in enumerate(tenants):
        mask = which == i
        n = int(mask.sum())
        per_tenant[t.name] = {
            "requests": n, "within_qos": int(ok[mask].sum()),
            "mean_ms": float(lat[mask].mean()) if n else 0.0,
            "p99_ms": float(np.percentile(lat[mask], 99)) if n else 0.0}
    return LoadPoint(rate, len(lat), int(ok.sum()), float(lat.mean()),
                     float(np.percentile(lat, 99)), run.conflict_rate, run.decisions,
                     run.utilization, run.mean_level,
                     float(np.mean(run.block_sizes)) if run.block_sizes else 0.0,
                     float(np.percentile(run.latency[warmup:] / run.qos[warmup:], 99)),
                     per_tenant)


def run_point(spec: ServingSpec, config: NpuConfig, tenants: list[Tenant], policy: PolicySpec,
              rate_rps: float, unit: tuple[np.ndarray, np.ndarray]) -> LoadPoint:
    """Simulate one policy at ``rate_rps`` requests per second (all tenants)."""
    per_cycle = rate_rps / (config.clock_ghz * 1e9)
    arrivals = unit[0] / per_cycle
    run = simulate_serving(tenants, config.cores, config.core_options(), config.dram.bandwidth,
                           spec.contention_levels, policy, spec.adaptive_block, arrivals,
                           unit[1], spec.dispatch_us * config.clock_ghz * 1e3, spec.alpha)
    return summarize(run, rate_rps, tenants, spec.warmup, config.clock_ghz)


def max_load(points: list[LoadPoint], target: float) -> tuple[float | None, str]:
    """The highest swept rate at which this and every lower swept rate meet ``target``."""
    held = None
    for p in sorted(points, key=lambda p: p.rate_rps):
        if p.satisfaction < target:
            return held, "=" if held is not None else "<"
        held = p.rate_rps
    return held, ">="


def search_load(at: Callable[[float], Any], loads: dict[str, float], sweep: list[float],
                target: float, refine: int) -> tuple[dict[str, Any], list[Any], float | None, str]:
    """The named ``loads`` and every ``sweep`` rate through ``at`` (a rate -> load point
    function that caches), then ``refine`` bisection steps between the last swept rate held and
    the first missed: (points by load name, points by rate, max load held, its bound)."""
    named = {name: at(rate) for name, rate in loads.items()}
    rates = sorted(set(sweep))
    held, bound = max_load([at(r) for r in rates], target)
    if bound == "=" and held is not None:
        low, high = held, min(r for r in rates if r > held)
        for _ in range(refine):
            mid = (low + high) / 2
            rates.append(mid)
            if at(mid).satisfaction >= target:
                low = mid
            else:
                high = mid
        held = low
    return named, [at(r) for r in sorted(set(rates))], held, bound


def study_policy(spec: ServingSpec, config: NpuConfig, tenants: list[Tenant],
                 policy: PolicySpec, unit: tuple[np.ndarray, np.ndarray]) -> PolicyReport:
    """One policy at every load and sweep rate (a rate in both is simulated once), then
    ``max_load_refine`` bisection steps between the last swept rate held and the first missed."""
    cache: dict[float, LoadPoint] = {}

    def at(rate: float) -> LoadPoint:
        if rate not in cache:
            cache[rate] = run_point(spec, config, tenants, policy, rate, unit)
        return cache[rate]

    loads, points, held, bound = search_load(at, spec.loads, spec.sweep, spec.qos_satisfaction,
                                             spec.max_load_refine)
    return PolicyReport(policy, loads, points, held, bound)


def _policy_args(args: tuple) -> PolicyReport:
    return study_policy(*args)


def run_serving(spec: ServingSpec, progress=None, jobs: int = 1) -> ServingReport:
    """Profile the tenants (cached), then simulate every policy at every load and sweep rate,
    on ``jobs`` processes (runs are independent and seeded, so the report does not depend on
    it). ``progress(message)`` is called before each step (the CLI prints it; this module never
    does)."""
    config = load_npu(spec)
    cache = Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()
    t0 = time.perf_counter()
    profiles, hits = [], 0
    from workloads.loader import load_workload

    for t in spec.tenants:
        if progress:
            progress(f"profiling {t.workload}")
        prof, hit = load_profile(t.workload, lambda w=t.workload: load_workload(w), config,
                                 spec.versions, spec.contention_levels, cache)
        profiles.append(prof)
        hits += hit
    profile_s = time.perf_counter() - t0
    tenants = build_tenants(spec, config, profiles)
    unit = unit_arrivals(spec)
    t0 = time.perf_counter()
    if progress:
        progress(f"simulating {len(spec.policies)} policies on {max(1, jobs)} process(es)")
    args = [(spec, config, tenants, policy, unit) for policy in spec.policies]
    if jobs > 1 and len(args) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(args))) as pool:
            results = list(pool.map(_policy_args, args))
    else:
        results = [study_policy(*a) for a in args]
    reports = {r.policy.name: r for r in results}
    per_ms = config.clock_ghz * 1e6
    tenant_info = [{"name": t.name, "workload": s.workload, "layers": t.layers,
                    "weight": t.weight, "qos_ms": t.qos / per_ms,
                    "isolated_ms": {str(c): float(t.iso[:, i].sum() / per_ms)
                                    for i, c in enumerate(t.profile.cores)}}
                   for t, s in zip(tenants, spec.tenants, strict=True)]
    return ServingReport(spec.name, spec.target, config.cores, config.clock_ghz,
                         spec.qos_satisfaction, tenant_info, reports, profile_s, hits,
                         time.perf_counter() - t0)
