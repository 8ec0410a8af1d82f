"""A SCALE-Sim layer mapped onto the array: operand matrix sizes, folds and fold length.

This is SCALE-Sim 3.0.0's own mapping (../shared/reference/scalesim/SEMANTICS.md §3.1-3.3): the
output size is ceil((H - F + S) / S) with no padding, a ``DP`` layer is split into one layer per
channel, and every fold pays the fill and drain of the whole array.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from simulator.hw.fold import fold_cycles

if TYPE_CHECKING:
    from simulator.scalesim.setup import ScaleSimSetup
    from workloads.topology import TopologyLayer

#: (Sr, Sc, T) per dataflow: SCALE-Sim's mapping (SEMANTICS.md §3.2), the same table as the
#: native model's ``simulator.config.systolic.SPATIAL`` (a test checks), kept here so that
#: ``archsim scalesim`` does not import the pydantic config models
SPATIAL = {"os": ("m", "n", "k"), "ws": ("k", "n", "m"), "is": ("k", "m", "n")}


class ScaleSimLayer(NamedTuple):
    """One SCALE-Sim layer (a ``DP`` row's channels are layers of their own) and its mapping.
    (Named tuples, not dataclasses, on this path: ``dataclasses`` costs ~10 ms of start-up.)"""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    num_filters: int
    stride: int
    rows: int  # R: array rows
    cols: int  # C: array columns
    dataflow: str

    @property
    def out_h(self) -> int:
        return -(-(self.ifmap_h - self.filter_h + self.stride) // self.stride)

    @property
    def out_w(self) -> int:
        return -(-(self.ifmap_w - self.filter_w + self.stride) // self.stride)

    @property
    def m(self) -> int:
        """Output pixels (IFMAP operand rows)."""
        return self.out_h * self.out_w

    @property
    def n(self) -> int:
        return self.num_filters

    @property
    def k(self) -> int:
        """Window size: filter_h * filter_w * channels."""
        return self.filter_h * self.filter_w * self.channels

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k

    @property
    def spatial(self) -> tuple[int, int, int]:
        """(Sr, Sc, T): what maps on the rows, on the columns, and what streams in time."""
        dims = {"m": self.m, "n": self.n, "k": self.k}
        sr, sc, t = (dims[d] for d in SPATIAL[self.dataflow])
        return sr, sc, t

    @property
    def folds(self) -> tuple[int, int]:
        """(Fr, Fc): row folds and column folds."""
        sr, sc, _ = self.spatial
        return -(-sr // self.rows), -(-sc // self.cols)

    @property
    def fold_cycles(self) -> int:
        """L: the length of one fold's demand (T + R + C - 2 for os, T + 2R + C - 2 otherwise)."""
        return fold_cycles(self.spatial[2], self.rows, self.cols, self.dataflow)

    @property
    def demand_rows(self) -> int:
        """Rows of SCALE-Sim's cycle-by-cycle demand matrix: Fr * Fc * L."""
        fr, fc = self.folds
        return fr * fc * self.fold_cycles


def expand_layers(rows: list[TopologyLayer], setup: ScaleSimSetup) -> list[ScaleSimLayer]:
    """Topology rows -> SCALE-Sim layers, splitting ``DP`` rows into ``<name>Channel_<i>``."""
    layers = []
    for row in rows:
        base = dict(ifmap_h=row.ifmap_h, ifmap_w=row.ifmap_w, filter_h=row.filter_h,
                    filter_w=row.filter_w, num_filters=row.num_filters, stride=row.stride,
                    rows=setup.rows, cols=setup.cols, dataflow=setup.dataflow)
        if row.depthwise:
            layers += [ScaleSimLayer(name=f"{row.name}Channel_{i}", channels=1, **base)
                       for i in range(row.channels)]
        else:
            layers.append(ScaleSimLayer(name=row.name, channels=row.channels, **base))
    return layers


def address_space(layer: ScaleSimLayer, operand: str) -> int:
    """Number of distinct relative addresses an operand can take."""
    if operand == "ifmap":
        return layer.ifmap_h * layer.ifmap_w * layer.channels
    if operand == "filter":
        return layer.k * layer.n
    return layer.m * layer.n
