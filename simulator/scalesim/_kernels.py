"""Numba kernel: SCALE-Sim's per-row memory service loop, one pass over the demand rows.

SCALE-Sim serves the demand matrices row by row (one row per cycle), IFMAP, then FILTER, then
OFMAP, and adds max(read waits, write wait) to the stall count before the next row. This kernel
does the same bookkeeping on the same address order, but computes each row's addresses from the
fold/row/column indices instead of building the matrices, and replaces Python sets by arrays
indexed by address. Imported lazily: numba is heavy and ``import simulator.cli`` must stay light.

Parameter vectors (int64) keep the signature short; see ``memory.py`` for how they are filled.
"""

from __future__ import annotations

import numpy as np
from numba import njit

OS, WS, IS = 0, 1, 2
IFMAP, FILTER, OFMAP = 0, 1, 2

# geometry vector
G_DF, G_R, G_C, G_SR, G_SC, G_T, G_M, G_N, G_K, G_USER, G_FOLD = range(11)
# read-side vector (one per operand)
RD_SPACE, RD_GROUP, RD_NSETS, RD_NACTIVE, RD_NPF, RD_PFLINES, RD_INITLINES = range(7)
# write-side vector
WR_TOTAL, WR_DRAIN, WR_BW = range(3)
# result vector
(R_STALLS, R_ROWS,
 R_IF_FIRST, R_IF_LAST, R_F_FIRST, R_F_LAST, R_O_FIRST, R_O_LAST,
 R_IF_FIRST_REQ, R_F_FIRST_REQ,
 R_IF_INSERTS, R_IF_GROUPS, R_IF_LAST_CLOSE, R_F_INSERTS, R_F_GROUPS, R_F_LAST_CLOSE,
 R_IF_PREFETCHES, R_IF_LAST_PF, R_F_PREFETCHES, R_F_LAST_PF,
 R_O_WORDS, R_O_DSTART, R_O_DSTOP, R_SIZE) = range(24)


@njit(cache=True, inline="always")
def _ifmap(pix, tap, m, kk, buf, cnt):
    """Store im2col address (m, kk) at buf[cnt] unless the tap falls outside the IFMAP."""
    if tap[1, kk] < pix[1, m] and tap[2, kk] < pix[2, m]:
        buf[cnt] = pix[0, m] + tap[0, kk]
        return True
    return False


@njit(cache=True)
def _fill(df, op, t, fr, fc, ru, cu, r, c, n, k, pix, tap, buf):
    """The valid (non -1) addresses of demand row ``t`` of fold (fr, fc), in column order (for
    OFMAP only their number: the write buffer does not look at addresses)."""
    cnt = 0
    mm = pix.shape[1]
    if df == OS:
        if op == IFMAP:  # skewed, T = K rows; column j carries output pixel fr*R + j
            for j in range(max(0, t - k + 1), min(ru, t + 1)):
                if _ifmap(pix, tap, fr * r + j, t - j, buf, cnt):
                    cnt += 1
        elif op == FILTER:  # skewed, column j carries filter fc*C + j
            for j in range(max(0, t - k + 1), min(cu, t + 1)):
                buf[cnt] = (fc * c + j) * k + t - j
                cnt += 1
        else:  # K-1 idle rows, then the R x C outputs bottom row first, skewed
            cnt = max(0, min(cu, t - k + 2 - (r - ru)) - max(0, t - k + 2 - r))
    elif df == WS:
        if op == IFMAP:  # R weight-load rows, then M pixel rows, skewed
            for j in range(max(0, t - r - mm + 1), min(ru, t - r + 1)):
                if _ifmap(pix, tap, t - j - r, fr * r + j, buf, cnt):
                    cnt += 1
        elif op == FILTER:  # the R x C weight block, last K-row first, unskewed
            if t < r and r - 1 - t < ru:
                kk = fr * r + r - 1 - t
                for j in range(cu):
                    buf[cnt] = (fc * c + j) * k + kk
                    cnt += 1
        else:  # 2R-1 idle rows, then M output rows, skewed
            cnt = max(0, min(cu, t - 2 * r + 2) - max(0, t - 2 * r + 2 - mm))
    else:
        if op == IFMAP:  # the R x C input block, last K-row first, unskewed
            if t < r and r - 1 - t < ru:
                kk = fr * r + r - 1 - t
                for j in range(cu):
                    if _ifmap(pix, tap, fc * c + j, kk, buf, cnt):
                        cnt += 1
        elif op == FILTER:  # R load rows, then N filter rows, skewed
            for j in range(max(0, t - r - n + 1), min(ru, t - r + 1)):
                buf[cnt] = (t - j - r) * k + fr * r + j
                cnt += 1
        else:  # 2R-1 idle rows, then N output rows, skewed
            cnt = max(0, min(cu, t - 2 * r + 2) - max(0, t - 2 * r + 2 - n))
    return cnt


@njit(cache=True)
def _calc_read(buf, cnt, cycle, stamp, st, res, base):
    """CALC mode (ReadBufferEstimateBw): an address is a DRAM read unless it was already read since
    the current group of 50 sets started; a group closes every ``group`` new words.
    ``st`` = [tag, words in group, group size]."""
    for i in range(cnt):
        a = buf[i]
        if stamp[a] != st[0]:
            stamp[a] = st[0]
            res[base] += 1
            st[1] += 1
            if st[1] == st[2]:
                st[0] += 1
                st[1] = 0
                res[base + 1] += 1
                res[base + 2] = cycle


@njit(cache=True)
def _in_window(ptr, sets, a, start, nactive, nsets):
    """Is one of the sets holding ``a`` inside the cyclic window [start, start + nactive)?"""
    lo = ptr[a]
    hi = ptr[a + 1]
    if lo == hi:
        return False
    end = start + nactive
    # first set id >= start
    left, right = lo, hi
    while left < right:
        mid = (left + right) // 2
        if sets[mid] < start:
            left = mid + 1
        else:
            right = mid
    if left < hi and sets[left] < end:
        return True
    return end > nsets and sets[lo] < end - nsets


@njit(cache=True)
def _user_read(buf, cnt, cycle, ptr, sets, rd, st, res, base):
    """USER mode (read_buffer.py): on a miss the window of active sets slides by the prefetch
    sets and a prefetch of PF lines is issued right after the previous one; the wait is added to
    the row's offset once, and once more when positive (the source's bookkeeping).
    ``st`` = [window start, last prefetch cycle]. Returns the row's service offset."""
    offset = 1
    nsets = rd[RD_NSETS]
    for i in range(cnt):
        a = buf[i]
        tries = 0
        while not _in_window(ptr, sets, a, st[0], rd[RD_NACTIVE], nsets):
            if tries > nsets:  # not in the prefetch order at all: SCALE-Sim would spin forever
                break
            tries += 1
            st[0] = (st[0] + rd[RD_NPF]) % nsets
            st[1] += rd[RD_PFLINES] + 1
            res[base] += 1
            res[base + 1] = st[1]
            wait = st[1] - (cycle + offset)
            offset += wait
            if wait > 0:
                offset += wait
    return offset


@njit(cache=True)
def _drain(ws, lines, start_cycle, res):
    """Send the next drain-buffer's worth of lines to DRAM, one line per cycle; a line's -1 slots
    are subtracted only for the last line of the batch (as the source does)."""
    bw = ws[7]
    per = (ws[8] + bw - 1) // bw
    first = ws[3]
    last = min(first + per, ws[2])
    num = last - first
    if num <= 0:
        return start_cycle - 1
    words = num * bw - (bw - lines[last - 1])
    res[R_O_WORDS] += words
    ws[0] += words
    ws[3] = last
    end = start_cycle + num - 1
    res[R_O_DSTART] = min(res[R_O_DSTART], start_cycle)
    res[R_O_DSTOP] = max(res[R_O_DSTOP], end)
    return end


@njit(cache=True)
def _grow(lines, need):
    out = np.zeros(max(need, 2 * lines.size), dtype=np.int64)
    out[:lines.size] = lines
    return out


@njit(cache=True)
def _flush_line(ws, lines):
    if ws[1] > 0:
        lines[ws[2]] = ws[1]
        ws[2] += 1
        ws[1] = 0


@njit(cache=True)
def _write(cnt, cycle, ws, lines, res):
    """write_buffer.py, for the ``cnt`` words of one row (their addresses do not matter): words
    fill lines of ``bw``; while no drain is in flight, holding more than the drain buffer starts one
    (after flushing the partial line); a full buffer during a drain stalls until it ends.
    ``ws`` = [free, line fill, lines, drained lines, drain end, total, active, bw, drain size].
    Returns the row's service offset."""
    cur = cycle
    bw = ws[7]
    for _ in range(cnt):
        ws[1] += 1
        ws[0] -= 1
        if ws[1] == bw:
            lines[ws[2]] = bw
            ws[2] += 1
            ws[1] = 0
        if cur < ws[4]:
            if ws[0] <= 0:
                cur = ws[4]
        elif ws[0] < ws[5] - ws[8]:
            _flush_line(ws, lines)
            ws[4] = _drain(ws, lines, cur, res)
    return cur - cycle


@njit(cache=True)
def simulate(geo, pix, tap, rd_if, if_ptr, if_sets, rd_f, f_ptr, f_sets, wr):
    """Run every demand row of one layer through the three buffers; returns the result vector."""
    df, r, c = geo[G_DF], geo[G_R], geo[G_C]
    sr, sc = geo[G_SR], geo[G_SC]
    n, k, user = geo[G_N], geo[G_K], geo[G_USER]
    fr_n = (sr + r - 1) // r
    fc_n = (sc + c - 1) // c
    fold_len = geo[G_FOLD]   # the fold rule's cycles (simulator.hw.fold), one demand row each
    res = np.zeros(R_SIZE, dtype=np.int64)
    for i in range(R_IF_FIRST, R_F_FIRST_REQ + 1):
        res[i] = -1
    res[R_O_DSTART] = np.iinfo(np.int64).max
    res[R_O_DSTOP] = np.iinfo(np.int64).min
    buf_if = np.empty(max(r, c), dtype=np.int64)
    buf_f = np.empty(max(r, c), dtype=np.int64)
    buf_o = np.empty(max(r, c), dtype=np.int64)
    # read state
    stamp_if = np.zeros(rd_if[RD_SPACE] if user == 0 else 1, dtype=np.int32)
    stamp_f = np.zeros(rd_f[RD_SPACE] if user == 0 else 1, dtype=np.int32)
    st_if = np.array([1, 0, rd_if[RD_GROUP]], dtype=np.int64)
    st_f = np.array([1, 0, rd_f[RD_GROUP]], dtype=np.int64)
    if user:
        st_if[0], st_if[1] = 0, -1
        st_f[0], st_f[1] = 0, -1
    # write state
    total, drain, bw = wr[WR_TOTAL], wr[WR_DRAIN], wr[WR_BW]
    ws = np.array([total, 0, 0, 0, 0, total, total - drain, bw, drain], dtype=np.int64)
    lines = np.zeros(4096, dtype=np.int64)  # words per OFMAP line; grown as needed

    row = 0
    stalls = 0
    last_o_cycle = 0
    for fc in range(fc_n):
        cu = min(c, sc - fc * c)
        for fr in range(fr_n):
            ru = min(r, sr - fr * r)
            for t in range(fold_len):
                cycle = row + stalls
                n_if = _fill(df, IFMAP, t, fr, fc, ru, cu, r, c, n, k, pix, tap, buf_if)
                n_f = _fill(df, FILTER, t, fr, fc, ru, cu, r, c, n, k, pix, tap, buf_f)
                n_o = _fill(df, OFMAP, t, fr, fc, ru, cu, r, c, n, k, pix, tap, buf_o)
                if user:
                    off_if = _user_read(buf_if, n_if, cycle, if_ptr, if_sets, rd_if, st_if, res,
                                        R_IF_PREFETCHES)
                    off_f = _user_read(buf_f, n_f, cycle, f_ptr, f_sets, rd_f, st_f, res,
                                       R_F_PREFETCHES)
                else:
                    off_if = 1
                    off_f = 1
                    _calc_read(buf_if, n_if, cycle, stamp_if, st_if, res, R_IF_INSERTS)
                    _calc_read(buf_f, n_f, cycle, stamp_f, st_f, res, R_F_INSERTS)
                if ws[2] + 2 * n_o + 2 > lines.size:  # each word adds at most 2 lines
                    lines = _grow(lines, ws[2] + 2 * n_o + 2)
                off_o = _write(n_o, cycle, ws, lines, res)
                if n_if > 0:
                    if res[R_IF_FIRST] < 0:
                        res[R_IF_FIRST] = cycle + off_if
                        res[R_IF_FIRST_REQ] = cycle
                    res[R_IF_LAST] = cycle + off_if
                if n_f > 0:
                    if res[R_F_FIRST] < 0:
                        res[R_F_FIRST] = cycle + off_f
                        res[R_F_FIRST_REQ] = cycle
                    res[R_F_LAST] = cycle + off_f
                if n_o > 0:
                    if res[R_O_FIRST] < 0:
                        res[R_O_FIRST] = cycle + off_o
                    res[R_O_LAST] = cycle + off_o
                last_o_cycle = cycle + off_o
                stalls += max(off_if - 1, off_f - 1, off_o)
                row += 1
    # empty_all_buffers: flush the partial line, then drain back to back from the last row
    _flush_line(ws, lines)
    cyc = last_o_cycle
    while ws[3] < ws[2]:
        cyc = _drain(ws, lines, cyc, res) + 1
    res[R_STALLS] = stalls
    res[R_ROWS] = row
    return res
