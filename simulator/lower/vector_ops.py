"""Non-GEMM operators: which are free views and how much vector work the others are.

The hardware model turns ``work`` into cycles (``simulator.hw.vector``); ``work`` is the op's
element count times the per-element cost below (a transcendental is a few operations; a pooling
window is one per tap; a normalisation is a handful per element: reduce, subtract, scale).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from simulator.lower.gemm_view import element_bytes
from simulator.trace import LayerInfo
from workloads.graph import Graph, Op

#: Ops that only reinterpret a buffer: no instruction, the output aliases the input.
ALIAS_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})

#: Per-element cost (operations per output element) of elementwise-style vector ops.
PER_ELEMENT = {
    **dict.fromkeys(("Relu", "LeakyRelu", "Clip", "Add", "Sub", "Mul", "Max", "Min", "Neg",
                     "Abs", "Sum", "Where", "Equal", "Less", "Greater", "Not", "And", "Or",
                     "Cast", "PRelu", "HardSigmoid", "HardSwish", "GreaterOrEqual",
                     "LessOrEqual", "Xor", "IsNaN", "IsInf"), 1),
    **dict.fromkeys(("Concat", "Transpose", "Split", "Slice", "Gather", "GatherND", "Pad",
                     "Expand", "Tile", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth"), 1),
    **dict.fromkeys(("Div", "Reciprocal", "BatchNormalization"), 2),
    "DequantizeLinear": 2,  # subtract zero point, scale
    "QuantizeLinear": 3,    # scale, round, add zero point and saturate
    **dict.fromkeys(("Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Pow", "Erf"), 4),
    "Softmax": 5,      # max, subtract, exp, sum, divide
    "LayerNormalization": 8,
    "Gelu": 8,
}

#: Ops whose work is one operation per *input* element (reductions).
PER_INPUT_ELEMENT = frozenset({"GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum",
                               "ReduceMax", "ReduceMin", "ReduceL2"})

POOL_OPS = frozenset({"MaxPool", "AveragePool", "LpPool"})


def is_vector_op(op_type: str) -> bool:
    return op_type in PER_ELEMENT or op_type in PER_INPUT_ELEMENT or op_type in POOL_OPS or \
        op_type == "LRN"


def vector_work(graph: Graph, op: Op) -> int:
    """Element operations the op performs on a vector unit."""
    out = sum(graph.tensor(t).numel for t in op.outputs if t)
    if op.type in POOL_OPS:
        return out * math.prod(op.attrs.get("kernel_shape", [1]))
    if op.type in PER_INPUT_ELEMENT:
        return graph.tensor(op.inputs[0]).numel
    if op.type == "LRN":
        return out * (int(op.attrs.get("size", 5)) + 3)
    return out * PER_ELEMENT[op.type]


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


def lower_alias_op(graph: Graph, op: Op, last_write: dict[str, int]) -> LayerInfo:
    """A free view: no instruction; readers of the outputs wait for whatever wrote the input."""
    source = last_write.get(op.inputs[0])
    if source is not None:
        for out in op.outputs:
            last_write[out] = source
    return LayerInfo(name=op.name, op=op.type, macs=0, args=op_args(graph, op))


def lower_vector_op(emit: Callable[..., int], graph: Graph, op: Op, last_write: dict[str, int],
                    word_bytes: int, *, vector_unit: str = "vector",
                    store_unit: str = "dma_store") -> LayerInfo:
    """LOAD the inputs, one VEC on ``vector_unit``, STORE the outputs: the same shape on every
    target that runs non-GEMM ops out of DRAM. ``emit(op, unit, layer, dims, bytes, deps,
    tensor)`` appends an instruction and returns its id."""
    loads = []
    for name in dict.fromkeys(t for t in op.inputs if t):
        nbytes = graph.tensor(name).numel * element_bytes(graph, name, word_bytes)
        loads.append(emit("LOAD", "dma_load", op.name, {}, {"dram_read": nbytes},
                          [last_write.get(name)], name))
    work = vector_work(graph, op)
    out_elems = sum(graph.tensor(t).numel for t in op.outputs if t)
    vec = emit("VEC", vector_unit, op.name, {"work": work, "elements": out_elems}, {}, loads,
               op.outputs[0])
    for name in (t for t in op.outputs if t):
        nbytes = graph.tensor(name).numel * element_bytes(graph, name, word_bytes)
        last_write[name] = emit("STORE", store_unit, op.name, {}, {"dram_write": nbytes}, [vec],
                                name)
    return LayerInfo(name=op.name, op=op.type, macs=0, vector_ops=work,
                     dims={"elements": out_elems}, args=op_args(graph, op))
