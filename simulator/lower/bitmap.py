"""Bitmap statistics and kernels of the dual-side sparse tensor core.

The timing model needs, for every warp-tile column segment of A (``seg`` rows of one k) and row
segment of B (one k, ``seg`` columns), its population count and how its non-zeros fall on the
accumulator's row lanes / column banks. These come from the real bitmaps, vectorized over whole
matrices (numpy reshapes and sums); the per-warp-tile step sums are a numba kernel over
(warp row, warp column, k). The functional side (encode, outer-product SpGEMM, bitmap im2col)
is numba too and is what the tests check against numpy and onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:  # numba is a dependency; the fallback keeps `import` working while it compiles lazily
    from numba import njit, prange
except ImportError:  # pragma: no cover
    def njit(*args, **kwargs):
        return (lambda f: f) if not args or not callable(args[0]) else args[0]
    prange = range


@dataclass
class SegmentStats:
    """Per segment (A: [rows/seg, K]; B: [K, cols/seg]): non-zeros and the worst lane/bank load."""

    nnz: np.ndarray    # uint8 popcount of the segment's bitmap word
    worst: np.ndarray  # uint8 most non-zeros that share one accumulator lane (A) / bank (B)


def _pad_axis(mask: np.ndarray, axis: int, seg: int) -> np.ndarray:
    size = mask.shape[axis]
    extra = -size % seg
    if not extra:
        return mask
    pad = [(0, 0)] * mask.ndim
    pad[axis] = (0, extra)
    return np.pad(mask, pad)


def a_stats(mask: np.ndarray, seg: int, lanes: int) -> SegmentStats:
    """A (M x K, column-major segments of ``seg`` rows): nnz and max non-zeros per row lane
    (row r sits in lane r mod ``lanes``)."""
    m = _pad_axis(mask, 0, seg)
    mi, k = m.shape[0] // seg, m.shape[1]
    lanes = min(lanes, seg)
    m = _pad_axis(m.reshape(mi, seg, k), 1, lanes)
    per_lane = m.reshape(mi, -1, lanes, k).sum(axis=1, dtype=np.uint8)
    return SegmentStats(per_lane.sum(axis=1, dtype=np.uint8), per_lane.max(axis=1))


def b_stats(mask: np.ndarray, seg: int, banks: int) -> SegmentStats:
    """B (K x N, row-major segments of ``seg`` columns): nnz and max non-zeros per accumulator
    bank (column c sits in bank c mod ``banks``)."""
    m = _pad_axis(mask, 1, seg)
    k, nj = m.shape[0], m.shape[1] // seg
    banks = min(banks, seg)
    m = _pad_axis(m.reshape(k, nj, seg), 2, banks)
    per_bank = m.reshape(k, nj, -1, banks).sum(axis=2, dtype=np.uint8)
    return SegmentStats(per_bank.sum(axis=2, dtype=np.uint8), per_bank.max(axis=2))


def dense_a_stats(rows: int, k: int, seg: int, lanes: int) -> SegmentStats:
    """The stats of an all-non-zero M x K operand, without materializing it."""
    mi = -(-rows // seg)
    valid = np.minimum(seg, rows - seg * np.arange(mi))
    lanes = min(lanes, seg)
    nnz = np.repeat(valid.astype(np.uint8)[:, None], k, axis=1)
    worst = np.repeat((-(-valid // lanes)).astype(np.uint8)[:, None], k, axis=1)
    return SegmentStats(nnz, worst)


def dense_b_stats(k: int, cols: int, seg: int, banks: int) -> SegmentStats:
    s = dense_a_stats(cols, k, seg, banks)
    return SegmentStats(np.ascontiguousarray(s.nnz.T), np.ascontiguousarray(s.worst.T))


def warp_steps(a: SegmentStats, b: SegmentStats, om: int, on: int, kw: int, chunk: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (warp row i, warp column j, k-chunk c): outer-product cycles, bank-conflict extra
    cycles and issued SpWMMAs (``kw``-step groups with any non-zero pair; empty ones are
    skipped by the warp-level bitmap).

    One k-step issues ceil(nnzA/om) * ceil(nnzB/on) OHMMAs; the accumulator needs
    worstA * worstB cycles for the step's scatter; the step takes the larger of the two.
    """
    qa = -(-a.nnz.astype(np.int16) // om)
    qb = -(-b.nnz.astype(np.int16) // on)
    return _warp_steps(qa.astype(np.uint8), a.worst, np.ascontiguousarray(qb.T).astype(np.uint8),
                       np.ascontiguousarray(b.worst.T), kw, chunk)


@njit(cache=True, parallel=True)
def _warp_steps(qa, wa, qb, wb, kw, chunk):  # pragma: no cover
    mi, k = qa.shape
    nj = qb.shape[0]
    nc = (k + chunk - 1) // chunk
    steps = np.zeros((mi, nj, nc), np.int64)
    extra = np.zeros((mi, nj, nc), np.int64)
    issued = np.zeros((mi, nj, nc), np.int64)
    for i in prange(mi):
        for j in range(nj):
            for c in range(nc):
                k1 = min(k, (c + 1) * chunk)
                s = 0
                e = 0
                w = 0
                for g0 in range(c * chunk, k1, kw):
                    before = s
                    for kk in range(g0, min(k1, g0 + kw)):
                        issue = np.int32(qa[i, kk]) * np.int32(qb[j, kk])
                        bank = np.int32(wa[i, kk]) * np.int32(wb[j, kk])
                        s += max(issue, bank)
                        e += max(bank - issue, 0)
                    if s > before:
                        w += 1
                steps[i, j, c] = s
                extra[i, j, c] = e
                issued[i, j, c] = w
    return steps, extra, issued


# ---------------------------------------------------------------------------------------------
# functional model: encode, outer-product SpGEMM, bitmap im2col


@njit(cache=True)
def popcount32(x):  # pragma: no cover
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F
    return ((x * 0x01010101) & 0xFFFFFFFF) >> 24


@njit(cache=True)
def encode_columns(a, seg):  # pragma: no cover
    """Column-major bitmap encoding of A (M x K): per (row segment i, k) a ``seg``-bit word,
    the offset of its packed non-zeros, and the packed values (segment by segment)."""
    m, k = a.shape
    mi = (m + seg - 1) // seg
    words = np.zeros((mi, k), np.uint32)
    offsets = np.zeros((mi, k), np.int64)
    values = np.empty(m * k, a.dtype)
    n = 0
    for i in range(mi):
        for kk in range(k):
            offsets[i, kk] = n
            word = np.uint32(0)
            for r in range(seg):
                row = i * seg + r
                if row < m and a[row, kk] != 0:
                    word |= np.uint32(1) << np.uint32(r)
                    values[n] = a[row, kk]
                    n += 1
            words[i, kk] = word
    return words, offsets, values[:n]


@njit(cache=True)
def spgemm_bitmap(a_words, a_off, a_vals, b_words, b_off, b_vals, m, n, seg, kw,
                  om, on, lanes, banks):  # pragma: no cover
    """C = A x B from the encodings (B encoded as B^T columns, i.e. row-major): per warp tile
    and k-step, multiply the packed values OHMMA group by group (``om`` x ``on``), AND the
    bitmaps to place the products and gather-add-scatter them into the accumulator. Returns C
    and the cycles counted by replaying the hardware: issued OHMMAs, lane/bank loads per step,
    and SpWMMAs skipped by the warp-level bitmap."""
    mi, k = a_words.shape
    nj = b_words.shape[1]
    c = np.zeros((m, n), np.float64)
    cycles = 0
    skipped = 0
    rows = np.empty(seg, np.int64)
    cols = np.empty(seg, np.int64)
    lane_load = np.zeros(lanes, np.int64)
    bank_load = np.zeros(banks, np.int64)
    for i in range(mi):
        for j in range(nj):
            acc = np.zeros((seg, seg), np.float64)
            for g0 in range(0, k, kw):
                g1 = min(k, g0 + kw)
                # warp-level bitmap: is the A (seg x kw) or B (kw x seg) tile empty?
                a_any = False
                b_any = False
                for kk in range(g0, g1):
                    if a_words[i, kk] != 0:
                        a_any = True
                    if b_words[kk, j] != 0:
                        b_any = True
                if not (a_any and b_any):
                    skipped += 1
                    continue
                for kk in range(g0, g1):
                    wa = a_words[i, kk]
                    wb = b_words[kk, j]
                    na = 0
                    for r in range(seg):
                        if (wa >> np.uint32(r)) & np.uint32(1):
                            rows[na] = r
                            na += 1
                    nb = 0
                    for q in range(seg):
                        if (wb >> np.uint32(q)) & np.uint32(1):
                            cols[nb] = q
                            nb += 1
                    if na == 0 or nb == 0:
                        continue
                    oa = a_off[i, kk]
                    ob = b_off[kk, j]
                    issue = 0
                    for ga in range(0, na, om):          # OHMMA steps: om A values ...
                        for gb in range(0, nb, on):      # ... times on B values
                            issue += 1
                            for x in range(ga, min(na, ga + om)):
                                va = a_vals[oa + x]
                                for y in range(gb, min(nb, gb + on)):
                                    acc[rows[x], cols[y]] += va * b_vals[ob + y]
                    lane_load[:] = 0
                    bank_load[:] = 0
                    for x in range(na):
                        lane_load[rows[x] % lanes] += 1
                    for y in range(nb):
                        bank_load[cols[y] % banks] += 1
                    cycles += max(issue, lane_load.max() * bank_load.max())
            for r in range(seg):
                for q in range(seg):
                    row = i * seg + r
                    col = j * seg + q
                    if row < m and col < n:
                        c[row, col] = acc[r, q]
    return c, cycles, skipped


@njit(cache=True)
def encode_ifmap(x):  # pragma: no cover
    """Bitmap-encode an activation (N, C, H, W) row by row: 32-bit words along W, the packed
    values and, per word, the offset of its first packed value."""
    nb, ch, h, w = x.shape
    nw = (w + 31) // 32
    words = np.zeros((nb, ch, h, nw), np.uint32)
    offsets = np.zeros((nb, ch, h, nw), np.int64)
    values = np.empty(x.size, x.dtype)
    n = 0
    for b in range(nb):
        for c in range(ch):
            for y in range(h):
                for q in range(nw):
                    offsets[b, c, y, q] = n
                    word = np.uint32(0)
                    for t in range(32):
                        xx = q * 32 + t
                        if xx < w and x[b, c, y, xx] != 0:
                            word |= np.uint32(1) << np.uint32(t)
                            values[n] = x[b, c, y, xx]
                            n += 1
                    words[b, c, y, q] = word
    return words, offsets, values[:n]


@njit(cache=True)
def im2col_bitmap(words, offsets, values, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, seg):
    # pragma: no cover
    """Implicit im2col on the encoded input: each lowered element (pixel, (c, i, j)) finds its
    bit by mask and shift in the input row's word and its packed value by a popcount of the
    bits below it. Produces the lowered A directly in column-major bitmap encoding."""
    nb, ch, h, nw = words.shape
    m = nb * oh * ow
    k = ch * kh * kw
    mi = (m + seg - 1) // seg
    a_words = np.zeros((mi, k), np.uint32)
    a_off = np.zeros((mi, k), np.int64)
    a_vals = np.empty(m * k, values.dtype)
    n = 0
    for i in range(mi):
        for kk in range(k):
            c = kk // (kh * kw)
            fy = (kk // kw) % kh
            fx = kk % kw
            a_off[i, kk] = n
            word = np.uint32(0)
            for r in range(seg):
                p = i * seg + r
                if p >= m:
                    break
                b = p // (oh * ow)
                y = (p // ow) % oh * sh - ph + fy * dh
                x = p % ow * sw - pw + fx * dw
                if y < 0 or y >= h or x < 0 or x >= nw * 32:
                    continue
                wd = words[b, c, y, x >> 5]
                bit = np.uint32(x & 31)
                if (wd >> bit) & np.uint32(1):
                    below = wd & ((np.uint32(1) << bit) - np.uint32(1))
                    a_vals[n] = values[offsets[b, c, y, x >> 5] + popcount32(below)]
                    n += 1
                    word |= np.uint32(1) << np.uint32(r)
            a_words[i, kk] = word
    return a_words, a_off, a_vals[:n]


def spgemm(a: np.ndarray, b: np.ndarray, seg: int = 32, kw: int = 16, om: int = 8, on: int = 16,
           lanes: int = 8, banks: int = 32) -> tuple[np.ndarray, int, int]:
    """Dense-in, dense-out reference entry: encode A column-major and B row-major, multiply."""
    aw, ao, av = encode_columns(np.ascontiguousarray(a, dtype=np.float64), seg)
    bw, bo, bv = encode_columns(np.ascontiguousarray(b.T, dtype=np.float64), seg)
    return spgemm_bitmap(aw, ao, av, np.ascontiguousarray(bw.T), np.ascontiguousarray(bo.T), bv,
                         a.shape[0], b.shape[1], seg, kw, om, on, lanes, banks)
