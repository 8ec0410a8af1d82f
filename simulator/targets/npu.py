"""The ``npu`` target: a Cambricon-MLU-like multi-core NPU, and the cost model it hands to the
fusion tuner.

The tuner (``--pass fusion=...``, :mod:`simulator.passes.fusion`) never imports the npu's
lowering or timing model: it is handed an :class:`NpuCostModel`, which prices a kernel (a run of
ops on some cores) by lowering and simulating it on its own, and exposes the few facts of the
npu's compile rules the learned heuristic reads (the core split of a GEMM, what stays in the
scratchpads, the barrier cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulator.config.npu import KernelSpec, NpuConfig
from simulator.targets import Target, op_category
from workloads.graph import Graph, Op


def lower(graph: Graph, config: NpuConfig, workload: str | None = None):
    from simulator.lower.npu import lower_npu

    return lower_npu(graph, config, workload)


def simulate(trace, config: NpuConfig, timeline: bool = False, progress=None):
    from simulator.hw.npu import simulate_npu

    return simulate_npu(trace, config, timeline, progress)


def lowers(op_type: str, domain: str = "") -> bool:
    """Matmul-like ops split over the cores' arrays, views, and every op with a vector cost."""
    category = op_category(op_type, domain)
    return category is not None and category not in ("control", "gnn")


@dataclass
class SearchStats:
    """What pricing kernels cost: kernels simulated, cache hits, wall time."""

    simulations: int = 0
    cache_hits: int = 0
    seconds: float = 0.0


class KernelCoster:
    """Cycles of one kernel (a run of ops on ``cores`` cores), lowered and simulated on its own
    and cached by structure: op types, attributes, shapes, which inputs come from inside the
    kernel and which outputs are read outside it (kernels are serialized on the npu, so a
    plan's cycles are the sum of its kernels')."""

    def __init__(self, graph: Graph, config: NpuConfig) -> None:
        from simulator.lower.npu import NpuLowering

        self.graph = graph
        self.config = config
        self.lowering = NpuLowering(config, graph)
        self.cache: dict[str, int] = {}
        self.stats = SearchStats()

    def signature(self, kernel_ops: Sequence[Op], cores: int) -> str:
        low = self.lowering
        where = {}
        for pos, op in enumerate(kernel_ops):
            for out in op.outputs:
                where[out] = pos
        inside = {low.index[op.name] for op in kernel_ops}
        parts = []
        for op in kernel_ops:
            ins = []
            for name in op.inputs:
                if not name:
                    ins.append(None)
                    continue
                t = self.graph.tensor(name)
                ins.append((t.shape, t.bits, t.values is not None, where.get(name, -1)))
            outs = []
            for name in op.outputs:
                t = self.graph.tensor(name)
                users = low.users.get(low.root(name), [])
                leaves = low.root(name) in low.outputs or any(u not in inside for u in users)
                outs.append((t.shape, t.bits, leaves))
            attrs = sorted((k, repr(v)) for k, v in op.attrs.items() if not k.startswith("npu_"))
            parts.append((op.type, tuple(attrs), tuple(ins), tuple(outs)))
        return repr((cores, parts))

    def cost(self, kernel_ops: Sequence[Op], cores: int) -> int:
        key = self.signature(kernel_ops, cores)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats.cache_hits += 1
            return hit
        cycles = int(self.measure(kernel_ops, cores, [self.config])[0][0])
        self.cache[key] = cycles
        self.stats.simulations += 1
        return cycles

    def kernel_trace(self, kernel_ops: Sequence[Op], cores: int):
        """The kernel lowered on its own (one launch, its ops, the closing barrier)."""
        from simulator.trace import Trace

        low = self.lowering
        low.reset()
        low.lower_kernel(kernel_ops, cores, 0)
        return Trace(kind="npu", config={}, workload=self.graph.name, layers=low.layers,
                     instructions=low.instructions)

    def measure(self, kernel_ops: Sequence[Op], cores: int, configs: Sequence[NpuConfig]
                ) -> tuple[list[float], float]:
        """The kernel's cycles on each of ``configs`` (the same compile re-timed, e.g. with
        the DRAM slowed) and the DRAM bytes it moves; not cached."""
        from simulator.hw.npu import simulate_kernels

        trace = self.kernel_trace(kernel_ops, cores)
        times, moved = [], 0.0
        for cfg in configs:
            stats = simulate_kernels(trace, cfg)[0]
            times.append(float(stats.total_cycles))
            moved = float(stats.channel_bytes.get("dram", 0))
        return times, moved


class BufferFacts:
    """What the npu's compile rules say about a graph's buffers: which buffer a tensor views,
    who reads it, its bytes, and which buffers of a kernel stay in the scratchpads."""

    def __init__(self, graph: Graph, config: NpuConfig) -> None:
        from simulator.lower.npu import NpuLowering

        self._low = NpuLowering(config, graph)
        self.users = self._low.users
        self.outputs = self._low.outputs
        self.word_bytes = config.word_bytes

    def root(self, name: str) -> str:
        return self._low.root(name)

    def nbytes(self, name: str) -> int:
        return self._low.nbytes(name)

    def onchip(self, kernel_ops: Sequence[Op], cores: int) -> set[str]:
        return self._low.onchip_buffers(kernel_ops, cores)


class NpuCostModel:
    """The npu as a pass that tunes for it sees it (see the module doc)."""

    def __init__(self, config: NpuConfig) -> None:
        self.config = config

    def core_options(self) -> list[int]:
        return self.config.core_options()

    @property
    def vector_costs(self) -> dict:
        """The config's overrides of the catalogue's vector costs (``core.vector.costs``)."""
        return self.config.core.vector.costs

    def layer_by_layer(self, graph: Graph, cores: int) -> list[KernelSpec]:
        from simulator.lower.npu import layer_by_layer

        return layer_by_layer(graph, cores)

    def kernel_coster(self, graph: Graph) -> KernelCoster:
        return KernelCoster(graph, self.config)

    def plan_cycles(self, graph: Graph, kernels: Sequence[KernelSpec]) -> int:
        """Cycles of a whole plan, lowered and simulated as one program."""
        from simulator.hw.npu import simulate_kernels
        from simulator.lower.npu import lower_kernels

        return simulate_kernels(lower_kernels(graph, self.config, kernels),
                                self.config)[0].total_cycles

    def buffers(self, graph: Graph) -> BufferFacts:
        return BufferFacts(graph, self.config)

    def split(self, cores: int, m: int, n_parts: int, a_bytes: int, b_bytes: int
              ) -> tuple[int, int]:
        """The ``(cm, cn)`` core grid the lowering gives a GEMM (see ``choose_split``)."""
        from simulator.lower.npu import choose_split

        return choose_split(cores, m, n_parts, a_bytes, b_bytes)

    def vector_only(self, graph: Graph, op: Op) -> int | None:
        """The vector-unit work of a matmul-like op the npu runs on its vector unit instead of
        its arrays (depthwise convs); ``None`` for ops that go to the arrays."""
        from simulator.lower.npu import depthwise_work, is_depthwise

        return depthwise_work(graph, op) if is_depthwise(graph, op) else None

    def sync_cycles(self, cores: int) -> int:
        from simulator.hw.npu import sync_cycles

        return sync_cycles(self.config, cores)

    def fixed_cycles(self, cores: int) -> int:
        """What every kernel pays that the config states: launch and closing barrier."""
        return self.config.launch_cycles + self.sync_cycles(cores)


def estimate(graph, config: NpuConfig) -> int:
    """The cores' folds of the enlarged (fold_group) array, plus launches and barriers."""
    from simulator.targets import array_estimate

    core = config.core
    g = core.fold_group
    s = core.sram
    return array_estimate(graph, core.array.rows * g, core.array.cols * g,
                          core.array.dataflow, config.word_bytes,
                          (s.ifmap_kb, s.filter_kb, s.ofmap_kb)) + 2 * len(graph.ops)


TARGET = Target(
    kind="npu", estimate=estimate,
    config_model=NpuConfig, lower=lower, simulate=simulate, lowers=lowers,
    cost_model=NpuCostModel, extras={"npu": "the kernels (layers, cores, cycles) and NoC bytes"},
    description="Cambricon-MLU-like multi-core NPU: per-core arrays, shared DRAM, ring/mesh NoC")
