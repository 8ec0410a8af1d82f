"""Integer GEMMs: MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv (ONNX spec).

Imported as an int8 datapath runs them: the zero points are subtracted on the vector unit
(``Cast`` to int32, ``Sub``; folded for constant weights), the product is one integer
``MatMul``/``Conv`` whose operands are tagged ``bits = 8`` (so every target moves and times them
at 8 bits, the shifted values being int8 codes with their zero-point correction) and whose
int32 output accumulates exactly; the QLinear forms then requantize
(``QuantizeLinear(float(acc) * x_scale * w_scale, y_scale, y_zero_point)``) with vector ops.
The numpy semantics compute the whole op directly (constant folding, and the reference the
decomposition is tested against).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workloads.ops.catalogue import Call, OpSpec, evaluate, register
from workloads.ops.decompose import Builder
from workloads.ops.importing import Context, ImportRule, Node
from workloads.ops.quantization import quantize_linear

INT8_BITS = 8
CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


def _shifted(x: np.ndarray, zero: np.ndarray | None, axis: int | None = None) -> np.ndarray:
    """``x - zero_point`` in int64 (``axis``: where a per-row/channel zero point lies)."""
    x = np.asarray(x).astype(np.int64)
    if zero is None:
        return x
    z = np.asarray(zero).astype(np.int64)
    if z.size > 1 and axis is not None:
        shape = [1] * x.ndim
        shape[axis] = z.size
        z = z.reshape(shape)
    return x - z


def _matmul_integer(c: Call) -> list[np.ndarray]:
    a = _shifted(c.inputs[0], c.input(2), -2 if np.asarray(c.inputs[0]).ndim > 1 else None)
    b = _shifted(c.inputs[1], c.input(3), -1)
    return [np.matmul(a, b).astype(np.int32)]


def _conv_attrs(c: Call) -> dict:
    return {k: c.attrs[k] for k in CONV_ATTRS if k in c.attrs}


def _conv_int64(x: np.ndarray, w: np.ndarray, attrs: dict) -> np.ndarray:
    """The catalogue's Conv on int64 operands (exact integer accumulation)."""
    return evaluate("Conv", [x, w], attrs)[0]


def _conv_integer(c: Call) -> list[np.ndarray]:
    x = _shifted(c.inputs[0], c.input(2))
    w = _shifted(c.inputs[1], c.input(3), 0)
    return [_conv_int64(x, w, _conv_attrs(c)).astype(np.int32)]


def _requantize(acc: np.ndarray, scale: np.ndarray, y_scale: np.ndarray,
                y_zero: np.ndarray | None) -> np.ndarray:
    real = acc.astype(np.float32) * scale.astype(np.float32)
    dtype = np.asarray(y_zero).dtype if y_zero is not None else np.uint8
    return quantize_linear(real, np.asarray(y_scale).astype(np.float32), y_zero, 1, dtype)


def _qlinear_matmul(c: Call) -> list[np.ndarray]:
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = c.inputs[:8]
    acc = np.matmul(_shifted(a, a_zero, -2), _shifted(b, b_zero, -1))
    scale = np.asarray(a_scale, np.float32) * np.asarray(b_scale, np.float32)
    return [_requantize(acc, scale, y_scale, y_zero)]


def _channel_scale(scale: np.ndarray, ndim: int) -> np.ndarray:
    scale = np.asarray(scale, np.float32)
    return scale.reshape((1, -1) + (1,) * (ndim - 2)) if scale.size > 1 else scale.reshape(())


def _qlinear_conv(c: Call) -> list[np.ndarray]:
    x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero = c.inputs[:8]
    bias = c.input(8)
    acc = _conv_int64(_shifted(x, x_zero), _shifted(w, w_zero, 0), _conv_attrs(c))
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64).reshape((1, -1) + (1,) * (acc.ndim - 2))
    scale = np.asarray(x_scale, np.float32) * _channel_scale(w_scale, acc.ndim)
    return [_requantize(acc, scale, y_scale, y_zero)]


# ---- the decomposition --------------------------------------------------------------------------

def _tag(ctx: Context, name: str, bits: int) -> str:
    ctx.graph.tensors[name].bits = bits
    return name


def _operand(b: Builder, x: str, zero: str, axis_shape: list[int] | None = None) -> str:
    """``int32(x) - int32(zero_point)`` (a per-row/channel zero point reshaped to broadcast),
    tagged as an 8-bit operand."""
    shifted = b.one("Cast", [x], to=6)
    if zero:
        z = b.one("Cast", [zero], to=6)
        if axis_shape is not None and int(np.prod(b.shape(z))) > 1:
            z = b.one("Reshape", [z, b.const(np.array(axis_shape, np.int64))])
        shifted = b.one("Sub", [shifted, z])
    return _tag(b.ctx, shifted, INT8_BITS)


def _float_scale(b: Builder, scale: str, shape: list[int] | None = None) -> str:
    out = b.one("Cast", [scale], to=1)
    if shape is not None and int(np.prod(b.shape(out))) > 1:
        out = b.one("Reshape", [out, b.const(np.array(shape, np.int64))])
    return out


def _requant_ops(b: Builder, acc: str, scale: str, y_scale: str, y_zero: str, out: str) -> None:
    real = b.one("Mul", [b.one("Cast", [acc], to=1), scale])
    inputs = [real, _float_scale(b, y_scale)] + ([y_zero] if y_zero else [])
    b.op("QuantizeLinear", inputs, outputs=[out])


def _import_matmul_integer(ctx: Context, node: Node, spec: Any) -> None:
    b = Builder(ctx, node)
    a_rank = len(ctx.shape(node.inputs[0]))
    a = _operand(b, node.inputs[0], node.input(2), [-1, 1] if a_rank > 1 else None)
    w = _operand(b, node.inputs[1], node.input(3), [-1])
    if node.op_type == "MatMulInteger":
        b.op("MatMul", [a, w], outputs=[node.outputs[0]])
        return
    _tag(ctx, b.op("MatMul", [a, w])[0], 32)


def _import_qlinear_matmul(ctx: Context, node: Node, spec: Any) -> None:
    b = Builder(ctx, node)
    x, x_scale, x_zero, w, w_scale, w_zero, y_scale = node.inputs[:7]
    y_zero = node.input(7)
    a = _operand(b, x, x_zero, [-1, 1])
    bw = _operand(b, w, w_zero, [-1])
    acc = _tag(ctx, b.one("MatMul", [a, bw]), 32)
    scale = b.one("Mul", [_float_scale(b, x_scale), _float_scale(b, w_scale, [-1])])
    _requant_ops(b, acc, scale, y_scale, y_zero, node.outputs[0])


def _import_conv_integer(ctx: Context, node: Node, spec: Any) -> None:
    b = Builder(ctx, node)
    qlinear = node.op_type == "QLinearConv"
    if qlinear:
        x, x_scale, x_zero, w, w_scale, w_zero, y_scale = node.inputs[:7]
        y_zero, bias = node.input(7), node.input(8)
    else:
        x, w, x_zero, w_zero = node.inputs[0], node.inputs[1], node.input(2), node.input(3)
        bias = ""
    rank = len(ctx.shape(w))
    xs = _operand(b, x, x_zero)
    ws = _operand(b, w, w_zero, [-1] + [1] * (rank - 1))
    attrs = {k: node.attrs[k] for k in CONV_ATTRS if k in node.attrs}
    inputs = [xs, ws] + ([bias] if bias else [])
    if not qlinear:
        b.op("Conv", inputs, attrs, outputs=[node.outputs[0]])
        return
    acc = _tag(ctx, b.op("Conv", inputs, attrs)[0], 32)
    scale = b.one("Mul", [_float_scale(b, x_scale),
                          _float_scale(b, w_scale, [1, -1] + [1] * (rank - 2))])
    _requant_ops(b, acc, scale, y_scale, y_zero, node.outputs[0])


register(OpSpec("MatMulInteger", "", 10, None, "matmul",
                "int32 (A - a_zero_point) x (B - b_zero_point); an 8-bit MatMul",
                importer=ImportRule(custom=_import_matmul_integer), semantics=_matmul_integer))
register(OpSpec("ConvInteger", "", 10, None, "matmul",
                "int32 convolution of zero-point-shifted 8-bit operands",
                importer=ImportRule(custom=_import_conv_integer), semantics=_conv_integer))
register(OpSpec("QLinearMatMul", "", 10, None, "matmul",
                "8-bit MatMul, requantized to y_scale / y_zero_point",
                importer=ImportRule(custom=_import_qlinear_matmul), semantics=_qlinear_matmul))
register(OpSpec("QLinearConv", "", 10, None, "matmul",
                "8-bit convolution (+ int32 bias), requantized to y_scale / y_zero_point",
                importer=ImportRule(custom=_import_conv_integer), semantics=_qlinear_conv))
