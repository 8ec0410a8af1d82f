"""The operand SRAMs of the systolic lowering: whole tiles, evicted oldest first.

Shared by the Python fold loop (:mod:`simulator.lower.systolic`) and the compiled one
(:mod:`simulator.lower.fold_compiled`), which turns this state into arrays and back.
"""

from __future__ import annotations

from collections import OrderedDict


class Tile:
    """A tile resident in an SRAM: its size and the last instruction that uses it."""

    __slots__ = ("nbytes", "release")

    def __init__(self, nbytes: int, release: int | None) -> None:
        self.nbytes = nbytes
        self.release = release


class Sram:
    """An operand SRAM of ``capacity`` bytes holding whole tiles, evicted oldest first.

    Tiles are at most half the capacity, so one tile can be filled while another is in use:
    double buffering, and more when tiles are small. A tile still resident when it is needed
    again is reused, so an operand that fits on chip is read from DRAM once.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.half = max(1, capacity // 2)
        self.tiles: OrderedDict[tuple, Tile] = OrderedDict()
        self.used = 0

    def allocate(self, key: tuple, nbytes: int) -> tuple[Tile, list[int]]:
        """Make room (evicting oldest tiles) and return the new tile and the instructions that
        must finish before its space can be overwritten."""
        waits: list[int] = []
        while self.tiles and self.used + nbytes > self.capacity:
            _, old = self.tiles.popitem(last=False)
            self.used -= old.nbytes
            if old.release is not None:
                waits.append(old.release)
        tile = Tile(nbytes, None)
        self.tiles[key] = tile
        self.used += nbytes
        return tile, waits
