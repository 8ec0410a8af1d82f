"""Lower a GNN IR program onto the ``zipper`` target: per-tile instruction streams.

The program is cut into segments: runs of edge ops (scatter ... gather) and runs of vertex ops.
An edge segment runs graph tile by graph tile (see the gnn_tiling pass): LOAD the tile's edge
list and the source rows it references (random DRAM rows), SCATTER them onto the edges, the
apply-edge ops on the vector (or GEMM) unit, edge softmax, and GATHER into the destination
interval's accumulators, which stay on chip across the interval's tiles. When an interval's
tiles are done, one more tile finishes it (mean / softmax normalisation) and runs the following
vertex ops on those rows while they are still on chip. A vertex segment no edge segment
precedes (GCN's first X*W) runs in row tiles of its own (``vertex_rows``), so the next tile's
feature read overlaps this tile's GEMM. Results that later segments read are
stored to DRAM; a later tile depends only on the stores of the rows it reads, so layers overlap.

Every instruction carries ``dims.tile``: the scheduling tile the run-time scheduler admits S at
a time (simulator/hw/zipper.py). With ``scheduler.policy: op_by_op`` the same hardware runs one
operator over all tiles before the next, edge tensors go through DRAM, and every instruction
waits for the previous one (the baseline without tile or operator overlap).
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from simulator.config.zipper import ZipperConfig
from simulator.errors import WorkloadError
from simulator.lower.vector_ops import op_args
from simulator.trace import LayerInfo, Trace, TraceBuilder
from workloads.gnn.execute import TILES
from workloads.gnn.ir import (
    ADJ,
    APPLY_EDGE,
    EDGE_OPS,
    GATHER,
    SCATTER,
    SOFTMAX,
    STAGE_OF,
    op_cost,
    segments,
    width,
)
from workloads.graph import Graph, Op
from workloads.ops import vector_work
from workloads.ops.gnn import ROW_INPUTS

INDEX_BYTES = 4   # one vertex id in an edge list


def vertex_rows(graph: Graph, ops: list[Op], cfg: ZipperConfig) -> int:
    """Rows per tile of a vertex segment that is not fused into an edge segment: each of the S
    tiles in flight gets 1/S of the vertex buffer for its rows of every tensor the segment
    reads from DRAM or writes, so the next tile's loads overlap this tile's GEMM. Rounded down
    to whole GEMM-unit row folds, which leaves the GEMM cycles of the segment unchanged; never
    below one fold (a partial fold costs a whole one: CiteSeer's 3703-wide rows would get 17
    rows and double the GEMM time), so very wide rows overcommit the buffer share, as the
    16-row floor of the gnn_tiling pass's config sizing does."""
    num_v = graph.tensor("x").shape[0]
    if cfg.tiling.vertex_rows:
        return min(num_v, cfg.tiling.vertex_rows)
    consts = {n for n, t in graph.tensors.items() if t.values is not None} - {"x"}
    tensors = {t for op in ops for t in (*op.inputs, *op.outputs) if t and t not in consts}
    row_bytes = sum(width(graph, t) for t in tensors) * cfg.word_bytes
    rows = int(cfg.buffers.vertex_kb * 1024) // (cfg.scheduler.tiles_in_flight * row_bytes)
    fold = cfg.gemm.rows
    return min(num_v, max(fold, rows - rows % fold))


class _TileBuilder(TraceBuilder):
    """Every instruction carries its scheduling tile (``dims.tile``); zero byte counts are
    dropped; in the op-by-op baseline each instruction also waits for the previous one."""

    def __init__(self) -> None:
        super().__init__()
        self.tile = 0
        self.chain = False       # op-by-op: every instruction waits for the previous one

    def emit(self, op: str, unit: str, layer: str, dims: dict, nbytes: dict, deps,
             tensor: str | None = None) -> int:
        deps = list(deps)
        if self.chain and self.instructions:
            deps.append(len(self.instructions) - 1)
        return super().emit(op, unit, layer, {**dims, "tile": self.tile},
                            {k: int(v) for k, v in nbytes.items() if v}, deps, tensor)


class ZipperLowering:
    def __init__(self, graph: Graph, cfg: ZipperConfig) -> None:
        self.g, self.cfg, self.wb = graph, cfg, cfg.word_bytes
        self.out = _TileBuilder()
        self.num_v = graph.tensor("x").shape[0]
        self.num_e = graph.tensor(ADJ).shape[1]
        self.table = graph.tensor(TILES).values
        self.dst_size = int(self.table[:, 3].max()) if len(self.table) else self.num_v
        self.intervals = [(v0, min(self.dst_size, self.num_v - v0))
                          for v0 in range(0, self.num_v, self.dst_size)]
        # tensor -> (row starts, row ends, STORE ids) of its stored row ranges, in row order
        self.stores: dict[str, tuple[list[int], list[int], list[int]]] = {}
        self.params: dict[str, int] = {}
        self.constants = {n for n, t in graph.tensors.items() if t.values is not None} - \
            {ADJ, TILES, "x"}
        self.segs = segments(graph)
        self.consumers: dict[str, set[int]] = {}
        for i, (_, ops) in enumerate(self.segs):
            for op in ops:
                for t in op.inputs:
                    self.consumers.setdefault(t, set()).add(i)

    # ---------------------------------------------------------------- helpers
    def bytes_of(self, rows: int, tensor: str) -> int:
        return rows * width(self.g, tensor) * self.wb

    def per_row(self, op: Op) -> tuple[int, int]:
        """(MACs, vector ops) per output row: every op's cost is rows x a constant (the vector
        ops the catalogue's, or the config's ``vector.costs`` override)."""
        rows = self.g.tensor(op.outputs[0]).shape[0]
        vops = vector_work(self.g, op, self.cfg.vector.costs or None)
        return op_cost(self.g, op).macs // rows, vops // rows

    def store_deps(self, tensor: str, lo: int, hi: int) -> list[int]:
        done = self.stores.get(tensor)
        if not done:
            return []
        starts, ends, ids = done
        out = []
        for i in range(bisect_right(ends, lo), len(starts)):
            if starts[i] >= hi:
                break
            out.append(ids[i])
        return out

    def needs_store(self, tensor: str, seg: int, fused_into: int | None) -> bool:
        if tensor in self.g.outputs:
            return True
        return any(j != seg and j != fused_into for j in self.consumers.get(tensor, ()))

    def param(self, name: str) -> int:
        if name not in self.params:
            nbytes = self.g.tensor(name).numel * self.wb
            self.params[name] = self.out.emit("LOAD", "dma", self._first_user(name), {},
                                              {"dram_read": nbytes, "sram_write": nbytes}, [],
                                              name)
        return self.params[name]

    def _first_user(self, name: str) -> str:
        return next(op.name for op in self.g.ops if name in op.inputs)

    def compute(self, op: Op, rows: int, span: dict[str, int], deps: list[int]) -> int:
        """The op's compute instructions on ``rows`` rows; returns the last one's id. ``span``
        says which rows (dims ``e0``/``e1``: the edges of an edge op; ``v0``/``dv``: the
        vertices of a vertex op, or the destination interval of an edge tile): what functional
        execution computes, timing ignores it."""
        emit, layer = self.out.emit, op.name
        macs, vops = self.per_row(op)
        if op.type == SCATTER:
            return emit("SCATTER", "gs", layer,
                        {"elements": rows * width(self.g, op.outputs[0]), **span},
                        {}, deps, op.outputs[0])
        if op.type == GATHER:
            weighted = int(len(op.inputs) > 2 and bool(op.inputs[2]))
            return emit("GATHER", "gs", layer,
                        {"elements": rows * width(self.g, op.inputs[0]), "weighted": weighted,
                         **span}, {}, deps, op.outputs[0])
        if macs:
            n = width(self.g, op.outputs[0])
            k = macs // n
            last = emit("GEMM", "gemm", layer, {"m": rows, "n": n, "k": k, **span}, {}, deps,
                        op.outputs[0])
            if vops:
                last = emit("VEC", "vector", layer, {"work": vops * rows, **span}, {}, [last],
                            op.outputs[0])
            return last
        return emit("VEC", "vector", layer, {"work": vops * rows, **span}, {}, deps,
                    op.outputs[0])

    def param_inputs(self, op: Op) -> list[str]:
        return [t for t in op.inputs if t in self.constants and t not in self.edge_rows(op)]

    def edge_rows(self, op: Op) -> list[str]:
        if op.type == APPLY_EDGE:
            return op.inputs[:ROW_INPUTS.get(op.attrs["fn"], 1)]
        if op.type in (GATHER, SOFTMAX):
            return [op.inputs[0]] + [t for t in op.inputs[2:] if t]
        return []

    # ---------------------------------------------------------------- zipper schedule
    def vertex_interval(self, seg: int, ops: list[Op], iv: int, avail: dict[str, int | None]
                        ) -> None:
        self.vertex_tile(seg, ops, *self.intervals[iv], avail)

    def vertex_tile(self, seg: int, ops: list[Op], v0: int, dv: int,
                    avail: dict[str, int | None]) -> None:
        """The vertex ops on rows [v0, v0 + dv): LOAD what is not on chip, compute, STORE."""
        for op in ops:
            deps = []
            for t in op.inputs:
                if t in self.constants:
                    deps.append(self.param(t))
                elif t in avail:
                    deps.append(avail[t])
                else:
                    nbytes = self.bytes_of(dv, t)
                    avail[t] = self.out.emit("LOAD", "dma", op.name, {},
                                             {"dram_read": nbytes, "sram_write": nbytes},
                                             self.store_deps(t, v0, v0 + dv), t)
                    deps.append(avail[t])
            out = op.outputs[0]
            avail[out] = self.compute(op, dv, {"v0": v0, "dv": dv}, deps)
            if self.needs_store(out, seg, None):
                self.store(out, op.name, v0, dv, avail[out])

    def store(self, tensor: str, layer: str, v0: int, dv: int, dep: int | None) -> None:
        """STORE rows [v0, v0 + dv) of ``tensor``; ranges of one tensor come in row order."""
        nbytes = self.bytes_of(dv, tensor)
        ident = self.out.emit("STORE", "dma", layer, {},
                              {"sram_read": nbytes, "dram_write": nbytes}, [dep], tensor)
        starts, ends, ids = self.stores.setdefault(tensor, ([], [], []))
        starts.append(v0)
        ends.append(v0 + dv)
        ids.append(ident)

    def edge_tile(self, ops: list[Op], row: np.ndarray, dst_loaded: dict[str, int],
                  gathered: dict[str, int]) -> None:
        e0, e1, v0, dv, u0, du, unique = (int(x) for x in row)
        et = e1 - e0
        emit = self.out.emit
        idx_bytes = et * 2 * INDEX_BYTES
        index = emit("LOAD", "dma", ops[0].name, {}, {"dram_read": idx_bytes,
                                                      "sram_write": idx_bytes}, [], ADJ)
        local: dict[str, int] = {}
        src_loaded: dict[str, int] = {}
        for op in ops:
            deps = [index] + [self.param(t) for t in self.param_inputs(op)]
            if op.type == SCATTER:
                x = op.inputs[0]
                if op.attrs["side"] == "src":
                    if x not in src_loaded:
                        row_bytes = width(self.g, x) * self.wb
                        src_loaded[x] = emit(
                            "LOAD", "dma", op.name, {"rows": unique, "row_bytes": row_bytes,
                                                     "random": 1},
                            {"dram_read": unique * row_bytes,
                             "sram_write": unique * row_bytes},
                            [index, *self.store_deps(x, u0, u0 + du)], x)
                    deps.append(src_loaded[x])
                else:
                    if x not in dst_loaded:
                        nbytes = self.bytes_of(dv, x)
                        dst_loaded[x] = emit("LOAD", "dma", op.name, {},
                                             {"dram_read": nbytes, "sram_write": nbytes},
                                             self.store_deps(x, v0, v0 + dv), x)
                    deps.append(dst_loaded[x])
            else:
                for t in self.edge_rows(op):
                    if t in local:
                        deps.append(local[t])
                    elif t in self.constants:
                        nbytes = self.bytes_of(et, t)
                        local[t] = emit("LOAD", "dma", op.name, {},
                                        {"dram_read": nbytes, "sram_write": nbytes}, [], t)
                        deps.append(local[t])
                    else:
                        raise WorkloadError(f"edge tensor {t!r} is read outside the edge stage "
                                            "that makes it", where=op.name)
            if op.type == GATHER:
                deps.append(gathered.get(op.outputs[0]))
            local[op.outputs[0]] = self.compute(op, et, {"e0": e0, "e1": e1, "v0": v0, "dv": dv},
                                                deps)
            if op.type == GATHER:
                gathered[op.outputs[0]] = local[op.outputs[0]]

    def finish_interval(self, seg: int, ops: list[Op], iv: int, gathered: dict[str, int]
                        ) -> dict[str, int | None]:
        """Normalise the interval's gathers (mean, softmax); store what later segments read."""
        v0, dv = self.intervals[iv]
        avail: dict[str, int | None] = {}
        softmaxes = {op.outputs[0] for op in ops if op.type == SOFTMAX}
        fused = seg + 1 if seg + 1 < len(self.segs) and self.segs[seg + 1][0] == "vertex" \
            else None
        for op in ops:
            if op.type != GATHER:
                continue
            out = op.outputs[0]
            last = gathered.get(out)
            norm = op.attrs.get("reduce") == "mean" or \
                (len(op.inputs) > 2 and op.inputs[2] in softmaxes)
            if norm:   # the gather's final rows: mean / softmax normalisation (functional)
                last = self.out.emit("VEC", "vector", op.name,
                                     {"work": dv * width(self.g, out), "v0": v0, "dv": dv,
                                      "finish": 1}, {}, [last], out)
            elif last is not None:   # the interval's last GATHER leaves its rows final
                self.out.instructions[last].dims["finish"] = 1
            avail[out] = last
            if self.needs_store(out, seg, fused):
                self.store(out, op.name, v0, dv, last)
        return avail

    def lower_zipper(self) -> None:
        table = self.table
        by_interval: dict[int, list[np.ndarray]] = {}
        for row in table:
            by_interval.setdefault(int(row[2]) // self.dst_size, []).append(row)
        self.out.tile = 0
        skip_next = False
        for seg, (kind, ops) in enumerate(self.segs):
            if skip_next:
                skip_next = False
                continue
            if kind == "vertex":
                step = vertex_rows(self.g, ops, self.cfg)
                for v0 in range(0, self.num_v, step):
                    self.out.tile += 1
                    self.vertex_tile(seg, ops, v0, min(step, self.num_v - v0), {})
                continue
            fused = seg + 1 < len(self.segs) and self.segs[seg + 1][0] == "vertex"
            for iv in range(len(self.intervals)):
                dst_loaded: dict[str, int] = {}
                gathered: dict[str, int] = {}
                for row in by_interval.get(iv, []):
                    self.out.tile += 1
                    self.edge_tile(ops, row, dst_loaded, gathered)
                self.out.tile += 1
                avail = self.finish_interval(seg, ops, iv, gathered)
                if fused:
                    self.vertex_interval(seg + 1, self.segs[seg + 1][1], iv, avail)
            skip_next = fused

    # ---------------------------------------------------------------- op-by-op baseline
    def lower_op_by_op(self) -> None:
        """One op at a time over all tiles/intervals, inputs from and outputs to DRAM."""
        self.out.chain = True
        emit = self.out.emit
        for op in self.g.ops:
            deps_params = [self.param(t) for t in self.param_inputs(op)]
            if op.type not in EDGE_OPS:
                for v0, dv in self.intervals:
                    for t in op.inputs:
                        if t not in self.constants:
                            nbytes = self.bytes_of(dv, t)
                            emit("LOAD", "dma", op.name, {}, {"dram_read": nbytes,
                                                              "sram_write": nbytes}, [], t)
                    last = self.compute(op, dv, {"v0": v0, "dv": dv}, deps_params)
                    self.store(op.outputs[0], op.name, v0, dv, last)
                continue
            for row in self.table:
                e0, e1, v0, dv, u0, du, unique = (int(x) for x in row)
                et = e1 - e0
                nbytes = et * 2 * INDEX_BYTES
                emit("LOAD", "dma", op.name, {}, {"dram_read": nbytes, "sram_write": nbytes},
                     [], ADJ)
                if op.type == SCATTER and op.attrs["side"] == "src":
                    row_bytes = width(self.g, op.inputs[0]) * self.wb
                    emit("LOAD", "dma", op.name, {"rows": unique, "row_bytes": row_bytes,
                                                  "random": 1},
                         {"dram_read": unique * row_bytes, "sram_write": unique * row_bytes},
                         [], op.inputs[0])
                elif op.type == SCATTER:
                    nbytes = self.bytes_of(dv, op.inputs[0])
                    emit("LOAD", "dma", op.name, {}, {"dram_read": nbytes, "sram_write": nbytes},
                         [], op.inputs[0])
                for t in self.edge_rows(op):
                    nbytes = self.bytes_of(et, t)
                    emit("LOAD", "dma", op.name, {}, {"dram_read": nbytes, "sram_write": nbytes},
                         [], t)
                span = {"e0": e0, "e1": e1, "v0": v0, "dv": dv}
                if op.type == GATHER and e1 == self._interval_end(row):
                    span["finish"] = 1   # the interval's last tile: its rows are final
                last = self.compute(op, et, span, deps_params)
                out = op.outputs[0]
                nbytes = self.bytes_of(dv if op.type == GATHER else et, out)
                if op.type != GATHER or e1 == self._interval_end(row):
                    emit("STORE", "dma", op.name, {}, {"sram_read": nbytes,
                                                       "dram_write": nbytes}, [last], out)

    def _interval_end(self, row: np.ndarray) -> int:
        """The last edge of ``row``'s destination interval (tiles are interval-major)."""
        v0 = int(row[2])
        rows = self.table[self.table[:, 2] == v0]
        return int(rows[:, 1].max())

    # ---------------------------------------------------------------- layers
    def layers(self) -> list[LayerInfo]:
        out = []
        for op in self.g.ops:
            c = op_cost(self.g, op)
            shape = self.g.tensor(op.outputs[0]).shape
            out.append(LayerInfo(name=op.name, op=op.type, macs=c.macs,
                                 dims={"rows": shape[0], "width": math.prod(shape[1:])},
                                 vector_ops=c.vector_ops,
                                 args={**op_args(self.g, op), "stage": STAGE_OF[op.type],
                                       "gs_elements": c.gs_elements}))
        return out


def lower_zipper(graph: Graph, config: ZipperConfig, workload: str | None = None) -> Trace:
    """A tiled GNN IR program -> zipper trace (per-tile streams, or the op-by-op baseline by
    config). The pipeline runs the tiling (and redundancy elimination) first, as passes."""
    if TILES not in graph.tensors:
        raise WorkloadError("the zipper lowering needs the graph tiled first: run the "
                            "gnn_tiling pass (the pipeline, simulator.api, does)",
                            where=graph.name)
    lowering = ZipperLowering(graph, config)
    if config.scheduler.policy == "op_by_op":
        lowering.lower_op_by_op()
    else:
        lowering.lower_zipper()
    return lowering.out.trace("zipper", config, workload or graph.name, lowering.layers())

