"""Redundant operation elimination on the GNN IR: work that depends on one endpoint leaves the
edge stage, so it runs |V| times instead of |E| times.

Three rewrites to a fixed point:

1. hoist: an apply-edge op whose row inputs all come from scatters of one side (``f(x[src])``)
   becomes ``(f(x))[src]``: the row function on the vertices, then one scatter of its result;
   GAT's per-edge ``W h`` and the per-vertex halves of its attention score move this way. Only
   when the graph has at least as many edges as vertices (otherwise it would cost more).
2. common-subexpression elimination: identical ops (type, inputs, attributes) are computed once
   (the two ``x W`` that hoisting GAT's src and dst products leaves).
3. dead-op elimination: ops whose results nobody reads (the scatters of the raw features).

:func:`eliminate_redundancy` also returns what was saved, in MACs, vector operations and
gather/scatter elements (from :func:`workloads.gnn.ir.op_cost`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.passes import copy_graph, register
from workloads.gnn.ir import (
    APPLY_EDGE,
    APPLY_VERTEX,
    SCATTER,
    VERTEX_OP,
    is_gnn,
    rows_of,
    total_cost,
    width,
)
from workloads.graph import Graph, Op, Tensor
from workloads.ops.gnn import ROW_INPUTS


@dataclass
class RedundancyReport:
    """Costs before and after, and the names of the ops moved to the vertex stage."""

    before: dict[str, int]
    after: dict[str, int]
    hoisted: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def saved(self) -> dict[str, int]:
        return {k: self.before[k] - self.after[k] for k in self.before}

    @property
    def saved_total(self) -> int:
        return sum(self.saved.values())


def _hoist_once(g: Graph) -> str | None:
    """Hoist the first eligible apply-edge op; return its name, or None if there is none."""
    producers = g.producers()
    for idx, op in enumerate(g.ops):
        if op.type != APPLY_EDGE:
            continue
        n_rows = ROW_INPUTS.get(op.attrs["fn"], 1)
        scatters = [producers.get(t) for t in op.inputs[:n_rows]]
        if any(s is None or s.type != SCATTER for s in scatters):
            continue
        sides = {(s.attrs["side"], s.inputs[1]) for s in scatters}
        if len(sides) != 1:
            continue
        (side, adj), = sides
        out = op.outputs[0]
        vertices = rows_of(g, scatters[0].inputs[0])
        if rows_of(g, out) < vertices:
            continue
        vname = f"{out}@v"
        g.add_tensor(Tensor(vname, (vertices, width(g, out))))
        inputs = [s.inputs[0] for s in scatters] + op.inputs[n_rows:]
        attrs = {k: v for k, v in op.attrs.items() if k != "fn" or op.attrs["fn"] != "matmul"}
        if op.attrs["fn"] == "matmul":
            vop = Op(f"{op.name}@v", APPLY_VERTEX, inputs, [vname],
                     {"activation": op.attrs.get("activation", "none")})
        else:
            vop = Op(f"{op.name}@v", VERTEX_OP, inputs, [vname], attrs)
        # the vertex op runs as soon as its inputs exist (ahead of the edge stage), the
        # scatter of its result where the edge op was
        g.ops[idx] = Op(op.name, SCATTER, [vname, adj], [out], {"side": side})
        made = {t: i for i, o in enumerate(g.ops[:idx]) for t in o.outputs}
        at = max((made[t] + 1 for t in inputs if t in made), default=0)
        g.ops.insert(at, vop)
        return op.name
    return None


def _cse_once(g: Graph) -> str | None:
    """Merge the first op identical to an earlier one; uses of its output are renamed."""
    seen: dict[tuple, Op] = {}
    for idx, op in enumerate(g.ops):
        key = (op.type, tuple(op.inputs), repr(sorted(op.attrs.items())))
        first = seen.get(key)
        if first is None:
            seen[key] = op
            continue
        old, new = op.outputs[0], first.outputs[0]
        del g.ops[idx]
        for later in g.ops[idx:]:
            later.inputs = [new if t == old else t for t in later.inputs]
        g.outputs = [new if t == old else t for t in g.outputs]
        g.tensors.pop(old, None)
        return op.name
    return None


def _dce(g: Graph) -> list[str]:
    removed = []
    while True:
        used = set(g.outputs) | {t for op in g.ops for t in op.inputs}
        dead = [op for op in g.ops if not any(t in used for t in op.outputs)]
        if not dead:
            return removed
        for op in dead:
            g.ops.remove(op)
            for t in op.outputs:
                g.tensors.pop(t, None)
            removed.append(op.name)


def eliminate_redundancy(graph: Graph) -> tuple[Graph, RedundancyReport]:
    """The rewritten program and what it saves; a non-GNN graph comes back unchanged."""
    before = total_cost(graph)
    if not is_gnn(graph):
        return graph, RedundancyReport(before, dict(before))
    g = copy_graph(graph)
    report = RedundancyReport(before, before)
    while True:
        name = _hoist_once(g)
        if name is not None:
            report.hoisted.append(name)
            continue
        name = _cse_once(g)
        if name is not None:
            report.merged.append(name)
            continue
        break
    report.removed = _dce(g)
    report.after = total_cost(g)
    g.validate()
    return g, report


@register("gnn_redundancy")
def gnn_redundancy_pass(graph: Graph, option: str | None) -> Graph:
    """Hoist per-endpoint work out of the GNN edge stage (CSE and dead-op removal included)."""
    out, report = eliminate_redundancy(graph)
    if out is not graph:   # what it saved travels with the trace (notes.gnn_redundancy)
        out.meta = {**graph.meta, "gnn_redundancy": {
            "saved": report.saved, "hoisted": report.hoisted, "merged": report.merged,
            "removed": report.removed}}
    return out
