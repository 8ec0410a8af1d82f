"""The memory side of a SCALE-Sim layer: stalls, SRAM service windows, DRAM traffic.

SCALE-Sim 3.0.0 serves its demand matrices row by row through three double-buffered scratchpads
(``memory/double_buffered_scratchpad_mem.py``). Reproducing its report numbers needs the exact
address order and its bookkeeping, so this module replays that loop in a compiled kernel over
addresses computed from the mapping: the C extension ``_memloop`` (it loads in a millisecond and
needs no numpy, so ``archsim scalesim`` starts fast), or, where it was not built, the numba
kernel ``_kernels.py`` over numpy inputs (``demand.py``); tests check the two agree.

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
from typing import NamedTuple

from simulator.scalesim.mapping import ScaleSimLayer, address_space
from simulator.scalesim.setup import ScaleSimSetup

OPERANDS = ("ifmap", "filter", "ofmap")
CALC_READ_BW = 10  # words/cycle SCALE-Sim assumes for IFMAP/FILTER prefetch in CALC mode
DATAFLOW_CODE = {"os": 0, "ws": 1, "is": 2}
# the kernels' result vector (both kernels), then USER mode's (init, prefetch) lines per read
(R_STALLS, R_ROWS,
 R_IF_FIRST, R_IF_LAST, R_F_FIRST, R_F_LAST, R_O_FIRST, R_O_LAST,
 R_IF_FIRST_REQ, R_F_FIRST_REQ,
 R_IF_INSERTS, R_IF_GROUPS, R_IF_LAST_CLOSE, R_F_INSERTS, R_F_GROUPS, R_F_LAST_CLOSE,
 R_IF_PREFETCHES, R_IF_LAST_PF, R_F_PREFETCHES, R_F_LAST_PF,
 R_O_WORDS, R_O_DSTART, R_O_DSTOP, R_IF_LINES, R_F_LINES) = (*range(23), 23, 25)
KERNELS = ("c", "numba")


class MemoryStats(NamedTuple):
    """Per operand: SRAM (start, stop) service cycles; DRAM (start, stop, words)."""

    stall_cycles: int
    sram: dict[str, tuple[int, int]]
    dram: dict[str, tuple[int, int, int]]


def _words(kb: float) -> int:
    return int(kb * 1024)


def default_kernel() -> str:
    """``c`` when the C extension is built (``pip install`` compiles it), else ``numba``."""
    try:
        from simulator.scalesim import _memloop  # noqa: F401
    except ImportError:
        return "numba"
    return "c"


def _calc_dram(res: list[int], base: int, first_req: int, kb: float) -> tuple[int, int, int]:
    items = _words(kb) // 100
    inserts, groups, last_close = res[base], res[base + 1], res[base + 2]
    if groups == 0:
        sets = -(-inserts // items)
        return -math.ceil(sets * items / CALC_READ_BW), -1, inserts
    return first_req - math.ceil(50 * items / CALC_READ_BW), last_close + 1, inserts


def _user_dram(res: list[int], base: int, lines: int, bw: int) -> tuple[int, int, int]:
    prefetches, last_pf = res[base], res[base + 1]
    init_lines, pf_lines = res[lines], res[lines + 1]
    stop = last_pf if prefetches else -1
    return -init_lines, stop, (init_lines + prefetches * pf_lines) * bw


def run_kernel(layer: ScaleSimLayer, setup: ScaleSimSetup, kernel: str | None = None
               ) -> list[int]:
    """The memory loop's result vector for one layer (indices ``R_*`` above)."""
    user = setup.mode == "user"
    kb = (setup.ifmap_kb, setup.filter_kb, setup.ofmap_kb)
    read_bw = (setup.ifmap_dram_bandwidth, setup.filter_dram_bandwidth)
    out_words = _words(setup.ofmap_kb)
    wr = (out_words, out_words - -(-out_words // 2),
          setup.ofmap_dram_bandwidth if user else layer.cols)
    if (kernel or default_kernel()) == "numba":
        from simulator.scalesim import _numba_memory

        return _numba_memory.run(layer, user, kb, read_bw, wr)
    from simulator.scalesim._memloop import simulate

    sr, sc, t = layer.spatial
    geo = (DATAFLOW_CODE[layer.dataflow], layer.rows, layer.cols, sr, sc, t, layer.m, layer.n,
           layer.k, layer.fold_cycles, layer.ifmap_h, layer.ifmap_w, layer.filter_w,
           layer.channels, layer.stride, layer.out_w)
    if user:
        rd_if = (address_space(layer, "ifmap"), _words(kb[0]), read_bw[0])
        rd_f = (address_space(layer, "filter"), _words(kb[1]), read_bw[1])
    else:
        rd_if = (address_space(layer, "ifmap"), 50 * (_words(kb[0]) // 100))
        rd_f = (address_space(layer, "filter"), 50 * (_words(kb[1]) // 100))
    return list(simulate(geo, int(user), rd_if, rd_f, wr))


def simulate_memory(layer: ScaleSimLayer, setup: ScaleSimSetup, kernel: str | None = None
                    ) -> MemoryStats:
    """Stalls and SRAM/DRAM windows of one layer, replaying SCALE-Sim's memory loop."""
    res = run_kernel(layer, setup, kernel)
    sram = {"ifmap": (res[R_IF_FIRST], res[R_IF_LAST]),
            "filter": (res[R_F_FIRST], res[R_F_LAST]),
            "ofmap": (res[R_O_FIRST], res[R_O_LAST])}
    if setup.mode == "user":
        dram_if = _user_dram(res, R_IF_PREFETCHES, R_IF_LINES, setup.ifmap_dram_bandwidth)
        dram_f = _user_dram(res, R_F_PREFETCHES, R_F_LINES, setup.filter_dram_bandwidth)
    else:
        dram_if = _calc_dram(res, R_IF_INSERTS, res[R_IF_FIRST_REQ], setup.ifmap_kb)
        dram_f = _calc_dram(res, R_F_INSERTS, res[R_F_FIRST_REQ], setup.filter_kb)
    dram = {"ifmap": dram_if, "filter": dram_f,
            "ofmap": (res[R_O_DSTART], res[R_O_DSTOP], res[R_O_WORDS])}
    return MemoryStats(res[R_STALLS], sram, dram)
