"""Non-GEMM operators: which are free views and how much vector work the others are.

The hardware model turns ``work`` into cycles (``simulator.hw.vector``); ``work`` is the op's
element count times the per-element cost below (a transcendental is a few operations; a pooling
window is one per tap; a normalisation is a handful per element: reduce, subtract, scale).
"""

from __future__ import annotations

import math

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
