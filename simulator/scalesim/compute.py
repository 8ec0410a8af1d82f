"""COMPUTE_REPORT numbers and SRAM access counts of one layer, exactly as SCALE-Sim 3.0.0 gets them.

Closed forms (SEMANTICS.md §3.4-3.5); the two per-fold means are summed fold by fold, column fold
outer, in the source's order and with plain left-to-right float addition, so the printed digits
match SCALE-Sim's, not just the values.
"""

from __future__ import annotations

from typing import NamedTuple

from simulator.scalesim.mapping import ScaleSimLayer


class ComputeStats(NamedTuple):
    """What the array does for a layer, before the memory system adds stalls."""

    compute_cycles: int  # Fr * Fc * L - 1: SCALE-Sim's last-cycle index with no stalls
    mapping_efficiency: float  # percent
    compute_util: float  # percent, with the source's own per-fold length
    ifmap_sram_reads: int
    filter_sram_reads: int
    ofmap_sram_writes: int


def _fold_sizes(extent: int, tile: int) -> list[int]:
    folds = -(-extent // tile)
    return [min(tile, extent - i * tile) for i in range(folds)]


def _left_sum(values) -> float:
    """Python 3.11's ``sum`` of floats: plain left-to-right addition (3.12 compensates)."""
    total = 0
    for v in values:
        total += v
    return total


def compute_stats(layer: ScaleSimLayer) -> ComputeStats:
    r, c, df = layer.rows, layer.cols, layer.dataflow
    sr, sc, t = layer.spatial
    m, n, k = layer.m, layer.n, layer.k
    row_sizes, col_sizes = _fold_sizes(sr, r), _fold_sizes(sc, c)
    fr, fc = len(row_sizes), len(col_sizes)
    # the per-fold length SCALE-Sim divides by in Compute Util: one (C - 1) longer for ws/is
    util_len = t + r + c - 2 if df == "os" else t + 2 * r + 2 * c - 3
    pes = r * c
    mapping, util = [], []
    for cj in col_sizes:
        for ri in row_sizes:
            used = ri * cj
            mapping.append(used / pes)
            util.append(used * t / (pes * util_len))
    folds = fr * fc
    mapping_eff = _left_sum(mapping) / folds * 100
    compute_util = _left_sum(util) / folds * 100
    if df == "os":
        reads = (fc * m * k, fr * k * n, m * n + folds * (r + c))
    elif df == "ws":
        reads = (fc * m * k, k * n, fr * m * n)
    else:
        reads = (m * k, fc * k * n, fr * m * n)
    return ComputeStats(layer.demand_rows - 1, mapping_eff, compute_util, *reads)


def overall_util(layer: ScaleSimLayer, total_cycles: int) -> float:
    """100 * MACs / (cycles * PEs), in the source's operation order (one exact division)."""
    return (layer.macs * 100) / (total_cycles * layer.rows * layer.cols)
