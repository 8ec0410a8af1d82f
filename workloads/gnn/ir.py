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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Graph, Op, Tensor

SCATTER, APPLY_EDGE, SOFTMAX, GATHER = "GnnScatter", "GnnApplyEdge", "GnnEdgeSoftmax", "GnnGather"
APPLY_VERTEX, VERTEX_OP = "GnnApplyVertex", "GnnVertexOp"
GNN_OPS = frozenset({SCATTER, APPLY_EDGE, SOFTMAX, GATHER, APPLY_VERTEX, VERTEX_OP})
EDGE_OPS = frozenset({SCATTER, APPLY_EDGE, SOFTMAX, GATHER})
VERTEX_OPS = frozenset({APPLY_VERTEX, VERTEX_OP})
STAGES = ("scatter", "apply_edge", "gather", "apply_vertex")
STAGE_OF = {SCATTER: "scatter", APPLY_EDGE: "apply_edge", SOFTMAX: "gather", GATHER: "gather",
            APPLY_VERTEX: "apply_vertex", VERTEX_OP: "apply_vertex"}
ADJ = "adj"
ACTIVATIONS = ("none", "relu", "elu", "leaky_relu")
ROW_FNS = ("matmul", "add", "axpy", "bias", "mul", "head_dot", "head_mean", "act")
#: vector operations per output element of each row function (matmul is MACs instead)
ROW_FN_WORK = {"add": 1, "axpy": 2, "bias": 1, "mul": 1, "head_mean": 1, "act": 0}
ACT_WORK = {"none": 0, "relu": 1, "leaky_relu": 2, "elu": 4}
SOFTMAX_WORK = 5   # max, subtract, exp, sum, divide per score


def is_gnn(graph: Graph) -> bool:
    return any(op.type in GNN_OPS for op in graph.ops)


def activate(x: np.ndarray, act: str) -> np.ndarray:
    if act == "none":
        return x
    if act == "relu":
        return np.maximum(x, 0)
    if act == "leaky_relu":
        return np.where(x > 0, x, np.float32(0.2) * x)
    if act == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))
    raise WorkloadError(f"unknown activation {act!r}; accepted: {', '.join(ACTIVATIONS)}")


def row_fn(fn: str, args: list[np.ndarray], attrs: dict) -> np.ndarray:
    """One row function on row-aligned arrays (edge or vertex rows) and parameters."""
    a = args[0]
    if fn == "matmul":
        out = a @ args[1]
        if len(args) > 2:
            out = out + args[2]
    elif fn == "add":
        out = a + args[1]
    elif fn == "axpy":
        out = np.float32(1.0 + attrs.get("eps", 0.0)) * a + args[1]
    elif fn == "bias":
        out = a + args[1][None, :]
    elif fn == "mul":   # per-head weights (rows, K) broadcast over (rows, K*H)
        w = args[1]
        k = w.shape[1]
        out = (a.reshape(a.shape[0], k, -1) * w[:, :, None]).reshape(a.shape)
    elif fn == "head_dot":  # (rows, K*H) . (K, H) per head -> (rows, K)
        att = args[1]
        out = (a.reshape(a.shape[0], *att.shape) * att[None]).sum(-1)
    elif fn == "head_mean":
        out = a.reshape(a.shape[0], attrs["heads"], -1).mean(1)
    elif fn == "act":
        out = a
    else:
        raise WorkloadError(f"unknown row function {fn!r}; accepted: {', '.join(ROW_FNS)}")
    return activate(out.astype(np.float32, copy=False), attrs.get("activation", "none"))


@dataclass(frozen=True)
class OpCost:
    """What one op does: GEMM MACs, vector-unit operations, and elements the gather/scatter
    unit moves or reduces."""

    stage: str
    macs: int = 0
    vector_ops: int = 0
    gs_elements: int = 0

    @property
    def total(self) -> int:
        return self.macs + self.vector_ops + self.gs_elements


def rows_of(graph: Graph, name: str) -> int:
    return graph.tensor(name).shape[0]


def width(graph: Graph, name: str) -> int:
    shape = graph.tensor(name).shape
    return int(np.prod(shape[1:])) if len(shape) > 1 else 1


def op_cost(graph: Graph, op: Op) -> OpCost:
    """The work of one GNN op (closed forms over rows and widths)."""
    out = op.outputs[0]
    rows, w_out = rows_of(graph, out), width(graph, out)
    act = ACT_WORK[op.attrs.get("activation", "none")] * rows * w_out
    stage = STAGE_OF[op.type]
    if op.type == SCATTER:
        return OpCost(stage, gs_elements=rows * w_out)
    if op.type == GATHER:
        m = op.inputs[0]
        elems = rows_of(graph, m) * width(graph, m)
        weighted = len(op.inputs) > 2 and op.inputs[2]
        extra = rows * w_out if op.attrs.get("reduce") == "mean" else 0
        return OpCost(stage, vector_ops=extra + (elems if weighted else 0), gs_elements=elems)
    if op.type == SOFTMAX:
        return OpCost(stage, vector_ops=SOFTMAX_WORK * rows * w_out)
    fn = "matmul" if op.type == APPLY_VERTEX else op.attrs["fn"]
    if fn == "matmul":
        k = width(graph, op.inputs[0])
        bias = rows * w_out if len(op.inputs) > 2 and op.inputs[2] else 0
        return OpCost(stage, macs=rows * k * w_out, vector_ops=bias + act)
    if fn == "head_dot":
        return OpCost(stage, vector_ops=2 * rows * width(graph, op.inputs[0]) + act)
    if fn == "head_mean":
        return OpCost(stage, vector_ops=rows * width(graph, op.inputs[0]) + act)
    return OpCost(stage, vector_ops=ROW_FN_WORK[fn] * rows * w_out + act)


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
