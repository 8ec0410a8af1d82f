"""Sparse graph tiling: partition the adjacency into (destination interval x source interval)
tiles sized to the on-chip buffers, skip empty tiles, and count the source vertices each tile
really references (the only ones it loads).

The edges are reordered so that every tile is a contiguous range of the adjacency (tile-major,
destination interval outer, then by destination inside a tile); edge tensors with values (e.g.
GCN's edge norms) are permuted the same way. A tile with more edges than the edge buffer takes
is cut into chunks of consecutive edges. The tile table is the constant tensor ``adj.tiles``,
one row per tile: ``e0, e1, v0, dv, u0, du, unique_sources``. Everything is vectorized numpy
(one sort), so a million-edge graph tiles in a fraction of a second.
"""

from __future__ import annotations

import numpy as np

from simulator.config.zipper import ZipperConfig
from simulator.passes import PassError, copy_graph, register
from workloads.gnn.execute import TILES
from workloads.gnn.ir import ADJ, APPLY_EDGE, GATHER, SCATTER, SOFTMAX, is_gnn, segments, width
from workloads.graph import Graph, Tensor
from workloads.ops.gnn import ROW_INPUTS

DEFAULT_DST, DEFAULT_SRC = 1024, 4096


def edge_constants(graph: Graph) -> list[str]:
    """Constant tensors read as edge rows (permuted with the edges)."""
    names = []
    for op in graph.ops:
        if op.type == APPLY_EDGE:
            rows = op.inputs[:ROW_INPUTS.get(op.attrs["fn"], 1)]
        elif op.type in (GATHER, SOFTMAX):
            rows = [op.inputs[0]] + op.inputs[2:]
        else:
            continue
        names += [t for t in rows if t and graph.tensor(t).values is not None]
    return list(dict.fromkeys(names))


def tile_edges(src: np.ndarray, dst: np.ndarray, num_v: int, dst_size: int, src_size: int,
               max_edges: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(edge order, tile table) for intervals of ``dst_size`` destinations x ``src_size``
    sources; ``max_edges`` > 0 cuts bigger tiles into chunks."""
    n_src_blocks = -(-num_v // src_size)
    block = (dst // dst_size) * n_src_blocks + src // src_size
    order = np.argsort(block * num_v + dst, kind="stable")
    sorted_block = block[order]
    starts = np.flatnonzero(np.r_[True, sorted_block[1:] != sorted_block[:-1]]) \
        if sorted_block.size else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], sorted_block.size].astype(np.int64)
    if max_edges > 0:
        counts = ends - starts
        pieces = -(-counts // max_edges)
        owner = np.repeat(np.arange(starts.size), pieces)
        offset = np.arange(owner.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        chunk_starts = starts[owner] + offset * max_edges
        ends = np.minimum(chunk_starts + max_edges, ends[owner])
        starts = chunk_starts
    tile_block = sorted_block[starts]
    v0 = (tile_block // n_src_blocks) * dst_size
    u0 = (tile_block % n_src_blocks) * src_size
    dv = np.minimum(dst_size, num_v - v0)
    du = np.minimum(src_size, num_v - u0)
    # unique sources per tile: distinct (tile, src) pairs
    tile_of_edge = np.repeat(np.arange(starts.size), ends - starts)
    pairs = np.unique(tile_of_edge * num_v + src[order])
    unique = np.bincount(pairs // num_v, minlength=starts.size)
    table = np.stack([starts, ends, v0, dv, u0, du, unique], axis=1).astype(np.int64)
    return order, table


def tile_graph(graph: Graph, dst_size: int, src_size: int, max_edges: int = 0) -> Graph:
    """A copy of ``graph`` with its edges in tile order and the tile table attached."""
    if dst_size < 1 or src_size < 1 or max_edges < 0:
        raise PassError("tile sizes must be >= 1 (and max edges >= 0)",
                        where=f"gnn_tiling {dst_size}x{src_size}")
    g = copy_graph(graph)
    src, dst = g.tensor(ADJ).values
    num_v = g.tensor("x").shape[0]
    order, table = tile_edges(src, dst, num_v, dst_size, src_size, max_edges)
    adj = g.tensors[ADJ]
    adj.values = np.stack([src[order], dst[order]])
    for name in edge_constants(g):
        g.tensors[name].values = g.tensors[name].values[order]
    g.add_tensor(Tensor(TILES, tuple(table.shape), values=table, dtype="int64"))
    return g


def config_tiling(graph: Graph, cfg: ZipperConfig) -> tuple[int, int, int]:
    """Tile sizes from a zipper config's buffers: each of the S tiles in flight gets 1/S of the
    vertex buffer for its destination accumulators and its source rows, and 1/S of the edge
    buffer; ``tiling.dst/src/max_edges`` (when not 0) win."""
    wb = cfg.word_bytes
    num_v = graph.tensor("x").shape[0]
    s = cfg.scheduler.tiles_in_flight
    v_width, e_width = 1, 1
    for kind, ops in segments(graph):
        if kind != "edge":
            continue
        v_width = max([v_width] + [width(graph, op.inputs[0]) for op in ops if op.type == SCATTER]
                      + [width(graph, op.outputs[0]) for op in ops if op.type == GATHER])
        e_width = max(e_width, sum(width(graph, op.outputs[0]) for op in ops
                                   if op.type != GATHER))
    rows = int(cfg.buffers.vertex_kb * 1024) // (2 * s * v_width * wb)
    dst = cfg.tiling.dst or max(16, min(num_v, rows))
    src = cfg.tiling.src or max(16, min(num_v, rows))
    max_edges = cfg.tiling.max_edges or max(16, int(cfg.buffers.edge_kb * 1024) //
                                            (s * e_width * wb))
    return dst, src, max_edges


def parse_sizes(option: str | None) -> tuple[int, int, int]:
    """``DSTxSRC`` or ``DSTxSRCxMAXEDGES``; default 1024x4096."""
    if not option or option == "auto":
        return DEFAULT_DST, DEFAULT_SRC, 0
    try:
        parts = [int(p) for p in option.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (2, 3) or min(parts) < (0 if len(parts) == 3 else 1) or \
            min(parts[:2]) < 1:
        raise PassError(f"expected gnn_tiling=DSTxSRC[xMAXEDGES] with positive integers, got "
                        f"{option!r}", where=f"--pass gnn_tiling={option}")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else 0


@register("gnn_tiling", default="auto", needs_config=True)
def gnn_tiling_pass(graph: Graph, option: str | None, config=None) -> Graph:
    """Tile a GNN's adjacency: --pass gnn_tiling=DSTxSRC[xMAXEDGES] (default 1024x4096), or
    gnn_tiling=config: sized from a zipper config's buffers (what the zipper target requires;
    a graph tiled already keeps its tiles)."""
    if not is_gnn(graph):
        raise PassError("gnn_tiling applies to GNN workloads (gnn:MODEL:GRAPH) only",
                        where=graph.name)
    if option == "config":
        if TILES in graph.tensors:
            return graph
        if not isinstance(config, ZipperConfig):
            raise PassError("gnn_tiling=config sizes tiles from a zipper config's buffers; "
                            f"the config is kind {getattr(config, 'kind', None)!r} (give sizes: "
                            "gnn_tiling=DSTxSRC)", where="--pass gnn_tiling=config")
        return tile_graph(graph, *config_tiling(graph, config))
    return tile_graph(graph, *parse_sizes(option))
