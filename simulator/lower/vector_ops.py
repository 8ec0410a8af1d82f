"""Lowering of non-GEMM operators, shared by the targets that run them out of DRAM.

Which ops are free views and how much vector work the others are is the operator catalogue's
(:mod:`workloads.ops`: ``is_view``, ``has_vector_cost``, ``vector_work``); the hardware model
turns ``work`` into cycles (``simulator.hw.vector``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from simulator.trace import LayerInfo
from workloads import ops
from workloads.graph import Graph, Op


def op_args(graph: Graph, op: Op) -> dict:
    """The op's tensors, attributes and output shapes as plain JSON (for functional runs)."""
    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if hasattr(value, "tolist"):
            return value.tolist()
        return value

    return {"inputs": list(op.inputs), "outputs": list(op.outputs),
            "attrs": {k: plain(v) for k, v in sorted(op.attrs.items())},
            "shapes": [list(graph.tensor(t).shape) for t in op.outputs if t]}


def gemm_args(graph: Graph, op: Op, a_source: str, layout: str | None = None) -> dict:
    """:func:`op_args` of a matmul-like op, plus where functional execution reads its A operand:
    ``a`` (the tensor) and, for a Conv, ``a_layout``: ``explicit`` (the lowered matrix an IM2COL
    wrote to ``a``), ``implicit`` (K ordered by filter position, then channel: channel-first
    implicit im2col), ``im2col`` (K by channel, then position, formed on the fly) or ``nhwc`` (a
    1x1 stride-1 conv reads its input as the matrix). ``layout`` None: inferred from ``a``."""
    args = op_args(graph, op)
    args["a"] = a_source
    if op.type == "Conv":
        if layout is None:
            if not ops.needs_im2col(op):
                layout = "nhwc"
            elif a_source != op.inputs[0]:
                layout = "explicit"
            else:
                layout = "implicit" if op.attrs.get("im2col") == "implicit" else "im2col"
        args["a_layout"] = layout
    return args


def lower_alias_op(graph: Graph, op: Op, last_write: dict[str, int]) -> LayerInfo:
    """A free view: no instruction; readers of the outputs wait for whatever wrote the input."""
    source = last_write.get(op.inputs[0])
    if source is not None:
        for out in op.outputs:
            last_write[out] = source
    return LayerInfo(name=op.name, op=op.type, macs=0, args=op_args(graph, op))


def lower_vector_op(emit: Callable[..., int], graph: Graph, op: Op, last_write: dict[str, int],
                    word_bytes: int, *, vector_unit: str = "vector",
                    store_unit: str = "dma_store",
                    costs: Mapping[str, float | Mapping[str, float]] | None = None) -> LayerInfo:
    """LOAD the inputs, one VEC on ``vector_unit``, STORE the outputs: the same shape on every
    target that runs non-GEMM ops out of DRAM. ``emit(op, unit, layer, dims, bytes, deps,
    tensor)`` appends an instruction and returns its id; ``costs`` overrides the catalogue's
    default vector costs (see :func:`workloads.ops.vector_work`). A Gather marked
    ``gather_rows`` (an embedding lookup) reads only the rows it takes from its table."""
    loads = []
    for name in dict.fromkeys(t for t in op.inputs if t):
        nbytes = graph.tensor(name).numel * ops.element_bytes(graph, name, word_bytes)
        if op.attrs.get("gather_rows") and name == op.inputs[0]:  # a lookup: rows it takes
            nbytes = graph.tensor(op.outputs[0]).numel * ops.element_bytes(graph, name,
                                                                           word_bytes)
        loads.append(emit("LOAD", "dma_load", op.name, {}, {"dram_read": nbytes},
                          [last_write.get(name)], name))
    work = ops.vector_work(graph, op, costs)
    out_elems = sum(graph.tensor(t).numel for t in op.outputs if t)
    vec = emit("VEC", vector_unit, op.name, {"work": work, "elements": out_elems}, {}, loads,
               op.outputs[0])
    for name in (t for t in op.outputs if t):
        nbytes = graph.tensor(name).numel * ops.element_bytes(graph, name, word_bytes)
        last_write[name] = emit("STORE", store_unit, op.name, {}, {"dram_write": nbytes}, [vec],
                                name)
    return LayerInfo(name=op.name, op=op.type, macs=0, vector_ops=work,
                     dims={"elements": out_elems}, args=op_args(graph, op))
