"""The memory side of a SCALE-Sim layer: stalls, SRAM service windows, DRAM traffic.

SCALE-Sim 3.0.0 serves its demand matrices row by row through three double-buffered scratchpads
(``memory/double_buffered_scratchpad_mem.py``). Reproducing its report numbers needs the exact
address order and its bookkeeping, so this module replays that loop in a numba kernel
(``_kernels.py``) over addresses computed from the mapping (``demand.py``):

- CALC mode (``ReadBufferEstimateBw``): reads never stall. The SRAM is cut into 100 sets of
  floor(S/100) words; a word is a DRAM read unless already read since the current group of 50 sets
  started. The first group is prefetched at 10 words/cycle ending 2 cycles before the first request;
  each later group is fetched over the window between the previous two group closings; the final
  partial group over the last window. So the DRAM start is ``first request - ceil(50*I/10)`` and the
  stop is ``last group closing + 1`` (or ``[-ceil(sets*I/10), -1]`` if no group ever closed).
- USER mode (``read_buffer.py``): the prefetch order is cut into sets of ceil(S/100) words; a
  window of active sets slides on every miss, each slide being a prefetch of ceil(S/2/bw) lines
  right after the previous one, and the wait is counted twice when positive.
- OFMAP (``write_buffer.py``, both modes): lines of ``bw`` words (array columns in CALC, the
  config's Bandwidth in USER) drained half a buffer at a time, one line per cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.config.systolic import ScaleSimOptions, SystolicConfig
from simulator.scalesim.compute import ComputeStats
from simulator.scalesim.demand import (
    DATAFLOW_CODE,
    address_space,
    ifmap_factors,
    prefetch_order,
    prefetch_sets,
)
from simulator.scalesim.mapping import ScaleSimLayer

OPERANDS = ("ifmap", "filter", "ofmap")
CALC_READ_BW = 10  # words/cycle SCALE-Sim assumes for IFMAP/FILTER prefetch in CALC mode
_EMPTY_PTR = np.zeros(1, dtype=np.int64)
_EMPTY_SETS = np.zeros(0, dtype=np.int32)


@dataclass(frozen=True)
class MemoryStats:
    """Per operand: SRAM (start, stop) service cycles; DRAM (start, stop, words)."""

    stall_cycles: int
    sram: dict[str, tuple[int, int]]
    dram: dict[str, tuple[int, int, int]]


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


def _calc_dram(res: np.ndarray, base: int, first_req: int, kb: float) -> tuple[int, int, int]:
    items = _words(kb) // 100
    inserts, groups, last_close = res[base], res[base + 1], res[base + 2]
    if groups == 0:
        sets = -(-inserts // items)
        return -math.ceil(sets * items / CALC_READ_BW), -1, int(inserts)
    return int(first_req - math.ceil(50 * items / CALC_READ_BW)), int(last_close + 1), int(inserts)


def _user_dram(res: np.ndarray, base: int, params: np.ndarray, bw: int) -> tuple[int, int, int]:
    from simulator.scalesim import _kernels as k

    prefetches, last_pf = int(res[base]), int(res[base + 1])
    init_lines, pf_lines = int(params[k.RD_INITLINES]), int(params[k.RD_PFLINES])
    stop = last_pf if prefetches else -1
    return -init_lines, stop, (init_lines + prefetches * pf_lines) * bw


def simulate_memory(layer: ScaleSimLayer, compute: ComputeStats, config: SystolicConfig,
                    options: ScaleSimOptions) -> MemoryStats:
    """Stalls and SRAM/DRAM windows of one layer, replaying SCALE-Sim's memory loop."""
    from simulator.scalesim import _kernels as k

    user = options.bandwidth_mode == "user"
    sr, sc, t = layer.spatial
    geo = np.array([DATAFLOW_CODE[layer.dataflow], layer.rows, layer.cols, sr, sc, t,
                    layer.m, layer.n, layer.k, int(user), layer.fold_cycles], dtype=np.int64)
    pix, tap = ifmap_factors(layer)
    sram_kb = config.sram
    if user:
        rd_if, if_ptr, if_sets = _user_read_params(layer, "ifmap", sram_kb.ifmap_kb,
                                                   options.ifmap_dram_bandwidth)
        rd_f, f_ptr, f_sets = _user_read_params(layer, "filter", sram_kb.filter_kb,
                                                options.filter_dram_bandwidth)
        out_bw = options.ofmap_dram_bandwidth
    else:
        rd_if = _calc_read_params(layer, "ifmap", sram_kb.ifmap_kb)
        rd_f = _calc_read_params(layer, "filter", sram_kb.filter_kb)
        if_ptr = f_ptr = _EMPTY_PTR
        if_sets = f_sets = _EMPTY_SETS
        out_bw = layer.cols
    out_words = _words(sram_kb.ofmap_kb)
    drain = out_words - -(-out_words // 2)
    wr = np.array([out_words, drain, out_bw], dtype=np.int64)
    res = k.simulate(geo, pix, tap, rd_if, if_ptr, if_sets, rd_f, f_ptr, f_sets, wr)

    sram = {"ifmap": (int(res[k.R_IF_FIRST]), int(res[k.R_IF_LAST])),
            "filter": (int(res[k.R_F_FIRST]), int(res[k.R_F_LAST])),
            "ofmap": (int(res[k.R_O_FIRST]), int(res[k.R_O_LAST]))}
    if user:
        dram_if = _user_dram(res, k.R_IF_PREFETCHES, rd_if, options.ifmap_dram_bandwidth)
        dram_f = _user_dram(res, k.R_F_PREFETCHES, rd_f, options.filter_dram_bandwidth)
    else:
        dram_if = _calc_dram(res, k.R_IF_INSERTS, int(res[k.R_IF_FIRST_REQ]), sram_kb.ifmap_kb)
        dram_f = _calc_dram(res, k.R_F_INSERTS, int(res[k.R_F_FIRST_REQ]), sram_kb.filter_kb)
    dram = {"ifmap": dram_if, "filter": dram_f,
            "ofmap": (int(res[k.R_O_DSTART]), int(res[k.R_O_DSTOP]), int(res[k.R_O_WORDS]))}
    return MemoryStats(int(res[k.R_STALLS]), sram, dram)
