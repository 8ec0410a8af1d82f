"""ONNX operator handlers: one function per op type in :data:`HANDLERS` (like the ONNX reference
evaluator's registry). A handler turns one decoded :class:`Node` into Graph ops or, when every input
is a constant and the op has a numpy meaning, into folded constant tensors.

Output shapes come from ONNX shape inference when it knew them; otherwise the handler computes them
(so a model whose shapes inference cannot resolve still imports). Kept free of module-level onnx
imports: ``import workloads`` must stay light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Graph, Op, Tensor, conv_output_size

Shape = tuple[int, ...]
Arrays = list[np.ndarray]


@dataclass
class Node:
    """One ONNX node with decoded attributes (schema defaults filled in) and a unique name."""

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    opset: int

    @property
    def where(self) -> str:
        return f"{self.op_type} node {self.name!r}"


class Context:
    """The graph under construction plus what shape inference knew about each tensor."""

    def __init__(self, graph: Graph, inferred: dict[str, tuple[Shape | None, str | None]]) -> None:
        self.graph = graph
        self.inferred = inferred

    def shape(self, name: str) -> Shape:
        return self.graph.tensors[name].shape

    def dtype(self, name: str) -> str:
        return self.graph.tensors[name].dtype

    def const(self, name: str) -> np.ndarray | None:
        tensor = self.graph.tensors.get(name) if name else None
        return None if tensor is None else tensor.values

    def known_shape(self, name: str) -> bool:
        """Shape inference fully resolved this tensor's shape."""
        shape = self.inferred.get(name, (None, None))[0]
        return shape is not None and None not in shape

    def stand_in(self, name: str) -> np.ndarray:
        """The constant, or zeros of the tensor's shape (a zero-stride view: costs no memory)."""
        value = self.const(name)
        if value is not None:
            return value
        return np.broadcast_to(np.zeros((), self.dtype(name)), self.shape(name))

    def add_const(self, name: str, value: np.ndarray) -> None:
        value = np.asarray(value)
        self.graph.add_tensor(Tensor(name, tuple(int(d) for d in value.shape), values=value,
                                     dtype=value.dtype.name))

    def try_fold(self, node: Node, fn: Callable[[Arrays], Sequence[np.ndarray]]) -> bool:
        """Fold ``node`` into constants when every input is one; True when it did. ``fn`` gets
        the values aligned with ``node.inputs`` (None for an omitted optional input)."""
        values = [self.const(name) for name in node.inputs]
        if any(v is None for name, v in zip(node.inputs, values, strict=True) if name):
            return False
        for name, value in zip(node.outputs, guard(node, lambda: fn(values)), strict=False):
            if name:
                self.add_const(name, value)
        return True

    def emit(self, node: Node, shapes: Callable[[], Sequence[Shape]],
             attrs: dict[str, Any] | None = None, dtypes: Sequence[str | None] = (),
             exact: bool = False) -> Op:
        """Append ``node`` as an Op; each output takes the inferred shape when it is fully known,
        else ``shapes()`` (called at most once). ``exact``: ``shapes()`` is a cheap closed form
        checked against onnxruntime, so it wins (ONNX inference misses e.g. the ceil-mode rule
        that drops a pooling window starting in the padding)."""
        computed: list[Sequence[Shape]] = []
        for i, name in enumerate(node.outputs):
            if not name:
                continue
            shape, dtype = self.inferred.get(name, (None, None))
            if exact or not self.known_shape(name):
                if not computed:
                    computed.append(guard(node, shapes))
                shape = computed[0][i]
            dtype = dtype or (dtypes[i] if i < len(dtypes) else None)
            dtype = dtype or (self.dtype(node.inputs[0]) if node.inputs else "float32")
            self.graph.add_tensor(Tensor(name, tuple(int(d) for d in shape), dtype=dtype))
        inputs = list(node.inputs)
        while inputs and not inputs[-1]:
            inputs.pop()
        return self.graph.add_op(Op(node.name, node.op_type, inputs,
                                    [o for o in node.outputs if o],
                                    {**node.attrs, **(attrs or {})}))


def guard(node: Node, fn: Callable[[], Any]) -> Any:
    """Run a shape or fold computation; a model inconsistency becomes an error at the node."""
    try:
        return fn()
    except WorkloadError as err:
        raise WorkloadError(err.what, where=node.where) from None
    except (ValueError, IndexError, TypeError) as err:
        raise WorkloadError(f"inconsistent shapes or attributes ({err})",
                            where=node.where) from None


Handler = Callable[[Context, Node], None]
HANDLERS: dict[str, Handler] = {}


def register(*op_types: str, handler: Handler | None = None) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for op_type in op_types:
            HANDLERS[op_type] = fn
        return fn
    if handler is not None:
        deco(handler)
    return deco


def np_dtype(elem_type: int) -> np.dtype:
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


# ---- Constants ---------------------------------------------------------------------------------

@register("Constant")
def constant(ctx: Context, node: Node) -> None:
    attrs = node.attrs
    for key, kind in (("value_float", np.float32), ("value_floats", np.float32),
                      ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            ctx.add_const(node.outputs[0], np.array(attrs[key], dtype=kind))
            return
    value = attrs.get("value", attrs.get("value_string", attrs.get("value_strings")))
    if value is None:
        raise WorkloadError("Constant without a supported value attribute", where=node.where)
    ctx.add_const(node.outputs[0], np.asarray(value))


@register("ConstantOfShape")
def constant_of_shape(ctx: Context, node: Node) -> None:
    value = np.asarray(node.attrs.get("value", np.zeros(1, np.float32))).reshape(-1)[:1]
    if ctx.try_fold(node, lambda v: [np.broadcast_to(value.reshape(()),
                                                     tuple(int(d) for d in v[0]))]):
        return
    missing_param(ctx, node, node.inputs[0])
    ctx.emit(node, lambda: [], dtypes=[value.dtype.name])


def missing_param(ctx: Context, node: Node, name: str) -> None:
    """Fail clearly when a shape depends on a runtime value and inference could not resolve it."""
    if not all(ctx.known_shape(o) for o in node.outputs if o):
        raise WorkloadError(f"output shape depends on the runtime value of {name!r}; only "
                            "shapes known before running are supported (make it a constant)",
                            where=node.where)


@register("Shape")
def shape_of(ctx: Context, node: Node) -> None:
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    dims = ctx.shape(node.inputs[0])[start:end]
    ctx.add_const(node.outputs[0], np.array(dims, dtype=np.int64))


@register("Size")
def size_of(ctx: Context, node: Node) -> None:
    ctx.add_const(node.outputs[0], np.array(math.prod(ctx.shape(node.inputs[0])), np.int64))


# ---- Elementwise -------------------------------------------------------------------------------

def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return (np.abs(a) // np.abs(b)) * np.sign(a) * np.sign(b)
    return np.divide(a, b).astype(a.dtype)


def _variadic(fn: Callable) -> Callable[..., np.ndarray]:
    def run(*arrays: np.ndarray) -> np.ndarray:
        out = arrays[0]
        for other in arrays[1:]:
            out = fn(out, other)
        return np.asarray(out).astype(arrays[0].dtype)
    return run


_erf = np.vectorize(math.erf, otypes=[np.float64])
ELEMENTWISE_FOLDS: dict[str, Callable[..., np.ndarray]] = {
    "Add": _variadic(np.add), "Sub": _variadic(np.subtract), "Mul": _variadic(np.multiply),
    "Div": _div, "Pow": lambda a, b: np.power(a, b).astype(a.dtype),
    "Max": _variadic(np.maximum), "Min": _variadic(np.minimum), "Sum": _variadic(np.add),
    "Mod": lambda a, b: np.mod(a, b), "Equal": np.equal, "Less": np.less,
    "Greater": np.greater, "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal,
    "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor, "Not": np.logical_not,
    "Where": np.where, "Neg": np.negative, "Abs": np.abs, "Sqrt": np.sqrt, "Exp": np.exp,
    "Log": np.log, "Reciprocal": np.reciprocal, "Floor": np.floor, "Ceil": np.ceil,
    "Round": np.round, "Sign": np.sign, "Sin": np.sin, "Cos": np.cos,
    "Relu": lambda a: np.maximum(a, 0).astype(a.dtype),
    "Sigmoid": lambda a: (1 / (1 + np.exp(-a))).astype(a.dtype),
    "Tanh": np.tanh, "Erf": lambda a: _erf(a).astype(a.dtype),
}
BOOL_RESULT = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor",
               "Not"}
ELEMENTWISE = [*ELEMENTWISE_FOLDS, "Mean", "PRelu", "LeakyRelu", "Elu", "Selu", "Celu",
               "HardSigmoid", "HardSwish", "Softplus", "Softsign", "Gelu", "Mish", "Clip",
               "ThresholdedRelu", "IsNaN", "IsInf", "Tan", "Asin", "Acos", "Atan", "BitShift"]


@register(*ELEMENTWISE)
def elementwise(ctx: Context, node: Node) -> None:
    """Same-shape and broadcasting ops (Clip's min/max inputs are scalars, so they broadcast)."""
    fold = _fold_fn(node)
    if fold is not None and ctx.try_fold(node, lambda v: [np.asarray(fold(*v))]):
        if node.op_type in ("Mul", "Div", "Sub"):
            narrow_weight_bits(ctx, node)
        return
    attrs = {}
    if node.op_type == "Clip":
        for i, key in ((1, "min"), (2, "max")):
            value = ctx.const(node.inputs[i]) if len(node.inputs) > i else None
            if value is not None:
                attrs[key] = float(value.reshape(-1)[0])
    dtypes = ["bool"] if node.op_type in BOOL_RESULT | {"IsNaN", "IsInf"} else []
    if node.op_type == "Where":
        dtypes = [ctx.dtype(node.inputs[1])]
    if node.op_type == "PRelu":  # slope broadcasts to the input, never the other way
        ctx.emit(node, lambda: [ctx.shape(node.inputs[0])])
        return
    ctx.emit(node, lambda: [np.broadcast_shapes(*(ctx.shape(i) for i in node.inputs if i))],
             attrs, dtypes)


def _fold_fn(node: Node) -> Callable[..., np.ndarray] | None:
    if node.op_type == "LeakyRelu":
        alpha = node.attrs.get("alpha", 0.01)
        return lambda a: np.where(a < 0, a * alpha, a).astype(a.dtype)
    if node.op_type == "Clip":
        lo, hi = node.attrs.get("min"), node.attrs.get("max")
        return lambda a, *mm: np.clip(a, mm[0] if mm else lo, mm[1] if len(mm) > 1 else hi)
    return ELEMENTWISE_FOLDS.get(node.op_type)


@register("Dropout", "Identity")
def passthrough(ctx: Context, node: Node) -> None:
    """Inference-time identities; the optional Dropout mask is all true."""
    if ctx.try_fold(node, lambda v: [v[0], np.ones(v[0].shape, bool)]):
        return
    x = ctx.shape(node.inputs[0])
    ctx.emit(node, lambda: [x, x], dtypes=[None, "bool"])


@register("Softmax", "LogSoftmax", "Hardmax", "LRN", "InstanceNormalization",
          "LpNormalization", "MeanVarianceNormalization")
def same_shape(ctx: Context, node: Node) -> None:
    ctx.emit(node, lambda: [ctx.shape(node.inputs[0])])


@register("BatchNormalization")
def batch_norm(ctx: Context, node: Node) -> None:
    x = ctx.shape(node.inputs[0])
    ctx.emit(node, lambda: [x] + [(x[1],)] * 4)


@register("LayerNormalization")
def layer_norm(ctx: Context, node: Node) -> None:
    x = ctx.shape(node.inputs[0])
    axis = node.attrs.get("axis", -1) % len(x)
    stats = x[:axis] + (1,) * (len(x) - axis)
    ctx.emit(node, lambda: [x, stats, stats], dtypes=[None, "float32", "float32"])


# ---- GEMM-like ---------------------------------------------------------------------------------

@register("Gemm")
def gemm(ctx: Context, node: Node) -> None:
    a, b = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    m = a[1] if node.attrs.get("transA") else a[0]
    n = b[0] if node.attrs.get("transB") else b[1]
    ctx.emit(node, lambda: [(m, n)], exact=True)


def matmul_shape(a: Shape, b: Shape) -> Shape:
    """numpy.matmul's shape rule: 1-D operands are promoted, batch dims broadcast."""
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise WorkloadError(f"MatMul inner dims differ: {a} x {b}")
    out = (*np.broadcast_shapes(a2[:-2], b2[:-2]), a2[-2], b2[-1])
    return out[:-2] + out[-2:-1] * (len(a) > 1) + out[-1:] * (len(b) > 1)


@register("MatMul")
def matmul(ctx: Context, node: Node) -> None:
    a, b = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    ctx.emit(node, lambda: [matmul_shape(a, b)], exact=True)


# ---- Windows: convolution and pooling ----------------------------------------------------------

def window_attrs(node: Node, sizes: Shape, kernel: list[int]) -> dict[str, Any]:
    """kernel_shape/strides/dilations/pads with defaults, and auto_pad resolved to explicit pads
    ([x1_begin, x2_begin, ..., x1_end, x2_end]: [top, left, bottom, right] in 2-D)."""
    n = len(sizes)
    strides = list(node.attrs.get("strides") or [1] * n)
    dilations = list(node.attrs.get("dilations") or [1] * n)
    pads = list(node.attrs.get("pads") or [0] * (2 * n))
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
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


def window_out(sizes: Shape, attrs: dict[str, Any], ceil_mode: bool = False) -> list[int]:
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


@register("Conv")
def conv(ctx: Context, node: Node) -> None:
    x, w = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    kernel = node.attrs.get("kernel_shape") or list(w[2:])
    attrs = window_attrs(node, x[2:], kernel)
    attrs["group"] = node.attrs.get("group", 1)
    if x[1] != w[1] * attrs["group"]:
        raise WorkloadError(f"input has {x[1]} channels, weight expects {w[1]} x group "
                            f"{attrs['group']}", where=node.where)
    ctx.emit(node, lambda: [(x[0], w[0], *window_out(x[2:], attrs))], attrs, exact=True)


@register("ConvTranspose")
def conv_transpose(ctx: Context, node: Node) -> None:
    """Pads are resolved from auto_pad or output_shape, so the output size follows from attrs."""
    x, w = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    n = len(x) - 2
    attrs = window_attrs(node, x[2:], node.attrs.get("kernel_shape") or list(w[2:]))
    attrs["group"] = node.attrs.get("group", 1)
    attrs["output_padding"] = list(node.attrs.get("output_padding") or [0] * n)
    target = node.attrs.get("output_shape")
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if target or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = list(target or [size * s for size, s in zip(x[2:], attrs["strides"],
                                                               strict=True)])[-n:]
        totals = [s * (size - 1) + op + (k - 1) * d + 1 - t for size, s, op, k, d, t in zip(
            x[2:], attrs["strides"], attrs["output_padding"], attrs["kernel_shape"],
            attrs["dilations"], target, strict=True)]
        small = [t // 2 for t in totals]
        large = [t - t // 2 for t in totals]
        attrs["pads"] = small + large if auto_pad != "SAME_LOWER" else large + small

    def shape() -> list[Shape]:
        sizes = [s * (size - 1) + op + (k - 1) * d + 1 - pb - pe for size, s, op, k, d, pb, pe
                 in zip(x[2:], attrs["strides"], attrs["output_padding"], attrs["kernel_shape"],
                        attrs["dilations"], attrs["pads"][:n], attrs["pads"][n:], strict=True)]
        return [(x[0], w[1] * attrs["group"], *sizes)]

    node.attrs.pop("output_shape", None)  # now implied by the explicit pads
    ctx.emit(node, shape, attrs, exact=True)


@register("MaxPool", "AveragePool", "LpPool")
def pool(ctx: Context, node: Node) -> None:
    x = ctx.shape(node.inputs[0])
    attrs = window_attrs(node, x[2:], node.attrs["kernel_shape"])
    out = (x[0], x[1], *window_out(x[2:], attrs, bool(node.attrs.get("ceil_mode"))))
    ctx.emit(node, lambda: [out, out], attrs, dtypes=[None, "int64"], exact=True)


@register("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def global_pool(ctx: Context, node: Node) -> None:
    x = ctx.shape(node.inputs[0])
    ctx.emit(node, lambda: [(*x[:2], *[1] * (len(x) - 2))], exact=True)


# ---- Shape ops: one numpy implementation both folds constants and computes shapes --------------

def param(node: Node, values: Arrays, index: int, attr: str) -> list[int] | None:
    """An operand that moved from attribute to input across opsets (axes, split, pads...)."""
    if len(values) > index and values[index] is not None:
        return [int(v) for v in np.asarray(values[index]).reshape(-1)]
    value = node.attrs.get(attr)
    return None if value is None else list(value)


def _reshape(node: Node, v: Arrays) -> Arrays:
    target = param(node, v, 1, "shape")
    if not node.attrs.get("allowzero"):
        target = [v[0].shape[i] if d == 0 else d for i, d in enumerate(target)]
    return [v[0].reshape(target)]


def _flatten(node: Node, v: Arrays) -> Arrays:
    axis = node.attrs.get("axis", 1)
    axis = axis + v[0].ndim if axis < 0 else axis
    return [v[0].reshape(math.prod(v[0].shape[:axis]), math.prod(v[0].shape[axis:]))]


def _squeeze(node: Node, v: Arrays) -> Arrays:
    axes = param(node, v, 1, "axes")
    return [np.squeeze(v[0], axis=None if axes is None else tuple(axes))]


def _slice(node: Node, v: Arrays) -> Arrays:
    x = v[0]
    starts, ends = param(node, v, 1, "starts"), param(node, v, 2, "ends")
    axes = param(node, v, 3, "axes") or list(range(len(starts)))
    steps = param(node, v, 4, "steps") or [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        dim = x.shape[axis]
        start, end = (p + dim if p < 0 else p for p in (start, end))
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        index[axis] = slice(start, None if end < 0 else end, step)
    return [x[tuple(index)]]


def _split(node: Node, v: Arrays) -> Arrays:
    axis, x = node.attrs.get("axis", 0), v[0]
    sizes = param(node, v, 1, "split")
    if not sizes:
        parts = len(node.outputs)
        chunk = -(-x.shape[axis] // parts)
        sizes = [chunk] * (parts - 1) + [x.shape[axis] - chunk * (parts - 1)]
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


def _pad(node: Node, v: Arrays) -> Arrays:
    pads = param(node, v, 1, "pads")
    x = v[0]
    axes = param(node, v, 3, "axes") or list(range(x.ndim))
    half = len(pads) // 2
    width = [(0, 0)] * x.ndim
    for i, axis in enumerate(axes):
        width[axis] = (pads[i], pads[i + half])
    mode = node.attrs.get("mode", "constant")
    if mode != "constant":
        return [np.pad(x, width, mode={"reflect": "reflect", "edge": "edge"}.get(mode, "wrap"))]
    value = v[2] if len(v) > 2 and v[2] is not None else node.attrs.get("value", 0)
    return [np.pad(x, width, constant_values=np.asarray(value).reshape(-1)[:1].item())]


def _reduce(fn: Callable) -> Callable[[Node, Arrays], Arrays]:
    def run(node: Node, v: Arrays) -> Arrays:
        axes = param(node, v, 1, "axes")
        if not axes and node.attrs.get("noop_with_empty_axes"):
            return [v[0]]
        axis = None if not axes else tuple(axes)
        return [np.asarray(fn(v[0], axis=axis, keepdims=bool(node.attrs.get("keepdims", 1))))]
    return run


def _arg(fn: Callable) -> Callable[[Node, Arrays], Arrays]:
    def run(node: Node, v: Arrays) -> Arrays:
        axis = node.attrs.get("axis", 0)
        out = fn(v[0], axis=axis)
        return [np.expand_dims(out, axis) if node.attrs.get("keepdims", 1) else out]
    return run


SHAPE_OPS: dict[str, tuple[Callable[[Node, Arrays], Arrays], dict[int, str]]] = {
    "Reshape": (_reshape, {1: "shape"}),
    "Flatten": (_flatten, {}),
    "Transpose": (lambda n, v: [np.transpose(v[0], n.attrs.get("perm"))], {}),
    "Squeeze": (_squeeze, {1: "axes"}),
    "Unsqueeze": (lambda n, v: [np.expand_dims(v[0], tuple(param(n, v, 1, "axes")))],
                  {1: "axes"}),
    "Concat": (lambda n, v: [np.concatenate(v, axis=n.attrs["axis"])], {}),
    "Split": (_split, {1: "split"}),
    "Slice": (_slice, {1: "starts", 2: "ends", 3: "axes", 4: "steps"}),
    "Gather": (lambda n, v: [np.take(v[0], v[1].astype(np.int64), axis=n.attrs.get("axis", 0))],
               {}),
    "Expand": (lambda n, v: [np.broadcast_to(v[0], np.broadcast_shapes(
        v[0].shape, tuple(param(n, v, 1, "shape"))))], {1: "shape"}),
    "Tile": (lambda n, v: [np.tile(v[0], param(n, v, 1, "repeats"))], {1: "repeats"}),
    "Pad": (_pad, {1: "pads", 2: "constant_value", 3: "axes"}),
    "Cast": (lambda n, v: [v[0].astype(np_dtype(n.attrs["to"]))], {}),
    "Range": (lambda n, v: [np.arange(v[0].item(), v[1].item(), v[2].item(), v[0].dtype)],
              {0: "start", 1: "limit", 2: "delta"}),
    "ReduceMean": (_reduce(np.mean), {1: "axes"}),
    "ReduceSum": (_reduce(np.sum), {1: "axes"}),
    "ReduceMax": (_reduce(np.max), {1: "axes"}),
    "ReduceMin": (_reduce(np.min), {1: "axes"}),
    "ReduceProd": (_reduce(np.prod), {1: "axes"}),
    "ArgMax": (_arg(np.argmax), {}),
    "ArgMin": (_arg(np.argmin), {}),
}


@register(*SHAPE_OPS)
def shape_op(ctx: Context, node: Node) -> None:
    """Fold on constants; else emit, with parameter inputs (shape, axes...) recorded as attrs."""
    impl, params = SHAPE_OPS[node.op_type]
    if ctx.try_fold(node, lambda v: impl(node, v)):
        if node.op_type == "Cast":
            narrow_weight_bits(ctx, node)
        return
    attrs = {}
    for index, key in params.items():
        if len(node.inputs) > index and node.inputs[index]:
            value = ctx.const(node.inputs[index])
            if value is None:
                missing_param(ctx, node, node.inputs[index])
                continue
            attrs.setdefault(key, value.reshape(-1).tolist())
    dtypes = [np_dtype(node.attrs["to"]).name] if node.op_type == "Cast" else []
    if node.op_type in ("ArgMax", "ArgMin"):
        dtypes = ["int64"]

    def shapes() -> list[Shape]:
        values = [ctx.stand_in(name) if name else None for name in node.inputs]
        return [out.shape for out in impl(node, values)]

    op = ctx.emit(node, shapes, {k: v for k, v in attrs.items() if k not in node.attrs}, dtypes)
    implied_attrs(ctx, node, op)


def implied_attrs(ctx: Context, node: Node, op: Op) -> None:
    """Attributes whose absence means something (Transpose reverses, Squeeze drops every 1,
    Split splits evenly) written out explicitly."""
    shape = ctx.shape(node.inputs[0])
    if node.op_type == "Transpose" and op.attrs.get("perm") is None:
        op.attrs["perm"] = list(range(len(shape)))[::-1]
    elif node.op_type == "Squeeze" and op.attrs.get("axes") is None:
        op.attrs["axes"] = [i for i, d in enumerate(shape) if d == 1]
    elif node.op_type == "Split" and not op.attrs.get("split"):
        axis = op.attrs.get("axis", 0)
        op.attrs["split"] = [ctx.shape(o)[axis] for o in op.outputs]


# ---- Gathers whose index operand is a tensor of coordinates -------------------------------------

def gather_nd(data: np.ndarray, indices: np.ndarray, batch_dims: int = 0) -> np.ndarray:
    """ONNX GatherND: each row of ``indices``' last axis addresses the first ``k`` dims of
    ``data`` after the ``batch_dims`` leading ones (negative coordinates count from the end).
    One fancy-indexing call, no Python loop per element; shared with functional execution."""
    indices = np.asarray(indices).astype(np.int64)
    b, k = batch_dims, indices.shape[-1]
    if indices.shape[:b] != data.shape[:b]:
        raise WorkloadError(f"GatherND batch dims differ: data {data.shape}, indices "
                            f"{indices.shape}, batch_dims {b}")
    if b + k > data.ndim:
        raise WorkloadError(f"GatherND indices address {k} dims after {b} batch dims of a "
                            f"rank-{data.ndim} input")
    batch = math.prod(data.shape[:b])
    flat = data.reshape(batch, *data.shape[b:])
    idx = indices.reshape(batch, -1, k)
    dims = np.array(data.shape[b:b + k], np.int64)
    if np.any((idx < -dims) | (idx >= dims)):
        raise WorkloadError(f"GatherND index out of range for dims {tuple(dims.tolist())}")
    idx = np.where(idx < 0, idx + dims, idx)
    rows = np.arange(batch).reshape(batch, 1)
    out = flat[(rows, *np.moveaxis(idx, -1, 0))]
    return out.reshape(*indices.shape[:-1], *data.shape[b + k:])


def gather_nd_shape(data: Shape, indices: Shape, batch_dims: int) -> Shape:
    """Output shape of GatherND: the indices' leading dims, then the un-addressed data dims."""
    k = indices[-1]
    if batch_dims + k > len(data) or indices[:batch_dims] != data[:batch_dims]:
        raise WorkloadError(f"GatherND cannot index data {data} with indices {indices} "
                            f"(batch_dims {batch_dims})")
    return (*indices[:-1], *data[batch_dims + k:])


@register("GatherND")
def gather_nd_op(ctx: Context, node: Node) -> None:
    """Folded on constants (shape-computing subgraphs); else an Op with ``batch_dims``."""
    b = int(node.attrs.get("batch_dims", 0))
    if ctx.try_fold(node, lambda v: [gather_nd(v[0], v[1], b)]):
        return
    data, indices = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    ctx.emit(node, lambda: [gather_nd_shape(data, indices, b)], {"batch_dims": b}, exact=True)


# ---- Linear quantization: folded on constant weights, else vector ops -------------------------

def _per_axis(param_value: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """A scale or zero point shaped to broadcast: scalar (per tensor) or 1-D along ``axis``."""
    value = np.asarray(param_value)
    if value.ndim == 0 or value.size == 1 and value.ndim <= 1:
        return value.reshape(())
    if value.ndim != 1:
        raise WorkloadError("blocked quantization (scale of rank > 1) is not supported; "
                            "use a per-tensor or per-axis scale")
    shape = [1] * ndim
    shape[axis % ndim] = value.size
    return value.reshape(shape)


def dequantize_linear(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None,
                      axis: int = 1) -> np.ndarray:
    """ONNX DequantizeLinear: ``(x - zero_point) * scale`` in the scale's float type."""
    s = _per_axis(scale, x.ndim, axis)
    z = 0 if zero is None else _per_axis(zero, x.ndim, axis).astype(np.int32)
    return ((x.astype(np.int32) - z) * s).astype(s.dtype)


def quantize_linear(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None,
                    axis: int = 1) -> np.ndarray:
    """ONNX QuantizeLinear: ``saturate(round_half_even(x / scale) + zero_point)`` in the zero
    point's integer type (uint8 when it is omitted)."""
    dtype = np.dtype(np.uint8) if zero is None else np.asarray(zero).dtype
    s = _per_axis(scale, x.ndim, axis)
    z = 0 if zero is None else _per_axis(zero, x.ndim, axis).astype(np.float32)
    q = np.rint(x.astype(np.float32) / s.astype(np.float32)) + z
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


def _quant_attrs(node: Node) -> int:
    if node.attrs.get("block_size", 0):
        raise WorkloadError("blocked quantization (block_size > 0) is not supported",
                            where=node.where)
    return int(node.attrs.get("axis", 1))


@register("DequantizeLinear")
def dequantize_op(ctx: Context, node: Node) -> None:
    """A constant int8 weight folds to float with ``bits`` = its integer width, so the lowering
    still moves 1-byte weights; on activations it is a vector op."""
    axis = _quant_attrs(node)
    if ctx.try_fold(node, lambda v: [dequantize_linear(v[0], v[1], v[2] if len(v) > 2 else None,
                                                       axis)]):
        ctx.graph.tensors[node.outputs[0]].bits = 8 * ctx.const(node.inputs[0]).dtype.itemsize
        return
    ctx.emit(node, lambda: [ctx.shape(node.inputs[0])], {"axis": axis},
             dtypes=[ctx.dtype(node.inputs[1])], exact=True)


@register("QuantizeLinear")
def quantize_op(ctx: Context, node: Node) -> None:
    axis = _quant_attrs(node)
    zero = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    dtype = ctx.dtype(zero) if zero else "uint8"
    if ctx.try_fold(node, lambda v: [quantize_linear(v[0], v[1], v[2] if len(v) > 2 else None,
                                                     axis)]):
        return
    op = ctx.emit(node, lambda: [ctx.shape(node.inputs[0])], {"axis": axis}, dtypes=[dtype],
                  exact=True)
    ctx.graph.tensors[op.outputs[0]].bits = 8 * np.dtype(dtype).itemsize


def narrow_weight_bits(ctx: Context, node: Node) -> None:
    """Weight-only quantized exports dequantize as ``Cast(int8 W) * scale`` on constants; the
    folded float weight keeps ``bits`` = 8 so the lowering moves the stored 1-byte codes."""
    out = ctx.graph.tensors.get(node.outputs[0])
    if out is None or out.values is None:
        return
    if node.op_type == "Cast":
        src = ctx.const(node.inputs[0])
        if src is not None and src.dtype.kind in "iu" and src.dtype.itemsize == 1:
            out.bits = 8
        return
    tagged = [ctx.graph.tensors[i].bits for i in node.inputs if i and ctx.graph.tensors[i].bits]
    others = [ctx.graph.tensors[i] for i in node.inputs if i and not ctx.graph.tensors[i].bits]
    if len(tagged) == 1 and all(t.numel <= max(out.shape, default=1) for t in others):
        out.bits = tagged[0]
