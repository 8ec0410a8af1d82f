"""Elementwise operators: arithmetic, comparisons and logic, activations, math functions, Cast.

Every output element depends on the same-position elements of the (numpy-broadcast) inputs.
Integer and bool inputs keep their type where ONNX does (arithmetic on the first input's type,
comparisons and logic give bool).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from workloads.ops.catalogue import Call, OpSpec, VectorCost, register
from workloads.ops.importing import (
    Context,
    ImportRule,
    Node,
    broadcast_shape,
    first_input_shape,
)

# ---- ONNX element types ------------------------------------------------------------------------

#: TensorProto data type -> numpy dtype (the numpy-native ones; others ask onnx, lazily)
TENSOR_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
                 7: "int64", 8: "object", 9: "bool", 10: "float16", 11: "float64",
                 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128"}


def np_dtype(elem_type: int) -> np.dtype:
    """The numpy dtype of an ONNX element type (``Cast``'s ``to``)."""
    name = TENSOR_DTYPES.get(int(elem_type))
    if name is not None:
        return np.dtype(name)
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(int(elem_type)))


# ---- weight bits through dequantizing arithmetic -------------------------------------------------

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


# ---- semantics helpers ------------------------------------------------------------------------

def _erf(x: np.ndarray) -> np.ndarray:
    """erf to double precision (math.erf; no scipy at import)."""
    return np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, np.float64))


def _float(x: np.ndarray) -> np.ndarray:
    """Compute in float64 when the input is not floating (then cast back by the caller)."""
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def unary(fn: Callable[[np.ndarray, Call], np.ndarray]) -> Callable[[Call], list[np.ndarray]]:
    """``fn(x, call)`` elementwise; the result keeps the input's type."""
    def run(c: Call) -> list[np.ndarray]:
        x = np.asarray(c.inputs[0])
        with np.errstate(all="ignore"):
            return [np.asarray(fn(x, c)).astype(x.dtype, copy=False)]
    return run


def variadic(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
             ) -> Callable[[Call], list[np.ndarray]]:
    """Left fold of a binary numpy ufunc over every given input, in the first input's type."""
    def run(c: Call) -> list[np.ndarray]:
        xs = [np.asarray(x) for x in c.inputs if x is not None]
        out = xs[0]
        with np.errstate(all="ignore"):
            for other in xs[1:]:
                out = fn(out, other)
        return [np.asarray(out).astype(xs[0].dtype, copy=False)]
    return run


def predicate(fn: Callable[..., np.ndarray]) -> Callable[[Call], list[np.ndarray]]:
    """A comparison or logical op: bool result."""
    return lambda c: [np.asarray(fn(*(x for x in c.inputs if x is not None)), dtype=bool)]


def _div(c: Call) -> list[np.ndarray]:
    a, b = np.asarray(c.inputs[0]), np.asarray(c.inputs[1])
    if a.dtype.kind in "iu":   # C division: truncation toward zero
        return [((np.abs(a) // np.abs(b)) * np.sign(a) * np.sign(b)).astype(a.dtype)]
    with np.errstate(all="ignore"):
        return [np.divide(a, b).astype(a.dtype, copy=False)]


def _pow(c: Call) -> list[np.ndarray]:
    a, b = np.asarray(c.inputs[0]), np.asarray(c.inputs[1])
    with np.errstate(all="ignore"):
        out = np.power(_float(a), b.astype(np.float64) if b.dtype.kind != "f" else b)
    if a.dtype.kind in "iu":
        out = np.trunc(out)
    return [np.asarray(out).astype(a.dtype)]


def _mod(c: Call) -> list[np.ndarray]:
    a, b = np.asarray(c.inputs[0]), np.asarray(c.inputs[1])
    with np.errstate(all="ignore"):
        if c.attr("fmod", 0):   # C fmod: the sign of the dividend
            return [np.fmod(a, b).astype(a.dtype, copy=False)]
        return [np.mod(a, b).astype(a.dtype, copy=False)]   # the sign of the divisor


def _mean(c: Call) -> list[np.ndarray]:
    xs = [np.asarray(x) for x in c.inputs if x is not None]
    total = xs[0].astype(np.float64)
    for x in xs[1:]:
        total = total + x
    return [(total / len(xs)).astype(xs[0].dtype)]


def _bitshift(c: Call) -> list[np.ndarray]:
    x, y = np.asarray(c.inputs[0]), np.asarray(c.inputs[1])
    shift = np.left_shift if c.attr("direction", "LEFT") == "LEFT" else np.right_shift
    return [shift(x, y.astype(x.dtype)).astype(x.dtype)]


def _clip(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    lo, hi = c.input(1), c.input(2)
    lo = c.attrs.get("min") if lo is None else lo
    hi = c.attrs.get("max") if hi is None else hi
    out = x
    if lo is not None:
        out = np.maximum(out, np.asarray(lo).astype(x.dtype).reshape(()))
    if hi is not None:
        out = np.minimum(out, np.asarray(hi).astype(x.dtype).reshape(()))
    return [np.asarray(out).astype(x.dtype, copy=False)]


def _where(c: Call) -> list[np.ndarray]:
    cond, a, b = (np.asarray(x) for x in c.inputs[:3])
    return [np.where(cond, a, b).astype(np.result_type(a, b), copy=False)]


def cast_to(x: np.ndarray, dtype: np.dtype, saturate: bool = True) -> np.ndarray:
    """ONNX Cast: float -> int truncates toward zero; to the float8 types (ml_dtypes) out-of-range
    values saturate to the largest finite value when ``saturate`` (else NaN/inf)."""
    dtype = np.dtype(dtype)
    if saturate and "float8" in dtype.name and x.dtype.kind == "f":
        import ml_dtypes

        top = float(ml_dtypes.finfo(dtype).max)
        x = np.clip(x.astype(np.float32), -top, top)
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(dtype)


def _cast(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    to = c.attrs.get("to")
    if to is None:
        return [x]
    return [cast_to(x, np_dtype(to), bool(c.attr("saturate", 1)))]


def _cast_like(c: Call) -> list[np.ndarray]:
    return [cast_to(np.asarray(c.inputs[0]), np.asarray(c.inputs[1]).dtype,
                    bool(c.attr("saturate", 1)))]


def _is_inf(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    pos, neg = c.attr("detect_positive", 1), c.attr("detect_negative", 1)
    return [(np.isposinf(x) & bool(pos)) | (np.isneginf(x) & bool(neg))]


def _prelu(c: Call) -> list[np.ndarray]:
    x, slope = np.asarray(c.inputs[0]), np.asarray(c.inputs[1])
    return [np.where(x < 0, x * slope, x).astype(x.dtype, copy=False)]


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, _float(x))


def _gelu(x: np.ndarray, c: Call) -> np.ndarray:
    x = _float(x)
    if c.attr("approximate", "none") == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875

#: op -> (first opset, default cost per output element, semantics on x, doc)
UNARY: dict[str, tuple[int, float, Callable[[np.ndarray, Call], np.ndarray], str]] = {
    "Relu": (1, 1, lambda x, c: np.maximum(x, 0), "max(x, 0)"),
    "LeakyRelu": (1, 1, lambda x, c: np.where(x >= 0, x, x * c.attr("alpha", 0.01)),
                  "x, or alpha*x below 0"),
    "Sigmoid": (1, 4, lambda x, c: 1.0 / (1.0 + np.exp(-_float(x))), "1 / (1 + exp(-x))"),
    "HardSigmoid": (1, 1, lambda x, c: np.clip(x * c.attr("alpha", 0.2) + c.attr("beta", 0.5),
                                               0, 1), "clip(alpha*x + beta, 0, 1)"),
    "HardSwish": (14, 1, lambda x, c: x * np.clip(x / 6 + 0.5, 0, 1), "x * hardsigmoid(x)"),
    "Tanh": (1, 4, lambda x, c: np.tanh(_float(x)), "tanh"),
    "Exp": (1, 4, lambda x, c: np.exp(_float(x)), "e^x"),
    "Log": (1, 4, lambda x, c: np.log(_float(x)), "natural log"),
    "Sqrt": (1, 4, lambda x, c: np.sqrt(_float(x)), "square root"),
    "Erf": (9, 4, lambda x, c: _erf(x), "error function"),
    "Gelu": (20, 8, _gelu, "Gaussian error linear unit (exact or tanh)"),
    "Neg": (1, 1, lambda x, c: np.negative(x), "-x"),
    "Abs": (1, 1, lambda x, c: np.abs(x), "|x|"),
    "Reciprocal": (1, 2, lambda x, c: 1.0 / _float(x), "1 / x"),
    "Floor": (1, 1, lambda x, c: np.floor(x), "round down"),
    "Ceil": (1, 1, lambda x, c: np.ceil(x), "round up"),
    "Round": (11, 1, lambda x, c: np.round(x), "round half to even"),
    "Sign": (9, 1, lambda x, c: np.sign(x), "-1, 0 or 1"),
    "Sin": (7, 4, lambda x, c: np.sin(_float(x)), "sine"),
    "Cos": (7, 4, lambda x, c: np.cos(_float(x)), "cosine"),
    "Tan": (7, 4, lambda x, c: np.tan(_float(x)), "tangent"),
    "Asin": (7, 4, lambda x, c: np.arcsin(_float(x)), "arcsine"),
    "Acos": (7, 4, lambda x, c: np.arccos(_float(x)), "arccosine"),
    "Atan": (7, 4, lambda x, c: np.arctan(_float(x)), "arctangent"),
    "Sinh": (9, 4, lambda x, c: np.sinh(_float(x)), "hyperbolic sine"),
    "Cosh": (9, 4, lambda x, c: np.cosh(_float(x)), "hyperbolic cosine"),
    "Asinh": (9, 4, lambda x, c: np.arcsinh(_float(x)), "inverse hyperbolic sine"),
    "Acosh": (9, 4, lambda x, c: np.arccosh(_float(x)), "inverse hyperbolic cosine"),
    "Atanh": (9, 4, lambda x, c: np.arctanh(_float(x)), "inverse hyperbolic tangent"),
    "Elu": (1, 4, lambda x, c: np.where(x < 0, c.attr("alpha", 1.0) * np.expm1(
        np.minimum(_float(x), 0)), x), "x, or alpha*(e^x - 1) below 0"),
    "Selu": (1, 4, lambda x, c: c.attr("gamma", SELU_GAMMA) * np.where(
        x <= 0, c.attr("alpha", SELU_ALPHA) * np.expm1(np.minimum(_float(x), 0)), x),
        "gamma * (x, or alpha*(e^x - 1) at or below 0)"),
    "Celu": (12, 4, lambda x, c: np.maximum(x, 0) + np.minimum(0, c.attr("alpha", 1.0) * np.expm1(
        _float(x) / c.attr("alpha", 1.0))), "max(0, x) + min(0, alpha*(e^(x/alpha) - 1))"),
    "Softplus": (1, 4, lambda x, c: _softplus(x), "log(1 + e^x)"),
    "Softsign": (1, 2, lambda x, c: x / (1 + np.abs(x)), "x / (1 + |x|)"),
    "Mish": (18, 8, lambda x, c: x * np.tanh(_softplus(x)), "x * tanh(softplus(x))"),
    "ThresholdedRelu": (10, 1, lambda x, c: np.where(x > c.attr("alpha", 1.0), x, 0),
                        "x above alpha, else 0"),
}

#: op -> (first opset, cost per output element, semantics, doc)
NARY: dict[str, tuple[int, float, Callable[[Call], list[np.ndarray]], str]] = {
    "Add": (1, 1, variadic(np.add), "a + b"),
    "Sub": (1, 1, variadic(np.subtract), "a - b"),
    "Mul": (1, 1, variadic(np.multiply), "a * b"),
    "Div": (1, 2, _div, "a / b (integers truncate toward zero)"),
    "Pow": (1, 4, _pow, "a ^ b"),
    "Mod": (10, 2, _mod, "remainder (sign of the divisor, or of the dividend with fmod=1)"),
    "Max": (1, 1, variadic(np.maximum), "elementwise maximum of the inputs"),
    "Min": (1, 1, variadic(np.minimum), "elementwise minimum of the inputs"),
    "Sum": (1, 1, variadic(np.add), "sum of the inputs"),
    "Mean": (1, 2, _mean, "mean of the inputs"),
    "BitShift": (11, 1, _bitshift, "x << y or x >> y (direction)"),
    "PRelu": (1, 1, _prelu, "x, or slope*x below 0 (slope broadcasts to x)"),
    "Clip": (1, 1, _clip, "clamp to [min, max] (attributes, or inputs from opset 11)"),
    "Where": (9, 1, _where, "a where cond else b"),
    "Equal": (1, 1, predicate(np.equal), "a == b"),
    "Less": (1, 1, predicate(np.less), "a < b"),
    "Greater": (1, 1, predicate(np.greater), "a > b"),
    "LessOrEqual": (12, 1, predicate(np.less_equal), "a <= b"),
    "GreaterOrEqual": (12, 1, predicate(np.greater_equal), "a >= b"),
    "And": (1, 1, predicate(np.logical_and), "logical and"),
    "Or": (1, 1, predicate(np.logical_or), "logical or"),
    "Xor": (1, 1, predicate(np.logical_xor), "logical xor"),
    "Not": (1, 1, predicate(np.logical_not), "logical not"),
    "IsNaN": (9, 1, predicate(np.isnan), "x is NaN"),
    "IsInf": (10, 1, _is_inf, "x is +inf / -inf (detect_positive, detect_negative)"),
    "Cast": (1, 1, _cast, "convert to the element type `to`"),
    "CastLike": (15, 1, _cast_like, "convert to the element type of the second input"),
}

BOOL_RESULT = frozenset({"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And",
                         "Or", "Xor", "Not", "IsNaN", "IsInf"})


def _dtypes(ctx: Context, node: Node) -> list[str | None]:
    if node.op_type in BOOL_RESULT:
        return ["bool"]
    if node.op_type == "Where":
        return [ctx.dtype(node.inputs[1])]
    if node.op_type == "Cast":
        return [np_dtype(node.attrs["to"]).name]
    if node.op_type == "CastLike":
        return [ctx.dtype(node.inputs[1])]
    return []


def _clip_attrs(ctx: Context, node: Node) -> dict:
    """Clip's min/max inputs (opset 11+), when constant, as the float attributes of Clip-6."""
    attrs = {}
    for i, key in ((1, "min"), (2, "max")):
        value = ctx.const(node.input(i))
        if value is not None:
            attrs[key] = float(value.reshape(-1)[0])
    return attrs


_ARITH_RULE = ImportRule(shape=broadcast_shape, dtypes=_dtypes, on_fold=narrow_weight_bits)
_RULE = ImportRule(shape=broadcast_shape, dtypes=_dtypes)
_RULES = {
    "Mul": _ARITH_RULE, "Div": _ARITH_RULE, "Sub": _ARITH_RULE,
    "Cast": ImportRule(shape=broadcast_shape, dtypes=_dtypes, on_fold=narrow_weight_bits),
    "Clip": ImportRule(shape=broadcast_shape, attrs=_clip_attrs),
    "PRelu": ImportRule(shape=first_input_shape),   # the slope broadcasts to x, never back
    "CastLike": ImportRule(shape=first_input_shape, dtypes=_dtypes),
}


def _register() -> None:
    for op, (since, cost, fn, doc) in UNARY.items():
        register(OpSpec(op, "", since, None, "elementwise", doc, importer=_RULES.get(op, _RULE),
                        semantics=unary(fn), cost=VectorCost(per_output=cost), broadcasts=True))
    for op, (since, cost, run, doc) in NARY.items():
        register(OpSpec(op, "", since, None, "elementwise", doc, importer=_RULES.get(op, _RULE),
                        semantics=run, cost=VectorCost(per_output=cost), broadcasts=True))


_register()

