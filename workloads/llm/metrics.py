"""The ``llm`` facts of a simulated step: weight and KV-cache bytes, time to first token or
per output token, tokens per second, arithmetic intensity, and the split by layer group.

Plain functions on plain data: the pipeline (``simulator.api``) calls :func:`step_facts` on the
graph as lowered (after quantization passes, which change weight widths) and
:func:`result_facts` on the simulated totals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from workloads.graph import Graph
from workloads.llm.graph import _PREFIX, GROUPS, layer_group
from workloads.ops import element_width


def step_facts(graph: Graph, word_bytes: int) -> dict[str, Any]:
    """``graph.meta["llm"]`` with the weight names replaced by the bytes of the weights the
    step reads (each at its own width if a pass set one, else ``word_bytes``; an untied token
    table by the rows looked up; a MoE graph holds only the chosen experts) and the KV cache in
    bytes: layers x 2 x KV heads x head_dim x (ctx, or seq for prefill) x batch x
    ``word_bytes``."""
    facts = dict(graph.meta["llm"])
    names = facts.pop("weights", [])
    rows = facts.pop("lookup_elements", 0)
    facts["weight_bytes"] = sum(
        math.ceil(graph.tensor(n).numel * element_width(graph, n, word_bytes)) for n in names) \
        + math.ceil(rows * element_width(graph, "token_embd.weight", word_bytes))
    facts["kv_cache_bytes"] = facts.pop("kv_elements") * word_bytes
    return facts


def result_facts(facts: dict[str, Any], total_cycles: int, clock_ghz: float, macs: int,
                 dram_bytes: int, layers: Iterable[tuple[str, int, int, int]]) -> dict[str, Any]:
    """What the step took. ``layers``: (name, cycles, macs, DRAM bytes) per layer."""
    out = dict(facts)
    seconds = total_cycles / (clock_ghz * 1e9)
    ms = seconds * 1e3
    if facts["phase"] == "prefill":
        out["ttft_ms"] = ms
    else:
        out["tpot_ms"] = ms
    out["tokens_per_s"] = facts["tokens"] / seconds if seconds else 0.0
    out["flops"] = 2 * macs
    out["dram_bytes"] = dram_bytes
    out["arithmetic_intensity"] = 2 * macs / dram_bytes if dram_bytes else 0.0
    groups = {g: {"cycles": 0, "macs": 0, "dram_bytes": 0, "layers": 0} for g in GROUPS}
    for name, cycles, lmacs, lbytes in layers:
        row = groups[layer_group(name)]
        row["cycles"] += cycles
        row["macs"] += lmacs
        row["dram_bytes"] += lbytes
        row["layers"] += 1
    out["by_group"] = groups
    out["group_prefixes"] = dict(_PREFIX)
    return out
