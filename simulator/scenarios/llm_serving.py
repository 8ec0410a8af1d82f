"""The LLM serving study (``archsim serve`` with an LLM spec): static vs continuous batching vs
chunked prefill on one accelerator, with a paged KV cache sized by the config's memory, against
time-to-first-token and time-per-output-token targets.

Per-iteration costs come from archsim's simulated prefill and decode steps of the ``llm:``
workload (:mod:`.llm_serving_profile`, cached); requests arrive as a seeded Poisson process with
prompt and output lengths from a log-normal (ShareGPT-like by default) or a CSV trace
(:func:`request_lengths`); each policy serves them on the engine's clock
(:mod:`.llm_serving_sim`). For every policy and load the study reports TTFT and TPOT p50/p99,
throughput, KV occupancy and preemptions, and over a sweep of rates the highest load at which the
share of requests meeting both targets stays at ``slo_attainment``.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.api import load_config
from simulator.errors import ConfigError
from simulator.scenarios.llm_serving_profile import (
    IterationCost,
    LlmProfile,
    ServedModel,
    default_grid,
    load_llm_profile,
    served_model,
)
from simulator.scenarios.llm_serving_sim import (
    WATERMARK,
    KvCache,
    Observer,
    RunResult,
    make_policy,
    simulate_llm_serving,
)
from simulator.scenarios.llm_serving_spec import LlmServingSpec, PolicySpec
from simulator.scenarios.serving import search_load
from simulator.scenarios.serving_profile import default_cache_dir


@dataclass
class KvBudget:
    """The KV cache the config's memory leaves: ``memory_gb`` x utilization - weights."""

    memory_gb: float
    utilization: float
    weight_bytes: int
    kv_bytes_per_token: int
    block_tokens: int
    blocks: int

    @property
    def tokens(self) -> int:
        return self.blocks * self.block_tokens

    def to_json(self) -> dict:
        return {"memory_gb": self.memory_gb, "memory_utilization": self.utilization,
                "weight_gb": self.weight_bytes / 1e9,
                "kv_bytes_per_token": self.kv_bytes_per_token,
                "block_tokens": self.block_tokens, "blocks": self.blocks,
                "tokens": self.tokens,
                "kv_gb": self.blocks * self.block_tokens * self.kv_bytes_per_token / 1e9}


def kv_budget(spec: LlmServingSpec, config, model: ServedModel) -> KvBudget:
    """Blocks of the KV cache; a model or a longest request that does not fit is a located
    error naming the spec's target."""
    memory = getattr(config, "memory_gb", None)
    if memory is None:
        raise ConfigError("the LLM serving study needs the config's memory_gb (off-chip "
                          "capacity) for the KV cache: set it in the config or in the spec's "
                          "target_set (e.g. target_set: {memory_gb: 40})", where=spec.target)
    word = config.word_bytes
    weights = model.weight_bytes(word)
    per_token = model.kv_bytes_per_token(word)
    room = memory * 1e9 * spec.kv_cache.memory_utilization - weights
    blocks = int(room // (per_token * spec.kv_cache.block_tokens)) if room > 0 else 0
    budget = KvBudget(memory, spec.kv_cache.memory_utilization, weights, per_token,
                      spec.kv_cache.block_tokens, blocks)
    need = -(-spec.max_model_len // spec.kv_cache.block_tokens)
    if need > blocks * (1 - WATERMARK):
        raise ConfigError(f"memory_gb {memory:g} x {spec.kv_cache.memory_utilization:g} holds "
                          f"{model.name}'s {weights / 1e9:.2f} GB of weights and KV for "
                          f"{budget.tokens:,} tokens: not one request of max_model_len "
                          f"{spec.max_model_len} (raise memory_gb or lower max_model_len)",
                          where=spec.target)
    return budget


def request_lengths(spec: LlmServingSpec) -> tuple[np.ndarray, np.ndarray]:
    """Prompt and output tokens of ``spec.requests`` requests (seeded), clipped to
    ``max_model_len`` (see :class:`~.llm_serving_spec.LengthSpec`)."""
    n, top = spec.requests, spec.max_model_len
    lengths = spec.lengths
    if lengths.source == "csv":
        prompt, output = read_length_csv(lengths.csv or "")
        idx = np.arange(n) % len(prompt)
        prompt, output = prompt[idx].astype(np.float64), output[idx].astype(np.float64)
    else:
        rng = np.random.default_rng([spec.seed, 1])
        prompt = np.exp(rng.normal(lengths.prompt.mu, lengths.prompt.sigma, n))
        output = np.exp(rng.normal(lengths.output.mu, lengths.output.sigma, n))
    prompt = np.clip(np.rint(prompt), 1, top - 1).astype(np.int64)
    output = np.clip(np.rint(output), 1, top - prompt).astype(np.int64)
    return prompt, output


def read_length_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """A CSV trace's prompt and output token counts; bad files are located errors."""
    names = (("prompt_tokens", "output_tokens"), ("num_prefill_tokens", "num_decode_tokens"))
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            cols = next((c for c in names if c[0] in fields and c[1] in fields), None)
            if cols is None:
                raise ConfigError(f"expected columns prompt_tokens,output_tokens (or "
                                  f"num_prefill_tokens,num_decode_tokens); found "
                                  f"{','.join(fields) or 'none'}", where=f"{path}:1")
            prompt, output = [], []
            for line, row in enumerate(reader, start=2):
                try:
                    p, o = int(row[cols[0]]), int(row[cols[1]])
                except (TypeError, ValueError):
                    raise ConfigError(f"{cols[0]} and {cols[1]} must be whole numbers",
                                      where=f"{path}:{line}") from None
                if p < 1 or o < 1:
                    raise ConfigError("token counts must be at least 1", where=f"{path}:{line}")
                prompt.append(p)
                output.append(o)
    except OSError as err:
        raise ConfigError(f"cannot read the length trace: {err.strerror}", where=path) from None
    except UnicodeDecodeError:
        raise ConfigError("the length trace is not UTF-8 text", where=path) from None
    if not prompt:
        raise ConfigError("the length trace has no rows", where=path)
    return np.array(prompt), np.array(output)


def unit_arrivals(spec: LlmServingSpec) -> np.ndarray:
    """Arrival times at rate 1 (unit exponential gaps): every rate scales the same draws, so
    policies and rates see common random numbers."""
    rng = np.random.default_rng([spec.seed, 0])
    return np.cumsum(rng.exponential(1.0, spec.requests))


@dataclass
class LoadPoint:
    """One policy at one arrival rate (latencies in ms over the counted requests)."""

    rate_rps: float
    requests: int
    within_slo: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    ttft_mean_ms: float
    tpot_p50_ms: float
    tpot_p99_ms: float
    tpot_mean_ms: float
    latency_mean_ms: float
    latency_p99_ms: float
    tokens_per_s: float
    requests_per_s: float
    kv_occupancy: float
    kv_peak: float
    preemptions: int
    iterations: int
    mean_decode_batch: float
    prompt_tokens_recomputed: int = 0
    tbt_p50_ms: float = 0.0
    tbt_p99_ms: float = 0.0
    kv_token_occupancy: float = 0.0

    @property
    def satisfaction(self) -> float:
        """Share of counted requests meeting both targets (``max_load`` reads this name)."""
        return self.within_slo / self.requests if self.requests else 0.0

    def to_json(self) -> dict:
        return {"rate_rps": self.rate_rps, "requests": self.requests,
                "within_slo": self.within_slo, "slo_attainment": self.satisfaction,
                "ttft_ms": {"p50": self.ttft_p50_ms, "p99": self.ttft_p99_ms,
                            "mean": self.ttft_mean_ms},
                "tpot_ms": {"p50": self.tpot_p50_ms, "p99": self.tpot_p99_ms,
                            "mean": self.tpot_mean_ms},
                "tbt_ms": {"p50": self.tbt_p50_ms, "p99": self.tbt_p99_ms},
                "latency_ms": {"mean": self.latency_mean_ms, "p99": self.latency_p99_ms},
                "throughput": {"tokens_per_s": self.tokens_per_s,
                               "requests_per_s": self.requests_per_s},
                "kv_occupancy": {"mean": self.kv_occupancy, "peak": self.kv_peak,
                                 "tokens_mean": self.kv_token_occupancy},
                "preemptions": self.preemptions,
                "prompt_tokens_recomputed": self.prompt_tokens_recomputed,
                "iterations": self.iterations, "mean_decode_batch": self.mean_decode_batch}


def summarize(run: RunResult, rate: float, warmup: int, clock_ghz: float, ttft_ms: float,
              tpot_ms: float) -> LoadPoint:
    per_ms = clock_ghz * 1e6
    reqs = run.requests[warmup:]
    ttft = np.array([(r.first - r.arrival) / per_ms for r in reqs])
    multi = [r for r in reqs if r.output > 1]
    tpot = np.array([(r.last - r.first) / (r.output - 1) / per_ms for r in multi])
    tpot_of = {r.ident: t for r, t in zip(multi, tpot, strict=True)}
    lat = np.array([(r.last - r.arrival) / per_ms for r in reqs])
    ok = sum(1 for r, t in zip(reqs, ttft, strict=True)
             if t <= ttft_ms and tpot_of.get(r.ident, 0.0) <= tpot_ms)
    span_s = (run.makespan - run.start) / (clock_ghz * 1e9)
    out_tokens = sum(r.output for r in run.requests)
    prompts = sum(r.prompt for r in run.requests)

    def pct(x: np.ndarray, q: float) -> float:
        return float(np.percentile(x, q)) if len(x) else 0.0

    gaps = run.gaps[run.gap_ids >= warmup] / per_ms

    def mean(x: np.ndarray) -> float:
        return float(x.mean()) if len(x) else 0.0

    return LoadPoint(rate, len(reqs), ok, pct(ttft, 50), pct(ttft, 99), mean(ttft),
                     pct(tpot, 50), pct(tpot, 99), mean(tpot), mean(lat), pct(lat, 99),
                     out_tokens / span_s if span_s else 0.0,
                     len(run.requests) / span_s if span_s else 0.0,
                     run.kv_occupancy, run.kv_peak / run.kv_blocks, run.preemptions,
                     run.iterations,
                     run.decode_rows / run.iterations if run.iterations else 0.0,
                     max(0, run.prompt_tokens - prompts), pct(gaps, 50), pct(gaps, 99),
                     run.kv_token_occupancy)


@dataclass
class Setup:
    """What every run of a study shares."""

    spec: LlmServingSpec
    clock_ghz: float
    profile: LlmProfile
    kv: KvBudget
    prompts: np.ndarray
    outputs: np.ndarray
    unit: np.ndarray

    def cost(self, policy: PolicySpec) -> IterationCost:
        spec = self.spec
        return IterationCost(self.profile, spec.max_batch(policy),
                             max(spec.batched_tokens(), spec.chunk_tokens(policy)))


def run_point(setup: Setup, policy: PolicySpec, rate_rps: float,
              cost: IterationCost | None = None, observer: Observer | None = None
              ) -> tuple[LoadPoint, RunResult]:
    """Simulate one policy at ``rate_rps`` requests per second."""
    spec = setup.spec
    cost = cost or setup.cost(policy)
    kv = KvCache(setup.kv.blocks, setup.kv.block_tokens)
    server = make_policy(policy.batching, cost, kv, spec.max_batch(policy),
                         spec.batched_tokens(), spec.chunk_tokens(policy), spec.max_model_len)
    arrivals = setup.unit * (setup.clock_ghz * 1e9 / rate_rps)
    run = simulate_llm_serving(server, arrivals, setup.prompts, setup.outputs, observer)
    t = spec.tenants[0]
    return summarize(run, rate_rps, spec.warmup, setup.clock_ghz, t.ttft_ms, t.tpot_ms), run


@dataclass
class PolicyReport:
    policy: PolicySpec
    slots: int
    loads: dict[str, LoadPoint]
    sweep: list[LoadPoint]
    max_load_rps: float | None
    max_load_bound: str   # "=" (a swept rate), ">=" (held at every swept rate) or "<" (at none)

    def to_json(self) -> dict:
        return {"batching": self.policy.batching, "max_batch": self.slots,
                "loads": {k: v.to_json() for k, v in self.loads.items()},
                "sweep": [p.to_json() for p in self.sweep],
                "max_load_rps": self.max_load_rps, "max_load_bound": self.max_load_bound}


def study_policy(setup: Setup, policy: PolicySpec) -> PolicyReport:
    """One policy at every load and sweep rate, then ``max_load_refine`` bisection steps
    between the last swept rate held and the first missed (as the multi-tenant study)."""
    spec = setup.spec
    cost = setup.cost(policy)
    cache: dict[float, LoadPoint] = {}

    def at(rate: float) -> LoadPoint:
        if rate not in cache:
            cache[rate] = run_point(setup, policy, rate, cost)[0]
        return cache[rate]

    loads, points, held, bound = search_load(at, spec.loads, spec.sweep, spec.slo_attainment,
                                             spec.max_load_refine)
    slots = spec.max_batch(policy)
    if policy.batching == "static":
        kv = KvCache(setup.kv.blocks, setup.kv.block_tokens)
        slots = min(slots, kv.total // kv.blocks_for(spec.max_model_len))
    return PolicyReport(policy, slots, loads, points, held, bound)


def _policy_args(args: tuple) -> PolicyReport:
    return study_policy(*args)


@dataclass
class LlmServingReport:
    name: str
    target: str
    kind: str
    clock_ghz: float
    slo_attainment: float
    tenant: dict
    kv: KvBudget
    lengths: dict
    policies: dict[str, PolicyReport]
    profile_seconds: float
    profile_cache_hit: bool
    simulate_seconds: float

    def to_json(self) -> dict:
        return {"name": self.name, "kind": "llm", "target": self.target,
                "target_kind": self.kind, "clock_ghz": self.clock_ghz,
                "slo_attainment_target": self.slo_attainment, "tenants": [self.tenant],
                "kv_cache": self.kv.to_json(), "lengths": self.lengths,
                "policies": {k: v.to_json() for k, v in self.policies.items()},
                "profile_seconds": self.profile_seconds,
                "profile_cache_hits": int(self.profile_cache_hit),
                "simulate_seconds": self.simulate_seconds}


def load_target(spec: LlmServingSpec):
    config = load_config(spec.target, spec.target_set)
    if config.kind not in ("npu", "systolic"):
        raise ConfigError(f"target: the LLM serving study runs on npu or systolic configs, got "
                          f"kind {config.kind!r}", where=spec.target)
    return config


def prepare(spec: LlmServingSpec, progress=None, jobs: int = 1) -> tuple[Setup, bool, float]:
    """Config, model, KV budget, profile (cached) and requests: (setup, cache hit, seconds)."""
    config = load_target(spec)
    model = served_model(spec.tenants[0].workload)
    budget = kv_budget(spec, config, model)
    grid = default_grid(max(spec.max_batch(p) for p in spec.policies), spec.max_model_len)
    grid = tuple(sorted(set(given or auto)) for given, auto in
                 zip((spec.profile.batch, spec.profile.context, spec.profile.prompt), grid,
                     strict=True))
    top_batch = max(spec.max_batch(p) for p in spec.policies)
    if grid[0][-1] < top_batch or grid[1][-1] < spec.max_model_len - 1:
        raise ConfigError(f"profile grid must reach max_batch {top_batch} and a context of "
                          f"max_model_len - 1 ({spec.max_model_len - 1})",
                          where=f"{spec._source}: profile")
    cache = Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()
    t0 = time.perf_counter()
    profile, hit = load_llm_profile(model, config, grid, cache, progress, jobs)
    seconds = time.perf_counter() - t0
    prompts, outputs = request_lengths(spec)
    setup = Setup(spec, config.clock_ghz, profile, budget, prompts, outputs, unit_arrivals(spec))
    return setup, hit, seconds


def isolated(setup: Setup) -> dict:
    """The median request alone: its prefill (TTFT) and its mean decode step (TPOT), ms."""
    cost = IterationCost(setup.profile, 1, 1)
    prompt = int(np.median(setup.prompts))
    output = int(np.median(setup.outputs))
    per_ms = setup.clock_ghz * 1e6
    ttft = cost.mixed(0, 0, [(prompt, 0)], 1) / per_ms
    steps = [cost.decode(1, prompt + k) for k in range(max(0, output - 1))]
    return {"prompt_tokens": prompt, "output_tokens": output, "ttft_ms": ttft,
            "tpot_ms": float(np.mean(steps)) / per_ms if steps else 0.0}


def run_llm_serving(spec: LlmServingSpec, progress=None, jobs: int = 1) -> LlmServingReport:
    """Profile the model (cached), then simulate every policy at every load and sweep rate on
    ``jobs`` processes (runs are independent and seeded: the report does not depend on it).
    ``progress(message)`` is called before each step (the CLI prints it; this module never
    does)."""
    setup, hit, profile_s = prepare(spec, progress, jobs)
    t0 = time.perf_counter()
    if progress:
        progress(f"simulating {len(spec.policies)} policies on {max(1, jobs)} process(es)")
    args = [(setup, policy) for policy in spec.policies]
    if jobs > 1 and len(args) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(args))) as pool:
            results = list(pool.map(_policy_args, args))
    else:
        results = [study_policy(*a) for a in args]
    t = spec.tenants[0]
    tenant = {"name": t.name, "workload": t.workload, "ttft_ms": t.ttft_ms,
              "tpot_ms": t.tpot_ms, "layers": setup.profile.layers,
              "isolated": isolated(setup)}
    p, o = setup.prompts, setup.outputs
    lengths = {"source": spec.lengths.source, "requests": spec.requests,
               "prompt_tokens": {"mean": float(p.mean()), "p50": float(np.median(p)),
                                 "p90": float(np.percentile(p, 90))},
               "output_tokens": {"mean": float(o.mean()), "p50": float(np.median(o)),
                                 "p90": float(np.percentile(o, 90))}}
    config = load_target(spec)
    return LlmServingReport(spec.name, spec.target, config.kind, setup.clock_ghz,
                            spec.slo_attainment, tenant, setup.kv, lengths,
                            {r.policy.name: r for r in results}, profile_s, hit,
                            time.perf_counter() - t0)
