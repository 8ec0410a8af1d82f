"""Reductions: Reduce* over ``axes`` (an attribute before opset 13/18, then input 1) and
ArgMax/ArgMin. One operation per input element on a vector unit."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workloads.ops.catalogue import Call, OpSpec, VectorCost, register
from workloads.ops.importing import ImportRule


def _extreme(x: np.ndarray, high: bool):
    """The identity of max (lowest value of the type) or min (highest): an empty set's result."""
    if x.dtype == bool:
        return not high
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return info.min if high else info.max
    return -np.inf if high else np.inf


def _max(x: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    return np.max(x, axis=axis, keepdims=keepdims, initial=_extreme(x, True)) if x.size == 0 \
        else np.max(x, axis=axis, keepdims=keepdims)


def _min(x: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    return np.min(x, axis=axis, keepdims=keepdims, initial=_extreme(x, False)) if x.size == 0 \
        else np.min(x, axis=axis, keepdims=keepdims)


def _log_sum_exp(x: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    if x.size == 0:
        out = np.log(np.sum(np.exp(x), axis=axis, keepdims=True))
        return out if keepdims else np.squeeze(out, axis=axis)
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    out = np.log(np.exp(x - top).sum(axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCERS: dict[str, tuple[int, Callable[..., np.ndarray], float, str]] = {
    "ReduceSum": (1, lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims), 1,
                  "sum"),
    "ReduceMean": (1, lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims), 1,
                   "mean"),
    "ReduceMax": (1, _max, 1,
                  "maximum"),
    "ReduceMin": (1, _min, 1,
                  "minimum"),
    "ReduceProd": (1, lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims), 1,
                   "product"),
    "ReduceL1": (1, lambda x, axis, keepdims: np.sum(np.abs(x), axis=axis, keepdims=keepdims),
                 1, "sum of |x|"),
    "ReduceL2": (1, lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis,
                                                             keepdims=keepdims)), 1,
                 "Euclidean norm"),
    "ReduceSumSquare": (1, lambda x, axis, keepdims: np.sum(x * x, axis=axis,
                                                            keepdims=keepdims), 1,
                        "sum of squares"),
    "ReduceLogSum": (1, lambda x, axis, keepdims: np.log(np.sum(x, axis=axis,
                                                                keepdims=keepdims)), 1,
                     "log of the sum"),
    "ReduceLogSumExp": (1, _log_sum_exp, 4, "log of the sum of exponentials"),
}


def reduce(fn: Callable[..., np.ndarray]) -> Callable[[Call], list[np.ndarray]]:
    def run(c: Call) -> list[np.ndarray]:
        x = np.asarray(c.inputs[0])
        axes = c.param(1, "axes")
        if not axes and c.attr("noop_with_empty_axes", 0):
            return [x]
        axis = None if not axes else tuple(a % max(1, x.ndim) for a in axes)
        work = x.astype(np.float64) if x.dtype.kind == "f" else x
        with np.errstate(all="ignore"):
            out = fn(work, axis, bool(c.attr("keepdims", 1)))
        return [np.asarray(out).astype(x.dtype)]
    return run


def arg(fn: Callable[..., np.ndarray]) -> Callable[[Call], list[np.ndarray]]:
    """ArgMax/ArgMin along ``axis``; ``select_last_index`` picks the last of equal extremes."""
    def run(c: Call) -> list[np.ndarray]:
        x = np.asarray(c.inputs[0])
        axis = c.attr("axis", 0) % max(1, x.ndim)
        if c.attr("select_last_index", 0):
            out = x.shape[axis] - 1 - fn(np.flip(x, axis=axis), axis=axis)
        else:
            out = fn(x, axis=axis)
        out = np.asarray(out, dtype=np.int64)
        return [np.expand_dims(out, axis) if c.attr("keepdims", 1) else out]
    return run


for _op, (_since, _fn, _cost, _doc) in REDUCERS.items():
    register(OpSpec(_op, "", _since, None, "reduction", f"{_doc} over `axes` (keepdims)",
                    importer=ImportRule(params=((1, "axes"),)), semantics=reduce(_fn),
                    cost=VectorCost(per_input=_cost), reduces_axes=True))
_INT64 = ImportRule(dtypes=lambda ctx, node: ["int64"])
register(OpSpec("ArgMax", "", 1, None, "reduction", "index of the maximum along `axis`",
                importer=_INT64, semantics=arg(np.argmax), cost=VectorCost(per_input=1)))
register(OpSpec("ArgMin", "", 1, None, "reduction", "index of the minimum along `axis`",
                importer=_INT64, semantics=arg(np.argmin), cost=VectorCost(per_input=1)))
