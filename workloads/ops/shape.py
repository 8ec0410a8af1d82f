"""Views and data movement.

Views (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout) reinterpret a buffer: no
instruction, the output aliases the input. Data-movement ops (Transpose, Concat, Split, Slice,
Gather, GatherND, Expand, Tile, Pad, DepthToSpace, SpaceToDepth) copy elements: one operation
per output element on a vector unit. One numpy implementation each both folds constants (shape
subgraphs) and, run on zero-stride stand-ins, computes shapes inference left open.
"""

from __future__ import annotations

import math

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Op
from workloads.ops.catalogue import Call, OpSpec, VectorCost, register
from workloads.ops.importing import Context, ImportRule, Node, Shape, first_input_shape

COPY = VectorCost(per_output=1)


# ---- views -------------------------------------------------------------------------------------

def _reshape(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    target = c.param(1, "shape")
    if target is None:
        if not c.shapes:
            raise WorkloadError("Reshape without a shape operand")
        return [x.reshape(c.shapes[0])]
    if not c.attr("allowzero", 0):
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return [x.reshape(target)]


def _flatten(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    axis = c.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))]


def _squeeze(c: Call) -> list[np.ndarray]:
    axes = c.param(1, "axes")
    return [np.squeeze(c.inputs[0], axis=None if axes is None else tuple(axes))]


def _unsqueeze(c: Call) -> list[np.ndarray]:
    axes = c.param(1, "axes")
    if axes is None:
        if not c.shapes:
            raise WorkloadError("Unsqueeze without axes")
        return [np.asarray(c.inputs[0]).reshape(c.shapes[0])]
    return [np.expand_dims(c.inputs[0], tuple(axes))]


def _dropout(c: Call) -> list[np.ndarray]:
    """Inference: the identity and an all-true mask. ``training_mode`` with a ratio > 0 drops
    elements at random (seeded by ``seed``) and scales the rest by 1 / (1 - ratio)."""
    x = np.asarray(c.inputs[0])
    training = c.input(2)
    ratio = c.input(1)
    ratio = float(c.attr("ratio", 0.5) if ratio is None else np.asarray(ratio).reshape(()))
    if training is None or not bool(np.asarray(training).reshape(())) or ratio == 0:
        return [x, np.ones(x.shape, bool)]
    # ONNX's reference implementation draws the mask with numpy's legacy generator seeded by
    # ``seed`` (onnxruntime draws its own): archsim reproduces the reference's draw.
    mask = np.random.RandomState(int(c.attr("seed", 0))).uniform(0, 1, x.shape) >= ratio
    return [(x * mask / (1 - ratio)).astype(x.dtype), mask]


# ---- data movement -----------------------------------------------------------------------------

def _transpose(c: Call) -> list[np.ndarray]:
    return [np.transpose(c.inputs[0], c.attrs.get("perm"))]


def _concat(c: Call) -> list[np.ndarray]:
    return [np.concatenate([x for x in c.inputs if x is not None], axis=c.attrs["axis"])]


def _split(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    axis = c.attr("axis", 0)
    sizes = c.param(1, "split")
    if not sizes:
        parts = c.attr("num_outputs") or c.outputs_wanted()
        if not parts:
            raise WorkloadError("Split without split sizes, num_outputs or output count")
        chunk = -(-x.shape[axis] // parts)
        sizes = [chunk] * (parts - 1) + [x.shape[axis] - chunk * (parts - 1)]
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _slice(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    starts, ends = c.param(1, "starts"), c.param(2, "ends")
    axes = c.param(3, "axes") or list(range(len(starts)))
    steps = c.param(4, "steps") or [1] * len(starts)
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


def _gather(c: Call) -> list[np.ndarray]:
    return [np.take(c.inputs[0], np.asarray(c.inputs[1]).astype(np.int64),
                    axis=c.attr("axis", 0))]


def gather_nd(data: np.ndarray, indices: np.ndarray, batch_dims: int = 0) -> np.ndarray:
    """ONNX GatherND: each row of ``indices``' last axis addresses the first ``k`` dims of
    ``data`` after the ``batch_dims`` leading ones (negative coordinates count from the end).
    One fancy-indexing call, no Python loop per element."""
    data = np.asarray(data)
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


def _gather_nd(c: Call) -> list[np.ndarray]:
    return [gather_nd(c.inputs[0], c.inputs[1], int(c.attr("batch_dims", 0)))]


def _expand(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    shape = c.param(1, "shape")
    if shape is None:
        if not c.shapes:
            raise WorkloadError("Expand without a shape operand")
        return [np.broadcast_to(x, c.shapes[0])]
    return [np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(shape)))]


def _tile(c: Call) -> list[np.ndarray]:
    return [np.tile(c.inputs[0], c.param(1, "repeats"))]


def _pad(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    pads = c.param(1, "pads")
    if pads is None:
        pads = c.param(1, "paddings")   # Pad-1
    axes = c.param(3, "axes") or list(range(x.ndim))
    axes = [a % x.ndim for a in axes]
    half = len(pads) // 2
    begin, end = [0] * x.ndim, [0] * x.ndim
    for i, axis in enumerate(axes):
        begin[axis], end[axis] = pads[i], pads[i + half]
    # negative pads crop
    x = x[tuple(slice(max(0, -b), x.shape[i] - max(0, -e))
                for i, (b, e) in enumerate(zip(begin, end, strict=True)))]
    width = [(max(0, b), max(0, e)) for b, e in zip(begin, end, strict=True)]
    mode = c.attr("mode", "constant")
    if mode != "constant":
        numpy_mode = {"reflect": "reflect", "edge": "edge", "wrap": "wrap"}.get(mode)
        if numpy_mode is None:
            raise WorkloadError(f"Pad mode {mode!r}; accepted: constant, reflect, edge, wrap")
        return [np.pad(x, width, mode=numpy_mode)]
    value = c.input(2)
    if value is None:
        value = c.attrs.get("constant_value")
    if value is None:
        value = c.attr("value", 0)
    value = np.asarray(value).reshape(-1)
    fill = value[0].item() if value.size else 0
    return [np.pad(x, width, constant_values=np.asarray(fill).astype(x.dtype).item())]


def _depth_to_space(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    bs = int(c.attrs["blocksize"])
    n, ch, h, w = x.shape
    if c.attr("mode", "DCR") == "CRD":
        y = x.reshape(n, ch // bs ** 2, bs, bs, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        y = x.reshape(n, bs, bs, ch // bs ** 2, h, w).transpose(0, 3, 4, 1, 5, 2)
    return [y.reshape(n, ch // bs ** 2, h * bs, w * bs)]


def _space_to_depth(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    bs = int(c.attrs["blocksize"])
    n, ch, h, w = x.shape
    y = x.reshape(n, ch, h // bs, bs, w // bs, bs)
    if c.attr("mode", "DCR") == "CRD":
        y = y.transpose(0, 1, 3, 5, 2, 4)
    else:
        y = y.transpose(0, 3, 5, 1, 2, 4)
    return [y.reshape(n, ch * bs * bs, h // bs, w // bs)]


# ---- importer bookkeeping ----------------------------------------------------------------------

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


def _gather_nd_attrs(ctx: Context, node: Node) -> dict:
    return {"batch_dims": int(node.attrs.get("batch_dims", 0))}


def _gather_nd_rule(ctx: Context, node: Node) -> list[Shape]:
    data, indices = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    return [gather_nd_shape(data, indices, int(node.attrs.get("batch_dims", 0)))]


def _view(op: str, since: int, fn, doc: str, params: tuple = (), **kw) -> None:
    register(OpSpec(op, "", since, None, "view", doc, semantics=fn,
                    importer=ImportRule(params=params, on_emit=implied_attrs, **kw),
                    broadcasts=op in ("Identity", "Dropout")))


def _move(op: str, since: int, fn, doc: str, params: tuple = (), along_axis: bool = False,
          **kw) -> None:
    register(OpSpec(op, "", since, None, "data_movement", doc, semantics=fn, cost=COPY,
                    importer=ImportRule(params=params, on_emit=implied_attrs, **kw),
                    along_axis=along_axis))


_view("Reshape", 1, _reshape, "the same elements in a new shape (0 copies a dim, -1 infers)",
      ((1, "shape"),))
_view("Flatten", 1, _flatten, "2-D: dims before `axis` x dims from it")
_view("Squeeze", 1, _squeeze, "drop size-1 axes (`axes`, or all)", ((1, "axes"),))
_view("Unsqueeze", 1, _unsqueeze, "insert size-1 axes", ((1, "axes"),))
_view("Identity", 1, lambda c: [np.asarray(c.inputs[0])], "the input")
_view("Dropout", 1, _dropout, "inference: the input (and an all-true mask)",
      shape=first_input_shape, dtypes=lambda ctx, node: [None, "bool"])

_move("Transpose", 1, _transpose, "permute axes (`perm`, default reversed)")
_move("Concat", 1, _concat, "join along `axis`", along_axis=True)
_move("Split", 1, _split, "cut along `axis` (`split` sizes, or evenly)", ((1, "split"),),
      along_axis=True)
_move("Slice", 1, _slice, "strided slice (starts, ends, axes, steps)",
      ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")))
_move("Gather", 1, _gather, "take entries along `axis` by index")
_move("GatherND", 11, _gather_nd, "take slices addressed by index tuples (batch_dims)",
      attrs=_gather_nd_attrs, shape=_gather_nd_rule, exact=True)
_move("Expand", 8, _expand, "broadcast to a shape", ((1, "shape"),))
_move("Tile", 1, _tile, "repeat along each axis", ((1, "repeats"),))
_move("Pad", 1, _pad, "pad (constant, reflect, edge, wrap); negative pads crop",
      ((1, "pads"), (2, "constant_value"), (3, "axes")))
_move("DepthToSpace", 1, _depth_to_space, "move channel blocks into spatial blocks (DCR/CRD)")
_move("SpaceToDepth", 1, _space_to_depth, "move spatial blocks into channels")
