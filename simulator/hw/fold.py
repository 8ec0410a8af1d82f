"""The systolic fold rule, written once: every model of a systolic array times its folds here.

A fold on an R x C array streams T operand rows. Output stationary: T + R + C - 2 cycles (R - 1
to skew the inputs in, C - 1 to drain the outputs). Weight/input stationary: T + 2R + C - 2 (R
more to preload the stationary operand). These are SCALE-Sim's rules without its final -1 (it
reports the index of the last cycle, not the count). A fold cut into T-chunks pays the head on
its first chunk and the drain on its last, so an uninterrupted fold costs the same whole or
chunked. The SCALE-Sim drop-in uses it too.
"""

from __future__ import annotations


def fold_overheads(rows: int, cols: int, dataflow: str) -> tuple[int, int]:
    """(head, tail) cycles of one fold: the fill before the first row and the drain after."""
    head = rows - 1 if dataflow == "os" else 2 * rows - 1
    return head, cols - 1


def fold_cycles(t: int, rows: int, cols: int, dataflow: str) -> int:
    """Cycles of a whole fold streaming ``t`` rows."""
    head, tail = fold_overheads(rows, cols, dataflow)
    return t + head + tail


def gemm_cycles(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> int:
    """Cycles of a whole GEMM folded onto the array, fold after fold, with nothing in between
    (no stalls, no overlap of one fold's drain with the next fold's fill)."""
    from simulator.config.systolic import spatial  # the pydantic models: on first use

    if not (m and n and k):
        return 0
    sr, sc, t = spatial(dataflow, m, n, k)
    return -(-sr // rows) * -(-sc // cols) * fold_cycles(t, rows, cols, dataflow)
