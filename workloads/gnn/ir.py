"""The GNN IR: SAGA primitives (scatter, apply-edge, gather, apply-vertex) as Graph IR ops.

A GNN program is a :class:`workloads.graph.Graph` whose tensors are *vertex tensors* (V, F) or
*edge tensors* (E, F); the adjacency is a constant tensor ``adj`` (2, E) int64 (row 0 sources,
row 1 destinations). The op types:

| op | inputs | output | stage |
|---|---|---|---|
| ``GnnScatter`` (side src/dst) | vertex x, adj | edge: x[src] or x[dst] | scatter |
| ``GnnApplyEdge`` (fn) | edge tensors, parameters | edge | apply_edge |
| ``GnnEdgeSoftmax`` | edge scores (E, K), adj | edge: softmax over each dst's in-edges | gather |
| ``GnnGather`` (reduce sum/mean/max) | edge m, adj[, edge weight (E, K)] | vertex | gather |
| ``GnnApplyVertex`` (activation) | vertex x, W[, b] | vertex: act(x W + b) | apply_vertex |
| ``GnnVertexOp`` (fn) | vertex tensors, parameters | vertex | apply_vertex |

Row functions (``fn``) are per row, the same on an edge or a vertex tensor, which is what lets
redundancy elimination move them from the edge stage to the vertex stage.

The op types, their numpy semantics and their costs (:func:`op_cost`) are the operator
catalogue's entries in domain ``archsim.gnn`` (:mod:`workloads.ops.gnn`); this module builds
programs from them.
"""

from __future__ import annotations

import numpy as np

from workloads.graph import Graph, Op, Tensor
from workloads.ops.gnn import (  # the catalogue's GNN entries: op types, semantics, costs
    ACT_WORK,
    ACTIVATIONS,
    ADJ,
    APPLY_EDGE,
    APPLY_VERTEX,
    EDGE_OPS,
    GATHER,
    GNN_OPS,
    ROW_FN_WORK,
    ROW_FNS,
    SCATTER,
    SOFTMAX,
    SOFTMAX_WORK,
    STAGE_OF,
    STAGES,
    VERTEX_OP,
    VERTEX_OPS,
    OpCost,
    activate,
    op_cost,
    row_fn,
    rows_of,
    width,
)


def segments(graph: Graph) -> list[tuple[str, list[Op]]]:
    """Maximal runs of edge ops (``"edge"``) and of vertex ops (``"vertex"``), in program
    order: what a GNN accelerator runs tile by tile, and what its tiling is sized for."""
    out: list[tuple[str, list[Op]]] = []
    for op in graph.ops:
        kind = "edge" if op.type in EDGE_OPS else "vertex"
        if out and out[-1][0] == kind:
            out[-1][1].append(op)
        else:
            out.append((kind, [op]))
    return out


def is_gnn(graph: Graph) -> bool:
    return any(op.type in GNN_OPS for op in graph.ops)


def total_cost(graph: Graph) -> dict[str, int]:
    """Summed MACs, vector ops and gather/scatter elements of every GNN op."""
    out = {"macs": 0, "vector_ops": 0, "gs_elements": 0}
    for op in graph.ops:
        if op.type in GNN_OPS:
            c = op_cost(graph, op)
            out["macs"] += c.macs
            out["vector_ops"] += c.vector_ops
            out["gs_elements"] += c.gs_elements
    return out


class GnnBuilder:
    """Appends GNN ops to a Graph with fresh, readable tensor names."""

    def __init__(self, graph: Graph, num_nodes: int, num_edges: int) -> None:
        self.g = graph
        self.V, self.E = num_nodes, num_edges

    def _out(self, name: str, rows: int, cols: int) -> str:
        self.g.add_tensor(Tensor(name, (rows, cols)))
        return name

    def param(self, name: str, values: np.ndarray) -> str:
        values = np.asarray(values, dtype=np.float32)
        self.g.add_tensor(Tensor(name, tuple(values.shape), values=values))
        return name

    def scatter(self, name: str, x: str, side: str) -> str:
        out = self._out(f"{name}", self.E, width(self.g, x))
        self.g.add_op(Op(name, SCATTER, [x, ADJ], [out], {"side": side}))
        return out

    def gather(self, name: str, m: str, reduce: str = "sum", weight: str | None = None) -> str:
        out = self._out(name, self.V, width(self.g, m))
        inputs = [m, ADJ] + ([weight] if weight else [])
        self.g.add_op(Op(name, GATHER, inputs, [out], {"reduce": reduce}))
        return out

    def edge_softmax(self, name: str, scores: str) -> str:
        out = self._out(name, self.E, width(self.g, scores))
        self.g.add_op(Op(name, SOFTMAX, [scores, ADJ], [out]))
        return out

    def apply_vertex(self, name: str, x: str, w: str, b: str | None = None,
                     activation: str = "none") -> str:
        out = self._out(name, self.V, self.g.tensor(w).shape[1])
        inputs = [x, w] + ([b] if b else [])
        self.g.add_op(Op(name, APPLY_VERTEX, inputs, [out], {"activation": activation}))
        return out

    def row(self, name: str, domain: str, fn: str, inputs: list[str], cols: int,
            activation: str = "none", **attrs) -> str:
        """A row function on edges (``GnnApplyEdge``) or vertices (``GnnVertexOp``)."""
        rows = self.E if domain == "edge" else self.V
        out = self._out(name, rows, cols)
        kind = APPLY_EDGE if domain == "edge" else VERTEX_OP
        self.g.add_op(Op(name, kind, inputs, [out],
                         {"fn": fn, "activation": activation, **attrs}))
        return out


__all__ = ["ACTIVATIONS", "ACT_WORK", "ADJ", "APPLY_EDGE", "APPLY_VERTEX", "EDGE_OPS", "GATHER",
           "GNN_OPS", "ROW_FNS", "ROW_FN_WORK", "SCATTER", "SOFTMAX", "SOFTMAX_WORK", "STAGES",
           "STAGE_OF", "VERTEX_OP", "VERTEX_OPS", "GnnBuilder", "OpCost", "activate", "is_gnn",
           "op_cost", "row_fn", "rows_of", "total_cost", "width"]
