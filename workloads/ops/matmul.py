"""Matrix products (Gemm, MatMul) and how Conv/Gemm/MatMul decompose into GEMMs.

A Conv is ``group`` GEMMs of (M = N*OH*OW output pixels) x (N = filters per group) x
(K = KH*KW*C/group), on the im2col-lowered input; a Gemm/MatMul is one GEMM, or one per batch
element for a batched MatMul whose B is batched too. Shared by every target with a matrix unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Graph, Op, conv_needs_im2col
from workloads.ops.catalogue import Call, OpSpec, register
from workloads.ops.importing import Context, ImportRule, Node, Shape


@dataclass
class GemmShape:
    """One GEMM of a layer, with the byte width of each operand and the tensors involved."""

    m: int
    n: int
    k: int
    a_bytes: int
    b_bytes: float  # fractional for packed sub-byte weights
    c_bytes: int
    a_tensor: str
    b_tensor: str
    c_tensor: str
    b_bits: int | None = None  # weight element width a pass set (None: the config's word)


def element_bytes(graph: Graph, name: str, word_bytes: int) -> int:
    """Storage width of a tensor's elements: its ``bits`` if a pass set them, else the config's."""
    bits = graph.tensor(name).bits
    return max(1, math.ceil(bits / 8)) if bits else word_bytes


def element_width(graph: Graph, name: str, word_bytes: int) -> float:
    """Bytes per element with sub-byte elements packed densely (4 bit: 0.5); byte counts are
    rounded up per tile. Used for weights, whose ``bits`` the squant pass sets."""
    bits = graph.tensor(name).bits
    return bits / 8 if bits else word_bytes


def gemm_shapes(graph: Graph, op: Op, word_bytes: int) -> list[GemmShape]:
    """The GEMMs an op performs (one per group, or per batch element of a batched MatMul)."""
    x, w = op.inputs[0], op.inputs[1]
    y = op.outputs[0]
    wa, wc = (element_bytes(graph, t, word_bytes) for t in (x, y))
    wb = element_width(graph, w, word_bytes)
    b_bits = graph.tensor(w).bits
    where = f"operator {op.name} ({op.type})"
    if op.type == "Conv":
        n_out, c_per_group, kh, kw = graph.tensor(w).shape
        _, _, oh, ow = graph.tensor(y).shape
        batch = graph.tensor(x).shape[0]
        group = int(op.attrs.get("group", 1))
        return [GemmShape(batch * oh * ow, n_out // group, kh * kw * c_per_group, wa, wb, wc,
                          x, w, y, b_bits) for _ in range(group)]
    a_shape, b_shape = graph.tensor(x).shape, graph.tensor(w).shape
    if len(a_shape) < 2 or len(b_shape) < 2:
        raise WorkloadError(f"needs matrices of rank >= 2; got shapes {a_shape} and {b_shape}",
                            where=where)
    count = 1
    if op.type == "Gemm":
        m, k = a_shape[::-1] if op.attrs.get("transA") else a_shape
        k2, n = b_shape[::-1] if op.attrs.get("transB") else b_shape
    elif len(b_shape) == 2:  # batched A times one matrix: fold the batch into M
        m, k = math.prod(a_shape[:-1]), a_shape[-1]
        k2, n = b_shape
    else:
        try:
            batch = np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2]))
        except ValueError:
            raise WorkloadError(f"batch dimensions of {a_shape} and {b_shape} do not broadcast",
                                where=where) from None
        count = math.prod(batch)
        m, k = a_shape[-2:]
        k2, n = b_shape[-2:]
    if k != k2:
        raise WorkloadError(f"inner dimensions differ: A is {a_shape}, B is {b_shape}",
                            where=where)
    return [GemmShape(m, n, k, wa, wb, wc, x, w, y, b_bits) for _ in range(count)]


needs_im2col = conv_needs_im2col


def matmul_shape(a: Shape, b: Shape) -> Shape:
    """numpy.matmul's shape rule: 1-D operands are promoted, batch dims broadcast."""
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise WorkloadError(f"MatMul inner dims differ: {a} x {b}")
    out = (*np.broadcast_shapes(a2[:-2], b2[:-2]), a2[-2], b2[-1])
    return out[:-2] + out[-2:-1] * (len(a) > 1) + out[-1:] * (len(b) > 1)


def _matmul(c: Call) -> list[np.ndarray]:
    return [np.matmul(c.inputs[0], c.inputs[1])]


def _gemm(c: Call) -> list[np.ndarray]:
    a, b = np.asarray(c.inputs[0]), np.asarray(c.inputs[1])
    a = a.T if c.attr("transA", 0) else a
    b = b.T if c.attr("transB", 0) else b
    y = np.float32(c.attr("alpha", 1.0)) * (a @ b) if a.dtype.kind == "f" else a @ b
    bias = c.input(2)
    if bias is not None:
        y = y + (np.float32(c.attr("beta", 1.0)) * bias if a.dtype.kind == "f" else bias)
    return [np.asarray(y).astype(a.dtype, copy=False)]


def _gemm_rule(ctx: Context, node: Node) -> list[Shape]:
    a, b = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    m = a[1] if node.attrs.get("transA") else a[0]
    n = b[0] if node.attrs.get("transB") else b[1]
    return [(m, n)]


def _matmul_rule(ctx: Context, node: Node) -> list[Shape]:
    return [matmul_shape(ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1]))]


register(OpSpec("Gemm", "", 1, None, "matmul", "alpha * A' B' + beta * C (transA, transB)",
                importer=ImportRule(fold=False, shape=_gemm_rule, exact=True),
                semantics=_gemm, gemm=True))
_MATMUL = ImportRule(fold=False, shape=_matmul_rule, exact=True)


def _import_matmul(ctx: Context, node: Node, spec: OpSpec) -> None:
    """A 1-D operand is promoted to a matrix (a row for A, a column for B) around a MatMul of
    matrices, and the product reshaped back (numpy's rule): every lowering sees rank >= 2."""
    a, b = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    if len(a) >= 2 and len(b) >= 2:
        _MATMUL(ctx, node, spec)
        return
    from workloads.ops.decompose import Builder

    bld = Builder(ctx, node)
    x, w = node.inputs[0], node.inputs[1]
    if len(a) == 1:
        x = bld.one("Unsqueeze", [x, bld.const(np.array([0], np.int64))])
    if len(b) == 1:
        w = bld.one("Unsqueeze", [w, bld.const(np.array([1], np.int64))])
    y = bld.one("MatMul", [x, w])
    shape = bld.const(np.array(matmul_shape(a, b), np.int64))
    bld.op("Reshape", [y, shape], outputs=[node.outputs[0]])


register(OpSpec("MatMul", "", 1, None, "matmul", "numpy matmul (batched, broadcast)",
                importer=ImportRule(custom=_import_matmul),
                semantics=_matmul, gemm=True))
