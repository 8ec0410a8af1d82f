"""Run one GEMM's fold loop with the compiled kernel (:mod:`simulator.lower._fold_kernel`):
the lowering's SRAM contents and ``last_write`` go into arrays, the kernel writes instruction
columns in bounded batches that go straight into the columnar trace, and the SRAMs come back.

The instructions, their order and the SRAM state afterwards are those of the Python loop in
:meth:`SystolicLowering._lower_gemm` (tests/test_fold_kernel.py compares them); which loop runs
is only a matter of speed.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from simulator.lower import _fold_kernel as kernel
from simulator.lower.sram import Sram, Tile
from simulator.trace.table import NamePool

if TYPE_CHECKING:
    from simulator.trace.table import InstructionTable
    from workloads.ops import GemmShape

_DATAFLOW = {"os": 0, "ws": 1, "is": 2}


class _Keys:
    """SRAM keys as int64 rows: (tensor, group, x, y) with the tensor's code; any other key
    is kept aside and gets a negative code (it takes space and is evicted, never matched)."""

    def __init__(self) -> None:
        self.tensor = NamePool()   # tensor name -> code
        self.opaque: list[tuple] = []

    def row(self, key: tuple) -> tuple[int, int, int, int]:
        if (len(key) == 4 and type(key[0]) is str and type(key[1]) is int
                and type(key[2]) is int and type(key[3]) is int):
            return self.tensor(key[0]), key[1], key[2], key[3]
        self.opaque.append(key)
        return -len(self.opaque), 0, 0, 0

    def key(self, code: int, group: int, x: int, y: int) -> tuple:
        return (self.tensor.names[code], group, x, y) if code >= 0 else self.opaque[-code - 1]


def _sram_state(srams: tuple[Sram, ...], keys: _Keys, slots: int):
    """The SRAMs' tiles as ``state[sram, slot]`` rows with room for ``slots`` more, and
    their ``meta`` (head, tail, bytes used, capacity)."""
    live = max(len(s.tiles) for s in srams)
    state = np.empty((len(srams), live + slots, kernel.FIELDS), dtype=np.int64)
    meta = np.zeros((len(srams), 4), dtype=np.int64)
    for s, sram in enumerate(srams):
        rows = [(*keys.row(key), tile.nbytes, -1 if tile.release is None else tile.release)
                for key, tile in sram.tiles.items()]
        if rows:
            state[s, :len(rows)] = rows
        meta[s] = 0, len(rows), sram.used, sram.capacity
    return state, meta


def _restore(srams: tuple[Sram, ...], keys: _Keys, state, meta) -> None:
    """Put the SRAM contents back as the Python loop keeps them."""
    for s, sram in enumerate(srams):
        head, tail = meta[s, kernel.HEAD], meta[s, kernel.TAIL]
        tensor, group, x, y, nbytes, release = state[s, head:tail].T.tolist()
        sram.tiles = OrderedDict(
            (keys.key(*k), Tile(b, None if r < 0 else r))
            for *k, b, r in zip(tensor, group, x, y, nbytes, release, strict=True))
        sram.used = int(meta[s, kernel.USED])


def _table_size(entries: int) -> int:
    """A power of two at least four times ``entries`` (the kernel keeps it under half full)."""
    size = 64
    while size < 4 * entries:
        size *= 2
    return size


def fold_compiled(srams: tuple[Sram, Sram, Sram], last_writes: dict[str, int],
                  out: InstructionTable, dataflow: str, C: int, g: GemmShape, layer: str,
                  a_src: str, group: int, rows: list[tuple[int, int]],
                  chunks: list[tuple[int, int]], pack: int,
                  psum_on_chip: bool, origin: tuple[int, int], sc: int,
                  kinds: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]],
                  batch: int) -> None:
    """:meth:`SystolicLowering._lower_gemm`'s fold loop, compiled (see the module doc), on
    the lowering's (ifmap, filter, ofmap) SRAMs, its ``last_write`` and its trace table
    ``out``, for an array of ``C`` columns. ``kinds`` are the (op, unit, dim keys, byte keys)
    of LOAD, GEMM and STORE; at most ``batch`` instructions are held before they go into the
    trace."""
    keys = _Keys()
    folds = -(-sc // C) * len(rows) * len(chunks)
    cap = min(batch, folds * kernel.PER_FOLD)
    psum = f"{g.c_tensor}.psum"
    roles = (a_src, g.b_tensor, g.c_tensor, psum)
    slot_of: dict[str, int] = {}
    lw_slots = [slot_of.setdefault(name, len(slot_of)) for name in roles]
    last_write = np.array([last_writes.get(name, -1) for name in slot_of], dtype=np.int64)
    key_array = np.array([keys.tensor(a_src), keys.tensor(g.b_tensor), keys.tensor(g.c_tensor),
                          *lw_slots], dtype=np.int64)
    b_bytes = g.b_bytes
    b_int = int(b_bytes) if float(b_bytes).is_integer() else -1
    geometry = np.array([_DATAFLOW[dataflow], C, sc, group, origin[0],
                         origin[1], pack, g.a_bytes, b_int, g.c_bytes, int(psum_on_chip)],
                        dtype=np.int64)
    rows_a = np.array(rows, dtype=np.int64).reshape(-1, 2)
    chunks_a = np.array(chunks, dtype=np.int64).reshape(-1, 2)
    cols = np.empty((cap, 5), dtype=np.int64)
    dims = np.empty(cap * len(kinds[kernel.GEMM][2]), dtype=np.int64)
    state, meta = _sram_state(srams, keys, cap + 8)
    position = np.zeros(3, dtype=np.int64)
    table = np.empty(_table_size(int(meta[:, kernel.TAIL].sum()) + 3), dtype=np.int64)
    deps = scratch = np.empty(0, dtype=np.int64)
    while True:
        live = meta[:, kernel.TAIL] - meta[:, kernel.HEAD]
        if state.shape[1] < int(live.max()) + cap + 8:   # more tiles live than at the start
            grown = np.empty((len(srams), int(live.max()) + cap + 8, kernel.FIELDS),
                             dtype=np.int64)
            for s in range(len(srams)):
                grown[s, :live[s]] = state[s, meta[s, kernel.HEAD]:meta[s, kernel.TAIL]]
            state = grown
            meta[:, kernel.TAIL] = live
            meta[:, kernel.HEAD] = 0
        if deps.size < int(live.sum()) + 10 * cap + 16:
            deps = np.empty(int(live.sum()) + 10 * cap + 16, dtype=np.int64)
        if scratch.size < state.shape[1] + 4:
            scratch = np.empty(state.shape[1] + 4, dtype=np.int64)
        n, nv, nd, status = kernel.fold_loop(
            geometry, float(b_bytes), rows_a, chunks_a, key_array, last_write, state, meta,
            table, position, len(out), cols, dims, deps, scratch)
        out.extend_kinds(kinds, cols[:n, kernel.KIND], layer, cols[:n, kernel.ROLE],
                         dims[:nv], cols[:n, kernel.READ:kernel.WRITE + 1].ravel(), deps[:nd],
                         cols[:n, kernel.NDEPS], tensor_names=roles)
        if status == kernel.DONE:
            break
        if status == kernel.GROW:
            table = np.empty(2 * table.size, dtype=np.int64)
    _restore(srams, keys, state, meta)
    for name, slot in slot_of.items():
        if last_write[slot] >= 0:
            last_writes[name] = int(last_write[slot])
