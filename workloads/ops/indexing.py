"""Index-driven data movement and a few more elementwise and normalization operators.

GatherElements, ScatterElements, ScatterND (with their reductions), OneHot, Trilu, TopK, CumSum,
CumProd, ReverseSequence, EyeLike and Compress move or select elements by index (one operation
per output element on a vector unit; TopK's sort and the scans cost a few); BitwiseAnd/Or/Xor/
Not, Shrink and Swish are elementwise; GroupNormalization and RMSNormalization normalize.
Operands that decide an output shape (TopK's k, OneHot's depth, Compress's condition) must be
constants or pinned (``--input-value``).
"""

from __future__ import annotations

import numpy as np

from workloads.errors import WorkloadError
from workloads.ops.catalogue import Call, OpSpec, VectorCost, register
from workloads.ops.importing import (
    Context,
    ImportRule,
    Node,
    broadcast_shape,
    first_input_shape,
    missing_param,
)

COPY = VectorCost(per_output=1)


def _axis(c: Call, x: np.ndarray, default: int = 0) -> int:
    return int(c.attr("axis", default)) % max(1, x.ndim)


def _gather_elements(c: Call) -> list[np.ndarray]:
    x, idx = np.asarray(c.inputs[0]), np.asarray(c.inputs[1]).astype(np.int64)
    axis = _axis(c, x)
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return [np.take_along_axis(x, idx, axis=axis)]


_REDUCE = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum,
           "min": np.minimum}


def _reduction(c: Call):
    name = c.attr("reduction", "none")
    if name not in _REDUCE:
        raise WorkloadError(f"unknown reduction {name!r}")
    return _REDUCE[name]


def _scatter_elements(c: Call) -> list[np.ndarray]:
    x = np.array(c.inputs[0], copy=True)
    idx = np.asarray(c.inputs[1]).astype(np.int64)
    upd = np.asarray(c.inputs[2]).astype(x.dtype)
    axis = _axis(c, x)
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    fn = _reduction(c)
    for pos in np.ndindex(idx.shape):
        target = list(pos)
        target[axis] = idx[pos]
        target = tuple(target)
        x[target] = upd[pos] if fn is None else fn(x[target], upd[pos])
    return [x]


def _scatter_nd(c: Call) -> list[np.ndarray]:
    x = np.array(c.inputs[0], copy=True)
    idx = np.asarray(c.inputs[1]).astype(np.int64)
    upd = np.asarray(c.inputs[2]).astype(x.dtype)
    fn = _reduction(c)
    for pos in np.ndindex(idx.shape[:-1]):
        target = tuple(int(i) for i in idx[pos])
        target = tuple(t + x.shape[d] if t < 0 else t for d, t in enumerate(target))
        x[target] = upd[pos] if fn is None else fn(x[target], upd[pos])
    return [x]


def _one_hot(c: Call) -> list[np.ndarray]:
    idx = np.asarray(c.inputs[0])
    depth = int(np.asarray(c.inputs[1]).reshape(-1)[0])
    values = np.asarray(c.inputs[2])
    off, on = values.reshape(-1)[0], values.reshape(-1)[1]
    axis = int(c.attr("axis", -1))
    idx = idx.astype(np.int64)
    idx = np.where(idx < 0, idx + depth, idx)
    hot = idx[..., None] == np.arange(depth)
    out = np.where(hot, on, off).astype(values.dtype)
    return [np.moveaxis(out, -1, axis % out.ndim)]


def _trilu(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    k = c.input(1)
    k = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    return [np.triu(x, k) if c.attr("upper", 1) else np.tril(x, k)]


def _top_k(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    k = int(np.asarray(c.inputs[1]).reshape(-1)[0]) if c.input(1) is not None else \
        int(c.attr("k"))
    axis = _axis(c, x, -1)
    largest = bool(c.attr("largest", 1))
    # stable sort: among equal values the lower index comes first (the spec's tie rule)
    order = np.argsort(-x if largest and x.dtype.kind != "u" else x, axis=axis, kind="stable")
    if largest and x.dtype.kind == "u":
        order = np.argsort(x.max() - x, axis=axis, kind="stable")
    order = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, order, axis=axis), order.astype(np.int64)]


def _scan(fn, exclusive: bool, reverse: bool, x: np.ndarray, axis: int) -> np.ndarray:
    y = np.flip(x, axis) if reverse else x
    out = fn(y, axis=axis, dtype=x.dtype)
    if exclusive:
        identity = 0 if fn is np.cumsum else 1
        pad = [(0, 0)] * x.ndim
        pad[axis] = (1, 0)
        out = np.pad(out, pad, constant_values=identity)
        out = np.take(out, np.arange(x.shape[axis]), axis=axis)
    return np.flip(out, axis) if reverse else out


def _cumulative(fn):
    def run(c: Call) -> list[np.ndarray]:
        x = np.asarray(c.inputs[0])
        axis = int(np.asarray(c.inputs[1]).reshape(-1)[0]) % max(1, x.ndim)
        return [_scan(fn, bool(c.attr("exclusive", 0)), bool(c.attr("reverse", 0)), x, axis)]
    return run


def _reverse_sequence(c: Call) -> list[np.ndarray]:
    x = np.array(c.inputs[0], copy=True)
    lens = np.asarray(c.inputs[1]).astype(np.int64)
    batch, time = int(c.attr("batch_axis", 1)), int(c.attr("time_axis", 0))
    out = x.copy()
    for b, n in enumerate(lens):
        src = [slice(None)] * x.ndim
        src[batch] = b
        src[time] = slice(0, int(n))
        piece = x[tuple(src)]
        t_axis = time if time < batch else time - 1
        out[tuple(src)] = np.flip(piece, axis=t_axis)
    return [out]


def _eye_like(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    dtype = x.dtype
    if c.attrs.get("dtype") is not None:
        from workloads.ops.elementwise import np_dtype

        dtype = np_dtype(c.attrs["dtype"])
    return [np.eye(x.shape[0], x.shape[1], int(c.attr("k", 0)), dtype=dtype)]


def _compress(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    cond = np.asarray(c.inputs[1]).astype(bool)
    axis = c.attrs.get("axis")
    return [np.compress(cond, x, axis=None if axis is None else int(axis) % x.ndim)]


def _shrink(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    lam, bias = float(c.attr("lambd", 0.5)), float(c.attr("bias", 0.0))
    xf = x.astype(np.float64)
    y = np.where(xf < -lam, xf + bias, np.where(xf > lam, xf - bias, 0))
    return [y.astype(x.dtype)]


def _swish(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    alpha = float(c.attr("alpha", 1.0))
    xf = x.astype(np.float64)
    return [(xf / (1 + np.exp(-alpha * xf))).astype(x.dtype)]


def _group_norm(c: Call) -> list[np.ndarray]:
    x, scale, bias = (np.asarray(v) for v in c.inputs[:3])
    groups = int(c.attrs["num_groups"])
    eps = float(c.attr("epsilon", 1e-5))
    n, ch = x.shape[:2]
    xg = x.astype(np.float64).reshape(n, groups, -1)
    mean = xg.mean(axis=2, keepdims=True)
    var = xg.var(axis=2, keepdims=True)
    y = ((xg - mean) / np.sqrt(var + eps)).reshape(x.shape)
    shape = (1, ch) + (1,) * (x.ndim - 2)
    if scale.size == groups and groups != ch:   # opset 18: per-group scale and bias
        scale = np.repeat(scale, ch // groups)
        bias = np.repeat(bias, ch // groups)
    return [(y * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype)]


def _rms_norm(c: Call) -> list[np.ndarray]:
    x, scale = np.asarray(c.inputs[0]), np.asarray(c.inputs[1])
    axis = int(c.attr("axis", -1)) % x.ndim
    eps = float(c.attr("epsilon", 1e-5))
    xf = x.astype(np.float32 if c.attr("stash_type", 1) == 1 else np.float64)
    axes = tuple(range(axis, x.ndim))
    rms = np.sqrt(np.mean(xf * xf, axis=axes, keepdims=True) + eps)
    return [((xf / rms) * scale.astype(xf.dtype)).astype(x.dtype)]


def _bitwise(fn):
    return lambda c: [fn(*(np.asarray(v) for v in c.inputs if v is not None))]


def _shape_needs(*indices: int):
    """Import hook: the operands that decide the output shape must be known."""
    def check(ctx: Context, node: Node) -> None:
        for i in indices:
            name = node.input(i)
            if name and ctx.const(name) is None:
                missing_param(ctx, node, name)
    return check


def _top_k_shapes(ctx: Context, node: Node) -> list:
    x = list(ctx.shape(node.inputs[0]))
    k = ctx.const(node.input(1)) if node.input(1) else node.attrs.get("k")
    axis = int(node.attrs.get("axis", -1)) % len(x)
    x[axis] = int(np.asarray(k).reshape(-1)[0])
    return [tuple(x), tuple(x)]


register(OpSpec("GatherElements", "", 11, None, "data_movement",
                "take elements along `axis` by a same-rank index tensor",
                importer=ImportRule(shape=lambda ctx, node: [ctx.shape(node.inputs[1])]),
                semantics=_gather_elements, cost=COPY))
register(OpSpec("ScatterElements", "", 11, None, "data_movement",
                "write updates along `axis` at indexed positions (reduction)",
                importer=ImportRule(shape=first_input_shape), semantics=_scatter_elements,
                cost=COPY))
register(OpSpec("ScatterND", "", 11, None, "data_movement",
                "write update slices at index tuples (reduction)",
                importer=ImportRule(shape=first_input_shape), semantics=_scatter_nd, cost=COPY))
register(OpSpec("OneHot", "", 9, None, "data_movement",
                "one-hot encoding along `axis` (depth and off/on values)",
                importer=ImportRule(prepare=_shape_needs(1),
                                    dtypes=lambda ctx, node: [ctx.dtype(node.inputs[2])]),
                semantics=_one_hot, cost=COPY))
register(OpSpec("Trilu", "", 14, None, "data_movement",
                "upper or lower triangle of the last two axes (diagonal offset k)",
                importer=ImportRule(shape=first_input_shape), semantics=_trilu, cost=COPY))
register(OpSpec("TopK", "", 1, None, "reduction",
                "k largest or smallest along `axis`, values and int64 indices",
                importer=ImportRule(prepare=_shape_needs(1), shape=_top_k_shapes, exact=True,
                                    dtypes=lambda ctx, node: [None, "int64"]),
                semantics=_top_k, cost=VectorCost(per_input=4)))
register(OpSpec("CumSum", "", 11, None, "reduction", "running sum along an axis (exclusive, "
                "reverse)", importer=ImportRule(shape=first_input_shape),
                semantics=_cumulative(np.cumsum), cost=VectorCost(per_output=1)))
register(OpSpec("CumProd", "", 26, None, "reduction", "running product along an axis "
                "(exclusive, reverse)", importer=ImportRule(shape=first_input_shape),
                semantics=_cumulative(np.cumprod), cost=VectorCost(per_output=1)))
register(OpSpec("ReverseSequence", "", 10, None, "data_movement",
                "reverse each batch entry's first sequence_lens steps",
                importer=ImportRule(shape=first_input_shape), semantics=_reverse_sequence,
                cost=COPY))
register(OpSpec("EyeLike", "", 9, None, "data_movement", "identity matrix of the input's shape "
                "(diagonal k)", importer=ImportRule(
                    shape=first_input_shape,
                    dtypes=lambda ctx, node: [None if node.attrs.get("dtype") is None else
                                              _dtype_name(node.attrs["dtype"])]),
                semantics=_eye_like, cost=COPY))
register(OpSpec("Compress", "", 9, None, "data_movement",
                "keep the slices a (known) condition selects along `axis`",
                importer=ImportRule(prepare=_shape_needs(1)), semantics=_compress, cost=COPY))
register(OpSpec("Shrink", "", 9, None, "elementwise", "x -/+ bias outside [-lambd, lambd], "
                "else 0", importer=ImportRule(shape=first_input_shape), semantics=_shrink,
                cost=VectorCost(per_output=2), broadcasts=True))
register(OpSpec("Swish", "", 24, None, "elementwise", "x * sigmoid(alpha * x)",
                importer=ImportRule(shape=first_input_shape), semantics=_swish,
                cost=VectorCost(per_output=5), broadcasts=True))
for _op, _fn, _doc in (("BitwiseAnd", np.bitwise_and, "a & b"), ("BitwiseOr", np.bitwise_or,
                                                                  "a | b"),
                       ("BitwiseXor", np.bitwise_xor, "a ^ b"), ("BitwiseNot", np.invert, "~a")):
    register(OpSpec(_op, "", 18, None, "elementwise", _doc,
                    importer=ImportRule(shape=broadcast_shape), semantics=_bitwise(_fn),
                    cost=VectorCost(per_output=1), broadcasts=True))
register(OpSpec("GroupNormalization", "", 18, None, "normalization",
                "normalize over channel groups, then per-channel scale and bias",
                importer=ImportRule(fold=False, shape=first_input_shape),
                semantics=_group_norm, cost=VectorCost(per_output=8)))
register(OpSpec("RMSNormalization", "", 23, None, "normalization",
                "x / sqrt(mean(x^2) + epsilon) * scale over the axes from `axis`",
                importer=ImportRule(fold=False, shape=first_input_shape),
                semantics=_rms_norm, cost=VectorCost(per_output=4)))


def _dtype_name(elem: int) -> str:
    from workloads.ops.elementwise import np_dtype

    return np_dtype(elem).name
