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
    x = np.asarray(x)
    s = _per_axis(scale, x.ndim, axis)
    z = 0 if zero is None else _per_axis(zero, x.ndim, axis).astype(np.int32)
    return ((x.astype(np.int32) - z) * s).astype(s.dtype)


def quantize_linear(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None,
                    axis: int = 1, dtype: np.dtype | None = None) -> np.ndarray:
    """ONNX QuantizeLinear: ``saturate(round_half_even(x / scale) + zero_point)`` in the zero
    point's integer type (``dtype``, else uint8, when it is omitted)."""
    x = np.asarray(x)
    dtype = np.dtype(dtype or np.uint8) if zero is None else np.asarray(zero).dtype
    s = _per_axis(scale, x.ndim, axis)
    z = 0 if zero is None else _per_axis(zero, x.ndim, axis).astype(np.float32)
    q = np.rint(x.astype(np.float32) / s.astype(np.float32)) + z
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


def _axis(attrs) -> int:
    if attrs.get("block_size", 0):
        raise WorkloadError("blocked quantization (block_size > 0) is not supported")
    return int(attrs.get("axis", 1))


def _dequantize(c: Call) -> list[np.ndarray]:
    return [dequantize_linear(c.inputs[0], c.inputs[1], c.input(2), _axis(c.attrs))]


def _quantize(c: Call) -> list[np.ndarray]:
    out_type = c.attrs.get("output_dtype")
    return [quantize_linear(c.inputs[0], c.inputs[1], c.input(2), _axis(c.attrs),
                            np_dtype(out_type) if out_type else None)]


def _check(ctx: Context, node: Node) -> None:
    _axis(node.attrs)


def _axis_attr(ctx: Context, node: Node) -> dict:
    return {"axis": _axis(node.attrs)}


def _weight_bits(ctx: Context, node: Node) -> None:
    ctx.graph.tensors[node.outputs[0]].bits = 8 * ctx.const(node.inputs[0]).dtype.itemsize


def _quantized_type(ctx: Context, node: Node) -> str:
    zero = node.input(2)
    if zero:
        return ctx.dtype(zero)
    out_type = node.attrs.get("output_dtype")
    return np_dtype(out_type).name if out_type else "uint8"


def _output_bits(ctx: Context, node: Node, op: Op) -> None:
    ctx.graph.tensors[op.outputs[0]].bits = 8 * np.dtype(_quantized_type(ctx, node)).itemsize


register(OpSpec("DequantizeLinear", "", 10, None, "quantization",
                "(x - zero_point) * scale, per tensor or per axis",
                importer=ImportRule(prepare=_check, attrs=_axis_attr, shape=first_input_shape,
                                    exact=True, on_fold=_weight_bits,
                                    dtypes=lambda ctx, node: [ctx.dtype(node.inputs[1])]),
                semantics=_dequantize, cost=VectorCost(per_output=2)))
register(OpSpec("QuantizeLinear", "", 10, None, "quantization",
                "saturate(round(x / scale) + zero_point), per tensor or per axis",
                importer=ImportRule(prepare=_check, attrs=_axis_attr, shape=first_input_shape,
                                    exact=True, on_emit=_output_bits,
                                    dtypes=lambda ctx, node: [_quantized_type(ctx, node)]),
                semantics=_quantize, cost=VectorCost(per_output=3)))
