"""Geometry of implicit (channel-first) im2col for a convolution lowered to GEMMs.

The GEMM's K dimension is ordered (filter position, channel): k = (fy*KW + fx)*Cg + c, so a fold
of array rows covers whole filter positions or a block of channels of one position. When channels
are few, each array row has its own address counter, so a fold packs up to min(R // Cg, KH*KW)
positions, across filter rows too: a depthwise 3x3 (Cg = 1) takes one 9-row fold, as explicit
im2col does, instead of one fold per filter row. The A data a tile needs is not
a block of a lowered matrix but the rows of the input feature map its output pixels read, for
the channels its K range covers; a row serves every filter position and every overlapping
window, so it is loaded once and re-read from SRAM by address counters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workloads.graph import Graph, Op


@dataclass(frozen=True)
class ConvGeometry:
    batch: int
    channels: int      # per group
    height: int
    width: int
    out_h: int
    out_w: int
    kh: int
    kw: int
    stride_h: int
    dilation_h: int
    pad_top: int

    @classmethod
    def of(cls, graph: Graph, op: Op) -> ConvGeometry:
        n, c, h, w = graph.tensor(op.inputs[0]).shape
        _, _, oh, ow = graph.tensor(op.outputs[0]).shape
        kh, kw = op.attrs["kernel_shape"]
        group = int(op.attrs.get("group", 1))
        return cls(n, c // group, h, w, oh, ow, kh, kw, op.attrs.get("strides", [1, 1])[0],
                   op.attrs.get("dilations", [1, 1])[0], op.attrs.get("pads", [0, 0, 0, 0])[0])

    def positions_per_fold(self, rows: int) -> int:
        """Filter positions packed onto one fold of ``rows`` array rows (1 if channels fill it):
        as many as fit, balanced so the folds are equal (9 on 4-position folds: 3, 3, 3)."""
        taps = self.kh * self.kw
        fit = max(1, min(rows // self.channels, taps)) if self.channels <= rows else 1
        return math.ceil(taps / math.ceil(taps / fit))

    def row_folds(self, rows: int) -> list[tuple[int, int]]:
        """(k0, size) of each fold over K = KH*KW*Cg in (position, channel) order: contiguous,
        disjoint and covering K, so accumulating the folds' GEMMs gives the convolution."""
        cg = self.channels
        folds = []
        if cg <= rows:
            pack, taps = self.positions_per_fold(rows), self.kh * self.kw
            for pos in range(0, taps, pack):
                folds.append((pos * cg, min(pack, taps - pos) * cg))
        else:
            for pos in range(self.kh * self.kw):
                for c0 in range(0, cg, rows):
                    folds.append((pos * cg + c0, min(rows, cg - c0)))
        return folds

    def region_tiles(self, m0: int, dm: int, k0: int, dk: int, rows: int
                     ) -> list[tuple[tuple, int]]:
        """The input the output pixels [m0, m0+dm) read for K range [k0, k0+dk), as tiles of one
        input row by one channel block (blocks of ``rows`` channels, the array's height):
        (key, elements) each. Overlapping windows share row tiles, so a row already on chip
        is not fetched again."""
        cg = self.channels
        first_pos, last_pos = k0 // cg, (k0 + dk - 1) // cg
        c_lo, c_hi = (k0 % cg, (k0 + dk - 1) % cg) if first_pos == last_pos else (0, cg - 1)
        block = min(rows, cg)
        blocks = range(c_lo // block, c_hi // block + 1)
        fy_lo, fy_hi = first_pos // self.kw, last_pos // self.kw  # the filter rows it spans
        tiles = []
        for out_row in range(m0 // self.out_w, (m0 + dm - 1) // self.out_w + 1):
            image, oy = divmod(out_row, self.out_h)
            top = oy * self.stride_h - self.pad_top
            for fy in range(fy_lo, fy_hi + 1):
                y = top + fy * self.dilation_h
                if 0 <= y < self.height:
                    for b in blocks:
                        size = min(block, cg - b * block)
                        tiles.append(((image, y, b), self.width * size))
        return list(dict.fromkeys(tiles))
