"""Functional execution of GNN instructions that compute a range of rows (a graph tile).

A GNN accelerator runs the SAGA ops tile by tile: an instruction of a GNN layer whose dims
carry ``e0``/``e1`` computes that layer's rows for edges ``[e0, e1)`` (in the tiled edge
order); one with ``v0``/``dv`` computes vertex rows ``[v0, v0 + dv)`` (for an edge op, the
destination interval of its tile). What each instruction does:

- ``SCATTER``: ``out[e0:e1] = x[adj[src or dst][e0:e1]]``;
- apply-edge ``VEC``/``GEMM``: the row function on edge rows ``[e0, e1)``;
- edge softmax ``VEC``: an online softmax per destination (running max and sum, rescaling
  what was accumulated when the max grows), so a destination's in-edges may span many tiles;
- ``GATHER``: adds (or maxes) the tile's messages into the destination accumulators,
  weighted by a softmax or an edge weight; ``finish`` marks the interval's rows final;
- a ``VEC`` with ``finish``: the interval's rows made final (mean by in-degree, softmax by
  its running sum);
- vertex-op ``GEMM``/``VEC``: the op on vertex rows ``[v0, v0 + dv)``.

Rows not yet computed read as NaN, so an instruction that runs before the rows it needs (a
missing dependency, a tile the lowering forgot) poisons the result instead of passing by. A
softmax the gathers read only after all of its tiles have run (the op-by-op schedule) is
normalised whole first and its gathers add exact weights.
"""

from __future__ import annotations

import numpy as np

from simulator.trace.format import Instruction, LayerInfo, Trace
from workloads import ops
from workloads.ops.gnn import (
    ADJ,
    GATHER,
    SCATTER,
    SOFTMAX,
    accumulate,
    row_fn,
    row_inputs,
    softmax_step,
)

SPAN_KEYS = ("e0", "v0")


def span_layers(trace: Trace) -> set[str]:
    """The GNN layers whose instructions compute row ranges (run tile by tile here)."""
    gnn = {layer.name for layer in trace.layers if ops.is_gnn(layer.op)}
    return {ins.layer for ins in trace.instructions
            if ins.layer in gnn and any(k in ins.dims for k in SPAN_KEYS)}


class GnnTiles:
    """The state of a tiled GNN program: row-filled tensors, gather accumulators, softmax
    running max and sum, all kept in the executor's memory ``mem``."""

    def __init__(self, trace: Trace, mem: dict[str, np.ndarray]) -> None:
        self.mem = mem
        self.acc: dict[str, np.ndarray] = {}
        self.soft: dict[str, tuple[np.ndarray, np.ndarray]] = {}   # running max, running sum
        self.scale: dict[str, np.ndarray] = {}        # the last tile's rescale, per softmax
        self.exact: dict[str, np.ndarray] = {}        # a completed softmax, normalised whole
        self.online: dict[str, bool] = {}             # gather -> reads its softmax online
        self.last = {}
        for ins in trace.instructions:
            self.last[ins.layer] = ins.id
        adj = np.asarray(mem[ADJ])
        rows = [layer.args["shapes"][0][0] for layer in trace.layers
                if layer.op == GATHER and layer.args.get("shapes")]
        #: vertices: the gathers' rows (and at least every vertex an edge names)
        self.vertices = max([*rows, int(adj.max(initial=-1)) + 1])
        self.degree = np.bincount(adj[1], minlength=self.vertices) if adj.size else \
            np.zeros(self.vertices, np.int64)

    # ---------------------------------------------------------------- helpers
    def _array(self, layer: LayerInfo, fill: float = np.nan) -> np.ndarray:
        """The layer's output, allocated on first use (rows not computed: ``fill``)."""
        name = layer.args["outputs"][0]
        if name not in self.mem:
            self.mem[name] = np.full(tuple(layer.args["shapes"][0]), fill, dtype=np.float32)
        return self.mem[name]

    def _adj(self) -> np.ndarray:
        return np.asarray(self.mem[ADJ])

    def _rows(self, layer: LayerInfo, lo: int, hi: int) -> list[np.ndarray]:
        """The op's inputs for rows [lo, hi): row-aligned inputs sliced, parameters whole."""
        args = layer.args
        n_rows = row_inputs(layer.op, args.get("attrs", {}))
        return [self.mem[t][lo:hi] if i < n_rows else self.mem[t]
                for i, t in enumerate(t for t in args["inputs"] if t)]

    # ---------------------------------------------------------------- instructions
    def run(self, ins: Instruction, layer: LayerInfo) -> None:
        d = ins.dims
        if ins.op in ("LOAD", "STORE") or not any(k in d for k in SPAN_KEYS):
            return self._complete(ins, layer)
        op, attrs = layer.op, layer.args.get("attrs", {})
        if op == SCATTER:
            e0, e1 = d["e0"], d["e1"]
            side = 0 if attrs.get("side", "src") == "src" else 1
            x = self.mem[layer.args["inputs"][0]]
            self._array(layer)[e0:e1] = x[self._adj()[side, e0:e1]]
        elif op == SOFTMAX:
            self._softmax(layer, d)
        elif op == GATHER:
            if ins.op == "GATHER":
                self._gather(layer, d)
            if d.get("finish"):
                self._finish(layer, d["v0"], d["dv"])
        elif "e0" in d:     # apply-edge row function on edge rows
            e0, e1 = d["e0"], d["e1"]
            out = self._array(layer)
            out[e0:e1] = ops.evaluate(op, self._rows(layer, e0, e1), attrs,
                                      [(e1 - e0, *out.shape[1:])])[0]
        else:               # a vertex op on vertex rows
            v0, dv = d["v0"], d["dv"]
            out = self._array(layer)
            out[v0:v0 + dv] = ops.evaluate(op, self._rows(layer, v0, v0 + dv), attrs,
                                           [(dv, *out.shape[1:])])[0]
        self._complete(ins, layer)

    def _complete(self, ins: Instruction, layer: LayerInfo) -> None:
        """A softmax whose last tile has run is normalised whole (for gathers that read it
        afterwards: the op-by-op schedule)."""
        if layer.op == SOFTMAX and ins.id == self.last[layer.name] and \
                layer.name not in self.exact:
            out = layer.args["outputs"][0]
            run_max, run_sum = self.soft[out]
            dst = self._adj()[1]
            scores = np.asarray(self.mem[layer.args["inputs"][0]])
            p = np.exp(scores - run_max[dst]) / np.where(run_sum > 0, run_sum, 1.0)[dst]
            self.exact[out] = p.astype(np.float32)

    def _softmax(self, layer: LayerInfo, d: dict) -> None:
        e0, e1, v0, dv = d["e0"], d["e1"], d["v0"], d["dv"]
        out = self._array(layer)
        name = layer.args["outputs"][0]
        if name not in self.soft:
            self.soft[name] = (np.full((self.vertices, out.shape[1]), -np.inf, np.float32),
                               np.zeros((self.vertices, out.shape[1]), np.float32))
        run_max, run_sum = self.soft[name]
        e = np.asarray(self.mem[layer.args["inputs"][0]][e0:e1])
        out[e0:e1], self.scale[name] = softmax_step(run_max, run_sum, e, self._adj()[1, e0:e1],
                                                    v0, dv)

    def _gather(self, layer: LayerInfo, d: dict) -> None:
        e0, e1, v0, dv = d["e0"], d["e1"], d["v0"], d["dv"]
        name = layer.args["outputs"][0]
        inputs = layer.args["inputs"]
        reduce = layer.args.get("attrs", {}).get("reduce", "sum")
        if name not in self.acc:
            shape = tuple(layer.args["shapes"][0])
            self.acc[name] = np.full(shape, -np.inf if reduce == "max" else 0.0, np.float32)
            self._array(layer, fill=0.0)   # rows of an interval with no in-edges stay 0
        acc = self.acc[name]
        if e1 <= e0:
            return
        m = np.asarray(self.mem[inputs[0]][e0:e1])
        weight = inputs[2] if len(inputs) > 2 and inputs[2] else None
        if weight is not None:
            if weight in self.soft:
                online = self.online.setdefault(name, weight not in self.exact)
                w = self.mem[weight][e0:e1] if online else self.exact[weight][e0:e1]
                if online:   # rescale what earlier tiles accumulated for these rows
                    k = self.scale[weight].shape[1]
                    block = acc[v0:v0 + dv].reshape(dv, k, -1)
                    block *= self.scale[weight][:, :, None]
            else:
                w = self.mem[weight][e0:e1]
            m = row_fn("mul", [m, np.asarray(w)], {})
        accumulate(acc, self._adj()[1, e0:e1], m, reduce, f"layer {layer.name!r}")

    def _finish(self, layer: LayerInfo, v0: int, dv: int) -> None:
        """Rows [v0, v0 + dv) of the gather are final: normalise them into the output."""
        name = layer.args["outputs"][0]
        out = self._array(layer, fill=0.0)
        if name not in self.acc:   # no edge reached this interval: the rows stay 0
            return
        block = self.acc[name][v0:v0 + dv].copy()
        attrs, inputs = layer.args.get("attrs", {}), layer.args["inputs"]
        reduce = attrs.get("reduce", "sum")
        if reduce == "mean":
            deg = self.degree[v0:v0 + dv]
            block /= np.maximum(deg, 1).astype(np.float32)[:, None]
        elif reduce == "max":
            block[np.isneginf(block)] = 0.0
        weight = inputs[2] if len(inputs) > 2 and inputs[2] else None
        if weight in self.soft and self.online.get(name, False):
            total = self.soft[weight][1][v0:v0 + dv]
            view = block.reshape(dv, total.shape[1], -1)
            view /= np.where(total > 0, total, 1.0)[:, :, None]
        out[v0:v0 + dv] = block

    def finish(self) -> None:
        """Nothing is left pending: every row was written by an instruction (checked by the
        comparison with the reference)."""
