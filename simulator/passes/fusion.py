"""``fusion``: choose kernels (fused groups) and a core count per kernel for the npu target.

``--pass fusion=none`` is the untuned baseline: every op its own kernel on the config's
``default_cores``. ``heuristic`` is the DLFusion-style rule-based tuner
(:mod:`simulator.passes.fusion_heuristic`); ``oracle`` the exact search over runs of fusion units
(:mod:`simulator.passes.fusion_search`). The plan is written into op attrs (``npu_kernel``,
``npu_cores``) that the npu lowering reads; the search statistics go to ``graph.meta["fusion"]``
and from there into the result's JSON (``notes.fusion``).
"""

from __future__ import annotations

import time

from simulator.passes import copy_graph, register
from workloads.graph import Graph

MODES = ("none", "heuristic", "oracle")


def apply_plan(graph: Graph, kernels, info: dict, timings: dict | None = None) -> Graph:
    """A copy of ``graph`` whose ops carry the plan, with ``info`` under ``meta['fusion']``
    (it travels with the trace) and the search's wall-clock ``timings`` under
    ``timings['fusion']`` (reported by this run only)."""
    out = copy_graph(graph)
    by_name = {op.name: op for op in out.ops}
    for k, spec in enumerate(kernels):
        for name in spec.ops:
            by_name[name].attrs["npu_kernel"] = k
            by_name[name].attrs["npu_cores"] = spec.cores
    out.meta = {**graph.meta, "fusion": info}
    out.timings = {**graph.timings, "fusion": timings or {}}
    return out


@register("fusion", options=MODES, default="heuristic", needs_cost_model=True, kinds=("npu",))
def fusion_pass(graph: Graph, mode: str | None, model) -> Graph:
    """Fuse layers and pick core counts for the npu target (none, heuristic or oracle)."""
    graph.validate()
    mode = mode or "heuristic"
    info: dict = {"mode": mode}
    if mode == "none":
        start = time.perf_counter()
        kernels = model.layer_by_layer(graph, model.config.default_cores)
        timings = {"search_s": time.perf_counter() - start}
    elif mode == "heuristic":
        from simulator.passes.fusion_heuristic import heuristic

        kernels, table, seconds = heuristic(graph, model)
        timings = {"search_s": seconds, "profile_s": table.profile_seconds}
        info.update(profiled_layers=table.profiled_layers,
                    profile_simulations=table.simulations, cost_model=table.to_json())
    else:
        from simulator.passes.fusion_search import oracle

        plan = oracle(graph, model)
        kernels = plan.kernels
        timings = {"search_s": plan.stats.seconds}
        info.update(simulations=plan.stats.simulations, cache_hits=plan.stats.cache_hits,
                    predicted_cycles=plan.predicted_cycles)
    info["kernels"] = len(kernels)
    info["groups"] = [{"layers": list(k.ops), "cores": k.cores} for k in kernels]
    return apply_plan(graph, kernels, info, timings)
