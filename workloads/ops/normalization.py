"""Normalizations: Softmax, LogSoftmax, Hardmax, LRN, Batch/Layer/Instance normalization,
LpNormalization, MeanVarianceNormalization.

Before opset 13 Softmax, LogSoftmax and Hardmax coerce the input to 2-D at ``axis`` (default 1)
and normalize each row; the importer marks such a node ``coerce_2d`` when that differs from
normalizing along ``axis`` alone, so functional execution (which knows no opset) agrees.
"""

from __future__ import annotations

import math

import numpy as np

from workloads.graph import Op
from workloads.ops.catalogue import Call, OpSpec, VectorCost, register
from workloads.ops.importing import Context, ImportRule, Node, Shape, first_input_shape

LEGACY_OPSET = 13   # Softmax-13 normalizes along one axis; earlier versions coerce to 2-D


def _legacy(c: Call) -> bool:
    return bool(c.attrs.get("coerce_2d")) or (c.opset is not None and c.opset < LEGACY_OPSET)


def _along_axis(fn):
    """Apply ``fn(x, axis)`` along ``axis``, or row-wise on the 2-D coercion of legacy opsets."""
    def run(c: Call) -> list[np.ndarray]:
        x = np.asarray(c.inputs[0])
        if _legacy(c):
            axis = c.attr("axis", 1) % max(1, x.ndim)
            rows = x.reshape(math.prod(x.shape[:axis]), -1)
            return [fn(rows.astype(np.float64), 1).reshape(x.shape).astype(x.dtype)]
        axis = c.attr("axis", -1)
        return [fn(x.astype(np.float64), axis).astype(x.dtype)]
    return run


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _hardmax(x: np.ndarray, axis: int) -> np.ndarray:
    """1 at the first maximum along ``axis``, 0 elsewhere."""
    first = np.expand_dims(np.argmax(x, axis=axis), axis)
    out = np.zeros_like(x)
    np.put_along_axis(out, first, 1, axis=axis)
    return out


def _layer_norm(c: Call) -> list[np.ndarray]:
    x, scale, bias = np.asarray(c.inputs[0]), c.input(1), c.input(2)
    axis = c.attr("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    xf = x.astype(np.float64)
    mean = xf.mean(axis=axes, keepdims=True)
    var = ((xf - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + c.attr("epsilon", 1e-5))
    y = (xf - mean) * inv * scale
    if bias is not None:
        y = y + bias
    stats = np.float32 if c.attr("stash_type", 1) == 1 else x.dtype
    return [y.astype(x.dtype), mean.astype(stats), inv.astype(stats)]


def _channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel parameter shaped to broadcast against (N, C, ...)."""
    v = np.asarray(v)
    return v.reshape(1, -1, *[1] * (ndim - 2)) if v.ndim == 1 else v.reshape(1, *v.shape)


def _batch_norm(c: Call) -> list[np.ndarray]:
    """Inference form with the running statistics; ``training_mode`` normalizes with the batch
    statistics and also returns the updated running mean and variance."""
    x, scale, bias, mean, var = (np.asarray(v) for v in c.inputs[:5])
    eps = c.attr("epsilon", 1e-5)
    xf = x.astype(np.float64)
    if c.attr("training_mode", 0):
        axes = (0, *range(2, x.ndim))
        cur_mean, cur_var = xf.mean(axis=axes), xf.var(axis=axes)
        y = (xf - _channel(cur_mean, x.ndim)) / np.sqrt(_channel(cur_var, x.ndim) + eps) * \
            _channel(scale, x.ndim) + _channel(bias, x.ndim)
        momentum = c.attr("momentum", 0.9)
        return [y.astype(x.dtype), (mean * momentum + cur_mean * (1 - momentum)).astype(
            mean.dtype), (var * momentum + cur_var * (1 - momentum)).astype(var.dtype)]
    inv = _channel(scale, x.ndim) / np.sqrt(_channel(var, x.ndim) + eps)
    return [((xf - _channel(mean, x.ndim)) * inv + _channel(bias, x.ndim)).astype(x.dtype)]


def _instance_norm(c: Call) -> list[np.ndarray]:
    x, scale, bias = (np.asarray(v) for v in c.inputs[:3])
    xf = x.astype(np.float64)
    axes = tuple(range(2, x.ndim))
    mean = xf.mean(axis=axes, keepdims=True)
    var = xf.var(axis=axes, keepdims=True)
    y = (xf - mean) / np.sqrt(var + c.attr("epsilon", 1e-5)) * _channel(scale, x.ndim) + \
        _channel(bias, x.ndim)
    return [y.astype(x.dtype)]


def _lp_norm(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    xf = x.astype(np.float64)
    axis, p = c.attr("axis", -1), c.attr("p", 2)
    norm = np.abs(xf).sum(axis=axis, keepdims=True) if p == 1 else \
        np.sqrt((xf ** 2).sum(axis=axis, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return [np.where(norm == 0, 0, xf / norm).astype(x.dtype)]


def _mvn(c: Call) -> list[np.ndarray]:
    """(x - mean) / (sqrt(E[x^2] - E[x]^2) + 1e-9) over ``axes`` (the ONNX function body)."""
    x = np.asarray(c.inputs[0])
    xf = x.astype(np.float64)
    axes = tuple(c.attr("axes", [0, 2, 3]))
    mean = xf.mean(axis=axes, keepdims=True)
    std = np.sqrt(np.maximum((xf ** 2).mean(axis=axes, keepdims=True) - mean ** 2, 0))
    return [((xf - mean) / (std + 1e-9)).astype(x.dtype)]


def _lrn(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    size = int(c.attrs["size"])
    alpha, beta, bias = c.attr("alpha", 1e-4), c.attr("beta", 0.75), c.attr("bias", 1.0)
    xf = x.astype(np.float64)
    sq = np.pad(xf ** 2, [(0, 0), ((size - 1) // 2, size // 2)] + [(0, 0)] * (x.ndim - 2))
    total = np.lib.stride_tricks.sliding_window_view(sq, size, axis=1).sum(axis=-1)
    return [(xf / (bias + alpha / size * total) ** beta).astype(x.dtype)]


def _mark_legacy(ctx: Context, node: Node, op: Op) -> None:
    """Before opset 13 the op works on the 2-D coercion at ``axis``; say so when that differs
    from working along ``axis`` (a dim after the axis is not 1)."""
    shape = ctx.shape(node.inputs[0])
    if node.opset < LEGACY_OPSET and shape and \
            math.prod(shape[op.attrs.get("axis", 1) % len(shape) + 1:]) > 1:
        op.attrs["coerce_2d"] = 1


def _batch_norm_rule(ctx: Context, node: Node) -> list[Shape]:
    x = ctx.shape(node.inputs[0])
    return [x] + [(x[1],)] * 4


def _layer_norm_rule(ctx: Context, node: Node) -> list[Shape]:
    x = ctx.shape(node.inputs[0])
    axis = node.attrs.get("axis", -1) % len(x)
    stats = x[:axis] + (1,) * (len(x) - axis)
    return [x, stats, stats]


def _lrn_taps(op: Op) -> int:
    return int(op.attrs.get("size", 5))


_SAME = ImportRule(fold=False, shape=first_input_shape)
_SOFTMAX = ImportRule(fold=False, shape=first_input_shape, on_emit=_mark_legacy)

for _op, _fn, _cost, _doc in (
        ("Softmax", _softmax, 5, "exp(x - max) / sum along `axis`"),
        ("LogSoftmax", _log_softmax, 5, "log of Softmax"),
        ("Hardmax", _hardmax, 2, "1 at the first maximum along `axis`")):
    register(OpSpec(_op, "", 1, None, "normalization", _doc, importer=_SOFTMAX,
                    semantics=_along_axis(_fn), cost=VectorCost(per_output=_cost),
                    broadcasts=True))
register(OpSpec("LayerNormalization", "", 17, None, "normalization",
                "normalize over the axes from `axis`, then scale and shift",
                importer=ImportRule(fold=False, shape=_layer_norm_rule,
                                    dtypes=lambda ctx, node: [None, "float32", "float32"]),
                semantics=_layer_norm, cost=VectorCost(per_output=8), broadcasts=True))
register(OpSpec("BatchNormalization", "", 1, None, "normalization",
                "per-channel scale and shift from running mean and variance",
                importer=ImportRule(fold=False, shape=_batch_norm_rule),
                semantics=_batch_norm, cost=VectorCost(per_output=2)))
register(OpSpec("InstanceNormalization", "", 1, None, "normalization",
                "normalize each (sample, channel) over the spatial axes, then scale and shift",
                importer=_SAME, semantics=_instance_norm, cost=VectorCost(per_output=8)))
register(OpSpec("LpNormalization", "", 1, None, "normalization",
                "divide by the L1 or L2 norm along `axis`", importer=_SAME,
                semantics=_lp_norm, cost=VectorCost(per_output=4), broadcasts=True))
register(OpSpec("MeanVarianceNormalization", "", 9, None, "normalization",
                "zero mean, unit variance over `axes`", importer=_SAME, semantics=_mvn,
                cost=VectorCost(per_output=8), broadcasts=True))
register(OpSpec("LRN", "", 1, None, "normalization",
                "local response normalization across `size` channels", importer=_SAME,
                semantics=_lrn, cost=VectorCost(per_output=3, per_tap=1), taps=_lrn_taps,
                broadcasts=True))
