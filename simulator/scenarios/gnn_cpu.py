"""A measured CPU baseline for the GNN characterization: the same GNN IR program run on this
machine's CPU with scipy.sparse and numpy, wall time per SAGA stage.

Each op runs as a CPU GNN library would run it: a scatter is a row gather ``x[src]``
(``np.take``); a gather is a sparse incidence matrix (destinations x edges, CSR, the edge
weight as its values when the gather is weighted) times the edge tensor (``scipy.sparse`` SpMM;
``max`` as a segmented ``np.maximum.reduceat`` over destination-sorted edges); the edge softmax
is a segmented max, ``exp`` and an SpMM for the sums; apply-edge, vertex ops and apply-vertex are
the catalogue's row functions (numpy, BLAS for the GEMMs). The sparse formats are built once per
graph before timing (as a library converts its input once); the timings are the op's own.

Per op the wall time is the median of ``repeats`` runs (``time.perf_counter``), charged to the
op's stage (``workloads.ops.gnn.STAGE_OF``). BLAS may use more than one thread; the thread count
is reported with the numbers. :func:`run_cpu` also returns every output, so the baseline is
checked against the catalogue's whole-graph semantics (tests), not just timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from workloads.gnn.ir import (
    ADJ,
    APPLY_EDGE,
    APPLY_VERTEX,
    GATHER,
    SCATTER,
    SOFTMAX,
    STAGE_OF,
    STAGES,
    VERTEX_OP,
    row_fn,
)
from workloads.graph import Graph


@dataclass
class CpuRun:
    """Seconds per stage, per op, and every tensor the program computed."""

    stage_s: dict[str, float]
    op_s: dict[str, float] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def total_s(self) -> float:
        return sum(self.stage_s.values())


class _Sparse:
    """The sparse structures of one adjacency, built once."""

    def __init__(self, adj: np.ndarray, num_v: int) -> None:
        import scipy.sparse as sp

        self.src, self.dst = adj[0], adj[1]
        e = self.src.size
        self.num_v = num_v
        ones = np.ones(e, np.float32)
        self.incidence = sp.csr_matrix((ones, (self.dst, np.arange(e))), shape=(num_v, e))
        self.order = np.argsort(self.dst, kind="stable")
        sorted_dst = self.dst[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_dst[1:] != sorted_dst[:-1]]) \
            if e else np.zeros(0, np.int64)
        self.rows = sorted_dst[self.starts] if e else np.zeros(0, np.int64)
        self.degree = np.bincount(self.dst, minlength=num_v).astype(np.float32)

    def weighted(self, weight: np.ndarray):
        """The incidence matrix with one edge weight column as values."""
        m = self.incidence.copy()
        m.data = np.asarray(weight, np.float32)[m.indices]
        return m

    def segment_max(self, e: np.ndarray) -> np.ndarray:
        out = np.full((self.num_v, *e.shape[1:]), -np.inf, np.float32)
        if e.shape[0]:
            out[self.rows] = np.maximum.reduceat(e[self.order], self.starts, axis=0)
        return out


def _gather(s: _Sparse, m: np.ndarray, reduce: str, weight: np.ndarray | None) -> np.ndarray:
    if weight is not None:
        k = weight.shape[1]
        h = m.shape[1] // k
        parts = [np.asarray(s.weighted(weight[:, i]) @ m[:, i * h:(i + 1) * h])
                 for i in range(k)]
        return np.concatenate(parts, axis=1).astype(np.float32)
    if reduce == "max":
        out = s.segment_max(m)
        out[np.isneginf(out)] = 0.0
        return out
    out = np.asarray(s.incidence @ m, np.float32)
    if reduce == "mean":
        out /= np.maximum(s.degree, 1.0)[:, None]
    return out


def _softmax(s: _Sparse, e: np.ndarray) -> np.ndarray:
    top = s.segment_max(e)
    p = np.exp(e - top[s.dst]).astype(np.float32)
    total = np.asarray(s.incidence @ p, np.float32)
    return p / total[s.dst]


def _run_op(op, values: dict, s: _Sparse) -> np.ndarray:
    args = [values[i] for i in op.inputs if i and i != ADJ]
    if op.type == SCATTER:
        index = s.src if op.attrs.get("side", "src") == "src" else s.dst
        return np.take(args[0], index, axis=0)
    if op.type == GATHER:
        weight = values[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] else None
        return _gather(s, np.asarray(args[0], np.float32), op.attrs.get("reduce", "sum"), weight)
    if op.type == SOFTMAX:
        return _softmax(s, np.asarray(args[0], np.float32))
    if op.type == APPLY_VERTEX:
        return row_fn("matmul", args, op.attrs)
    if op.type in (APPLY_EDGE, VERTEX_OP):
        return row_fn(op.attrs["fn"], args, op.attrs)
    raise ValueError(f"not a GNN op: {op.type}")


def run_cpu(graph: Graph, repeats: int = 3) -> CpuRun:
    """Run the program op by op on the CPU, timing each op (median of ``repeats``)."""
    values = {n: t.values for n, t in graph.tensors.items() if t.values is not None}
    s = _Sparse(np.asarray(values[ADJ], np.int64), graph.tensor("x").shape[0])
    stage_s = dict.fromkeys(STAGES, 0.0)
    op_s: dict[str, float] = {}
    for op in graph.ops:
        times = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            out = _run_op(op, values, s)
            times.append(time.perf_counter() - t0)
        values[op.outputs[0]] = out
        op_s[op.name] = float(np.median(times))
        stage_s[STAGE_OF[op.type]] += op_s[op.name]
    return CpuRun(stage_s, op_s, values)


def blas_threads() -> int | None:
    """Threads numpy's BLAS may use (threadpoolctl, which scikit-learn brings), or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return int(pools[0]["num_threads"]) if pools else None
