"""The ``sparse_tc`` target: an outer-product dual-side sparse tensor core (bitmap-encoded
weights and activations), with the dense tensor core and 2:4 runs of the same trace as its
baselines."""

from __future__ import annotations

from simulator.config.sparse_tc import SparseTCConfig
from simulator.targets import Target, op_category
from workloads import ops


def lower(graph, config: SparseTCConfig, workload: str | None = None):
    from simulator.lower.sparse_tc import lower_sparse_tc

    return lower_sparse_tc(graph, config, workload)


def simulate(trace, config: SparseTCConfig, timeline: bool = False, progress=None):
    from simulator.hw.sparse_tc import simulate_sparse_tc

    return simulate_sparse_tc(trace, config, timeline, progress)


def lowers(op_type: str, domain: str = "") -> bool:
    """Matmul-like ops on the tensor cores, views, every op with a vector cost on the CUDA
    cores' lanes."""
    category = op_category(op_type, domain)
    return category is not None and category not in ("control", "gnn")


def estimate(graph, config: SparseTCConfig) -> int:
    """Per thread-block tile and k-chunk: an L2 fill, a shared-memory load and an SPGEMM."""
    total = 0
    for op in graph.ops:
        if not ops.is_matmul(op.type):
            total += 3
            continue
        for g in ops.gemm_shapes(graph, op, config.word_bytes):
            tiles = -(-g.m // config.block_tile.m) * -(-g.n // config.block_tile.n)
            total += 3 * tiles * -(-g.k // config.k_chunk)
    return total


TARGET = Target(
    kind="sparse_tc", estimate=estimate,
    config_model=SparseTCConfig, lower=lower, simulate=simulate,
    lowers=lowers,
    extras={"baselines": "dense tensor core (dense_tc) and 2:4 (sparse_2_4) runs of the trace: "
                         "total_cycles, speedup, bytes, per-layer cycles",
            "sparse_stats": "SPGEMM instructions, accumulator conflict cycles, issued SpWMMAs"},
    description="dual-side sparse tensor core (DSTC): bitmap outer products on a V100-like GPU")
