"""Window operators: convolutions (Conv, ConvTranspose) and pooling (Max/Average/Lp, global).

The importer resolves ``auto_pad`` into explicit pads and writes every window attribute out
(kernel_shape, strides, pads, dilations); the semantics accept either form. N-D: any number of
spatial axes after (N, C).
"""

from __future__ import annotations

import itertools
import math
import string
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from workloads.errors import WorkloadError
from workloads.graph import Graph, Op, conv_output_size
from workloads.ops.catalogue import Call, OpSpec, VectorCost, register, taps_of_kernel
from workloads.ops.importing import Context, ImportRule, Node, Shape


def window_attrs(attrs: Mapping[str, Any], sizes: Shape, kernel: list[int]) -> dict[str, Any]:
    """kernel_shape/strides/dilations/pads with defaults, and auto_pad resolved to explicit pads
    ([x1_begin, x2_begin, ..., x1_end, x2_end]: [top, left, bottom, right] in 2-D)."""
    n = len(sizes)
    strides = list(attrs.get("strides") or [1] * n)
    dilations = list(attrs.get("dilations") or [1] * n)
    pads = list(attrs.get("pads") or [0] * (2 * n))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        pads = [0] * (2 * n)
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
            total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
            small, large = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else large)
            ends.append(large if auto_pad == "SAME_UPPER" else small)
        pads = begins + ends
    return {"kernel_shape": list(kernel), "strides": strides, "pads": pads,
            "dilations": dilations, "auto_pad": "NOTSET"}


def window_out(sizes: Shape, attrs: Mapping[str, Any], ceil_mode: bool = False) -> list[int]:
    """Output length per spatial axis; in ceil mode a window starting in the end padding is
    dropped (ONNX/PyTorch rule)."""
    n, out = len(sizes), []
    for i, size in enumerate(sizes):
        k = (attrs["kernel_shape"][i] - 1) * attrs["dilations"][i] + 1
        s, pb, pe = attrs["strides"][i], attrs["pads"][i], attrs["pads"][i + n]
        o = conv_output_size(size, k, s, pb, pe, ceil_mode)
        if ceil_mode and (o - 1) * s >= size + pb:
            o -= 1
        out.append(o)
    return out


def conv_transpose_attrs(attrs: Mapping[str, Any], x: Shape, w: Shape) -> dict[str, Any]:
    """Window attributes of a ConvTranspose with pads resolved from auto_pad or output_shape,
    so the output size follows from the attributes alone."""
    n = len(x) - 2
    out = window_attrs(attrs, x[2:], list(attrs.get("kernel_shape") or w[2:]))
    out["group"] = attrs.get("group", 1)
    out["output_padding"] = list(attrs.get("output_padding") or [0] * n)
    target = attrs.get("output_shape")
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if target is not None and len(target) or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = list(target if target is not None and len(target) else
                      [size * s for size, s in zip(x[2:], out["strides"], strict=True)])[-n:]
        totals = [s * (size - 1) + op + (k - 1) * d + 1 - t for size, s, op, k, d, t in zip(
            x[2:], out["strides"], out["output_padding"], out["kernel_shape"],
            out["dilations"], target, strict=True)]
        small = [t // 2 for t in totals]
        large = [t - t // 2 for t in totals]
        # SAME_UPPER puts the odd pixel at the end; SAME_LOWER and output_shape at the start
        out["pads"] = small + large if auto_pad == "SAME_UPPER" else large + small
    return out


def conv_transpose_sizes(x: Shape, attrs: Mapping[str, Any]) -> list[int]:
    n = len(x) - 2
    return [s * (size - 1) + op + (k - 1) * d + 1 - pb - pe for size, s, op, k, d, pb, pe
            in zip(x[2:], attrs["strides"], attrs["output_padding"], attrs["kernel_shape"],
                   attrs["dilations"], attrs["pads"][:n], attrs["pads"][n:], strict=True)]


# ---- semantics ---------------------------------------------------------------------------------

def _letters(n: int, offset: int) -> str:
    """einsum labels for spatial axes (upper case: the batch/channel labels are lower case)."""
    return string.ascii_uppercase[offset:offset + n]


def _windows(xp: np.ndarray, attrs: Mapping[str, Any], out: list[int]) -> np.ndarray:
    """(N, C, *out, *kernel) windows of the padded input ``xp``."""
    n = xp.ndim - 2
    eff = [(k - 1) * d + 1 for k, d in zip(attrs["kernel_shape"], attrs["dilations"],
                                              strict=True)]
    win = sliding_window_view(xp, eff, axis=tuple(range(2, 2 + n)))
    index = (slice(None), slice(None),
             *(slice(None, (o - 1) * s + 1, s) for o, s in zip(out, attrs["strides"],
                                                               strict=True)),
             *(slice(None, None, d) for d in attrs["dilations"]))
    return win[index]


def _conv(c: Call) -> list[np.ndarray]:
    x, w = np.asarray(c.inputs[0]), np.asarray(c.inputs[1])
    n = x.ndim - 2
    attrs = window_attrs(c.attrs, x.shape[2:], list(c.attrs.get("kernel_shape") or w.shape[2:]))
    group = int(c.attr("group", 1))
    batch, channels = x.shape[:2]
    if channels != w.shape[1] * group:
        raise WorkloadError(f"input has {channels} channels, weight expects {w.shape[1]} x "
                            f"group {group}")
    out = window_out(x.shape[2:], attrs)
    pads = attrs["pads"]
    acc = np.float64 if x.dtype.kind == "f" else np.int64
    xp = np.pad(x.astype(acc), [(0, 0), (0, 0)] + [(pads[i], pads[i + n]) for i in range(n)])
    win = _windows(xp, attrs, out).reshape(batch, group, channels // group, *out,
                                           *attrs["kernel_shape"])
    wg = w.astype(acc).reshape(group, w.shape[0] // group, w.shape[1], *w.shape[2:])
    o, k = _letters(n, 0), _letters(n, n)
    y = np.einsum(f"zgc{o}{k},gmc{k}->zgm{o}", win, wg, optimize=True)
    y = y.reshape(batch, w.shape[0], *out)
    bias = c.input(2)
    if bias is not None:
        y = y + np.asarray(bias).reshape(1, -1, *[1] * n)
    return [y.astype(x.dtype)]


def _conv_transpose(c: Call) -> list[np.ndarray]:
    x, w = np.asarray(c.inputs[0]), np.asarray(c.inputs[1])
    n = x.ndim - 2
    attrs = conv_transpose_attrs(c.attrs, x.shape, w.shape)
    group = int(attrs["group"])
    batch, channels = x.shape[:2]
    m = w.shape[1]                          # output channels per group
    sizes = conv_transpose_sizes(x.shape, attrs)
    pads = attrs["pads"]
    full = [o + pads[i] + pads[i + n] for i, o in enumerate(sizes)]
    xg = x.astype(np.float64).reshape(batch, group, channels // group, *x.shape[2:])
    wg = w.astype(np.float64).reshape(group, channels // group, m, *w.shape[2:])
    buf = np.zeros((batch, group, m, *full))
    s, d = attrs["strides"], attrs["dilations"]
    i = _letters(n, 0)
    for tap in itertools.product(*(range(k) for k in attrs["kernel_shape"])):
        part = np.einsum(f"zgc{i},gcm->zgm{i}", xg, wg[(Ellipsis, *tap)], optimize=True)
        where = tuple(slice(t * dd, t * dd + ss * (size - 1) + 1, ss) for t, dd, ss, size in
                      zip(tap, d, s, x.shape[2:], strict=True))
        buf[(slice(None), slice(None), slice(None), *where)] += part
    # A negative pad (output_shape beyond the full output) extends the output with zeros.
    grow = [(max(0, -pads[j]), max(0, -pads[j + n])) for j in range(n)]
    if any(a or b for a, b in grow):
        buf = np.pad(buf, [(0, 0)] * 3 + grow)
    y = buf[(slice(None), slice(None), slice(None),
             *(slice(pads[j] + grow[j][0], pads[j] + grow[j][0] + sizes[j]) for j in range(n)))]
    y = y.reshape(batch, group * m, *sizes)
    bias = c.input(2)
    if bias is not None:
        y = y + np.asarray(bias).reshape(1, -1, *[1] * n)
    return [y.astype(x.dtype)]


def _pool_windows(x: np.ndarray, c: Call, pad_value: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Windows of the padded input, and masks of the taps on real input elements and of the
    taps inside the declared padding (not the extra a ceil-mode window may need)."""
    n = x.ndim - 2
    attrs = window_attrs(c.attrs, x.shape[2:], list(c.attrs["kernel_shape"]))
    ceil = bool(c.attr("ceil_mode", 0))
    out = window_out(x.shape[2:], attrs, ceil)
    pads, sizes = attrs["pads"], x.shape[2:]
    extra = [max(0, (o - 1) * s + (k - 1) * d + 1 - (size + pads[i] + pads[i + n]))
             for i, (o, s, k, d, size) in enumerate(zip(out, attrs["strides"],
                                                        attrs["kernel_shape"],
                                                        attrs["dilations"], sizes, strict=True))]
    width = [(pads[i], pads[i + n] + extra[i]) for i in range(n)]
    xp = np.pad(x, [(0, 0), (0, 0), *width], constant_values=pad_value)
    real = np.pad(np.ones(sizes, bool), width, constant_values=False)
    declared = np.pad(np.ones([size + pads[i] + pads[i + n] for i, size in enumerate(sizes)],
                              bool), [(0, e) for e in extra], constant_values=False)
    win = _windows(xp, attrs, out)
    real_win = _windows(real[None, None], attrs, out)[0, 0]
    declared_win = _windows(declared[None, None], attrs, out)[0, 0]
    return win, real_win, declared_win, attrs


def _spatial_taps(n: int) -> tuple[int, ...]:
    return tuple(range(-n, 0))


def _max_pool(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    n = x.ndim - 2
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    win, _, _, attrs = _pool_windows(x, c, low)
    y = win.max(axis=_spatial_taps(n)).astype(x.dtype)
    sizes = x.shape[2:]
    order = np.arange(math.prod(sizes)).reshape(sizes[::-1]).transpose() \
        if c.attr("storage_order", 0) else np.arange(math.prod(sizes)).reshape(sizes)
    fake = Call(c.op, [], c.attrs)
    idx_win = _pool_windows(order[None, None].astype(np.int64), fake, -1)[0][0, 0]
    flat = win.reshape(*win.shape[:2 + n], -1)
    best = flat.argmax(axis=-1)
    taps = idx_win.reshape(*idx_win.shape[:n], -1)
    spatial = np.take_along_axis(np.broadcast_to(taps, (*win.shape[:2], *taps.shape)),
                                 best[..., None], axis=-1)[..., 0]
    offset = (np.arange(x.shape[0])[:, None] * x.shape[1] + np.arange(x.shape[1])[None, :]) \
        * math.prod(sizes)
    indices = spatial + offset.reshape(*offset.shape, *[1] * n)
    return [y, indices.astype(np.int64)]


def _average_pool(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    n = x.ndim - 2
    win, real, declared, _ = _pool_windows(x.astype(np.float64), c, 0.0)
    counted = declared if c.attr("count_include_pad", 0) else real
    total = win.sum(axis=_spatial_taps(n))
    return [(total / counted.sum(axis=_spatial_taps(n))).astype(x.dtype)]


def _lp_pool(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    n = x.ndim - 2
    p = float(c.attr("p", 2))
    win, _, _, _ = _pool_windows(np.abs(x.astype(np.float64)), c, 0.0)
    return [((win ** p).sum(axis=_spatial_taps(n)) ** (1 / p)).astype(x.dtype)]


def _global(fn):
    def run(c: Call) -> list[np.ndarray]:
        x = np.asarray(c.inputs[0])
        axes = tuple(range(2, x.ndim))
        return [np.asarray(fn(x, axes, c)).astype(x.dtype)]
    return run


def _global_lp(x: np.ndarray, axes: tuple[int, ...], c: Call) -> np.ndarray:
    p = float(c.attr("p", 2))
    return (np.abs(x.astype(np.float64)) ** p).sum(axis=axes, keepdims=True) ** (1 / p)


# ---- import rules ------------------------------------------------------------------------------

def _conv_attrs(ctx: Context, node: Node) -> dict[str, Any]:
    x, w = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    attrs = window_attrs(node.attrs, x[2:], node.attrs.get("kernel_shape") or list(w[2:]))
    attrs["group"] = node.attrs.get("group", 1)
    if x[1] != w[1] * attrs["group"]:
        raise WorkloadError(f"input has {x[1]} channels, weight expects {w[1]} x group "
                            f"{attrs['group']}", where=node.where)
    return attrs


def _conv_rule(ctx: Context, node: Node) -> list[Shape]:
    x, w = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    attrs = _conv_attrs(ctx, node)
    return [(x[0], w[0], *window_out(x[2:], attrs))]


def _conv_transpose_attrs(ctx: Context, node: Node) -> dict[str, Any]:
    return conv_transpose_attrs(node.attrs, ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1]))


def _drop_output_shape(ctx: Context, node: Node, op: Op) -> None:
    op.attrs.pop("output_shape", None)  # now implied by the explicit pads


def _conv_transpose_rule(ctx: Context, node: Node) -> list[Shape]:
    x, w = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    attrs = conv_transpose_attrs(node.attrs, x, w)
    return [(x[0], w[1] * attrs["group"], *conv_transpose_sizes(x, attrs))]


def _pool_attrs(ctx: Context, node: Node) -> dict[str, Any]:
    x = ctx.shape(node.inputs[0])
    return window_attrs(node.attrs, x[2:], node.attrs["kernel_shape"])


def _pool_rule(ctx: Context, node: Node) -> list[Shape]:
    x = ctx.shape(node.inputs[0])
    attrs = _pool_attrs(ctx, node)
    out = (x[0], x[1], *window_out(x[2:], attrs, bool(node.attrs.get("ceil_mode"))))
    return [out, out]


def _global_rule(ctx: Context, node: Node) -> list[Shape]:
    x = ctx.shape(node.inputs[0])
    return [(*x[:2], *[1] * (len(x) - 2))]


def conv_transpose_macs(graph: Graph, op: Op) -> int:
    """A transposed convolution's work on a vector unit: one multiply-add per input element,
    output channel of its group and kernel tap."""
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    return x.numel * w.shape[1] * math.prod(w.shape[2:])


_POOL = ImportRule(fold=False, attrs=_pool_attrs, shape=_pool_rule, exact=True,
                   dtypes=lambda ctx, node: [None, "int64"])
_GLOBAL = ImportRule(fold=False, shape=_global_rule, exact=True)

_CONV = ImportRule(fold=False, attrs=_conv_attrs, shape=_conv_rule, exact=True)


def _import_conv(ctx: Context, node: Node, spec: OpSpec) -> None:
    """A 1-D convolution (audio, sequences) is imported as a 2-D one of height 1 between an
    Unsqueeze and a Squeeze, so every lowering (they tile 2-D convolutions) runs it."""
    x, w = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    if len(x) != 3 or len(w) != 3:
        _CONV(ctx, node, spec)
        return
    from workloads.ops.decompose import Builder

    b = Builder(ctx, node)
    attrs = window_attrs(node.attrs, x[2:], node.attrs.get("kernel_shape") or [w[2]])
    axis = b.const(np.array([2], np.int64))
    conv2d = {"kernel_shape": [1, *attrs["kernel_shape"]], "strides": [1, *attrs["strides"]],
              "dilations": [1, *attrs["dilations"]],
              "pads": [0, attrs["pads"][0], 0, attrs["pads"][1]],
              "group": node.attrs.get("group", 1)}
    inputs = [b.one("Unsqueeze", [node.inputs[0], axis]),
              b.one("Unsqueeze", [node.inputs[1], axis]), *node.inputs[2:]]
    y = b.one("Conv", inputs, **conv2d)
    b.op("Squeeze", [y, axis], outputs=[node.outputs[0]])


register(OpSpec("Conv", "", 1, None, "matmul", "N-D convolution (groups, dilations, pads)",
                importer=ImportRule(custom=_import_conv),
                semantics=_conv, gemm=True))
register(OpSpec("ConvTranspose", "", 1, None, "matmul",
                "N-D transposed convolution; runs on the vector unit (no GEMM decomposition)",
                importer=ImportRule(fold=False, attrs=_conv_transpose_attrs,
                                    shape=_conv_transpose_rule, exact=True,
                                    on_emit=_drop_output_shape),
                semantics=_conv_transpose, work=conv_transpose_macs))
for _op, _fn, _doc in (("MaxPool", _max_pool, "window maximum (and its flat index)"),
                       ("AveragePool", _average_pool, "window mean (count_include_pad)"),
                       ("LpPool", _lp_pool, "window p-norm")):
    register(OpSpec(_op, "", 1, None, "pooling", _doc, importer=_POOL, semantics=_fn,
                    cost=VectorCost(per_tap=1), taps=taps_of_kernel))
register(OpSpec("GlobalAveragePool", "", 1, None, "pooling", "mean over the spatial axes",
                importer=_GLOBAL, cost=VectorCost(per_input=1),
                semantics=_global(lambda x, axes, c: x.mean(axis=axes, keepdims=True))))
register(OpSpec("GlobalMaxPool", "", 1, None, "pooling", "maximum over the spatial axes",
                importer=_GLOBAL, cost=VectorCost(per_input=1),
                semantics=_global(lambda x, axes, c: x.max(axis=axes, keepdims=True))))
register(OpSpec("GlobalLpPool", "", 1, None, "pooling", "p-norm over the spatial axes",
                importer=_GLOBAL, cost=VectorCost(per_input=2), semantics=_global(_global_lp)))
