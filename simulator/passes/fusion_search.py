"""The search space of the fusion tuner and its exact solvers.

A plan partitions the network's ops, in the frontend's topological order, into consecutive
kernels and gives each a core count. The tuner never cuts inside a *unit*: an op together with the
views and single-input vector ops that only post-process its output (Conv+BN+Relu, Conv+Relu+Pool,
Gemm+Softmax). A DAG (residual adds, inception branches) is handled in that same linear order: a
kernel is any run of consecutive units, a tensor that leaves the run goes through DRAM, one whose
readers are all inside stays on chip while it fits. Groupings that are not runs of the order
(e.g. two branches fused while the op between them is not) are outside the space.

Kernels are serialized on the npu, so a plan's cycles are the sum of its kernels' cycles, each
simulated on its own (the npu cost model's kernel coster, cached by the kernel's structure so
repeated blocks are simulated once). That makes the oracle an exact dynamic program over
partitions:
``best[j] = min over i, c of best[i] + cost(units[i:j], c)`` with at most ``max_group`` units per
kernel; :func:`brute_force` enumerates every plan instead (for tests on small chains).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.config.npu import KernelSpec
from workloads.graph import Graph, Op
from workloads.ops import is_matmul, is_view

DEFAULT_MAX_GROUP = 8


def fusion_units(graph: Graph) -> list[list[Op]]:
    """Split the ops into units: an op starts a new unit unless it is a view or a vector op whose
    only non-constant input is the previous op's output and nobody else reads that output."""
    readers: dict[str, int] = {}
    for op in graph.ops:
        for name in dict.fromkeys(t for t in op.inputs if t):
            readers[name] = readers.get(name, 0) + 1
    units: list[list[Op]] = []
    prev: Op | None = None
    for op in graph.ops:
        data = [t for t in dict.fromkeys(op.inputs) if t and graph.tensor(t).values is None]
        follows = prev is not None and len(data) == 1 and data[0] in prev.outputs and \
            readers.get(data[0], 0) == 1 and not is_matmul(op.type)
        if units and (follows or (is_view(op.type) and prev is not None)):
            units[-1].append(op)
        else:
            units.append([op])
        prev = op
    return units


@dataclass
class Plan:
    """Kernels (runs of units) with their core counts and the cycles the search predicts."""

    kernels: list[KernelSpec]
    predicted_cycles: int | None = None
    stats: Any = None   # the kernel coster's SearchStats (simulations, cache hits, seconds)


def _spec(units: Sequence[list[Op]], cores: int) -> KernelSpec:
    return KernelSpec(tuple(op.name for unit in units for op in unit), cores)


def oracle(graph: Graph, model, max_group: int = DEFAULT_MAX_GROUP, coster=None,
           options: Sequence[int] | None = None) -> Plan:
    """The exact best plan over runs of at most ``max_group`` units and every core option,
    by dynamic programming over the prefix of units already covered; ``model`` is the npu's
    cost model (its kernel coster prices each candidate kernel)."""
    start = time.perf_counter()
    coster = coster or model.kernel_coster(graph)
    units = fusion_units(graph)
    options = list(options or model.core_options())
    n = len(units)
    best = [0] + [None] * n
    choice: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for j in range(1, n + 1):
        for i in range(max(0, j - max_group), j):
            ops = [op for unit in units[i:j] for op in unit]
            for c in options:
                value = best[i] + coster.cost(ops, c)
                if best[j] is None or value < best[j]:
                    best[j], choice[j] = value, (i, c)
    kernels: list[KernelSpec] = []
    j = n
    while j > 0:
        i, c = choice[j]
        kernels.append(_spec(units[i:j], c))
        j = i
    kernels.reverse()
    coster.stats.seconds = time.perf_counter() - start
    return Plan(kernels, best[n], coster.stats)


def compositions(n: int, max_group: int) -> Iterator[tuple[int, ...]]:
    """Every way of cutting ``n`` items into consecutive runs of at most ``max_group``."""
    if n == 0:
        yield ()
        return
    for first in range(1, min(n, max_group) + 1):
        for rest in compositions(n - first, max_group):
            yield (first, *rest)


def brute_force(graph: Graph, model, max_group: int = DEFAULT_MAX_GROUP,
                options: Sequence[int] | None = None) -> Plan:
    """Every partition into runs of units x every core count per run, each simulated as a
    whole program: the reference the dynamic program is checked against (tiny graphs only)."""
    units = fusion_units(graph)
    options = list(options or model.core_options())
    best: Plan | None = None
    for sizes in compositions(len(units), max_group):
        bounds = list(itertools.accumulate(sizes, initial=0))
        runs = [units[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
        for cores in itertools.product(options, repeat=len(runs)):
            kernels = [_spec(run, c) for run, c in zip(runs, cores, strict=True)]
            cycles = model.plan_cycles(graph, kernels)
            if best is None or cycles < best.predicted_cycles:
                best = Plan(kernels, cycles)
    assert best is not None
    return best
