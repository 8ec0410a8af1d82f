"""Functional execution of a GNN IR program on numpy, whole-graph or tile by tile.

Tile by tile is how the accelerator computes: for each graph tile (a destination interval x a
source interval, edges contiguous in the adjacency after the tiling pass) the edge ops run on
that tile's edges only, the source rows are fetched compacted (each referenced source once), and
gathers accumulate into the destination rows. Edge softmax is computed online (a running max
and sum per destination, rescaling what was accumulated), so a destination's in-edges may be
spread over any number of tiles. Whole-graph execution is the same code with one tile.

Vertex ops run the operator catalogue's semantics (:mod:`workloads.ops.gnn`); edge ops run the
tiled, online form of the catalogue's whole-graph semantics, which :func:`workloads.ops.run_graph`
evaluates op by op (the tests check that the two agree).
"""

from __future__ import annotations

import numpy as np

from workloads import ops
from workloads.errors import WorkloadError
from workloads.gnn.ir import (
    ADJ,
    APPLY_EDGE,
    EDGE_OPS,
    GATHER,
    SCATTER,
    SOFTMAX,
    VERTEX_OPS,
    row_fn,
)
from workloads.graph import Graph
from workloads.ops.gnn import ROW_INPUTS, accumulate, softmax_step

TILES = "adj.tiles"   # (T, 7) int64: e0, e1, v0, dv, u0, du, unique sources


def tile_table(graph: Graph) -> np.ndarray | None:
    t = graph.tensors.get(TILES)
    return None if t is None else t.values


def _row_args(op, values: dict, local: dict, e0: int, e1: int) -> list[np.ndarray]:
    n_rows = ROW_INPUTS.get(op.attrs.get("fn"), 1)
    args = []
    for i, name in enumerate(op.inputs):
        if i < n_rows:
            args.append(local[name] if name in local else values[name][e0:e1])
        else:
            args.append(values[name])
    return args


def execute(graph: Graph, tiled: bool = True) -> dict[str, np.ndarray]:
    """Every tensor of the program (inputs, parameters, results) by name. ``tiled`` follows
    the graph's tile table when the tiling pass made one; otherwise one tile holds all."""
    values: dict[str, np.ndarray] = {n: t.values for n, t in graph.tensors.items()
                                     if t.values is not None}
    src, dst = values[ADJ]
    num_v = graph.tensor("x").shape[0]
    table = tile_table(graph) if tiled else None
    if table is None:
        table = np.array([[0, src.size, 0, num_v, 0, num_v, 0]], dtype=np.int64)
    ops = graph.ops
    i = 0
    while i < len(ops):
        op = ops[i]
        if op.type not in EDGE_OPS:
            values[op.outputs[0]] = _vertex_op(graph, op, values)
            i += 1
            continue
        j = i
        while j < len(ops) and ops[j].type in EDGE_OPS:
            j += 1
        _edge_segment(graph, ops[i:j], values, src, dst, table, num_v)
        i = j
    return values


def _vertex_op(graph: Graph, op, values: dict) -> np.ndarray:
    if op.type not in VERTEX_OPS:
        raise WorkloadError(f"op {op.name!r} of type {op.type} is not a GNN op")
    args = [values[n] if n else None for n in op.inputs]
    return ops.evaluate(op.type, args, op.attrs, [graph.tensor(op.outputs[0]).shape],
                        ops.GNN_DOMAIN)[0]


def _edge_segment(graph: Graph, seg: list, values: dict, src: np.ndarray, dst: np.ndarray,
                  table: np.ndarray, num_v: int) -> None:
    """Run a run of edge ops tile by tile; gathers accumulate across tiles."""
    acc: dict[str, np.ndarray] = {}
    soft: dict[str, tuple[np.ndarray, np.ndarray]] = {}   # running max, running sum
    for op in seg:
        if op.type == GATHER:
            width = graph.tensor(op.outputs[0]).shape[1]
            fill = -np.inf if op.attrs.get("reduce") == "max" else 0.0
            acc[op.outputs[0]] = np.full((num_v, width), fill, dtype=np.float32)
        elif op.type == SOFTMAX:
            k = graph.tensor(op.outputs[0]).shape[1]
            soft[op.outputs[0]] = (np.full((num_v, k), -np.inf, dtype=np.float32),
                                   np.zeros((num_v, k), dtype=np.float32))
    for e0, e1, v0, dv, _u0, _du, _ in table:
        if e1 == e0:
            continue
        s_t, d_t = src[e0:e1], dst[e0:e1]
        local: dict[str, np.ndarray] = {}
        scales: dict[str, np.ndarray] = {}
        for op in seg:
            out = op.outputs[0]
            if op.type == SCATTER:
                x = values[op.inputs[0]]
                if op.attrs["side"] == "src":   # fetch each referenced source row once
                    uniq, inv = np.unique(s_t, return_inverse=True)
                    local[out] = x[uniq][inv]
                else:
                    local[out] = x[d_t]
            elif op.type == APPLY_EDGE:
                local[out] = row_fn(op.attrs["fn"], _row_args(op, values, local, e0, e1),
                                    op.attrs)
            elif op.type == SOFTMAX:
                e = local[op.inputs[0]] if op.inputs[0] in local else values[op.inputs[0]][e0:e1]
                run_max, run_sum = soft[out]
                p, scale = softmax_step(run_max, run_sum, e, d_t, v0, dv)
                local[out], scales[out] = p, scale
            elif op.type == GATHER:
                m = local[op.inputs[0]] if op.inputs[0] in local else values[op.inputs[0]][e0:e1]
                a = acc[out]
                if len(op.inputs) > 2 and op.inputs[2]:
                    wname = op.inputs[2]
                    w = local[wname] if wname in local else values[wname][e0:e1]
                    m = row_fn("mul", [m, w], {})
                    if wname in scales:   # rescale what earlier tiles accumulated
                        k = scales[wname].shape[1]
                        block = a[v0:v0 + dv].reshape(dv, k, -1)
                        block *= scales[wname][:, :, None]
                accumulate(a, d_t, m, op.attrs.get("reduce", "sum"), op.name)
    deg = np.bincount(dst, minlength=num_v).astype(np.float32)[:, None]
    for op in seg:
        if op.type != GATHER:
            continue
        out = acc[op.outputs[0]]
        reduce = op.attrs.get("reduce", "sum")
        if reduce == "mean":
            out /= np.maximum(deg, 1.0)
        elif reduce == "max":
            out[np.isneginf(out)] = 0.0
        if len(op.inputs) > 2 and op.inputs[2] in soft:
            total = soft[op.inputs[2]][1]
            k = total.shape[1]
            view = out.reshape(num_v, k, -1)
            view /= np.where(total > 0, total, 1.0)[:, :, None]
        values[op.outputs[0]] = out
    for op in seg:   # edge tensors are per tile; only softmax outputs would be needed whole
        if op.type == SOFTMAX and any(op.outputs[0] in o.inputs[:1] for o in seg
                                      if o.type != GATHER):
            raise WorkloadError("an edge softmax may only feed gathers as their weight",
                                where=op.name)
