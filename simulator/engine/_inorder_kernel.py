"""The in-order event loop of :mod:`simulator.engine.core`, compiled with numba for large task
lists (hundreds of thousands of tasks and up): the same events in the same order, on arrays.

Imported only when a run is large enough to pay for numba (about half a second to import and
load the cached kernel); tests/test_engine_fast.py checks it against the Python loop and the
SimPy reference. Everything is int64: a transfer's occupancy (bytes over its channel's
bandwidth, rounded up, plus its cycles) and its completion tail (the channel latency plus the
task's own) are computed by the caller exactly as the Python loop computes them.

Events live on a binary heap ordered by (time, priority << 60 | creation id), SimPy's order; an
event's code is a unit to resume (>= 0) or ``~task`` for "task is scheduled". Units waiting for a
task form a linked list (``head``/``tail`` per task, ``nxt`` per unit) in the order they began to
wait.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_NORMAL = np.int64(1) << np.int64(60)


@njit(cache=True)
def _push(heap_t, heap_k, heap_c, size, t, k, c):
    """Insert (t, k) -> c; returns the (possibly grown) heap arrays and the new size."""
    if size == heap_t.size:
        grown_t = np.empty(2 * size, np.int64)
        grown_k = np.empty(2 * size, np.int64)
        grown_c = np.empty(2 * size, np.int64)
        grown_t[:size] = heap_t
        grown_k[:size] = heap_k
        grown_c[:size] = heap_c
        heap_t, heap_k, heap_c = grown_t, grown_k, grown_c
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        pt, pk = heap_t[parent], heap_k[parent]
        if pt < t or (pt == t and pk < k):
            break
        heap_t[i], heap_k[i], heap_c[i] = pt, pk, heap_c[parent]
        i = parent
    heap_t[i], heap_k[i], heap_c[i] = t, k, c
    return heap_t, heap_k, heap_c, size + 1


@njit(cache=True)
def _pop(heap_t, heap_k, heap_c, size):
    """Remove the first event; returns (time, code, new size)."""
    t0, c0 = heap_t[0], heap_c[0]
    size -= 1
    t, k, c = heap_t[size], heap_k[size], heap_c[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        other = child + 1
        if other < size and (heap_t[other] < heap_t[child] or (
                heap_t[other] == heap_t[child] and heap_k[other] < heap_k[child])):
            child = other
        ct, ck = heap_t[child], heap_k[child]
        if t < ct or (t == ct and k < ck):
            break
        heap_t[i], heap_k[i], heap_c[i] = ct, ck, heap_c[child]
        i = child
    if size > 0:
        heap_t[i], heap_k[i], heap_c[i] = t, k, c
    return t0, c0, size


@njit(cache=True)
def run_in_order(qptr, qtask, occ, chan, tail, dptr, dlist, nch):
    """Drain every unit's queue (``qtask[qptr[u]:qptr[u + 1]]``); returns start, end, busy,
    stall, channel busy cycles and the number of tasks scheduled (end -1: never ran)."""
    n = occ.size
    nq = qptr.size - 1
    start = np.full(n, -1, np.int64)
    end = np.full(n, -1, np.int64)
    pos = qptr[:-1].copy()
    phase = np.zeros(nq, np.int64)
    didx = np.zeros(nq, np.int64)
    free = np.zeros(nq, np.int64)
    ready = np.zeros(nq, np.int64)
    busy = np.zeros(nq, np.int64)
    stall = np.zeros(nq, np.int64)
    channel_free = np.zeros(max(nch, 1), np.int64)
    channel_busy = np.zeros(max(nch, 1), np.int64)
    head = np.full(n, -1, np.int64)
    last_waiter = np.full(n, -1, np.int64)
    nxt = np.full(nq, -1, np.int64)
    cap = max(16, 2 * nq)
    heap_t = np.zeros(cap, np.int64)
    heap_k = np.zeros(cap, np.int64)
    heap_c = np.zeros(cap, np.int64)
    for u in range(nq):   # the units' starts: urgent, at 0, in unit order
        heap_k[u] = u
        heap_c[u] = u
    size = nq
    eid = nq
    count = 0
    while size > 0:
        now, code, size = _pop(heap_t, heap_k, heap_c, size)
        if code >= 0:
            waiter = code
            single = True
        else:
            task = ~code
            waiter = head[task]
            head[task] = -1
            single = False
        while waiter >= 0:
            u = waiter
            waiter = -1 if single else nxt[u]
            # ---- unit u's process from where it waited, until it waits again (or is done)
            p = pos[u]
            ph = phase[u]
            stop = qptr[u + 1]
            while True:
                if ph == 0:
                    if p == stop:
                        break
                    i = qtask[p]
                    free_at = now
                    rdy = now
                    k = dptr[i]
                else:
                    i = qtask[p]
                    free_at = free[u]
                    rdy = ready[u]
                    k = didx[u]
                    if ph == 1:
                        e = end[dlist[k]]
                        if e > rdy:
                            rdy = e
                        k += 1
                c = chan[i]
                suspended = False
                if ph != 2:
                    while k < dptr[i + 1]:
                        d = dlist[k]
                        e = end[d]
                        if e < 0:   # wait until d is scheduled
                            if head[d] < 0:
                                head[d] = u
                            else:
                                nxt[last_waiter[d]] = u
                            last_waiter[d] = u
                            nxt[u] = -1
                            pos[u], phase[u], didx[u], free[u], ready[u] = p, 1, k, free_at, rdy
                            suspended = True
                            break
                        if e > rdy:
                            rdy = e
                        k += 1
                    if suspended:
                        break
                    if c >= 0 and rdy > now:   # a transfer asks for its channel when ready
                        heap_t, heap_k, heap_c, size = _push(heap_t, heap_k, heap_c, size, rdy,
                                                             _NORMAL | eid, u)
                        eid += 1
                        pos[u], phase[u], free[u], ready[u] = p, 2, free_at, rdy
                        break
                if c < 0:
                    st = rdy
                else:
                    st = channel_free[c]
                    if rdy > st:
                        st = rdy
                    channel_free[c] = st + occ[i]
                    channel_busy[c] += occ[i]
                hold = st + occ[i]
                end[i] = hold + tail[i]
                busy[u] += occ[i]
                start[i] = st
                stall[u] += st - free_at
                count += 1
                if head[i] >= 0:   # fire "i is scheduled"
                    heap_t, heap_k, heap_c, size = _push(heap_t, heap_k, heap_c, size, now,
                                                         _NORMAL | eid, ~i)
                    eid += 1
                p += 1
                ph = 0
                if hold > now:
                    heap_t, heap_k, heap_c, size = _push(heap_t, heap_k, heap_c, size, hold,
                                                         _NORMAL | eid, u)
                    eid += 1
                    pos[u], phase[u] = p, 0
                    break
    return start, end, busy, stall, channel_busy[:nch], count
