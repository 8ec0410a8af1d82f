"""The systolic fold loop of :mod:`simulator.lower.systolic`, compiled with numba for large GEMMs:
the same instructions in the same order, written into preallocated columns.

Imported only once a lowering has enough folds to pay for numba (about half a second to import
and load the cached kernel); tests/test_fold_kernel.py checks it against the Python loop, trace
for trace and SRAM state for SRAM state, on random layers and configs.

State, as the Python loop keeps it:
- an SRAM is a FIFO of tiles (tiles are only ever added at the back, under a key not present,
  and evicted from the front), stored as rows ``state[sram, slot]`` of (tensor code, group, x,
  y, bytes, release); ``meta[sram]`` holds (head, tail, bytes used, capacity), the live slots
  being head..tail-1. A key of another form than (tensor, group, x, y) has a negative tensor
  code: it takes space and is evicted in turn, but no lookup finds it. Release -1 means none.
- ``table`` maps keys to slots: open addressing with linear probing over ``sram * stride +
  slot`` entries (-1 empty), kept at most half full (the loop stops to have it grown).
- ``last_write`` holds the last instruction writing each of the GEMM's tensors to DRAM (-1:
  none); ``keys[3 + role]`` is each role's entry (A, B, C, C's partial sums), so that roles
  naming the same tensor share one.

Output, per instruction: ``cols`` (kind 0 LOAD/1 GEMM/2 STORE, tensor role 0 A/1 B/2 C/3 partial
sums, the two byte counts, its dependency count), a GEMM's dims, and the dependencies (sorted,
unique). The loop stops at a fold boundary when the columns might not hold one more fold or the
table needs to grow, and leaves in ``position`` where to go on from.

It is one function on purpose: numba counts references on every array handed to a call, which
cost more than the work itself here.
"""

from __future__ import annotations

import numpy as np
from numba import njit

TENSOR, GROUP, X, Y, NBYTES, RELEASE = range(6)
FIELDS = 6
HEAD, TAIL, USED, CAPACITY = range(4)
KIND, ROLE, READ, WRITE, NDEPS = range(5)
LOAD, GEMM, STORE = 0, 1, 2
ROLE_A, ROLE_B, ROLE_C, ROLE_PSUM = range(4)
#: at most this many instructions per fold (LOADs of A, B and partial sums; GEMM; STORE)
PER_FOLD = 5
#: why the loop returned
DONE, FULL, GROW = 0, 1, 2
_MIX = 0x9E3779B97F4A7C15


@njit(cache=True)
def _hash(s, t, g, x, y, mask):
    """Home position of SRAM ``s``'s tile (t, g, x, y) in a table of ``mask + 1`` entries."""
    h = np.uint64(s)
    h = (h ^ np.uint64(t)) * np.uint64(_MIX)
    h ^= h >> np.uint64(29)
    h = (h ^ np.uint64(g)) * np.uint64(_MIX)
    h ^= h >> np.uint64(29)
    h = (h ^ np.uint64(x)) * np.uint64(_MIX)
    h ^= h >> np.uint64(29)
    h = (h ^ np.uint64(y)) * np.uint64(_MIX)
    h ^= h >> np.uint64(29)
    return np.int64(h & np.uint64(mask))


@njit(cache=True)
def fold_loop(geometry, b_width, rows, chunks, keys, last_write, state, meta, table, position,
              base, cols, dims, deps, scratch):
    """Run one GEMM's fold loop from ``position`` (column fold, row fold, chunk); returns
    (instructions, dims values, deps, status: DONE, FULL or GROW).

    ``geometry`` = (dataflow: 0 os, 1 ws, 2 is; C; Sc; group; m offset; n offset; pack;
    A bytes; B bytes if whole, else -1 and ``b_width`` is the fractional width; C bytes;
    partial sums on chip 0/1). ``rows``/``chunks`` are the (origin, extent) of the row folds and
    T chunks; ``keys`` the tensor codes of A, B and C in SRAM keys, then each role's
    ``last_write`` entry. The caller sizes ``deps`` for the live tiles plus ten per fold,
    ``state`` for the live tiles plus one per fold, ``scratch`` for the live tiles plus four."""
    df, C, sc, group = geometry[0], geometry[1], geometry[2], geometry[3]
    m_off, n_off, pack = geometry[4], geometry[5], geometry[6]
    a_bytes, b_int, c_bytes, psum_on_chip = geometry[7], geometry[8], geometry[9], geometry[10]
    os_flow, ws_flow = df == 0, df == 1
    width = 13 if pack > 1 else 12
    stride = state.shape[1]
    n_srams = state.shape[0]
    # live slots to the front, then every live key into the table
    for s in range(n_srams):
        head, live = meta[s, HEAD], meta[s, TAIL] - meta[s, HEAD]
        if head > 0:
            for j in range(live):
                for f in range(FIELDS):
                    state[s, j, f] = state[s, head + j, f]
        meta[s, HEAD] = 0
        meta[s, TAIL] = live
    table[:] = -1
    mask = table.size - 1
    count = 0
    for s in range(n_srams):
        for j in range(meta[s, TAIL]):
            if state[s, j, TENSOR] >= 0:
                h = _hash(s, state[s, j, TENSOR], state[s, j, GROUP], state[s, j, X],
                          state[s, j, Y], mask)
                while table[h] >= 0:
                    h = (h + 1) & mask
                table[h] = s * stride + j
                count += 1
    n_rows, n_chunks = rows.shape[0], chunks.shape[0]
    last_row, last_chunk = n_rows - 1, n_chunks - 1
    cap = cols.shape[0]
    n = 0
    nv = 0
    nd = 0
    cf, i, ci = position[0], position[1], position[2]
    while cf * C < sc:
        c0 = cf * C
        c = min(C, sc - c0)
        while i < n_rows:
            r0, r = rows[i, 0], rows[i, 1]
            last_fold = i == last_row
            while ci < n_chunks:
                status = FULL if n + PER_FOLD > cap else GROW if 2 * (count + 3) > table.size \
                    else DONE
                if status != DONE:
                    position[0], position[1], position[2] = cf, i, ci
                    return n, nv, nd, status
                t0, tl = chunks[ci, 0], chunks[ci, 1]
                first, last = ci == 0, ci == last_chunk
                if os_flow:
                    m0, n0, k0, dm, dn, dk = r0, c0, t0, r, c, tl
                elif ws_flow:
                    m0, n0, k0, dm, dn, dk = t0, c0, r0, tl, c, r
                else:
                    m0, n0, k0, dm, dn, dk = c0, t0, r0, c, tl, r
                # the three tiles in the Python loop's order: A, B, then the output (found,
                # loaded back as partial sums, or allocated); their GEMM waits in scratch
                gd = 0
                out_bytes = 0
                a_slot = b_slot = o_slot = -1
                for s in range(3):
                    if s == 0:
                        t, kx, ky, nbytes, which, load = keys[0], m0, k0, dm * dk * a_bytes, \
                            ROLE_A, True
                    elif s == 1:
                        t, kx, ky, which, load = keys[1], k0, n0, ROLE_B, True
                        nbytes = dk * dn * b_int if b_int >= 0 else \
                            np.int64(np.ceil(dk * dn * b_width))
                    else:
                        t, which, load = keys[2], ROLE_PSUM, not os_flow and i > 0
                        if os_flow:
                            kx, ky, nbytes = r0, c0, r * c * c_bytes
                        else:
                            kx, ky, nbytes = c0, t0, tl * c * c_bytes
                        out_bytes = nbytes
                    # look the tile up
                    slot = -1
                    h = _hash(s, t, group, kx, ky, mask)
                    while table[h] >= 0:
                        v = table[h]
                        vs = v // stride
                        vj = v - vs * stride
                        if (vs == s and state[s, vj, TENSOR] == t and state[s, vj, GROUP] == group
                                and state[s, vj, X] == kx and state[s, vj, Y] == ky):
                            slot = vj
                            break
                        h = (h + 1) & mask
                    if slot < 0 and (load or s == 2):
                        start = nd
                        # evict oldest tiles until it fits; their releases are waited for
                        while meta[s, TAIL] > meta[s, HEAD] and \
                                meta[s, USED] + nbytes > meta[s, CAPACITY]:
                            j = meta[s, HEAD]
                            meta[s, HEAD] = j + 1
                            meta[s, USED] -= state[s, j, NBYTES]
                            if state[s, j, TENSOR] >= 0:   # out of the table (backward shift)
                                hole = _hash(s, state[s, j, TENSOR], state[s, j, GROUP],
                                             state[s, j, X], state[s, j, Y], mask)
                                while table[hole] != s * stride + j:
                                    hole = (hole + 1) & mask
                                k = hole
                                while True:
                                    k = (k + 1) & mask
                                    v = table[k]
                                    if v < 0:
                                        break
                                    vs = v // stride
                                    vj = v - vs * stride
                                    home = _hash(vs, state[vs, vj, TENSOR], state[vs, vj, GROUP],
                                                 state[vs, vj, X], state[vs, vj, Y], mask)
                                    # v may fill the hole unless its home is in (hole, k]
                                    if (hole <= k and (home <= hole or home > k)) or \
                                            (hole > k and home <= hole and home > k):
                                        table[hole] = v
                                        hole = k
                                table[hole] = -1
                                count -= 1
                            release = state[s, j, RELEASE]
                            if release >= 0:
                                if load:
                                    deps[nd] = release
                                    nd += 1
                                else:
                                    scratch[gd] = release
                                    gd += 1
                        slot = meta[s, TAIL]
                        meta[s, TAIL] = slot + 1
                        meta[s, USED] += nbytes
                        state[s, slot, TENSOR] = t
                        state[s, slot, GROUP] = group
                        state[s, slot, X] = kx
                        state[s, slot, Y] = ky
                        state[s, slot, NBYTES] = nbytes
                        state[s, slot, RELEASE] = -1
                        h = _hash(s, t, group, kx, ky, mask)
                        while table[h] >= 0:
                            h = (h + 1) & mask
                        table[h] = s * stride + slot
                        count += 1
                        if load:
                            producer = last_write[keys[3 + which]]
                            if producer >= 0:
                                deps[nd] = producer
                                nd += 1
                            # sorted, unique (insertion sort: a few entries)
                            for a in range(start + 1, nd):
                                v = deps[a]
                                b = a - 1
                                while b >= start and deps[b] > v:
                                    deps[b + 1] = deps[b]
                                    b -= 1
                                deps[b + 1] = v
                            end = start
                            for a in range(start, nd):
                                if end == start or deps[end - 1] != deps[a]:
                                    deps[end] = deps[a]
                                    end += 1
                            nd = end
                            state[s, slot, RELEASE] = base + n
                            cols[n, KIND] = LOAD
                            cols[n, ROLE] = which
                            cols[n, READ] = nbytes
                            cols[n, WRITE] = nbytes
                            cols[n, NDEPS] = nd - start
                            n += 1
                    if s == 0:
                        a_slot = slot
                    elif s == 1:
                        b_slot = slot
                    else:
                        o_slot = slot
                a_read = 0 if (not first and not os_flow and not ws_flow) else dm * dk
                b_read = 0 if (ws_flow and not first) else dk * dn
                sram_read = a_read * a_bytes + (
                    b_read * b_int if b_int >= 0 else np.int64(np.ceil(b_read * b_width)))
                if not os_flow and i > 0:
                    sram_read += out_bytes
                # the GEMM: waits for its tiles' last users (sorted, unique, none dropped)
                scratch[gd] = state[0, a_slot, RELEASE]
                scratch[gd + 1] = state[1, b_slot, RELEASE]
                scratch[gd + 2] = state[2, o_slot, RELEASE]
                gd += 3
                for a in range(1, gd):
                    v = scratch[a]
                    b = a - 1
                    while b >= 0 and scratch[b] > v:
                        scratch[b + 1] = scratch[b]
                        b -= 1
                    scratch[b + 1] = v
                start = nd
                for a in range(gd):
                    v = scratch[a]
                    if v >= 0 and (nd == start or deps[nd - 1] != v):
                        deps[nd] = v
                        nd += 1
                gemm = base + n
                cols[n, KIND] = GEMM
                cols[n, ROLE] = ROLE_C
                cols[n, READ] = sram_read
                cols[n, WRITE] = out_bytes if (last or not os_flow) else 0
                cols[n, NDEPS] = nd - start
                dims[nv] = r
                dims[nv + 1] = c
                dims[nv + 2] = tl
                dims[nv + 3] = 1 if first else 0
                dims[nv + 4] = 1 if last else 0
                dims[nv + 5] = group
                dims[nv + 6] = m0 + m_off
                dims[nv + 7] = n0 + n_off
                dims[nv + 8] = k0
                dims[nv + 9] = dm
                dims[nv + 10] = dn
                dims[nv + 11] = dk
                if pack > 1:
                    dims[nv + 12] = pack
                nv += width
                n += 1
                state[0, a_slot, RELEASE] = gemm
                state[1, b_slot, RELEASE] = gemm
                state[2, o_slot, RELEASE] = gemm
                if (last if os_flow else (last_fold or psum_on_chip == 0)):
                    # final outputs, or (ws/is, partial sums off chip) a spill
                    which = ROLE_C if (os_flow or last_fold) else ROLE_PSUM
                    store = base + n
                    cols[n, KIND] = STORE
                    cols[n, ROLE] = which
                    cols[n, READ] = out_bytes
                    cols[n, WRITE] = out_bytes
                    cols[n, NDEPS] = 1
                    deps[nd] = gemm
                    nd += 1
                    n += 1
                    state[2, o_slot, RELEASE] = store
                    last_write[keys[3 + which]] = store
                ci += 1
            ci = 0
            i += 1
        i = 0
        cf += 1
    position[0], position[1], position[2] = cf, i, ci
    return n, nv, nd, DONE
