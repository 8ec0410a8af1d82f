"""The numba kernel's side of the memory model: its numpy inputs, and the run (the fallback
where the C extension ``_memloop`` was not built; tests check the two agree)."""

from __future__ import annotations

import numpy as np

from simulator.scalesim.demand import (
    DATAFLOW_CODE,
    ifmap_factors,
    prefetch_order,
    prefetch_sets,
)
from simulator.scalesim.mapping import ScaleSimLayer, address_space

_EMPTY_PTR = np.zeros(1, dtype=np.int64)
_EMPTY_SETS = np.zeros(0, dtype=np.int32)


def _words(kb: float) -> int:
    return int(kb * 1024)


def _calc_read_params(layer: ScaleSimLayer, operand: str, kb: float) -> np.ndarray:
    items = _words(kb) // 100
    return np.array([address_space(layer, operand), 50 * items, 0, 0, 0, 0, 0], dtype=np.int64)


def _user_read_params(layer: ScaleSimLayer, operand: str, kb: float,
                      bw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = _words(kb)
    per_set = -(-size // 100)
    active = -(-size // 2)
    prefetch = size - active
    ptr, sets, nsets, fetch_words = prefetch_sets(prefetch_order(layer, operand), per_set,
                                                  address_space(layer, operand))
    nactive = min(-(-active // per_set), nsets)
    npf = min(-(-prefetch // per_set), nsets - nactive)
    init_lines = min(-(-active // bw), -(-fetch_words // bw))
    params = np.array([address_space(layer, operand), 0, nsets, nactive, npf,
                       -(-prefetch // bw), init_lines], dtype=np.int64)
    return params, ptr, sets


def run(layer: ScaleSimLayer, user: bool, kb: tuple[float, float, float],
        bandwidths: tuple[int, int], wr: tuple[int, int, int]) -> list[int]:
    """The result vector of ``_kernels.simulate`` followed by the USER-mode (init lines,
    prefetch lines) of IFMAP and FILTER (zeros in CALC mode): what ``_memloop.simulate``
    returns."""
    from simulator.scalesim import _kernels as k

    sr, sc, t = layer.spatial
    geo = np.array([DATAFLOW_CODE[layer.dataflow], layer.rows, layer.cols, sr, sc, t,
                    layer.m, layer.n, layer.k, int(user), layer.fold_cycles], dtype=np.int64)
    pix, tap = ifmap_factors(layer)
    if user:
        rd_if, if_ptr, if_sets = _user_read_params(layer, "ifmap", kb[0], bandwidths[0])
        rd_f, f_ptr, f_sets = _user_read_params(layer, "filter", kb[1], bandwidths[1])
        lines = [int(rd_if[k.RD_INITLINES]), int(rd_if[k.RD_PFLINES]),
                 int(rd_f[k.RD_INITLINES]), int(rd_f[k.RD_PFLINES])]
    else:
        rd_if = _calc_read_params(layer, "ifmap", kb[0])
        rd_f = _calc_read_params(layer, "filter", kb[1])
        if_ptr = f_ptr = _EMPTY_PTR
        if_sets = f_sets = _EMPTY_SETS
        lines = [0, 0, 0, 0]
    res = k.simulate(geo, pix, tap, rd_if, if_ptr, if_sets, rd_f, f_ptr, f_sets,
                     np.array(wr, dtype=np.int64))
    return [int(v) for v in res] + lines
