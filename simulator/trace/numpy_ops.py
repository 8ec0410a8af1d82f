"""Numpy reference semantics of the non-GEMM operators, one function per op type.

Used by functional execution of traces: each function takes the op's input arrays (``None`` for an
omitted optional input), its attributes and the shapes of its outputs, and returns the outputs.
Semantics follow the ONNX operator specification.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

OpFn = Callable[[list, dict[str, Any], list[tuple[int, ...]]], list[np.ndarray]]
NUMPY_OPS: dict[str, OpFn] = {}


def handler(*names: str):
    def register(fn: OpFn) -> OpFn:
        for name in names:
            NUMPY_OPS[name] = fn
        return fn
    return register


def _unary(fn):
    return lambda xs, attrs, shapes: [fn(xs[0], attrs).astype(xs[0].dtype, copy=False)]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 (Abramowitz & Stegun 7.1.26 is too coarse for float32 checks; use math.erf)."""
    return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64))


UNARY = {
    "Relu": lambda x, a: np.maximum(x, 0),
    "LeakyRelu": lambda x, a: np.where(x >= 0, x, x * a.get("alpha", 0.01)),
    "Sigmoid": lambda x, a: 1.0 / (1.0 + np.exp(-x)),
    "HardSigmoid": lambda x, a: np.clip(x * a.get("alpha", 0.2) + a.get("beta", 0.5), 0, 1),
    "Tanh": lambda x, a: np.tanh(x),
    "Exp": lambda x, a: np.exp(x),
    "Log": lambda x, a: np.log(x),
    "Sqrt": lambda x, a: np.sqrt(x),
    "Neg": lambda x, a: -x,
    "Abs": lambda x, a: np.abs(x),
    "Reciprocal": lambda x, a: 1.0 / x,
    "Erf": lambda x, a: _erf(x),
    "Gelu": lambda x, a: (0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
                          if a.get("approximate", "none") == "tanh"
                          else 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "Identity": lambda x, a: x,
    "Dropout": lambda x, a: x,
}
for _name, _fn in UNARY.items():
    NUMPY_OPS[_name] = _unary(_fn)


BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
          "Pow": np.power, "Max": np.maximum, "Min": np.minimum}


def _binary(fn):
    def run(xs, attrs, shapes):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return [np.asarray(out, dtype=xs[0].dtype)]
    return run


for _name, _fn in BINARY.items():
    NUMPY_OPS[_name] = _binary(_fn)
NUMPY_OPS["Sum"] = _binary(np.add)


@handler("Clip")
def clip(xs, attrs, shapes):
    lo = xs[1] if len(xs) > 1 and xs[1] is not None else attrs.get("min", -np.inf)
    hi = xs[2] if len(xs) > 2 and xs[2] is not None else attrs.get("max", np.inf)
    return [np.clip(xs[0], lo, hi).astype(xs[0].dtype)]


@handler("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def reshape(xs, attrs, shapes):
    return [xs[0].reshape(shapes[0])]


@handler("Transpose")
def transpose(xs, attrs, shapes):
    perm = attrs.get("perm") or list(range(xs[0].ndim))[::-1]
    return [np.transpose(xs[0], perm)]


@handler("Concat")
def concat(xs, attrs, shapes):
    return [np.concatenate([x for x in xs if x is not None], axis=attrs["axis"])]


@handler("Split")
def split(xs, attrs, shapes):
    axis = attrs.get("axis", 0)
    sizes = [s[axis] for s in shapes]
    cuts = np.cumsum(sizes)[:-1]
    return list(np.split(xs[0], cuts, axis=axis))


@handler("Softmax")
def softmax(xs, attrs, shapes):
    x = xs[0]
    axis = attrs.get("axis", -1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]


@handler("LayerNormalization")
def layer_norm(xs, attrs, shapes):
    x, scale = xs[0], xs[1]
    bias = xs[2] if len(xs) > 2 else None
    axis = attrs.get("axis", -1)
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + attrs.get("epsilon", 1e-5)) * scale
    if bias is not None:
        y = y + bias
    return [y.astype(x.dtype)]


@handler("BatchNormalization")
def batch_norm(xs, attrs, shapes):
    x, scale, bias, mean, var = xs[:5]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = scale / np.sqrt(var + attrs.get("epsilon", 1e-5))
    return [((x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape)).astype(x.dtype)]


def _pool_windows(x, attrs, pad_value):
    """(N, C, OH, OW, KH, KW) windows of a padded input, and a mask of real (unpadded) taps."""
    kh, kw = attrs["kernel_shape"]
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    pt, pl, pb, pr = attrs.get("pads", [0, 0, 0, 0])
    n, c, h, w = x.shape
    # ceil_mode may need extra bottom/right padding so the last window exists.
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    oh = _pool_out(h + pt + pb, eh, sh, attrs.get("ceil_mode", 0))
    ow = _pool_out(w + pl + pr, ew, sw, attrs.get("ceil_mode", 0))
    extra_h = max(0, (oh - 1) * sh + eh - (h + pt + pb))
    extra_w = max(0, (ow - 1) * sw + ew - (w + pl + pr))
    padding = ((0, 0), (0, 0), (pt, pb + extra_h), (pl, pr + extra_w))
    xp = np.pad(x, padding, constant_values=pad_value)
    mask = np.pad(np.ones((h, w), dtype=bool), padding[2:], constant_values=False)
    win = sliding_window_view(xp, (eh, ew), axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    mwin = sliding_window_view(mask, (eh, ew))[::sh, ::sw, ::dh, ::dw]
    pad_only = np.pad(np.ones((h + pt + pb, w + pl + pr), dtype=bool),
                      ((0, extra_h), (0, extra_w)), constant_values=False)
    pwin = sliding_window_view(pad_only, (eh, ew))[::sh, ::sw, ::dh, ::dw]
    return win[:, :, :oh, :ow], mwin[:oh, :ow], pwin[:oh, :ow]


def _pool_out(size: int, window: int, stride: int, ceil_mode: int) -> int:
    span = size - window
    return (-(-span // stride) if ceil_mode else span // stride) + 1


@handler("MaxPool")
def max_pool(xs, attrs, shapes):
    win, _, _ = _pool_windows(xs[0], attrs, -np.inf)
    return [win.max(axis=(4, 5)).astype(xs[0].dtype)]


@handler("AveragePool")
def average_pool(xs, attrs, shapes):
    win, real, in_padded = _pool_windows(xs[0], attrs, 0.0)
    counted = in_padded if attrs.get("count_include_pad", 0) else real
    return [(win.sum(axis=(4, 5)) / counted.sum(axis=(2, 3))).astype(xs[0].dtype)]


@handler("GlobalAveragePool")
def global_average_pool(xs, attrs, shapes):
    return [xs[0].mean(axis=tuple(range(2, xs[0].ndim)), keepdims=True)]


@handler("GlobalMaxPool")
def global_max_pool(xs, attrs, shapes):
    return [xs[0].max(axis=tuple(range(2, xs[0].ndim)), keepdims=True)]


@handler("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin")
def reduce(xs, attrs, shapes):
    axes = attrs.get("axes")
    if axes is None and len(xs) > 1 and xs[1] is not None:
        axes = [int(a) for a in np.asarray(xs[1]).ravel()]
    fn = {"ReduceMean": np.mean, "ReduceSum": np.sum, "ReduceMax": np.max,
          "ReduceMin": np.min}[attrs["_op"]]
    out = fn(xs[0], axis=tuple(axes) if axes else None, keepdims=True)
    return [np.asarray(out, dtype=xs[0].dtype).reshape(shapes[0])]


@handler("LRN")
def lrn(xs, attrs, shapes):
    x = xs[0]
    size = attrs["size"]
    alpha, beta, bias = attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0)
    sq = np.pad(x**2, ((0, 0), ((size - 1) // 2, size // 2), (0, 0), (0, 0)))
    total = sliding_window_view(sq, size, axis=1).sum(axis=-1)
    return [(x / (bias + alpha / size * total) ** beta).astype(x.dtype)]


@handler("Pad")
def pad(xs, attrs, shapes):
    x = xs[0]
    pads = attrs.get("pads")
    if pads is None:
        pads = [int(p) for p in np.asarray(xs[1]).ravel()]
    value = attrs.get("value", 0.0)
    if len(xs) > 2 and xs[2] is not None:
        value = float(np.asarray(xs[2]).ravel()[0])
    half = len(pads) // 2
    mode = attrs.get("mode", "constant")
    widths = list(zip(pads[:half], pads[half:], strict=True))
    if mode == "constant":
        return [np.pad(x, widths, constant_values=value)]
    return [np.pad(x, widths, mode={"reflect": "reflect", "edge": "edge"}[mode])]


@handler("Slice")
def slice_(xs, attrs, shapes):
    x = xs[0]
    starts, ends = (np.asarray(v).ravel() for v in xs[1:3])
    axes = np.asarray(xs[3]).ravel() if len(xs) > 3 and xs[3] is not None else range(len(starts))
    steps = np.asarray(xs[4]).ravel() if len(xs) > 4 and xs[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        index[int(a)] = slice(int(s), int(e), int(st))
    return [x[tuple(index)]]


@handler("Gather")
def gather(xs, attrs, shapes):
    return [np.take(xs[0], np.asarray(xs[1]).astype(np.int64), axis=attrs.get("axis", 0))]


@handler("Cast")
def cast(xs, attrs, shapes):
    """To the ONNX ``to`` type (a mask cast to bool or a bool cast to float changes values)."""
    if "to" not in attrs:
        return [xs[0]]
    from onnx import helper

    return [xs[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))]


LOGIC = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
         "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal,
         "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}
for _name, _fn in LOGIC.items():
    NUMPY_OPS[_name] = lambda xs, attrs, shapes, _fn=_fn: [_fn(xs[0], xs[1])]
NUMPY_OPS["Not"] = lambda xs, attrs, shapes: [np.logical_not(xs[0])]
NUMPY_OPS["IsNaN"] = lambda xs, attrs, shapes: [np.isnan(xs[0])]


@handler("IsInf")
def is_inf(xs, attrs, shapes):
    x = xs[0]
    pos, neg = attrs.get("detect_positive", 1), attrs.get("detect_negative", 1)
    return [(np.isposinf(x) & bool(pos)) | (np.isneginf(x) & bool(neg))]


@handler("Where")
def where(xs, attrs, shapes):
    return [np.where(xs[0], xs[1], xs[2]).astype(np.result_type(xs[1], xs[2]), copy=False)]


@handler("Expand")
def expand(xs, attrs, shapes):
    """Bidirectional broadcast to the op's (static) output shape."""
    return [np.broadcast_to(xs[0], shapes[0])]


@handler("GatherND")
def gather_nd(xs, attrs, shapes):
    from workloads.onnx_ops import gather_nd as gather

    return [gather(xs[0], xs[1], int(attrs.get("batch_dims", 0)))]


@handler("DequantizeLinear", "QuantizeLinear")
def linear_quant(xs, attrs, shapes):
    from workloads.onnx_ops import dequantize_linear, quantize_linear

    fn = dequantize_linear if attrs["_op"] == "DequantizeLinear" else quantize_linear
    return [fn(xs[0], xs[1], xs[2] if len(xs) > 2 else None, int(attrs.get("axis", 1)))]


def run_op(op_type: str, inputs: list, attrs: dict[str, Any], shapes: list[tuple[int, ...]],
           ) -> list[np.ndarray]:
    """Run one op by type; a type with no numpy semantics here is a KeyError naming it."""
    try:
        fn = NUMPY_OPS[op_type]
    except KeyError:
        raise KeyError(f"no functional (numpy) semantics for operator {op_type!r}") from None
    return fn(inputs, {**attrs, "_op": op_type}, shapes)
