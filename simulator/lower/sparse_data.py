"""The operands' zero patterns for the sparse tensor core: from real values, or drawn.

A tensor with ``values`` gives its bitmap exactly (``values != 0``). A tensor without values
gets a seeded draw at its ``density`` (``Tensor.density``): ``uniform`` places non-zeros
independently at random, ``rows``/``cols`` keep whole rows/columns of the GEMM operand (e.g.
pruned filters), ``block`` keeps whole 32x32 blocks. The seed of a draw is derived from the
tensor's name and the op's ``sparsity.seed`` so the same inputs always give the same bitmaps.
A convolution's A operand is its input's bitmap lowered by im2col (padding counts as zeros).
"""

from __future__ import annotations

import zlib

import numpy as np

from simulator.errors import WorkloadError
from workloads.graph import SPARSITY_PATTERNS as PATTERNS
from workloads.graph import Graph, Op


def _rng(name: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(name.encode()), seed])


def draw_mask(shape: tuple[int, int], density: float, pattern: str, name: str, seed: int
              ) -> np.ndarray:
    """A bool matrix with about ``density`` non-zeros placed by ``pattern`` (seeded)."""
    rng = _rng(name, seed)
    rows, cols = shape
    if pattern == "uniform":  # 16-bit draws: a 1/65536 density grain, 8x faster than floats
        threshold = int(round(density * 65536))
        if threshold >= 65536:
            return np.ones(shape, bool)
        return rng.integers(0, 65536, size=shape, dtype=np.uint16) < np.uint16(threshold)
    if pattern == "rows":
        return np.repeat((rng.random(rows) < density)[:, None], cols, axis=1)
    if pattern == "cols":
        return np.repeat((rng.random(cols) < density)[None, :], rows, axis=0)
    if pattern == "block":
        keep = rng.random((-(-rows // 32), -(-cols // 32))) < density
        return np.kron(keep, np.ones((32, 32), bool))[:rows, :cols].astype(bool)
    raise WorkloadError(f"unknown sparsity pattern {pattern!r}; accepted: {', '.join(PATTERNS)}")


def _settings(op: Op) -> tuple[dict, int]:
    sp = op.attrs.get("sparsity") or {}
    return dict(sp.get("pattern") or {}), int(sp.get("seed", 0))


def tensor_nonzero(graph: Graph, name: str, shape2d: tuple[int, int], op: Op, role: str
                   ) -> np.ndarray | None:
    """The 2-D operand's non-zero mask, or ``None`` when it is known to be fully dense."""
    t = graph.tensor(name)
    if t.values is not None:
        return np.asarray(t.values).reshape(shape2d) != 0
    if t.density >= 1.0:
        return None
    patterns, seed = _settings(op)
    return draw_mask(shape2d, t.density, patterns.get(role, "uniform"), name, seed)


def operand_nonzero(graph: Graph, name: str, op: Op, role: str) -> np.ndarray | None:
    """An n-d operand's non-zero mask (values, or a seeded draw at its density over the
    matrix of its last axis), ``None`` when it is fully dense."""
    t = graph.tensor(name)
    if t.values is not None:
        return np.asarray(t.values) != 0
    if t.density >= 1.0:
        return None
    patterns, seed = _settings(op)
    flat = (int(np.prod(t.shape[:-1])), t.shape[-1]) if len(t.shape) > 1 else (1, t.shape[0])
    return draw_mask(flat, t.density, patterns.get(role, "uniform"), name, seed).reshape(t.shape)


def im2col_mask(x: np.ndarray, op: Op, group: int, groups: int) -> np.ndarray:
    """The lowered (pixels x C*KH*KW) bitmap of a convolution input's bitmap ``x`` (NCHW)."""
    kh, kw = op.attrs["kernel_shape"]
    sh, sw = op.attrs.get("strides", [1, 1])
    dh, dw = op.attrs.get("dilations", [1, 1])
    pads = op.attrs.get("pads", [0, 0, 0, 0])
    c = x.shape[1] // groups
    x = x[:, group * c:(group + 1) * c]
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (eh, ew), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]          # N, C, OH, OW, KH, KW
    n, _, oh, ow = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n * oh * ow, -1)
