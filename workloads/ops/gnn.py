"""GNN IR operators (domain ``archsim.gnn``): the SAGA primitives of :mod:`workloads.gnn.ir`.

Tensors are vertex tensors (V, F) or edge tensors (E, F); ``adj`` is the (2, E) int64
adjacency (row 0 sources, row 1 destinations). The semantics here are the whole-graph reference
(one op at a time); :mod:`workloads.gnn.execute` runs the same program tile by tile as the
accelerator does. Costs are closed forms over rows and widths (:func:`op_cost`): GEMM MACs,
vector-unit operations and elements the gather/scatter unit moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Graph, Op
from workloads.ops.catalogue import GNN_DOMAIN, Call, OpSpec, register

SCATTER, APPLY_EDGE, SOFTMAX, GATHER = "GnnScatter", "GnnApplyEdge", "GnnEdgeSoftmax", "GnnGather"
APPLY_VERTEX, VERTEX_OP = "GnnApplyVertex", "GnnVertexOp"
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
#: row functions with more than one row-aligned input (the rest of the inputs are parameters)
ROW_INPUTS = {"add": 2, "axpy": 2, "mul": 2}


def softmax_step(run_max: np.ndarray, run_sum: np.ndarray, scores: np.ndarray,
                 dst: np.ndarray, v0: int, dv: int) -> tuple[np.ndarray, np.ndarray]:
    """One tile of an online edge softmax: fold the tile's ``scores`` (edges into vertices
    ``dst``, all inside rows [v0, v0 + dv)) into the running max and sum per destination.
    Returns the tile's unnormalised weights and the (dv, K) factor by which what was already
    accumulated for those rows must be rescaled (the max may have grown)."""
    old = run_max[v0:v0 + dv].copy()
    np.maximum.at(run_max, dst, scores)
    new = run_max[v0:v0 + dv]
    with np.errstate(invalid="ignore"):   # -inf - -inf where no edge yet
        scale = np.where(np.isneginf(new), 1.0, np.exp(old - new)).astype(np.float32)
    p = np.exp(scores - run_max[dst]).astype(np.float32)
    run_sum[v0:v0 + dv] *= scale
    np.add.at(run_sum, dst, p)
    return p, scale


def accumulate(acc: np.ndarray, dst: np.ndarray, messages: np.ndarray, reduce: str,
               where: str) -> None:
    """Add (sum, mean) or max a tile's messages into the destination rows of ``acc``."""
    if reduce == "max":
        np.maximum.at(acc, dst, messages)
    elif reduce in ("sum", "mean"):
        np.add.at(acc, dst, messages)
    else:
        raise WorkloadError(f"gather reduce {reduce!r}; accepted: sum, mean, max", where=where)


def row_inputs(op_type: str, attrs: dict) -> int:
    """How many leading inputs of a GNN op are row-aligned (edge or vertex rows; the others
    are parameters or the adjacency): what a tile of rows slices."""
    if op_type in (APPLY_EDGE, VERTEX_OP):
        return ROW_INPUTS.get(attrs.get("fn"), 1)
    return 1


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


# ---- whole-graph semantics ---------------------------------------------------------------------

def _adjacency(c: Call, index: int = 1) -> tuple[np.ndarray, np.ndarray]:
    adj = np.asarray(c.inputs[index]).astype(np.int64)
    return adj[0], adj[1]


def _vertices(c: Call, dst: np.ndarray) -> int:
    """Destination vertex count: the output's rows when known (vertices without in-edges
    included), else one past the largest destination."""
    if c.shapes:
        return int(c.shapes[0][0])
    return int(dst.max()) + 1 if dst.size else 0


def _scatter(c: Call) -> list[np.ndarray]:
    src, dst = _adjacency(c)
    x = np.asarray(c.inputs[0])
    return [x[src if c.attrs.get("side", "src") == "src" else dst]]


def _gather(c: Call) -> list[np.ndarray]:
    _, dst = _adjacency(c)
    m = np.asarray(c.inputs[0], np.float32)
    weight = c.input(2)
    if weight is not None:
        m = row_fn("mul", [m, np.asarray(weight, np.float32)], {})
    num_v = _vertices(c, dst)
    reduce = c.attrs.get("reduce", "sum")
    if reduce == "max":
        out = np.full((num_v, *m.shape[1:]), -np.inf, np.float32)
        np.maximum.at(out, dst, m)
        out[np.isneginf(out)] = 0.0
        return [out]
    if reduce not in ("sum", "mean"):
        raise WorkloadError(f"gather reduce {reduce!r}; accepted: sum, mean, max")
    out = np.zeros((num_v, *m.shape[1:]), np.float32)
    np.add.at(out, dst, m)
    if reduce == "mean":
        deg = np.bincount(dst, minlength=num_v).astype(np.float32)
        out /= np.maximum(deg, 1.0).reshape(-1, *[1] * (out.ndim - 1))
    return [out]


def _edge_softmax(c: Call) -> list[np.ndarray]:
    """Softmax of each destination's in-edge scores (per column)."""
    _, dst = _adjacency(c)
    e = np.asarray(c.inputs[0], np.float32)
    num_v = int(dst.max()) + 1 if dst.size else 0
    top = np.full((num_v, *e.shape[1:]), -np.inf, np.float32)
    np.maximum.at(top, dst, e)
    p = np.exp(e - top[dst]).astype(np.float32)
    total = np.zeros((num_v, *e.shape[1:]), np.float32)
    np.add.at(total, dst, p)
    return [p / total[dst]]


def _apply_vertex(c: Call) -> list[np.ndarray]:
    return [row_fn("matmul", [x for x in c.inputs if x is not None], c.attrs)]


def _row(c: Call) -> list[np.ndarray]:
    return [row_fn(c.attrs["fn"], [x for x in c.inputs if x is not None], c.attrs)]


def _vector_ops(graph: Graph, op: Op) -> int:
    return op_cost(graph, op).vector_ops


for _op, _fn, _doc in (
        (SCATTER, _scatter, "edge rows from vertex rows: x[src] or x[dst] (side)"),
        (APPLY_EDGE, _row, "a row function (fn) on edge tensors, then an activation"),
        (SOFTMAX, _edge_softmax, "softmax of the edge scores over each destination's in-edges"),
        (GATHER, _gather, "vertex rows reduced (sum/mean/max) from their in-edges, optionally "
                          "weighted per edge and head"),
        (APPLY_VERTEX, _apply_vertex, "act(x W + b) on vertex rows"),
        (VERTEX_OP, _row, "a row function (fn) on vertex tensors, then an activation")):
    register(OpSpec(_op, GNN_DOMAIN, 1, None, "gnn", _doc, semantics=_fn, work=_vector_ops))

GNN_OPS = frozenset(STAGE_OF)
EDGE_OPS = frozenset(op for op, stage in STAGE_OF.items() if stage != "apply_vertex")
VERTEX_OPS = GNN_OPS - EDGE_OPS
