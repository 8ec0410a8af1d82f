"""The ``systolic`` target: a TPU-like GEMM array (OS/WS/IS) with double-buffered SRAMs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.targets import Target, op_category

if TYPE_CHECKING:
    from simulator.config.systolic import SystolicConfig


def lower(graph, config: SystolicConfig, workload: str | None = None):
    """DNN graphs through the array lowering; GNN programs through the op-by-op baseline."""
    if any(op_category(op.type) == "gnn" for op in graph.ops):
        from simulator.lower.gnn_systolic import lower_gnn_systolic

        return lower_gnn_systolic(graph, config, workload)
    from simulator.lower.systolic import lower_systolic

    return lower_systolic(graph, config, workload)


def simulate(trace, config: SystolicConfig, timeline: bool = False, progress=None):
    from simulator.hw.systolic import simulate_systolic

    return simulate_systolic(trace, config, timeline, progress)


def lowers(op_type: str, domain: str = "") -> bool:
    """Matmul-like ops on the array, views for free, every op with a vector cost on the vector
    unit, and GNN programs as the op-by-op baseline (dense ops on the array)."""
    category = op_category(op_type, domain)
    return category is not None and category != "control"


def estimate(graph, config: SystolicConfig) -> int:
    from simulator.targets import array_estimate

    a = config.array
    s = config.sram
    return array_estimate(graph, a.rows, a.cols, a.dataflow, config.word_bytes,
                          (s.ifmap_kb, s.filter_kb, s.ofmap_kb))


TARGET = Target(
    kind="systolic", estimate=estimate, config_model="simulator.config.systolic:SystolicConfig",
    lower=lower, simulate=simulate, lowers=lowers,
    runs="DNN workloads and, as the op-by-op baseline, GNN workloads",
    description="TPU-like systolic GEMM array, OS/WS/IS dataflows, explicit or implicit im2col")
