"""Control operators: constants and shape plumbing (Constant, ConstantOfShape, Shape, Size,
Range). Import folds them into constant tensors; they have no vector cost."""

from __future__ import annotations

import math

import numpy as np

from workloads.errors import WorkloadError
from workloads.ops.catalogue import Call, OpSpec, register
from workloads.ops.importing import Context, ImportRule, Node, guard


def _constant(c: Call) -> list[np.ndarray]:
    attrs = c.attrs
    for key, kind in (("value_float", np.float32), ("value_floats", np.float32),
                      ("value_int", np.int64), ("value_ints", np.int64)):
        if attrs.get(key) is not None:
            return [np.array(attrs[key], dtype=kind)]
    for key in ("value", "value_string", "value_strings"):
        if attrs.get(key) is not None:
            return [np.asarray(attrs[key])]
    raise WorkloadError("Constant without a supported value attribute")


def _constant_of_shape(c: Call) -> list[np.ndarray]:
    value = np.asarray(c.attrs.get("value", np.zeros(1, np.float32))).reshape(-1)[:1]
    shape = tuple(int(d) for d in np.asarray(c.inputs[0]).reshape(-1))
    return [np.broadcast_to(value.reshape(()), shape)]


def _shape(c: Call) -> list[np.ndarray]:
    start, end = c.attrs.get("start", 0), c.attrs.get("end")
    return [np.array(np.shape(c.inputs[0])[start:end], dtype=np.int64)]


def _size(c: Call) -> list[np.ndarray]:
    return [np.array(math.prod(np.shape(c.inputs[0])), np.int64)]


def _range(c: Call) -> list[np.ndarray]:
    start, limit, delta = (np.asarray(x).reshape(()) for x in c.inputs[:3])
    if delta == 0:
        raise WorkloadError("Range with delta 0")
    count = max(int(math.ceil((float(limit) - float(start)) / float(delta))), 0)
    return [(start + np.arange(count, dtype=start.dtype) * delta).astype(start.dtype)]


def _import_constant(ctx: Context, node: Node, spec: OpSpec) -> None:
    value = guard(node, lambda: spec.evaluate([], node.attrs, opset=node.opset))[0]
    ctx.add_const(node.outputs[0], value)


def _import_shape_of(ctx: Context, node: Node, spec: OpSpec) -> None:
    """Shape and Size need only the input's static shape: always folded (zero-stride stand-in)."""
    value = guard(node, lambda: spec.evaluate([ctx.stand_in(node.inputs[0])], node.attrs,
                                              opset=node.opset))[0]
    ctx.add_const(node.outputs[0], value)


def _value_dtype(ctx: Context, node: Node) -> list[str]:
    return [np.asarray(node.attrs.get("value", np.zeros(1, np.float32))).dtype.name]


register(OpSpec("Constant", "", 1, None, "control", "a constant tensor (value attribute)",
                importer=ImportRule(custom=_import_constant), semantics=_constant))
register(OpSpec("ConstantOfShape", "", 9, None, "control",
                "a tensor of the given shape filled with `value`",
                importer=ImportRule(params=((0, "shape"),), shape=lambda ctx, node: [],
                                    dtypes=_value_dtype),
                semantics=_constant_of_shape))
register(OpSpec("Shape", "", 1, None, "control", "the input's shape (start/end slice), int64",
                importer=ImportRule(custom=_import_shape_of), semantics=_shape))
register(OpSpec("Size", "", 1, None, "control", "the input's element count, int64",
                importer=ImportRule(custom=_import_shape_of), semantics=_size))
register(OpSpec("Range", "", 11, None, "control", "start, start+delta, ... up to limit",
                importer=ImportRule(params=((0, "start"), (1, "limit"), (2, "delta"))),
                semantics=_range))
