"""Linear quantization: QuantizeLinear and DequantizeLinear (per tensor or per axis).

A DequantizeLinear of a constant int8 weight folds to float with ``bits`` = the integer width,
so the lowering still moves 1-byte weights; on activations both are vector ops.
"""

from __future__ import annotations

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Op
from workloads.ops.catalogue import Call, OpSpec, VectorCost, register
from workloads.ops.elementwise import np_dtype
from workloads.ops.importing import Context, ImportRule, Node, first_input_shape


def _per_axis(param_value: np.ndarray, ndim: int, axis: int, block: int = 0,
              size: int | None = None) -> np.ndarray:
    """A scale or zero point shaped to broadcast: scalar (per tensor), 1-D along ``axis``, or
    blocked (same rank as x, each value repeated ``block`` times along ``axis``)."""
    value = np.asarray(param_value)
    if value.ndim == 0 or value.size == 1 and value.ndim <= 1:
        return value.reshape(())
    if block:
        if value.ndim != ndim:
            raise WorkloadError(f"blocked quantization needs a scale of rank {ndim}, got "
                                f"{value.ndim}")
        return np.repeat(value, block, axis=axis % ndim).take(range(size), axis=axis % ndim)
    if value.ndim != 1:
        raise WorkloadError("a scale of rank > 1 needs block_size > 0 (blocked quantization)")
    shape = [1] * ndim
    shape[axis % ndim] = value.size
    return value.reshape(shape)


def _float_like(dtype: np.dtype) -> bool:
    """float, float16/bfloat16 and the float8/float4 types (ml_dtypes)."""
    return dtype.kind == "f" or "float" in dtype.name


def _limits(dtype: np.dtype) -> tuple[float, float]:
    """Saturation range of a quantized type (int8...int2, float8, float4)."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.min, info.max
    import ml_dtypes

    try:
        info = ml_dtypes.iinfo(dtype)
        return int(info.min), int(info.max)
    except (ValueError, TypeError):
        fi = ml_dtypes.finfo(dtype)
        return float(fi.min), float(fi.max)


def dequantize_linear(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None,
                      axis: int = 1, block: int = 0) -> np.ndarray:
    """ONNX DequantizeLinear: ``(x - zero_point) * scale`` in the scale's float type."""
    x = np.asarray(x)
    size = x.shape[axis % x.ndim] if x.ndim else 1
    s = _per_axis(scale, x.ndim, axis, block, size)
    work = np.float32 if _float_like(x.dtype) or x.dtype.itemsize < 1 or \
        x.dtype.kind not in "iu" else np.int32
    z = 0 if zero is None else _per_axis(zero, x.ndim, axis, block, size).astype(work)
    out_type = s.dtype if s.dtype.kind == "f" else np.float32
    return ((x.astype(work) - z).astype(np.float32) * s.astype(np.float32)).astype(out_type)


def quantize_linear(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None,
                    axis: int = 1, dtype: np.dtype | None = None, block: int = 0,
                    saturate: bool = True) -> np.ndarray:
    """ONNX QuantizeLinear: ``saturate(round_half_even(x / scale) + zero_point)`` in the zero
    point's type (``dtype``, else uint8, when it is omitted); float8/float4 targets round to
    nearest even in their own type (saturating unless ``saturate`` is 0)."""
    x = np.asarray(x)
    dtype = np.dtype(dtype or np.uint8) if zero is None else np.asarray(zero).dtype
    size = x.shape[axis % x.ndim] if x.ndim else 1
    s = _per_axis(scale, x.ndim, axis, block, size)
    z = 0 if zero is None else _per_axis(zero, x.ndim, axis, block, size).astype(np.float32)
    lo, hi = _limits(dtype)
    if _float_like(dtype):
        q = x.astype(np.float32) / s.astype(np.float32) + z
        if saturate:
            q = np.where(np.isfinite(q), np.clip(q, lo, hi), q)
        return q.astype(dtype)
    q = np.rint(x.astype(np.float32) / s.astype(np.float32)) + z
    return np.clip(q, lo, hi).astype(dtype)


def _axis(attrs) -> int:
    return int(attrs.get("axis", 1))


def _block(attrs) -> int:
    return int(attrs.get("block_size", 0) or 0)


def _dequantize(c: Call) -> list[np.ndarray]:
    out = dequantize_linear(c.inputs[0], c.inputs[1], c.input(2), _axis(c.attrs),
                            _block(c.attrs))
    out_type = c.attrs.get("output_dtype")
    return [out.astype(np_dtype(out_type)) if out_type else out]


def _quantize(c: Call) -> list[np.ndarray]:
    out_type = c.attrs.get("output_dtype")
    return [quantize_linear(c.inputs[0], c.inputs[1], c.input(2), _axis(c.attrs),
                            np_dtype(out_type) if out_type else None, _block(c.attrs),
                            bool(c.attrs.get("saturate", 1)))]


def _check(ctx: Context, node: Node) -> None:
    _axis(node.attrs)


def _axis_attr(ctx: Context, node: Node) -> dict:
    return {"axis": _axis(node.attrs), "block_size": _block(node.attrs)}


def _bits(dtype: np.dtype) -> int:
    """Storage width of a quantized type (int4/float4: 4, int2: 2)."""
    digits = "".join(ch for ch in dtype.name if ch.isdigit())
    if dtype.kind not in "iuf" and digits:
        width = int(digits[:1]) if digits[:1] in ("2", "4") else 8
        return width
    return 8 * dtype.itemsize


def _weight_bits(ctx: Context, node: Node) -> None:
    ctx.graph.tensors[node.outputs[0]].bits = _bits(ctx.const(node.inputs[0]).dtype)


def _dequantized_type(ctx: Context, node: Node) -> str:
    out_type = node.attrs.get("output_dtype")
    return np_dtype(out_type).name if out_type else ctx.dtype(node.inputs[1])


def _quantized_type(ctx: Context, node: Node) -> str:
    zero = node.input(2)
    if zero:
        return ctx.dtype(zero)
    out_type = node.attrs.get("output_dtype")
    return np_dtype(out_type).name if out_type else "uint8"


def _output_bits(ctx: Context, node: Node, op: Op) -> None:
    ctx.graph.tensors[op.outputs[0]].bits = _bits(np.dtype(_quantized_type(ctx, node)))


register(OpSpec("DequantizeLinear", "", 10, None, "quantization",
                "(x - zero_point) * scale, per tensor or per axis",
                importer=ImportRule(prepare=_check, attrs=_axis_attr, shape=first_input_shape,
                                    exact=True, on_fold=_weight_bits,
                                    dtypes=lambda ctx, node: [_dequantized_type(ctx, node)]),
                semantics=_dequantize, cost=VectorCost(per_output=2)))
register(OpSpec("QuantizeLinear", "", 10, None, "quantization",
                "saturate(round(x / scale) + zero_point), per tensor or per axis",
                importer=ImportRule(prepare=_check, attrs=_axis_attr, shape=first_input_shape,
                                    exact=True, on_emit=_output_bits,
                                    dtypes=lambda ctx, node: [_quantized_type(ctx, node)]),
                semantics=_quantize, cost=VectorCost(per_output=3)))


def _dynamic_quantize(c: Call) -> list[np.ndarray]:
    """uint8 codes of x with the scale and zero point that map [min(x, 0), max(x, 0)] onto
    [0, 255] (ONNX DynamicQuantizeLinear)."""
    x = np.asarray(c.inputs[0], np.float32)
    # float32 arithmetic throughout, as the spec's reference and onnxruntime compute it: a
    # scale one ulp off would move every rounding boundary of the tensor.
    lo = np.minimum(np.float32(0), x.min()) if x.size else np.float32(0)
    hi = np.maximum(np.float32(0), x.max()) if x.size else np.float32(0)
    scale = np.float32((hi - lo) / np.float32(255)) if hi != lo else np.float32(1.0)
    zero = np.uint8(np.clip(np.rint(np.float32(0) - lo / scale), 0, 255))
    y = quantize_linear(x, np.asarray(scale), np.asarray(zero))
    return [y, np.asarray(scale, np.float32), np.asarray(zero, np.uint8)]


def _dynamic_shapes(ctx: Context, node: Node) -> list:
    return [ctx.shape(node.inputs[0]), (), ()]


def _dynamic_bits(ctx: Context, node: Node, op: Op) -> None:
    ctx.graph.tensors[op.outputs[0]].bits = 8


register(OpSpec("DynamicQuantizeLinear", "", 11, None, "quantization",
                "uint8 codes, scale and zero point from the input's range",
                importer=ImportRule(shape=_dynamic_shapes, exact=True, on_emit=_dynamic_bits,
                                    dtypes=lambda ctx, node: ["uint8", "float32", "uint8"]),
                semantics=_dynamic_quantize, cost=VectorCost(per_input=2, per_output=3)))
