"""SQuant (Guo et al., ICLR 2022): data-free weight quantization by constrained flipping.

Each weight tensor is put on a per-output-channel asymmetric min/max grid and rounded to
nearest (E); then, within each kernel (K) and each output channel (C), just enough elements are
flipped to the other neighbouring integer that the summed rounding error stays within 0.5,
approximating the Hessian-weighted error with no data at all. The arithmetic follows
``../shared/reference/squant/SPEC.md`` (checked against the authors' code) so that ``q`` and
``w_hat`` match their output bit for bit:

* grid: ``s = f32(2^b-1) / max(max-min, 1e-8)`` (levels per unit), ``z = rne(s*min) + 2^(b-1)``,
  ``x = s*w - z`` and ``w_hat = (q + z) / s``, every step rounded to f32;
* group sums are accumulated in float64 and rounded to f32 before ``rne`` (SPEC 6.2);
* **tie rule** (SPEC 6.1): elements of equal priority are flipped in ascending index order
  within their group (a stable descending sort). That is the authors' CPU order for groups of
  up to 16 elements; in longer groups their introsort may pick another of the tied elements,
  which changes which element flips but not any error sum.

The heavy lifting is in :mod:`simulator.passes.squant_kernels` (numba), imported on first use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.errors import ArchsimError

#: mode -> (K stage, C stage); E (round to nearest) always runs.
MODES: dict[str, tuple[bool, bool]] = {
    "squant": (True, True),
    "squant-k": (True, False),
    "squant-c": (False, True),
    "rtn": (False, False),
    "squant-e": (False, False),  # the authors' name for rtn
}
MIN_BITS, MAX_BITS = 2, 8


class QuantizeError(ArchsimError):
    """A quantization request that cannot be honoured (bit width, mode, weight shape)."""


@dataclass
class QuantizedWeight:
    """Result for one weight tensor, all in the input's layout.

    ``q`` holds signed integers in ``[-2^(b-1), 2^(b-1)-1]``; per channel (along ``axis``)
    ``scale`` is levels per unit (the reciprocal of the step size) and ``zero_point`` is
    integer-valued, so ``w_hat = (q + zero_point) / scale``. In ONNX terms (``w = (q - zp) * s``)
    the step is ``1/scale`` and the zero point ``-zero_point``.
    """

    q: np.ndarray
    w_hat: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    axis: int

    @property
    def step(self) -> np.ndarray:
        """ONNX/conventional scale: the f32 real value of one integer step."""
        return (np.float32(1.0) / self.scale).astype(np.float32)


def check_args(bits: int, mode: str) -> None:
    if not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise QuantizeError(f"bits must be an integer from {MIN_BITS} to {MAX_BITS}; got {bits!r}")
    if mode not in MODES:
        raise QuantizeError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")


def squant(w: np.ndarray, bits: int = 4, mode: str = "squant", axis: int = 0) -> QuantizedWeight:
    """Quantize one weight tensor with channels along ``axis``.

    A Conv weight ``[O, I/groups, kh, kw]`` (axis 0) has one kernel per ``(o, i)`` slice; a 2-D
    weight has kernels of one element, so K is skipped (SPEC 4.4); for a MatMul ``[K, N]``
    operand pass ``axis=1``. Any other rank is flattened after ``[O, I]``.
    """
    check_args(bits, mode)
    w = np.asarray(w)
    if w.ndim < 1 or w.size == 0:
        raise QuantizeError(f"cannot quantize a weight of shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise QuantizeError("weight holds NaN or infinite values")
    axis = axis % w.ndim
    moved = np.moveaxis(w, axis, 0)
    shape = moved.shape
    kernel = math.prod(shape[2:]) if len(shape) > 2 else 1
    rows = np.ascontiguousarray(moved.reshape(shape[0], -1), dtype=np.float32)
    k_on, c_on = MODES[mode]
    from simulator.passes.squant_kernels import squant_rows

    q = np.empty(rows.shape, np.int8)
    w_hat = np.empty(rows.shape, np.float32)
    scale = np.empty(shape[0], np.float32)
    zero_point = np.empty(shape[0], np.float32)
    squant_rows(rows, kernel, int(bits), k_on, c_on, q, w_hat, scale, zero_point)

    def back(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(a.reshape(shape), 0, axis))

    return QuantizedWeight(back(q), back(w_hat), scale, zero_point, int(bits), axis)


def parse_options(text: str | None) -> dict[str, str]:
    """``bits=4,mode=squant-k`` -> ``{"bits": "4", "mode": "squant-k"}``."""
    out: dict[str, str] = {}
    for item in filter(None, (text or "").split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise QuantizeError(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out
