"""The ``zipper`` target: a GNN accelerator with a run-time tile scheduler.

Its lowering needs the GNN program tiled to its buffers (and, if the config asks, rewritten by
redundancy elimination): those are passes, which the pipeline runs before lowering
(:func:`required_passes`), never the lowering itself.
"""

from __future__ import annotations

from simulator.config.zipper import ZipperConfig
from simulator.targets import Target, op_category


def lower(graph, config: ZipperConfig, workload: str | None = None):
    from simulator.lower.zipper import lower_zipper

    return lower_zipper(graph, config, workload)


def simulate(trace, config: ZipperConfig, timeline: bool = False, progress=None):
    from simulator.hw.zipper import simulate_zipper

    return simulate_zipper(trace, config, timeline, progress)


def lowers(op_type: str, domain: str = "") -> bool:
    return op_category(op_type, domain) == "gnn"


def required_passes(config: ZipperConfig) -> list[str]:
    """Redundancy elimination when ``compiler.redundancy_elimination`` is on, then the tiling
    sized from the config's buffers (a graph the user tiled already keeps its tiles)."""
    passes = ["gnn_redundancy"] if config.compiler.redundancy_elimination else []
    return [*passes, "gnn_tiling=config"]


TARGET = Target(
    kind="zipper", config_model=ZipperConfig, lower=lower, simulate=simulate, lowers=lowers,
    required_passes=required_passes, runs="GNN workloads (gnn:MODEL:GRAPH) only",
    extras={"stages": "busy cycles of each SAGA stage (scatter, apply_edge, gather, "
                      "apply_vertex), summed over units"},
    description="Zipper-style GNN accelerator: GEMM, vector and gather/scatter units, tiles")
