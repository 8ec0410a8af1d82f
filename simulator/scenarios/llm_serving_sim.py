"""One LLM serving run: requests arriving at given times, served by one batching policy on one
accelerator, on the engine's clock (:class:`~simulator.engine.Simulation`).

Two processes: arrivals put requests in a FCFS :class:`~simulator.engine.WaitingLine` (keyed by
arrival, so a preempted request goes back ahead of later arrivals), and the server runs
*iterations* one after another: the policy picks the work of the next iteration (admitting
requests, allocating KV blocks, preempting), the iteration takes the cycles
:class:`~simulator.scenarios.llm_serving_profile.IterationCost` gives, and at its end its tokens
are emitted. A request's first token comes at the end of the iteration that finishes its prompt;
each later token at the end of a decode iteration. TTFT = first token - arrival; TPOT = (last
token - first token) / (output tokens - 1); TBT: every gap between two tokens of a request.

KV cache: :class:`KvCache` counts blocks of ``block_tokens`` tokens. A request holds blocks for
its cached tokens (a decode step that needs one more block takes it first). Policies:

- ``static`` (request-level, FasterTransformer-style): when the server is idle it takes up to
  ``slots`` waiting requests (``slots`` = ``max_batch``, or fewer if ``max_model_len`` tokens of
  KV per request do not fit), reserves ``max_model_len`` tokens of KV for each, runs one prefill
  of the batch padded to its longest prompt, then decode iterations of the whole batch (finished
  requests keep their slot, contexts padded to the longest prompt) until its longest output is
  done; only then are the slots and the cache given back.
- ``continuous`` (iteration-level with a paged KV cache, as vLLM's scheduler): if waiting
  requests fit (sequences < ``max_batch``, prompt tokens <= ``max_batched_tokens``, their
  prompt's blocks free beyond a 1 % watermark), the next iteration is a prefill of those;
  otherwise a decode iteration of every running request. A decode that needs a block when none
  is free preempts the latest-arrived running request (its blocks freed; it waits again and is
  later recomputed: a prefill of its prompt and the tokens it had generated).
- ``chunked-prefill`` (Sarathi-Serve): every iteration runs all running decodes, then fills the
  rest of a ``chunk_tokens`` budget with prompt chunks: the unfinished prompts first, then newly
  admitted requests (blocks for the whole prompt at admission, as vLLM allocates them). Decodes
  never wait for a prefill; preemption as in ``continuous``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import ceil

import numpy as np

from simulator.engine import Event, Simulation, WaitingLine
from simulator.scenarios.llm_serving_profile import IterationCost

#: share of the KV blocks kept free when admitting a prompt (vLLM's default watermark)
WATERMARK = 0.01


@dataclass
class Request:
    ident: int
    arrival: float
    prompt: int
    output: int
    generated: int = 0     # tokens emitted so far
    cached: int = 0        # tokens whose K and V are in the cache
    pending: int = 0       # prompt (or recompute) tokens still to prefill
    blocks: int = 0        # KV blocks held
    first: float = -1.0    # time of the first token
    last: float = -1.0     # time of the latest token
    preempted: int = 0

    @property
    def done(self) -> bool:
        return self.generated >= self.output

    @property
    def key(self) -> tuple[float, int]:
        return (self.arrival, self.ident)


class KvCache:
    """Blocks of the paged KV cache: the simulation's own accounting (``used`` never exceeds
    ``total``: allocating more is a bug and raises)."""

    def __init__(self, total: int, block_tokens: int) -> None:
        self.total = total
        self.block_tokens = block_tokens
        self.used = 0
        self.peak = 0

    @property
    def free(self) -> int:
        return self.total - self.used

    def blocks_for(self, tokens: int) -> int:
        return ceil(tokens / self.block_tokens)

    def grow(self, req: Request, tokens: int) -> None:
        """Give ``req`` blocks enough for ``tokens`` cached tokens."""
        need = self.blocks_for(tokens) - req.blocks
        if need > 0:
            if need > self.free:
                raise RuntimeError(f"KV cache over capacity: {self.used} + {need} > {self.total}")
            self.used += need
            req.blocks += need
            self.peak = max(self.peak, self.used)

    def release(self, req: Request) -> None:
        self.used -= req.blocks
        req.blocks = 0


@dataclass
class Iteration:
    """The work of one iteration: decoding requests, prompt pieces ``(request, tokens)``, and
    its cost in cycles."""

    decodes: list[Request]
    pieces: list[tuple[Request, int]]
    cycles: float
    padded: int = 0        # static: the batch's padded prompt length


@dataclass
class RunResult:
    """What one run measured (times in cycles)."""

    requests: list[Request]
    makespan: float
    start: float
    iterations: int
    preemptions: int
    kv_blocks: int
    kv_peak: int
    kv_area: float                 # sum of used blocks x cycles
    kv_token_area: float           # sum of tokens stored in them (at iteration end) x cycles
    decode_rows: int               # decode sequences summed over iterations
    prompt_tokens: int             # prompt tokens processed (recomputation included)
    block_tokens: int
    gap_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    gaps: np.ndarray = field(default_factory=lambda: np.zeros(0))   # time between tokens

    @property
    def kv_occupancy(self) -> float:
        span = self.makespan - self.start
        return self.kv_area / (self.kv_blocks * span) if span > 0 else 0.0

    @property
    def kv_token_occupancy(self) -> float:
        """Time-averaged share of the cache's token slots holding a token's K and V (static
        batching's reserved but unwritten slots, and the unfilled tail of a block, excluded)."""
        span = self.makespan - self.start
        slots = self.kv_blocks * self.block_tokens
        return self.kv_token_area / (slots * span) if span > 0 else 0.0


class Policy:
    """Shared state and token bookkeeping of the three policies."""

    def __init__(self, cost: IterationCost, kv: KvCache, max_batch: int) -> None:
        self.cost = cost
        self.kv = kv
        self.max_batch = max_batch
        self.waiting: WaitingLine[Request] = WaitingLine()
        self.running: list[Request] = []
        self.preemptions = 0
        self.prompt_tokens = 0
        #: every gap between two tokens of one request: (request, cycles)
        self.gap_ids: list[int] = []
        self.gaps: list[float] = []

    def has_work(self) -> bool:
        return bool(self.waiting) or bool(self.running)

    def enqueue(self, req: Request) -> None:
        self.waiting.push(req.key, req)

    def _peek(self) -> Request:
        req = self.waiting.pop()
        self.waiting.push(req.key, req)
        return req

    def _emit(self, req: Request, now: float) -> None:
        req.generated += 1
        if req.first < 0:
            req.first = now
        else:
            self.gap_ids.append(req.ident)
            self.gaps.append(now - req.last)
        req.last = now

    def _preempt(self, victim: Request) -> None:
        """Recompute preemption: free its cache; it waits to prefill its whole context again."""
        self.kv.release(victim)
        victim.cached = 0
        victim.pending = 0
        victim.preempted += 1
        self.preemptions += 1
        self.running.remove(victim)
        self.enqueue(victim)

    def _reserve_decodes(self) -> list[Request]:
        """Every decoding request gets a block for the token it feeds, the latest-arrived
        running requests preempted while none is free; returns the decodes that run."""
        i = 0
        while i < len(self.running):
            req = self.running[i]
            if req.pending:
                i += 1
                continue
            while self.kv.blocks_for(req.cached + 1) > req.blocks and self.kv.free == 0:
                self._preempt(self.running[-1])
                if req not in self.running:
                    break
            if req in self.running:
                self.kv.grow(req, req.cached + 1)
                i += 1
        return [r for r in self.running if not r.pending]

    def _admit(self, req: Request) -> bool:
        """Blocks for the request's whole context (prompt and tokens it had generated), kept
        above the watermark; False if they are not free."""
        tokens = req.prompt + req.generated
        if self.kv.blocks_for(tokens) > self.kv.free - WATERMARK * self.kv.total:
            return False
        self.kv.grow(req, tokens)
        req.pending = tokens
        self.running.append(req)
        self.running.sort(key=lambda r: r.key)
        return True

    def plan(self) -> Iteration | None:
        raise NotImplementedError

    def complete(self, it: Iteration, now: float) -> None:
        """Emit the iteration's tokens; finished requests give back their blocks."""
        for req in it.decodes:
            if req.done:      # static: a finished request keeps its slot, emits nothing
                continue
            req.cached += 1
            self._emit(req, now)
        for req, tokens in it.pieces:
            req.cached += tokens
            req.pending -= tokens
            self.prompt_tokens += tokens
            if not req.pending:
                self._emit(req, now)
        for req in [r for r in self.running if r.done]:
            self.kv.release(req)
            self.running.remove(req)


class Continuous(Policy):
    def __init__(self, cost: IterationCost, kv: KvCache, max_batch: int,
                 max_tokens: int) -> None:
        super().__init__(cost, kv, max_batch)
        self.max_tokens = max_tokens

    def plan(self) -> Iteration | None:
        pieces: list[tuple[Request, int]] = []
        tokens = 0
        while self.waiting and len(self.running) < self.max_batch:
            req = self._peek()
            need = req.prompt + req.generated
            if tokens + need > self.max_tokens or not self._admit(req):
                break
            self.waiting.pop()
            pieces.append((req, need))
            tokens += need
        if pieces:
            cycles = self.cost.mixed(0, 0, [(q, 0) for _, q in pieces], len(pieces))
            return Iteration([], pieces, cycles)
        decodes = self._reserve_decodes()
        if not decodes:
            return None
        cycles = self.cost.decode(len(decodes), sum(r.cached for r in decodes))
        return Iteration(decodes, [], cycles)


class ChunkedPrefill(Policy):
    def __init__(self, cost: IterationCost, kv: KvCache, max_batch: int, budget: int) -> None:
        super().__init__(cost, kv, max_batch)
        self.budget = budget

    def plan(self) -> Iteration | None:
        decodes = self._reserve_decodes()
        budget = self.budget - len(decodes)
        pieces: list[tuple[Request, int]] = []
        for req in self.running:
            if budget <= 0:
                break
            if req.pending:
                q = min(req.pending, budget)
                pieces.append((req, q))
                budget -= q
        while budget > 0 and self.waiting and len(self.running) < self.max_batch:
            req = self._peek()
            if not self._admit(req):
                break
            self.waiting.pop()
            q = min(req.pending, budget)
            pieces.append((req, q))
            budget -= q
        if not decodes and not pieces:
            return None
        rows = len(decodes) + sum(1 for r, q in pieces if q == r.pending)
        if pieces:
            cycles = self.cost.mixed(len(decodes), sum(r.cached for r in decodes),
                                     [(q, r.cached) for r, q in pieces], rows)
        else:
            cycles = self.cost.decode(len(decodes), sum(r.cached for r in decodes))
        return Iteration(decodes, pieces, cycles)


class Static(Policy):
    def __init__(self, cost: IterationCost, kv: KvCache, max_batch: int,
                 max_model_len: int) -> None:
        super().__init__(cost, kv, max_batch)
        self.reserve = max_model_len
        self.slots = min(max_batch, kv.total // kv.blocks_for(max_model_len))
        self.batch: list[Request] = []
        self.padded = 0
        self.step = 0

    def plan(self) -> Iteration | None:
        if not self.batch:
            if not self.waiting:
                return None
            while self.waiting and len(self.batch) < self.slots:
                req = self.waiting.pop()
                self.kv.grow(req, self.reserve)
                req.pending = req.prompt
                self.batch.append(req)
            self.running = list(self.batch)
            self.padded = max(r.prompt for r in self.batch)
            self.step = 0
            n = len(self.batch)
            cycles = self.cost.mixed(0, 0, [(self.padded, 0)] * n, n)
            return Iteration([], [(r, r.prompt) for r in self.batch], cycles, self.padded)
        self.step += 1
        n = len(self.batch)
        ctx = self.padded + self.step - 1
        return Iteration(list(self.batch), [], self.cost.decode(n, n * ctx), self.padded)

    def complete(self, it: Iteration, now: float) -> None:
        for req in it.decodes:
            if not req.done:
                req.cached += 1
                self._emit(req, now)
        for req, tokens in it.pieces:
            req.cached += tokens
            req.pending = 0
            self.prompt_tokens += tokens
            self._emit(req, now)
        if all(r.done for r in self.batch):
            for req in self.batch:
                self.kv.release(req)
            self.batch = []
            self.running = []


def make_policy(batching: str, cost: IterationCost, kv: KvCache, max_batch: int,
                max_tokens: int, chunk_tokens: int, max_model_len: int) -> Policy:
    if batching == "static":
        return Static(cost, kv, max_batch, max_model_len)
    if batching == "continuous":
        return Continuous(cost, kv, max_batch, max_tokens)
    return ChunkedPrefill(cost, kv, max_batch, chunk_tokens)


@dataclass
class Observer:
    """Called after every event that changes the KV accounting (an iteration planned, an
    iteration completed): ``check(policy, now, requests)``."""

    check: Callable[[Policy, float, list[Request]], None]
    events: int = field(default=0)


def simulate_llm_serving(policy: Policy, arrivals: np.ndarray, prompts: np.ndarray,
                         outputs: np.ndarray, observer: Observer | None = None) -> RunResult:
    """Serve requests arriving at ``arrivals`` (cycles, sorted) with the given prompt and
    output lengths."""
    sim = Simulation()
    requests = [Request(i, float(a), int(p), int(o)) for i, (a, p, o) in
                enumerate(zip(arrivals, prompts, outputs, strict=True))]
    state = {"wake": None, "arrived": 0}
    stats = {"iterations": 0, "area": 0.0, "rows": 0, "tokens": 0.0}

    def notify() -> None:
        if observer is not None:
            observer.events += 1
            observer.check(policy, sim.now, requests)

    def arrive():
        for req in requests:
            if req.arrival > sim.now:
                yield sim.timeout(req.arrival - sim.now)
            policy.enqueue(req)
            state["arrived"] += 1
            wake: Event | None = state["wake"]
            if wake is not None and not wake.triggered:
                state["wake"] = None
                wake.succeed()

    def serve():
        while True:
            it = policy.plan()
            notify()
            if it is None:
                if state["arrived"] == len(requests) and not policy.has_work():
                    return
                state["wake"] = sim.event()
                yield state["wake"]
                continue
            stats["iterations"] += 1
            stats["rows"] += len(it.decodes)
            stats["area"] += policy.kv.used * it.cycles
            stored = sum(r.cached for r in policy.running) + sum(q for _, q in it.pieces) + \
                sum(1 for r in it.decodes if not r.done)     # K/V held once the iteration ends
            stats["tokens"] += stored * it.cycles
            yield sim.timeout(it.cycles)
            policy.complete(it, sim.now)
            notify()

    sim.process(arrive())
    sim.process(serve())
    sim.run()
    start = float(arrivals[0]) if len(arrivals) else 0.0
    return RunResult(requests, float(sim.now), start, stats["iterations"], policy.preemptions,
                     policy.kv.total, policy.kv.peak, stats["area"], stats["tokens"],
                     stats["rows"], policy.prompt_tokens, policy.kv.block_tokens,
                     np.asarray(policy.gap_ids, dtype=np.int64),
                     np.asarray(policy.gaps, dtype=np.float64))
