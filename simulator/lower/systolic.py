"""Lower a Graph onto the ``systolic`` target: im2col, folding, temporal tiling, double buffering.

Every GEMM-like op becomes GEMM(s) C[MxN] = A[MxK] x B[KxN]; a convolution first goes through an
explicit IM2COL (the input is expanded into the MxK matrix in DRAM, M = output pixels,
K = kh*kw*C) unless it is a 1x1 stride-1 conv whose input already is that matrix.

The dataflow maps (Sr, Sc, T) onto the array as SCALE-Sim does: os (M, N, K), ws (K, N, M),
is (K, M, N). Folds run column-fold outer, row-fold inner; a fold whose streamed operand does not
fit in half its SRAM is cut along T into chunks, one GEMM instruction per chunk. Operands are
loaded into one half of their double-buffered SRAM while the array works on the other half; a
LOAD waits for the GEMMs that used the data it overwrites, a GEMM for its LOADs, a STORE for the
GEMM that produced its outputs. An operand that fits whole in half its SRAM is loaded once.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.config.methods import spatial
from simulator.lower.implicit_conv import ConvGeometry
from simulator.lower.sram import Sram, Tile
from simulator.lower.vector_ops import (
    gemm_args,
    lower_alias_op,
    lower_vector_op,
)
from simulator.trace import LayerInfo, Trace, TraceBuilder
from workloads.graph import Graph, Op
from workloads.ops import (
    GemmShape,
    gemm_shapes,
    is_matmul,
    is_view,
    needs_im2col,
)

if TYPE_CHECKING:   # the pydantic models: a run reads its config without them
    from simulator.config.systolic import SystolicConfig

#: a GEMM fold chunk's dims (then "pack" on precision-scalable PEs), and the byte keys of the
#: instructions the fold loop emits: the order their values are given in
GEMM_DIMS = ("rows", "cols", "t", "first", "last", "group", "m0", "n0", "k0", "dm", "dn", "dk")
GEMM_BYTES = ("sram_read", "sram_write")
LOAD_BYTES = ("dram_read", "sram_write")
STORE_BYTES = ("sram_read", "dram_write")
#: what the fold loop emits: (op, unit, byte keys) by kind
LOAD, GEMM, STORE = 0, 1, 2
KINDS = (("LOAD", "dma_load", LOAD_BYTES), ("GEMM", "array", GEMM_BYTES),
         ("STORE", "dma_store", STORE_BYTES))
#: instructions a fold loop collects before handing them to the trace
BATCH = 1 << 16
#: the compiled fold loop (:mod:`simulator.lower._fold_kernel`) runs a GEMM of at least
#: KERNEL_MIN_FOLDS folds once loading numba has paid: it is loaded already, or the lowering
#: has folded KERNEL_LOAD_FOLDS folds (about as long in Python as importing numba takes)
KERNEL_MIN_FOLDS = 64
KERNEL_LOAD_FOLDS = 50_000
_KERNEL_MODULE = "simulator.lower._fold_kernel"


def kind_specs(dim_keys: tuple[str, ...]) -> list[tuple[str, str, tuple, tuple]]:
    """(op, unit, dim keys, byte keys) of each kind the fold loop emits, a GEMM's dims being
    ``dim_keys``: what :meth:`InstructionTable.extend_kinds` takes."""
    return [(op, unit, dim_keys if k == GEMM else (), byte_keys)
            for k, (op, unit, byte_keys) in enumerate(KINDS)]


class SystolicLowering:
    """Stateful across layers so that SRAM contents and data dependencies carry over."""

    def __init__(self, config: SystolicConfig) -> None:
        self.cfg = config
        self.R, self.C = config.array.rows, config.array.cols
        kib = 1024
        self.ifmap = Sram(int(config.sram.ifmap_kb * kib))
        self.filter = Sram(int(config.sram.filter_kb * kib))
        self.ofmap = Sram(int(config.sram.ofmap_kb * kib))
        self.out = TraceBuilder(columnar=True)
        self.last_write: dict[str, int] = {}   # tensor -> last instruction writing it to DRAM
        self.folds = 0                         # folds lowered so far (when numba pays)

    def _fetch(self, sram: Sram, key: tuple, nbytes: int, tensor: str, batch: _Batch
               ) -> Tile:
        """The resident tile ``key``, loaded from DRAM by one LOAD if it is not on chip."""
        tile = sram.tiles.get(key)
        if tile is not None:
            return tile
        tile, waits = sram.allocate(key, nbytes)
        kind = batch.kind
        tile.release = batch.base + len(kind)
        kind.append(LOAD)
        batch.tensor.append(tensor)
        batch.values += (nbytes, nbytes)
        producer = self.last_write.get(tensor)
        if producer is not None:
            waits.append(producer)
        if len(waits) > 1:
            waits = sorted(set(waits))
        batch.deps += waits
        batch.ndeps.append(len(waits))
        return tile

    def lower_layer(self, graph: Graph, op: Op) -> LayerInfo:
        """One graph op: GEMM-like ops on the array, others on the vector unit, views for free."""
        if is_matmul(op.type):
            return self._lower_gemm_op(graph, op)
        if is_view(op.type):
            return lower_alias_op(graph, op, self.last_write)
        return lower_vector_op(self.out.emit, graph, op, self.last_write, self.cfg.word_bytes,
                               costs=self.cfg.vector.costs)

    def _lower_gemm_op(self, graph: Graph, op: Op) -> LayerInfo:
        shapes = gemm_shapes(graph, op, self.cfg.word_bytes)
        layer = op.name
        a_source = shapes[0].a_tensor
        if needs_im2col(op) and op.attrs.get("im2col", "explicit") == "explicit":
            s = shapes[0]
            lowered = f"{layer}.im2col"
            in_bytes = graph.tensor(a_source).numel * s.a_bytes
            out_bytes = sum(g.m * g.k for g in shapes) * s.a_bytes
            self.last_write[lowered] = self.out.emit(
                "IM2COL", "im2col", layer, {"m": s.m, "k": s.k, "groups": len(shapes)},
                {"dram_read": in_bytes, "dram_write": out_bytes},
                [self.last_write.get(a_source)], lowered)
            a_source = lowered
        if op.attrs.get("im2col") == "implicit" and needs_im2col(op):
            self._lower_implicit_conv(graph, op, shapes)
        else:
            for group, shape in enumerate(shapes):
                self._lower_gemm(shape, layer, a_source, group)
        s = shapes[0]
        args = gemm_args(graph, op, a_source)
        return LayerInfo(name=layer, op=op.type, macs=sum(g.m * g.n * g.k for g in shapes),
                         dims={"m": s.m, "n": s.n, "k": s.k, "groups": len(shapes)}, args=args)

    def _lower_implicit_conv(self, graph: Graph, op: Op, shapes: list[GemmShape]) -> None:
        """Channel-first implicit im2col: no lowered matrix; K folds follow filter positions and
        A tiles are regions of the input feature map, shared by all positions."""
        geo = ConvGeometry.of(graph, op)
        x = op.inputs[0]
        on_rows = self.cfg.array.dataflow in ("ws", "is")  # K sits on the array rows
        k_rows = self.R * self.cfg.macs_per_pe(shapes[0].b_bits) if on_rows else self.R
        folds = geo.row_folds(k_rows) if on_rows else None
        for group, shape in enumerate(shapes):
            def a_tiles(o: dict, group=group, width=shape.a_bytes) -> list[tuple[tuple, int]]:
                return [((x, group, *key), elems * width) for key, elems in
                        geo.region_tiles(o["m0"], o["dm"], o["k0"], o["dk"], k_rows)]
            self._lower_gemm(shape, op.name, x, group, folds, a_tiles)

    def _chunk_len(self, g: GemmShape, t: int, pack: int = 1) -> int:
        """Longest T-chunk whose streamed tiles and output tile each fit in half their SRAM
        (os: a multiple of ``pack``, the K elements a PE consumes per cycle)."""
        R, C, df = self.R, self.C, self.cfg.array.dataflow
        limits = []
        if df == "os":  # A[r x tk] and B[tk x c] stream; outputs stay in the PEs
            limits += [self.ifmap.half // (R * g.a_bytes),
                       int(self.filter.half // (C * g.b_bytes))]
            tk = max(1, min(t, *limits))
            return tk if tk == t or tk < pack else tk - tk % pack
        elif df == "ws":  # A[tm x r] streams, C[tm x c] partial sums
            limits += [self.ifmap.half // (R * g.a_bytes), self.ofmap.half // (C * g.c_bytes)]
        else:  # is: B[r x tn] streams, C[c x tn] partial sums
            limits += [int(self.filter.half // (R * g.b_bytes)),
                       self.ofmap.half // (C * g.c_bytes)]
        return max(1, min(t, *limits))

    def _compiled_pays(self, folds: int, g: GemmShape) -> bool:
        """Whether the compiled fold loop runs this GEMM (same instructions either way): it
        writes into a columnar trace only, and handles integer A/C widths."""
        out = self.out
        return (folds >= KERNEL_MIN_FOLDS
                and (_KERNEL_MODULE in sys.modules or self.folds >= KERNEL_LOAD_FOLDS)
                and out.columnar and type(out).emit is TraceBuilder.emit
                and type(g.a_bytes) is int and type(g.c_bytes) is int)

    def _lower_gemm(self, g: GemmShape, layer: str, a_src: str, group: int,
                    row_folds: list[tuple[int, int]] | None = None,
                    a_tiles: Callable[[dict], list[tuple[tuple, int]]] | None = None,
                    origin: tuple[int, int] = (0, 0)) -> None:
        """Fold one GEMM onto the array. ``row_folds`` overrides the uniform R-row folds of the
        dimension on the array rows; ``a_tiles`` maps a tile's origin/extent to the keys and
        sizes of the A data it needs on chip (default: that block of the A matrix itself).
        ``origin`` is where this GEMM sits in the layer's (M, N) when it is one core's block
        of a larger one: added to the ``m0``/``n0`` the instructions record."""
        df, R, C = self.cfg.array.dataflow, self.R, self.C
        sr, sc, t = spatial(df, g.m, g.n, g.k)
        # Narrow weights on precision-scalable PEs: each PE takes `pack` K elements per cycle,
        # so a fold holds R*pack K rows (ws/is) or streams K in ceil(T/pack) cycles (os).
        pack = self.cfg.macs_per_pe(g.b_bits)
        k_rows = R * pack if df != "os" else R
        rows = row_folds or [(r0, min(k_rows, sr - r0)) for r0 in range(0, sr, k_rows)]
        tk = self._chunk_len(g, t, pack)
        chunks = [(t0, min(tk, t - t0)) for t0 in range(0, t, tk)]
        # ws/is: partial sums of a column fold stay on chip across K folds when they all fit.
        psum_on_chip = df == "os" or t * C * g.c_bytes <= self.ofmap.half
        folds = -(-sc // C) * len(rows) * len(chunks)
        self.folds += folds
        dim_keys = GEMM_DIMS + ("pack",) if pack > 1 else GEMM_DIMS
        if a_tiles is None and self._compiled_pays(folds, g):
            from simulator.lower.fold_compiled import fold_compiled

            fold_compiled((self.ifmap, self.filter, self.ofmap), self.last_write,
                          self.out.instructions, df, C, g, layer, a_src, group, rows, chunks,
                          pack, psum_on_chip, origin, sc, kind_specs(dim_keys), BATCH)
            return
        batch = _Batch(len(self.out.instructions))
        kinds, tensors, values = batch.kind, batch.tensor, batch.values
        dims, deps_out, ndeps = batch.dims, batch.deps, batch.ndeps
        fetch, ifmap, filt, ofmap = self._fetch, self.ifmap, self.filter, self.ofmap
        ifmap_tiles, filter_tiles, ofmap_tiles = ifmap.tiles, filt.tiles, ofmap.tiles
        c_tensor, b_tensor, psum = g.c_tensor, g.b_tensor, f"{g.c_tensor}.psum"
        a_bytes, b_bytes, c_bytes = g.a_bytes, g.b_bytes, g.c_bytes
        m_off, n_off = origin
        last_chunk, last_row = len(chunks) - 1, len(rows) - 1
        os_flow, ws_flow = df == "os", df == "ws"
        # whole bytes per weight: byte counts need no rounding (ints, as math.ceil gives)
        b_int = int(b_bytes) if float(b_bytes).is_integer() else None
        for c0 in range(0, sc, C):
            c = min(C, sc - c0)
            for i, (r0, r) in enumerate(rows):
                last_fold = i == last_row
                for ci, (t0, tl) in enumerate(chunks):
                    first, last = ci == 0, ci == last_chunk
                    # where the chunk sits in the GEMM: origin (m0, n0, k0), extent (dm, dn, dk)
                    if os_flow:
                        m0, n0, k0, dm, dn, dk = r0, c0, t0, r, c, tl
                    elif ws_flow:
                        m0, n0, k0, dm, dn, dk = t0, c0, r0, tl, c, r
                    else:
                        m0, n0, k0, dm, dn, dk = c0, t0, r0, c, tl, r
                    # Operand tiles, keyed so that a tile needed again is found on chip; the
                    # stationary operand (B in ws, A in is) is read into the array once a fold.
                    if a_tiles is None:
                        key = (a_src, group, m0, k0)
                        tile = ifmap_tiles.get(key)
                        if tile is None:
                            tile = fetch(ifmap, key, dm * dk * a_bytes, a_src, batch)
                        a_used = (tile,)
                        deps = [tile.release]
                    else:
                        o = {"m0": m0, "n0": n0, "k0": k0, "dm": dm, "dn": dn, "dk": dk}
                        a_used = tuple(fetch(ifmap, key, nbytes, a_src, batch)
                                       for key, nbytes in a_tiles(o))
                        deps = [t.release for t in a_used]
                    key = (b_tensor, group, k0, n0)
                    b_tile = filter_tiles.get(key)
                    if b_tile is None:
                        b_tile = fetch(filt, key, dk * dn * b_int if b_int is not None else
                                       math.ceil(dk * dn * b_bytes), b_tensor, batch)
                    deps.append(b_tile.release)
                    a_read = 0 if not first and not os_flow and not ws_flow else dm * dk
                    b_read = 0 if ws_flow and not first else dk * dn
                    sram_read = a_read * a_bytes + (b_read * b_int if b_int is not None else
                                                    math.ceil(b_read * b_bytes))
                    # Output tile: os completes r x c outputs per fold; ws/is add T x c partial
                    # sums per K fold, on chip if they fit, else spilled to DRAM and read back.
                    if os_flow:
                        out_bytes = r * c * c_bytes
                        out_key = (c_tensor, group, r0, c0)
                        out_tile = ofmap_tiles.get(out_key)
                    else:
                        out_bytes = tl * c * c_bytes
                        out_key = (c_tensor, group, c0, t0)
                        out_tile = ofmap_tiles.get(out_key)
                        if i > 0:
                            sram_read += out_bytes
                            if out_tile is None:
                                out_tile = fetch(ofmap, out_key, out_bytes, psum, batch)
                    if out_tile is None:
                        out_tile, waits = ofmap.allocate(out_key, out_bytes)
                        deps += waits
                    deps.append(out_tile.release)
                    gemm = batch.base + len(kinds)
                    kinds.append(GEMM)
                    tensors.append(c_tensor)
                    values += (sram_read, out_bytes if last or not os_flow else 0)
                    dims += (r, c, tl, 1 if first else 0, 1 if last else 0, group, m0 + m_off,
                             n0 + n_off, k0, dm, dn, dk)
                    if pack > 1:
                        dims.append(pack)
                    unique = set(deps)
                    unique.discard(None)
                    deps_out += sorted(unique)
                    ndeps.append(len(unique))
                    for t in a_used:
                        t.release = gemm
                    b_tile.release = out_tile.release = gemm
                    if last if os_flow else (last_fold or not psum_on_chip):
                        # final outputs, or (ws/is, psums off chip) a spill of partial sums
                        tensor = c_tensor if os_flow or last_fold else psum
                        store = batch.base + len(kinds)
                        kinds.append(STORE)
                        tensors.append(tensor)
                        values += (out_bytes, out_bytes)
                        deps_out.append(gemm)
                        ndeps.append(1)
                        out_tile.release = self.last_write[tensor] = store
                    if len(kinds) >= BATCH:   # bounded: a 10M-instruction GEMM stays columnar
                        batch.flush(self.out, layer, dim_keys)
        batch.flush(self.out, layer, dim_keys)


class _Batch:
    """The instructions one GEMM's fold loop emits, kept as columns (kind, tensor, the two
    byte counts, a GEMM's dims, deps) and handed to the builder at once: straight into a
    columnar trace's arrays, or one :meth:`TraceBuilder.emit` each otherwise (the npu's core
    builders adjust every instruction). Ids are known in advance: nothing else emits while
    the loop runs."""

    __slots__ = ("base", "deps", "dims", "kind", "ndeps", "tensor", "values")

    def __init__(self, base: int) -> None:
        self.base = base
        self.kind: list[int] = []
        self.tensor: list[str] = []
        self.values: list[int] = []    # two byte counts per instruction (KINDS' byte keys)
        self.dims: list[int] = []      # a GEMM's dims, in its dim keys' order
        self.deps: list[int] = []      # sorted, unique, per instruction
        self.ndeps: list[int] = []

    def flush(self, out: TraceBuilder, layer: str, dim_keys: tuple[str, ...]) -> None:
        """Hand the instructions so far to ``out`` and start empty (the same lists: the fold
        loop holds them), numbering on from where they end."""
        if not self.kind:
            return
        self._hand_over(out, layer, dim_keys)
        self.base += len(self.kind)
        for column in (self.kind, self.tensor, self.values, self.dims, self.deps, self.ndeps):
            column.clear()

    def _hand_over(self, out: TraceBuilder, layer: str, dim_keys: tuple[str, ...]) -> None:
        kinds = kind_specs(dim_keys)
        if out.columnar and type(out).emit is TraceBuilder.emit:
            out.instructions.extend_kinds(kinds, self.kind, layer, self.tensor, self.dims,
                                          self.values, self.deps, self.ndeps)
            return
        width, d, v, p = len(dim_keys), 0, 0, 0
        for n, (kind, tensor, count) in enumerate(zip(self.kind, self.tensor, self.ndeps,
                                                      strict=True)):
            op, unit, dk, byte_keys = kinds[kind]
            dims = dict(zip(dk, self.dims[d:d + width], strict=True)) if dk else {}
            d += width if dk else 0
            ident = out.emit(op, unit, layer, dims, dict(zip(byte_keys, self.values[v:v + 2],
                                                             strict=True)),
                             self.deps[p:p + count], tensor)
            assert ident == self.base + n, "an emit inside a GEMM's fold loop"
            v += 2
            p += count


def lower_systolic(graph: Graph, config: SystolicConfig, workload: str | None = None) -> Trace:
    """Lower every op of ``graph`` (the pipeline has checked the target runs them all)."""
    graph.validate()
    lowering = SystolicLowering(config)
    layers = [lowering.lower_layer(graph, op) for op in graph.ops]
    return lowering.out.trace("systolic", config, workload or graph.name, layers)
