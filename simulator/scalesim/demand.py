"""SCALE-Sim's operand address matrices and USER-mode prefetch order, built with numpy.

The memory model needs the addresses each operand streams, in SCALE-Sim's order. The cycle-by-cycle
demand matrices (skew, flip, fill/drain padding per dataflow) are never materialised: the numba
kernel walks them by index arithmetic. IFMAP addresses come from two small vectors built here (an
output-pixel part and a window-tap part); FILTER and OFMAP addresses are affine, so the kernel
computes them inline. All addresses are relative to the
operand's offset, which only shifts them and so cannot change hits, counts or cycles.

USER mode also needs the *prefetch* order (``get_prefetch_matrices`` in SCALE-Sim's compute
classes): which addresses the double buffer brings in, in what order, grouped into sets of
ceil(S/100) words. That order is produced here and turned into a CSR "address -> set ids" table.
"""

from __future__ import annotations

import numpy as np

from simulator.scalesim.mapping import ScaleSimLayer

DATAFLOW_CODE = {"os": 0, "ws": 1, "is": 2}


def ifmap_factors(layer: ScaleSimLayer) -> tuple[np.ndarray, np.ndarray]:
    """The im2col address split into an output-pixel part and a window-tap part, so the kernel
    never needs the M x K matrix: address(m, k) = pix[0, m] + tap[0, k], valid iff
    tap[1, k] < pix[1, m] (rows left below the window's top) and tap[2, k] < pix[2, m] (columns)."""
    ew, s, ch, w = layer.out_w, layer.stride, layer.channels, layer.ifmap_w
    oy, ox = np.divmod(np.arange(layer.m, dtype=np.int64), ew)
    pix = np.stack([(oy * s * w + ox * s) * ch, layer.ifmap_h - oy * s, w - ox * s])
    fy, rem = np.divmod(np.arange(layer.k, dtype=np.int64), layer.filter_w * ch)
    fx, c = np.divmod(rem, ch)
    tap = np.stack([(fy * w + fx) * ch + c, fy, fx])
    return np.ascontiguousarray(pix, dtype=np.int32), np.ascontiguousarray(tap, dtype=np.int32)


def ifmap_matrix(layer: ScaleSimLayer) -> np.ndarray:
    """M x K im2col addresses (row = output pixel, column = (fy, fx, c), c fastest); -1 where the
    window reaches past the IFMAP edge (SCALE-Sim's ceil output size, no padding)."""
    pix, tap = ifmap_factors(layer)
    valid = (tap[1][None, :] < pix[1][:, None]) & (tap[2][None, :] < pix[2][:, None])
    return np.where(valid, pix[0][:, None] + tap[0][None, :], -1).astype(np.int32)


def _filter_matrix(layer: ScaleSimLayer) -> np.ndarray:
    """K x N filter addresses: n * K + k."""
    k = np.arange(layer.k, dtype=np.int64)
    n = np.arange(layer.n, dtype=np.int64)
    return (n[None, :] * layer.k + k[:, None]).astype(np.int32)


def _stack_folds(mat: np.ndarray, width: int) -> np.ndarray:
    """Split ``mat``'s columns into folds of ``width`` (the last padded with -1) and stack the folds
    vertically: the layout of SCALE-Sim's prefetch matrices."""
    rows, cols = mat.shape
    folds = -(-cols // width)
    padded = np.full((rows, folds * width), -1, dtype=np.int32)
    padded[:, :cols] = mat
    return padded.reshape(rows, folds, width).transpose(1, 0, 2).reshape(folds * rows, width)


def _diagonal_order(mat: np.ndarray) -> np.ndarray:
    """Elements by anti-diagonal (r + c ascending), each diagonal bottom-up (r descending), i.e.
    the source's unrolling of a prefetch matrix; -1 entries are kept."""
    rows, cols = mat.shape
    d = np.arange(rows + cols - 1)[:, None]
    c = np.arange(cols)[None, :]
    r = d - c
    inside = (r >= 0) & (r < rows)
    return mat[r[inside], np.broadcast_to(c, inside.shape)[inside]]


def prefetch_order(layer: ScaleSimLayer, operand: str) -> np.ndarray:
    """The flat order in which USER mode's read buffer prefetches ``operand`` (-1 = empty slot)."""
    r, c = layer.rows, layer.cols
    df = layer.dataflow
    if operand == "ifmap":
        ifm = ifmap_matrix(layer)
        if df == "os":
            return _diagonal_order(_stack_folds(ifm.T, r))
        if df == "ws":
            return _diagonal_order(_stack_folds(ifm, r))
        return _stack_folds(ifm.T, c).ravel()
    fil = _filter_matrix(layer)
    if df == "os":
        return _diagonal_order(_stack_folds(fil, c))
    if df == "ws":
        return _stack_folds(fil, c).ravel()
    return _diagonal_order(_stack_folds(fil.T, r))


def prefetch_sets(order: np.ndarray, set_words: int,
                  space: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Group the valid prefetch entries into sets of ``set_words`` (the source's hashed buffer
    lines; a trailing, possibly empty, set always exists) and index them by address.

    Returns (ptr, set_ids, num_sets, fetch_words): for relative address a, the sorted ids of the
    sets holding it are ``set_ids[ptr[a]:ptr[a + 1]]``; ``fetch_words`` counts -1 slots too (they
    set how many DRAM lines the fetch matrix has).
    """
    valid = order[order >= 0].astype(np.int64)
    num_sets = valid.size // set_words + 1
    sets = np.arange(valid.size, dtype=np.int64) // set_words
    pairs = np.unique(valid * num_sets + sets)
    addr, set_ids = np.divmod(pairs, num_sets)
    ptr = np.zeros(space + 1, dtype=np.int64)
    np.cumsum(np.bincount(addr, minlength=space), out=ptr[1:])
    return ptr, set_ids.astype(np.int32), num_sets, int(order.size)
