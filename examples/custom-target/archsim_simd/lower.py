"""Graph -> trace for the simd machine: each GEMM in output tiles, K in scratchpad chunks.

Per (output tile, K chunk): a ``LOAD`` of the A block and of the B block (DRAM -> scratchpad,
on ``dma_load``), then a ``GEMM`` on ``lanes`` accumulating the tile; after the last chunk a
``STORE`` of the tile. Loads wait for the GEMM two chunks back (double buffering). Convolutions
are lowered by an explicit ``IM2COL``; non-GEMM operators and views use archsim's shared
lowering (``lower_vector_op``, ``lower_alias_op``), so their functional meaning comes for free.
"""

from __future__ import annotations

import math

from simulator.lower.vector_ops import lower_alias_op, lower_vector_op, op_args
from simulator.trace import LayerInfo, TraceBuilder
from workloads import ops
from workloads.graph import Graph, Op, conv_needs_im2col


def lower_simd(graph: Graph, config, workload: str | None = None):
    builder = TraceBuilder()
    last_write: dict[str, int] = {}
    layers = []
    for op in graph.ops:
        if ops.is_matmul(op.type):
            layers.append(_gemm_op(builder, graph, op, config, last_write))
        elif ops.is_view(op.type):
            layers.append(lower_alias_op(graph, op, last_write))
        else:
            layers.append(lower_vector_op(builder.emit, graph, op, last_write, config.word_bytes,
                                          vector_unit="lanes", costs=config.costs))
    return builder.trace("simd", config, workload or graph.name, layers)


def _gemm_op(builder: TraceBuilder, graph: Graph, op: Op, config, last_write: dict) -> LayerInfo:
    shapes = ops.gemm_shapes(graph, op, config.word_bytes)
    s = shapes[0]
    a_src = s.a_tensor
    if op.type == "Conv" and conv_needs_im2col(op):   # materialise the lowered input in DRAM
        lowered = f"{op.name}.im2col"
        in_bytes = graph.tensor(a_src).numel * s.a_bytes
        out_bytes = sum(g.m * g.k for g in shapes) * s.a_bytes
        last_write[lowered] = builder.emit(
            "IM2COL", "dma_load", op.name, {"m": s.m, "k": s.k, "groups": len(shapes)},
            {"dram_read": in_bytes, "dram_write": out_bytes}, [last_write.get(a_src)], lowered)
        a_src = lowered
    tm, tn, kc = config.tile.m, config.tile.n, config.k_chunk
    for group, g in enumerate(shapes):
        for m0 in range(0, g.m, tm):
            dm = min(tm, g.m - m0)
            for n0 in range(0, g.n, tn):
                dn = min(tn, g.n - n0)
                gemms: list[int] = []
                for k0 in range(0, g.k, kc):
                    dk = min(kc, g.k - k0)
                    free = gemms[-2] if len(gemms) >= 2 else None   # double-buffered chunks
                    a = builder.emit("LOAD", "dma_load", op.name, {},
                                     {"dram_read": dm * dk * g.a_bytes,
                                      "sram_write": dm * dk * g.a_bytes},
                                     [last_write.get(a_src), free], a_src)
                    b_bytes = math.ceil(dk * dn * g.b_bytes)
                    b = builder.emit("LOAD", "dma_load", op.name, {},
                                     {"dram_read": b_bytes, "sram_write": b_bytes},
                                     [last_write.get(g.b_tensor), free], g.b_tensor)
                    gemms.append(builder.emit(
                        "GEMM", "lanes", op.name,
                        {"m0": m0, "n0": n0, "k0": k0, "dm": dm, "dn": dn, "dk": dk,
                         "group": group},
                        {"sram_read": dm * dk * g.a_bytes + b_bytes},
                        [a, b, gemms[-1] if gemms else None], g.c_tensor))
                last_write[g.c_tensor] = builder.emit(
                    "STORE", "dma_store", op.name, {},
                    {"dram_write": dm * dn * g.c_bytes}, [gemms[-1]], g.c_tensor)
    args = op_args(graph, op)
    args["a"] = a_src
    return LayerInfo(name=op.name, op=op.type, macs=sum(g.m * g.n * g.k for g in shapes),
                     dims={"m": s.m, "n": s.n, "k": s.k, "groups": len(shapes)}, args=args)
