"""numba kernels of SQuant (see :mod:`simulator.passes.squant` and SPEC.md sections 3-4).

One output channel at a time (channels are independent: every group of the K stage and the C
stage lies inside one channel). Serial on purpose: a ``prange`` over channels measured no
better, and twice as slow on a loaded machine (a descheduled worker stalls the whole loop).
All f32 results are computed as one f64 operation rounded to f32: for +, -, *, / that equals
the IEEE f32 operation exactly (53 >= 2*24 + 2, so the double rounding is innocuous), which
is what the reference does.

Imported lazily: compiling (or loading the cache of) these kernels takes a moment that
``import simulator.cli`` should not pay.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_UP = np.uint8(1)    # element is an up-candidate (rounded down, x < hi)
_DOWN = np.uint8(2)  # element is a down-candidate (rounded up, x > lo)


@njit(cache=True, inline="always")
def _rne(v: float) -> float:
    """Round half to even (exact on f32 values held in f64)."""
    f = np.floor(v)
    d = v - f
    if d > 0.5 or (d == 0.5 and f % 2.0 != 0.0):
        f += 1.0
    return f


@njit(cache=True, inline="always")
def _top(p: np.ndarray, d: int, base: int, n: int, m: int, order: np.ndarray) -> int:
    """The first ``m`` positions of the stable descending order of ``p[d, base:base+n]`` (equal
    priorities: lower index first) into ``order``; returns how many were written."""
    cnt = 0
    for i in range(n):
        pi = p[d, base + i]
        if cnt == m:
            if not pi > p[d, base + order[m - 1]]:
                continue
            pos = m - 1
        else:
            pos = cnt
            cnt += 1
        # shift right every entry with a strictly lower priority (equal ones stay before i)
        while pos > 0 and p[d, base + order[pos - 1]] < pi:
            order[pos] = order[pos - 1]
            pos -= 1
        order[pos] = i
    return cnt


@njit(cache=True, inline="always")
def _last(p: np.ndarray, d: int, base: int, n: int) -> int:
    """The last position of the stable descending order: lowest priority, highest index."""
    best = 0
    lowest = p[d, base]
    for i in range(1, n):
        if p[d, base + i] <= lowest:
            lowest = p[d, base + i]
            best = i
    return best


@njit(cache=True, inline="always")
def _group_flip(q, t, r, e, flags, p, base: int, n: int, order, register: bool) -> None:
    """SPEC 4.3 on the group ``[base, base+n)``. For the K stage (``register``) the priorities
    are zeroed after sorting and the follow-up candidate is registered; the C stage's
    registrations are never read, so they are skipped. ``p[0]`` holds the up priorities,
    ``p[1]`` the down ones (indexed, not aliased: no reference counting per group)."""
    s = 0.0
    for i in range(n):
        s += t[base + i]
    s32 = np.float32(s)
    up = s32 < 0
    a = abs(np.float64(s32))
    k = int(_rne(a))
    over = k >= a
    same = 0 if up else 1
    m = min(k + 1, n)
    _top(p, same, base, n, m, order)
    last = _last(p, same, base, n) if register and k == 0 else 0
    if register:
        for i in range(n):
            p[0, base + i] = 0.0
            p[1, base + i] = 0.0
    bit = _UP if up else _DOWN
    step = 1.0 if up else -1.0
    for j in range(k):
        i = base + order[j]
        if flags[i] & bit:
            q[i] = r[i] + step
            t[i] = np.float32(e[i] + step)
        else:  # phantom flip (SPEC 6.3): the table holds r and a zero error
            q[i] = r[i]
            t[i] = 0.0
    if not register:
        return
    if over:
        i = base + (order[k - 1] if k > 0 else last)
        p[1 - same, i] = abs(t[i])
    else:
        i = base + order[k]
        p[same, i] = abs(t[i])


@njit(cache=True)
def squant_rows(w: np.ndarray, kernel: int, bits: int, k_on: bool, c_on: bool,
                q_out: np.ndarray, w_hat: np.ndarray, scale: np.ndarray,
                zero_point: np.ndarray) -> None:
    """Quantize ``w`` viewed as ``[O, I*kernel]`` (f32, C order), one row per output channel:
    per-channel grid (SPEC 3), E, optional K (kernel > 1) and C stages, clamp, dequantize."""
    rows, n = w.shape
    h = 2 ** (bits - 1)
    lo = -h
    hi = h - 1
    levels = float(2 ** bits - 1)
    floor_span = np.float64(np.float32(1e-8))
    k_stage = k_on and kernel > 1
    for o in range(rows):
        row = w[o]
        mn = np.float64(row[0])
        mx = mn
        for i in range(1, n):
            v = np.float64(row[i])
            if v < mn:
                mn = v
            if v > mx:
                mx = v
        span = np.float64(np.float32(mx - mn))
        if span < floor_span:
            span = floor_span
        s = np.float64(np.float32(levels / span))
        z = np.float64(np.float32(_rne(np.float64(np.float32(s * mn))) + h))
        scale[o] = s
        zero_point[o] = z
        q = np.empty(n, np.float64)
        r = np.empty(n, np.float64)
        e = np.empty(n, np.float32)
        t = np.empty(n, np.float32)
        p = np.zeros((2, n), np.float32)
        flags = np.zeros(n, np.uint8)
        for i in range(n):
            x = np.float64(np.float32(np.float64(np.float32(s * row[i])) - z))
            ri = _rne(x)
            ei = np.float32(ri - x)
            r[i] = ri
            q[i] = ri
            e[i] = ei
            t[i] = ei
            if ei < 0 and x < hi:
                flags[i] = _UP
                p[0, i] = -ei
            elif ei > 0 and x > lo:
                flags[i] = _DOWN
                p[1, i] = ei
        if k_stage or c_on:
            order = np.empty(n, np.int64)
            if k_stage:
                for g in range(0, n, kernel):
                    _group_flip(q, t, r, e, flags, p, g, kernel, order, True)
            if c_on:
                _group_flip(q, t, r, e, flags, p, 0, n, order, False)
        for i in range(n):
            v = min(max(q[i], lo), hi)
            q_out[o, i] = np.int8(v)
            w_hat[o, i] = np.float32(np.float64(np.float32(v + z)) / s)
