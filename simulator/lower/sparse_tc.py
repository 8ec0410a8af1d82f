"""Lower a Graph onto the ``sparse_tc`` target (dual-side sparse tensor core, bitmap operands).

Each GEMM C[MxN] = A[MxK] x B[KxN] (a convolution through implicit im2col on bitmaps) is cut into
thread-block tiles handed to the SMs round-robin, in waves of one tile per SM, and each tile into
k-chunks. Per (tile, k-chunk) the trace has:

- ``LOAD`` on ``l2fill`` for operand blocks that miss the L2 (DRAM -> L2; an LRU of the L2's
  capacity decides, separately for each variant since their sizes differ);
- ``LOAD`` on ``smN.ld`` (L2 -> shared memory): packed values, element bitmaps and warp bitmaps;
- ``SPGEMM`` on ``smN.tc``: the warps' SpWMMAs, whose cycles come from the real bitmaps
  (:func:`simulator.lower.bitmap.warp_steps`): per k-step max(ceil(nnzA/8) * ceil(nnzB/16),
  accumulator lane x bank load), summed per warp, warps spread over the sub-cores, the slowest
  sub-core setting the time, plus ``spwmma_overhead`` per issued SpWMMA;
- after the last chunk a ``STORE`` of the dense output tile.

Activations are bitmap-encoded at run time (``VEC`` on ``encode``: write bitmap + packed
values, plus a dense read for a graph input; an activation another op produced is encoded by
that op's epilogue while on chip), wave by wave; weights were encoded offline. A convolution's A
blocks are formed by the SMs' integer lanes (mask, shift, popcount per lowered element:
``int_ops``). A GEMM whose operands are both dense takes the dense OWMMA path: no bitmaps.

Every quantity is recorded for the sparse run in ``dims``/``bytes`` and, where they differ, for
the two baselines as ``dims["dense:KEY"]`` (dense tensor core: 8 OHMMAs per k-step, no bitmaps)
and ``dims["s24:KEY"]`` (2:4 weights, A100 style: half the steps, B halved plus 2-bit indices).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simulator.config.sparse_tc import SparseTCConfig
from simulator.lower import bitmap as bm
from simulator.lower.sparse_data import im2col_mask, operand_nonzero, tensor_nonzero
from simulator.lower.vector_ops import gemm_args, lower_alias_op, lower_vector_op
from simulator.trace import LayerInfo, Trace, TraceBuilder
from workloads.graph import Graph, Op
from workloads.ops import (
    GemmShape,
    element_bytes,
    gemm_shapes,
    is_matmul,
    is_view,
    needs_im2col,
)

VARIANTS = ("sparse", "dense", "s24")
TILE_LADDER = ((128, 256), (128, 128), (64, 128), (64, 64), (32, 64), (32, 32))


class _LRU:
    """The L2 as an LRU of operand blocks: ``access`` says whether a block had to be fetched."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.blocks: OrderedDict[tuple, int] = OrderedDict()

    def access(self, key: tuple, nbytes: int) -> bool:
        if key in self.blocks:
            self.blocks.move_to_end(key)
            return False
        self.blocks[key] = nbytes
        self.used += nbytes
        while self.used > self.capacity and len(self.blocks) > 1:
            _, size = self.blocks.popitem(last=False)
            self.used -= size
        return True


def _group_sum(x: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Sum consecutive runs of ``size`` along ``axis`` (the last run may be short)."""
    starts = np.arange(0, x.shape[axis], size)
    return np.add.reduceat(x.astype(np.int64), starts, axis=axis)


def _batch_index(shape: tuple[int, ...], idx: tuple[int, ...]) -> tuple[int, ...]:
    """Index into an operand's batch dims for broadcast batch index ``idx``."""
    lead = shape[:-2]
    idx = idx[len(idx) - len(lead):] if lead else ()
    return tuple(0 if d == 1 else i for d, i in zip(lead, idx, strict=True))


class SparseTCLowering:
    """Stateful across layers: L2 contents, encoded activations and data dependencies."""

    def __init__(self, config: SparseTCConfig) -> None:
        self.cfg = config
        cap = int(config.l2.kb * 1024)
        self.l2 = {v: _LRU(cap) for v in VARIANTS}
        self.builder = TraceBuilder()
        self.emit = self.builder.emit
        self.last_write: dict[str, int] = {}
        self.encoded: dict[str, list[int]] = {}
        self.fills: dict[tuple, int] = {}
        self.runtime: set[str] = set()
        self.produced: set[str] = set()

    # -- layers --------------------------------------------------------------------------

    def lower_layer(self, graph: Graph, op: Op) -> LayerInfo:
        if is_matmul(op.type):
            return self._lower_gemm_op(graph, op)
        if is_view(op.type):
            for out in op.outputs:
                if op.inputs[0] in self.encoded:
                    self.encoded[out] = self.encoded[op.inputs[0]]
            return lower_alias_op(graph, op, self.last_write)
        return lower_vector_op(self.emit, graph, op, self.last_write, self.cfg.word_bytes,
                               vector_unit="cuda", store_unit="store",
                               costs=self.cfg.vector.costs)

    def _encode(self, graph: Graph, name: str, layer: str, nnz: int, fraction: float,
                deps: list) -> list[int]:
        """Bitmap-encode ``fraction`` of an activation at run time: read it dense, write the
        bitmap and packed values. Returns the instruction ids (none if it is already encoded)."""
        if fraction >= 1.0 and name in self.encoded:
            return self.encoded[name]
        t = graph.tensor(name)
        width = element_bytes(graph, name, self.cfg.word_bytes)
        elems = int(round(t.numel * fraction))
        packed = int(round(nnz * fraction)) * width + -(-elems // 8)
        # A produced activation is encoded by its producer's epilogue while still on chip
        # (no dense re-read); a graph input is read from DRAM and encoded.
        read = elems * width if name not in self.produced else 0
        ident = self.emit(
            "VEC", "encode", layer,
            {"work": elems * self.cfg.cuda.encode_ops, "elements": elems,
             "dense:work": 0, "s24:work": 0, "dense:dram_read": 0, "dense:dram_write": 0,
             "s24:dram_read": 0, "s24:dram_write": 0},
            {"dram_read": read, "dram_write": packed}, deps, name)
        if fraction >= 1.0:
            self.encoded[name] = [ident]
        return [ident]

    def _is_activation(self, graph: Graph, name: str) -> bool:
        return name in graph.inputs or name in self.runtime

    def _masks(self, graph: Graph, op: Op, g: GemmShape, group: int, count: int
               ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The lowered A (M x K) and B (K x N) non-zero masks of one GEMM, ``None`` if dense."""
        x, w = op.inputs[0], op.inputs[1]
        if op.type == "Conv":
            act = operand_nonzero(graph, x, op, "a")
            if act is None and needs_im2col(op):
                act = np.ones(graph.tensor(x).shape, bool)
            a = None if act is None else im2col_mask(act, op, group, count)
            wt = graph.tensor(w)
            if wt.values is not None:
                full = np.asarray(wt.values).reshape(g.n * count, g.k).T != 0
            else:
                full = tensor_nonzero(graph, w, (g.k, g.n * count), op, "b")
            b = None if full is None else \
                np.ascontiguousarray(full[:, group * g.n:(group + 1) * g.n])
            return a, b
        a_full = operand_nonzero(graph, x, op, "a")
        b_full = operand_nonzero(graph, w, op, "b")
        a_shape, b_shape = graph.tensor(x).shape, graph.tensor(w).shape
        if op.type == "Gemm":
            a = a_full.T if a_full is not None and op.attrs.get("transA") else a_full
            b = b_full.T if b_full is not None and op.attrs.get("transB") else b_full
            return a, b
        if len(b_shape) == 2:
            return (None if a_full is None else a_full.reshape(g.m, g.k)), b_full
        batch = np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2]))
        idx = tuple(int(i) for i in np.unravel_index(group, batch))
        a = None if a_full is None else a_full[_batch_index(a_shape, idx)]
        b = None if b_full is None else b_full[_batch_index(b_shape, idx)]
        return a, b

    def _lower_gemm_op(self, graph: Graph, op: Op) -> LayerInfo:
        cfg = self.cfg
        shapes = gemm_shapes(graph, op, cfg.word_bytes)
        g0 = shapes[0]
        tiles = self._tile(shapes)
        layer = op.name
        stats_total = {"conflict": 0, "spwmma": 0}
        work = []
        for group, g in enumerate(shapes):
            a_mask, b_mask = self._masks(graph, op, g, group, len(shapes))
            work.append((g, group, a_mask, b_mask))
        # Both operands dense and no --density on the op: the dense OWMMA path (no bitmaps).
        owmma = "sparsity" not in op.attrs and all(a is None and b is None
                                                   for _, _, a, b in work)
        enc_a = not owmma and self._is_activation(graph, op.inputs[0])
        enc_b = not owmma and self._is_activation(graph, op.inputs[1])
        b_enc = self._encode(graph, op.inputs[1], layer, self._tensor_nnz(graph, op.inputs[1]),
                             1.0, [self.last_write.get(op.inputs[1])]) if enc_b else []
        a_nnz_stored = self._tensor_nnz(graph, op.inputs[0]) if enc_a else 0
        b_weight = not self._is_activation(graph, op.inputs[1])
        plans = [self._plan(g, group, a_mask, b_mask, tiles, op, owmma, b_weight)
                 for g, group, a_mask, b_mask
                 in work]
        for p in plans:
            stats_total["conflict"] += p["conflict"]
            stats_total["spwmma"] += p["spwmma"]
        self._emit_tiles(plans, layer, op, enc_a, a_nnz_stored, b_enc, graph)
        for out in op.outputs:
            self.runtime.add(out)
        # a conv's A is formed on the fly by the bitmap im2col, K in (channel, fy, fx) order
        args = gemm_args(graph, op, op.inputs[0],
                         "im2col" if op.type == "Conv" and needs_im2col(op) else None)
        return LayerInfo(name=layer, op=op.type, macs=sum(g.m * g.n * g.k for g in shapes),
                         dims={"m": g0.m, "n": g0.n, "k": g0.k, "groups": len(shapes),
                               "tile_m": tiles[0], "tile_n": tiles[1], **stats_total},
                         args=args)

    def _tensor_nnz(self, graph: Graph, name: str) -> int:
        """Non-zeros of the activation as stored (not im2col-expanded)."""
        t = graph.tensor(name)
        if t.values is not None:
            return int(np.count_nonzero(t.values))
        return int(round(t.numel * min(1.0, t.density)))

    def _tile(self, shapes: list[GemmShape]) -> tuple[int, int]:
        """The preferred block tile, halved while there are fewer thread blocks than SMs."""
        cfg = self.cfg
        wt = cfg.warp_tile
        ladder = [(cfg.block_tile.m, cfg.block_tile.n)] + [
            (m, n) for m, n in TILE_LADDER
            if m <= cfg.block_tile.m and n <= cfg.block_tile.n and m % wt.m == 0
            and n % wt.n == 0 and (m, n) != (cfg.block_tile.m, cfg.block_tile.n)]
        for m, n in ladder:
            if sum(-(-g.m // m) * -(-g.n // n) for g in shapes) >= cfg.sms:
                return m, n
        return ladder[-1]

    def _plan(self, g: GemmShape, group: int, a_mask, b_mask, tiles, op: Op, owmma: bool,
              b_weight: bool) -> dict:
        """Every per-(tile, chunk) quantity of one GEMM, for the three variants."""
        cfg = self.cfg
        wt, S = cfg.warp_tile, cfg.subcores
        seg_m, seg_n, kw = wt.m, wt.n, wt.k
        bm_, bn_ = tiles
        kc = cfg.k_chunk
        acc = cfg.accumulator
        a = bm.a_stats(a_mask, seg_m, acc.lanes) if a_mask is not None else \
            bm.dense_a_stats(g.m, g.k, seg_m, acc.lanes)
        b = bm.b_stats(b_mask, seg_n, acc.banks) if b_mask is not None else \
            bm.dense_b_stats(g.k, g.n, seg_n, acc.banks)
        steps, extra, issued = bm.warp_steps(a, b, cfg.otc.m, cfg.otc.n, kw, kc)
        wi, wj, nc = steps.shape
        wr, wc = bm_ // seg_m, bn_ // seg_n
        gm, gn = -(-g.m // bm_), -(-g.n // bn_)
        chunk_len = np.minimum(kc, g.k - kc * np.arange(nc))
        ksteps = -(-chunk_len // kw) * kw
        per_k = -(-seg_m // cfg.otc.m) * -(-seg_n // cfg.otc.n)
        valid = np.zeros((wi, wj, 1), np.int64)
        valid[:, :, 0] = 1
        sparse_w = steps + cfg.spwmma_overhead * issued
        dense_w = valid * (per_k * ksteps)[None, None, :]
        s24_w = valid * (-(-(per_k * ksteps) // 2))[None, None, :]

        def per_sm(x: np.ndarray) -> np.ndarray:
            """(warp row, warp col, chunk) -> (tile row, tile col, chunk): slowest sub-core."""
            x = np.pad(x, ((0, gm * wr - wi), (0, gn * wc - wj), (0, 0)))
            x = x.reshape(gm, wr, gn, wc, nc).transpose(0, 2, 4, 1, 3).reshape(gm, gn, nc, -1)
            w = x.shape[-1]
            x = np.pad(x, ((0, 0), (0, 0), (0, 0), (0, -w % S)))
            return x.reshape(gm, gn, nc, -1, S).sum(axis=3).max(axis=3)

        # operand block sizes per (tile row, chunk) and (chunk, tile col)
        a_nnz = _group_sum(_group_sum(a.nnz, 1, kc), 0, bm_ // seg_m)        # gm x nc
        b_nnz = _group_sum(_group_sum(b.nnz, 0, kc), 1, bn_ // seg_n)        # nc x gn
        rows = np.minimum(bm_, g.m - bm_ * np.arange(gm))
        cols = np.minimum(bn_, g.n - bn_ * np.arange(gn))
        a_elems = rows[:, None] * chunk_len[None, :]
        b_elems = chunk_len[:, None] * cols[None, :]

        def bitmaps(elems: np.ndarray, seg_rows: np.ndarray) -> np.ndarray:
            warp_bits = -(-seg_rows // seg_m) * -(-chunk_len // kw)
            return -(-elems // 8) + -(-warp_bits // 8)

        a_bytes = {"sparse": a_nnz * g.a_bytes + bitmaps(a_elems, rows[:, None]),
                   "dense": a_elems * g.a_bytes, "s24": a_elems * g.a_bytes}
        b_half = -(-b_elems // 2)
        b_bytes = {"sparse": b_nnz * g.b_bytes + bitmaps(b_elems.T, cols[:, None]).T,
                   "dense": b_elems * g.b_bytes, "s24": b_half * g.b_bytes + -(-b_half // 4)}
        wcols = -(-cols // seg_n)          # valid warp columns per tile column
        wrows = -(-rows // seg_m)
        smem = {v: wcols[None, :, None] * a_bytes[v][:, None, :] +
                wrows[:, None, None] * b_bytes[v].T[None, :, :] for v in VARIANTS}
        int_ops = np.zeros((gm, gn, nc), np.int64)
        if op.type == "Conv" and needs_im2col(op):
            int_ops += (cfg.cuda.im2col_ops * a_elems)[:, None, :]
        steps_v = {"sparse": per_sm(sparse_w), "dense": per_sm(dense_w), "s24": per_sm(s24_w)}
        if not b_weight:   # 2:4 needs pruned weights; an activation B runs dense there
            steps_v["s24"], b_bytes["s24"], smem["s24"] = steps_v["dense"], b_bytes["dense"], \
                smem["dense"]
        if owmma:
            steps_v["sparse"], a_bytes["sparse"], b_bytes["sparse"] = \
                steps_v["dense"], a_bytes["dense"], b_bytes["dense"]
            smem["sparse"] = smem["dense"]
            extra, issued = np.zeros_like(extra), np.zeros_like(issued)
            int_ops = np.zeros_like(int_ops)
        # nested lists: the emission loop indexes them per (tile, chunk), far faster than numpy
        return {"g": g, "group": group, "gm": gm, "gn": gn, "nc": nc,
                "steps": {v: steps_v[v].tolist() for v in VARIANTS},
                "extra": per_sm(extra).tolist(),
                "a_bytes": {v: a_bytes[v].tolist() for v in VARIANTS},
                "b_bytes": {v: b_bytes[v].tolist() for v in VARIANTS},
                "smem": {v: smem[v].tolist() for v in VARIANTS}, "int_ops": int_ops.tolist(),
                "rows": rows.tolist(), "cols": cols.tolist(),
                "conflict": int(extra.sum()), "spwmma": int(issued.sum())}

    def _emit_tiles(self, plans: list[dict], layer: str, op: Op, enc_a: bool, a_nnz: int,
                    b_enc: list[int], graph: Graph) -> None:
        """Waves of one tile per SM, chunk by chunk. A run-time encoded A is encoded wave by
        wave: the rows a wave needs first, while the previous wave computes."""
        cfg = self.cfg
        tbs = [(p, mi, nj) for p in plans for mi in range(p["gm"]) for nj in range(p["gn"])]
        nc = plans[0]["nc"]
        gm_total = sum(p["gm"] for p in plans)
        a_src, b_src = op.inputs[0], op.inputs[1]
        a_dep = self.last_write.get(a_src)
        b_dep = b_enc[-1] if b_enc else self.last_write.get(b_src)
        pre_encoded = a_src in self.encoded
        if pre_encoded:
            a_dep = self.encoded[a_src][-1]
        row_ready: dict[tuple, int | None] = {}
        prev_first: int | None = None
        for w0 in range(0, len(tbs), cfg.sms):
            wave = tbs[w0:w0 + cfg.sms]
            done: dict[int, list[int]] = {t: [] for t in range(len(wave))}
            new_rows = list(dict.fromkeys((p["group"], mi) for p, mi, _ in wave
                                          if (p["group"], mi) not in row_ready))
            ready = a_dep
            if enc_a and not pre_encoded and new_rows:
                ready = self._encode(graph, a_src, layer, a_nnz, len(new_rows) / gm_total,
                                     [a_dep, prev_first])[0]
            for key in new_rows:
                row_ready[key] = ready
            if enc_a and not pre_encoded and new_rows:
                self.encoded.setdefault(a_src, []).append(ready)
            for c in range(nc):
                for t, (p, mi, nj) in enumerate(wave):
                    sm = (w0 + t) % cfg.sms
                    g, group = p["g"], p["group"]
                    a_ready = row_ready[(group, mi)]
                    deps = []
                    for key, sizes, ready in (
                            ((a_src, group, mi, c), {v: p["a_bytes"][v][mi][c]
                                                     for v in VARIANTS}, a_ready),
                            ((b_src, group, nj, c), {v: p["b_bytes"][v][c][nj]
                                                     for v in VARIANTS}, b_dep)):
                        miss = {v: self.l2[v].access(key, sizes[v]) for v in VARIANTS}
                        if any(miss.values()):
                            got = {v: sizes[v] if miss[v] else 0 for v in VARIANTS}
                            self.fills[key] = self.emit(
                                "LOAD", "l2fill", layer,
                                {"dense:dram_read": got["dense"], "s24:dram_read": got["s24"]},
                                {"dram_read": got["sparse"]}, [ready], key[0])
                        deps.append(self.fills.get(key, ready))
                    ab = {v: p["a_bytes"][v][mi][c] + p["b_bytes"][v][c][nj]
                          for v in VARIANTS}
                    if len(done[t]) >= 2:
                        deps.append(done[t][-2])     # double-buffered shared memory
                    ld = self.emit("LOAD", f"sm{sm}.ld", layer,
                                   {"dense:sram_read": ab["dense"], "s24:sram_read": ab["s24"],
                                    "dense:sram_write": ab["dense"],
                                    "s24:sram_write": ab["s24"]},
                                   {"sram_read": ab["sparse"], "sram_write": ab["sparse"]},
                                   deps, None)
                    st = {v: p["steps"][v][mi][nj][c] for v in VARIANTS}
                    sm_bytes = {v: p["smem"][v][mi][nj][c] for v in VARIANTS}
                    iops = p["int_ops"][mi][nj][c]
                    gemm = self.emit(
                        "SPGEMM", f"sm{sm}.tc", layer,
                        {"steps": st["sparse"], "dense:steps": st["dense"],
                         "s24:steps": st["s24"], "conflict": p["extra"][mi][nj][c],
                         "int_ops": iops, "dense:int_ops": 0, "s24:int_ops": 0,
                         "dense:sram_read": sm_bytes["dense"], "s24:sram_read": sm_bytes["s24"],
                         "m0": mi * p["rows"][0], "n0": nj * p["cols"][0],
                         "k0": c * cfg.k_chunk, "dm": p["rows"][mi], "dn": p["cols"][nj],
                         "dk": min(cfg.k_chunk, g.k - c * cfg.k_chunk), "group": group},
                        {"sram_read": sm_bytes["sparse"]}, [ld], g.c_tensor)
                    done[t].append(gemm)
                    if prev_first is None or (c == 0 and t == 0):
                        prev_first = gemm
            for t, (p, mi, nj) in enumerate(wave):
                g = p["g"]
                nbytes = p["rows"][mi] * p["cols"][nj] * g.c_bytes
                self.last_write[g.c_tensor] = self.emit(
                    "STORE", "store", layer, {}, {"dram_write": nbytes}, [done[t][-1]],
                    g.c_tensor)


def lower_sparse_tc(graph: Graph, config: SparseTCConfig, workload: str | None = None) -> Trace:
    """Lower every op of ``graph`` (the pipeline has checked the target runs them all)."""
    graph.validate()
    lowering = SparseTCLowering(config)
    produced = {out for op in graph.ops for out in op.outputs}
    lowering.runtime = set(graph.inputs) | produced
    lowering.produced = produced
    layers = [lowering.lower_layer(graph, op) for op in graph.ops]
    return lowering.builder.trace("sparse_tc", config, workload or graph.name, layers)
