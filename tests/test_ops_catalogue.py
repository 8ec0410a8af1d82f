"""The operator catalogue (workloads.ops): every ONNX operator's numpy semantics against
onnxruntime, its shape rule against onnxruntime's output shapes, the catalogue as the only list
of operators, vector costs (defaults and overrides), GNN semantics against the tiled executor,
and ``archsim ops``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper, shape_inference

import workloads.onnx_frontend as frontend
from simulator import cli
from workloads import ops
from workloads.errors import WorkloadError
from workloads.graph import Graph, Op, Tensor

RTOL, ATOL = 1e-5, 1e-6
DEFAULT_OPSET = 17


# ---- one-node models -------------------------------------------------------------------------

@dataclass
class Case:
    op: str
    inputs: list            # ("data", array) | ("param", array) | ("none", None)
    attrs: dict = field(default_factory=dict)
    opset: int = DEFAULT_OPSET
    outputs: int = 1
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}" if self.label else self.op


_rng = np.random.default_rng(2024)


def X(*shape, lo=-2.0, hi=2.0, dtype=np.float32):
    """A runtime input of uniform values in [lo, hi) (integers for integer dtypes)."""
    if np.issubdtype(dtype, np.integer):
        return ("data", _rng.integers(lo, hi, size=shape).astype(dtype))
    if dtype == np.bool_:
        return ("data", _rng.random(shape) < 0.5)
    return ("data", _rng.uniform(lo, hi, size=shape).astype(dtype))


def D(value, dtype=None):
    """A runtime input with the given values."""
    return ("data", np.asarray(value, dtype=dtype))


def P(value, dtype=np.int64):
    """A constant (initializer) operand: axes, shapes, pads, scales..."""
    return ("param", np.asarray(value, dtype=dtype))


NONE = ("none", None)


def case(op, inputs, opset=None, outputs=1, label="", **attrs) -> Case:
    spec = ops.get(op)
    return Case(op, inputs, attrs, opset or max(spec.since, DEFAULT_OPSET), outputs, label)


def unary_cases() -> list[Case]:
    domains = {"Log": (0.1, 3), "Sqrt": (0.0, 3), "Reciprocal": (0.2, 3), "Asin": (-1, 1),
               "Acos": (-1, 1), "Atanh": (-0.9, 0.9), "Acosh": (1.0, 3), "Tan": (-1.2, 1.2)}
    out = []
    for op in sorted(ops.elementwise.UNARY):
        lo, hi = domains.get(op, (-2.0, 2.0))
        out.append(case(op, [X(2, 3, 4, lo=lo, hi=hi)]))
    return out


def binary(op, **kw):
    return case(op, [X(2, 3, 4), X(4)], **kw)


CASES: list[Case] = [
    *unary_cases(),
    case("Round", [D([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6], np.float32)], label="halves"),
    case("LeakyRelu", [X(2, 5)], alpha=0.3, label="alpha"),
    case("HardSigmoid", [X(2, 5, lo=-4, hi=4)], alpha=0.3, beta=0.4, label="alpha-beta"),
    case("Elu", [X(2, 5)], alpha=0.5, label="alpha"),
    case("Selu", [X(2, 5)], alpha=1.5, gamma=1.2, label="alpha-gamma"),
    case("Celu", [X(2, 5)], alpha=2.0, label="alpha"),
    case("ThresholdedRelu", [X(2, 5)], alpha=0.5, label="alpha"),
    case("Gelu", [X(2, 5)], approximate="tanh", label="tanh"),
    *(binary(op) for op in ("Add", "Sub", "Mul", "Div")),
    case("Add", [X(3, 4, lo=-50, hi=50, dtype=np.int64), X(4, lo=-50, hi=50, dtype=np.int64)],
         label="int64"),
    case("Div", [D([7, -7, 7, -7, 9, 0], np.int32), D([2, 2, -2, -2, 3, 5], np.int32)],
         label="int-truncates"),
    case("Pow", [X(2, 3, lo=0.5, hi=2), X(3)]),
    case("Pow", [X(2, 3), P([2, 3, 1], np.int64)], label="int-exponent"),
    case("Mod", [D([7, -7, 7, -7, 5, 0], np.int32), D([3, 3, -3, -3, 5, 4], np.int32)],
         label="int"),
    case("Mod", [X(2, 3, lo=-5, hi=5), X(3, lo=0.5, hi=2)], fmod=1, label="fmod"),
    case("Mod", [D([7, -7, 7, -7], np.int64), D([3, 3, -3, -3], np.int64)], fmod=1,
         label="int-fmod"),
    *(case(op, [X(2, 3, 4), X(3, 1), X(4)]) for op in ("Max", "Min", "Sum", "Mean")),
    case("Max", [X(2, 3, lo=-9, hi=9, dtype=np.int32), X(3, lo=-9, hi=9, dtype=np.int32)],
         label="int"),
    case("BitShift", [X(6, lo=0, hi=200, dtype=np.uint8), D([1, 2, 3, 0, 1, 4], np.uint8)],
         direction="LEFT", label="left"),
    case("BitShift", [X(6, lo=0, hi=2**31, dtype=np.uint32), D([1, 2, 3, 0, 7, 4], np.uint32)],
         direction="RIGHT", label="right"),
    case("PRelu", [X(2, 3, 4, 5), X(3, 1, 1)]),
    case("PRelu", [X(2, 6), X(6)], label="per-feature"),
    case("Clip", [X(2, 3, 4), P(-0.5, np.float32), P(0.7, np.float32)], opset=13,
         label="inputs"),
    case("Clip", [X(2, 3, 4), NONE, P(0.3, np.float32)], opset=13, label="max-only"),
    case("Clip", [X(2, 3, 4)], opset=6, min=-0.4, max=0.9, label="attrs-opset6"),
    case("Clip", [X(2, 5, lo=-20, hi=20, dtype=np.int32), P(-3, np.int32), P(4, np.int32)],
         opset=13, label="int"),
    case("Where", [X(2, 3, 4, dtype=np.bool_), X(3, 4), X(2, 1, 4)]),
    *(case(op, [X(2, 3, lo=-3, hi=3, dtype=np.int32), X(3, lo=-3, hi=3, dtype=np.int32)])
      for op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")),
    case("Less", [X(2, 3), X(2, 3)], label="float"),
    *(case(op, [X(2, 3, dtype=np.bool_), X(3, dtype=np.bool_)]) for op in ("And", "Or", "Xor")),
    case("Not", [X(2, 3, dtype=np.bool_)]),
    case("IsNaN", [D([1.0, np.nan, -np.inf, 0.0, np.nan], np.float32)]),
    case("IsInf", [D([1.0, np.inf, -np.inf, 0.0, np.nan], np.float32)]),
    case("IsInf", [D([1.0, np.inf, -np.inf, 0.0], np.float32)], detect_negative=0,
         label="positive-only"),
    case("Cast", [X(2, 5, lo=-9, hi=9)], to=TensorProto.INT32, label="float-to-int"),
    case("Cast", [D([0.0, 1.5, -2.0, 0.0], np.float32)], to=TensorProto.BOOL,
         label="float-to-bool"),
    case("Cast", [X(2, 5, lo=-9, hi=9, dtype=np.int64)], to=TensorProto.FLOAT,
         label="int-to-float"),
    case("Cast", [X(2, 5)], to=TensorProto.FLOAT16, label="to-half"),
    # normalization
    case("Softmax", [X(2, 3, 4)], opset=13, axis=1, label="axis1"),
    case("Softmax", [X(2, 3, 4)], opset=13, label="default-axis"),
    case("Softmax", [X(2, 3, 4)], opset=11, label="opset11-coerces"),
    case("Softmax", [X(3, 5)], opset=11, axis=0, label="opset11-axis0"),
    case("LogSoftmax", [X(2, 3, 4)], opset=13, axis=1),
    case("LogSoftmax", [X(2, 3, 4)], opset=11, label="opset11-coerces"),
    case("Hardmax", [X(2, 3, 4)], opset=13, axis=1),
    case("Hardmax", [X(2, 3, 4)], opset=11, label="opset11-coerces"),
    case("LRN", [X(1, 5, 4, 4)], size=3, alpha=0.001, beta=0.75, bias=1.5),
    case("BatchNormalization", [X(2, 3, 4, 4), X(3), X(3), X(3), X(3, lo=0.5, hi=2)],
         epsilon=1e-3),
    case("LayerNormalization", [X(2, 3, 8), X(8), X(8)], epsilon=1e-5),
    case("LayerNormalization", [X(2, 3, 8), X(3, 8), NONE], axis=1, outputs=3,
         label="axis1-stats"),
    case("InstanceNormalization", [X(2, 3, 4, 5), X(3), X(3)], epsilon=1e-4),
    case("LpNormalization", [X(2, 3, 4)], axis=1, p=2, label="p2"),
    case("LpNormalization", [X(2, 3, 4)], axis=-1, p=1, label="p1"),
    case("MeanVarianceNormalization", [X(2, 3, 4, 5)]),
    # matrix products and windows
    case("Gemm", [X(4, 3), X(5, 4), X(5)], transA=1, transB=1, alpha=0.5, beta=2.0),
    case("Gemm", [X(2, 3), X(3, 4)], label="plain"),
    case("MatMul", [X(2, 1, 3, 4), X(5, 4, 6)]),
    case("MatMul", [X(4), X(2, 4, 3)], label="1d"),
    case("Conv", [X(1, 4, 7, 6), X(6, 2, 3, 3), X(6)], pads=[1, 0, 2, 1], strides=[2, 1],
         dilations=[1, 2], group=2),
    case("Conv", [X(2, 3, 9), X(4, 3, 3)], auto_pad="SAME_UPPER", strides=[2], label="1d-same"),
    case("Conv", [X(1, 2, 4, 5, 5), X(3, 2, 2, 3, 3)], pads=[1, 0, 1, 0, 1, 1], label="3d"),
    case("Conv", [X(1, 4, 6, 6), X(4, 1, 3, 3)], group=4, auto_pad="SAME_LOWER",
         label="depthwise-same-lower"),
    case("ConvTranspose", [X(1, 4, 3, 4), X(4, 3, 3, 3), X(6)], strides=[2, 2], pads=[1, 0, 0, 1],
         group=2, output_padding=[1, 0]),
    case("ConvTranspose", [X(1, 2, 3, 3), X(2, 3, 3, 3)], strides=[2, 2], output_shape=[6, 7],
         label="output-shape"),
    case("ConvTranspose", [X(1, 2, 4, 3), X(2, 2, 2, 3)], strides=[2, 3], auto_pad="SAME_UPPER",
         label="same-upper"),
    case("ConvTranspose", [X(1, 2, 5), X(2, 3, 3)], dilations=[2], label="1d-dilated"),
    case("MaxPool", [X(1, 2, 7, 7)], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
         outputs=2, label="indices"),
    case("MaxPool", [X(2, 2, 6, 7)], kernel_shape=[3, 2], strides=[2, 2], ceil_mode=1,
         dilations=[1, 2], label="ceil-dilated"),
    case("MaxPool", [X(1, 2, 5, 4)], kernel_shape=[2, 2], storage_order=1, outputs=2,
         label="column-major-indices"),
    case("MaxPool", [X(1, 3, 9)], kernel_shape=[3], auto_pad="SAME_UPPER", strides=[2],
         label="1d-same"),
    case("AveragePool", [X(1, 2, 7, 7)], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
         label="exclude-pad"),
    case("AveragePool", [X(1, 2, 7, 7)], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
         count_include_pad=1, label="include-pad"),
    case("AveragePool", [X(1, 2, 6, 6)], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1,
         label="ceil"),
    case("LpPool", [X(1, 2, 6, 6)], kernel_shape=[2, 2], strides=[2, 2], p=2),
    case("LpPool", [X(1, 2, 5, 5)], kernel_shape=[3, 3], pads=[1, 1, 1, 1], p=3, label="p3-pads"),
    case("GlobalAveragePool", [X(2, 3, 4, 5)]),
    case("GlobalMaxPool", [X(2, 3, 4, 5)]),
    case("GlobalLpPool", [X(2, 3, 4, 5)], p=3),
    # reductions
    case("ArgMax", [X(3, 4, 5)], axis=1),
    case("ArgMax", [D([[1, 3, 3, 0], [2, 2, 1, 2]], np.float32)], axis=1, keepdims=0,
         select_last_index=1, label="last-index"),
    case("ArgMin", [X(3, 4, 5)], axis=-1, keepdims=0),
    case("ArgMin", [D([[1, 0, 3, 0], [2, 1, 1, 2]], np.float32)], axis=1, select_last_index=1,
         label="last-index"),
    # shape and data movement
    case("Reshape", [X(2, 3, 4), P([0, -1, 2])]),
    case("Reshape", [X(2, 3, 4), P([4, 0, 2])], opset=14, allowzero=0, label="zero-copies"),
    case("Flatten", [X(2, 3, 4, 5)], axis=2),
    case("Flatten", [X(2, 3, 4)], axis=-1, label="negative-axis"),
    case("Squeeze", [X(2, 1, 3, 1), P([1])], opset=13, label="axes-input"),
    case("Squeeze", [X(2, 1, 3, 1)], opset=11, axes=[-1], label="axes-attr"),
    case("Squeeze", [X(1, 3, 1)], opset=13, label="all"),
    case("Unsqueeze", [X(2, 3), P([0, -1])], opset=13, label="axes-input"),
    case("Unsqueeze", [X(2, 3)], opset=11, axes=[1, 3], label="axes-attr"),
    case("Identity", [X(2, 3)]),
    case("Dropout", [X(2, 3)], outputs=2),
    case("Dropout", [X(2, 3), P(0.3, np.float32)], opset=13, label="ratio-input"),
    case("Transpose", [X(2, 3, 4)], perm=[1, 2, 0]),
    case("Transpose", [X(2, 3, 4)], label="reversed"),
    case("Concat", [X(2, 3), X(2, 1), X(2, 2)], axis=-1),
    case("Split", [X(6, 4), P([1, 2, 3])], opset=13, outputs=3, label="split-input"),
    case("Split", [X(6, 4)], opset=11, axis=1, split=[3, 1], outputs=2, label="split-attr"),
    case("Split", [X(6, 4)], opset=13, outputs=3, label="even"),
    case("Split", [X(2, 7)], opset=18, axis=1, num_outputs=3, outputs=3, label="num-outputs"),
    case("Slice", [X(5, 6), P([1, -1]), P([4, -5]), P([0, 1]), P([2, -2])], opset=13,
         label="inputs-negative-step"),
    case("Slice", [X(5, 6), P([-100]), P([100]), P([1])], opset=13, label="clamped"),
    case("Slice", [X(5, 6)], opset=1, starts=[1, 0], ends=[3, 4], axes=[0, 1],
         label="attrs-opset1"),
    case("Gather", [X(3, 4, 5), P([[0, -1], [2, 1]])], axis=1),
    case("GatherND", [X(3, 4, 5), P([[0, 1], [2, -1]])]),
    case("GatherND", [X(2, 3, 4), P([[1], [2]])], batch_dims=1, label="batch-dims"),
    case("Expand", [X(3, 1), P([2, 1, 4])]),
    case("Tile", [X(2, 3), P([2, 3])]),
    case("Pad", [X(2, 3), P([0, 1, 1, 2]), P(1.5, np.float32)], opset=13, label="constant"),
    case("Pad", [X(3, 4), P([1, 2, 0, 1])], opset=13, mode="reflect", label="reflect"),
    case("Pad", [X(3, 4), P([2, 0, 1, 3])], opset=13, mode="edge", label="edge"),
    case("Pad", [X(3, 4), P([1, 2, 2, 1])], opset=19, mode="wrap", label="wrap"),
    case("Pad", [X(2, 3, 4), P([1, 2]), NONE, P([-1])], opset=18, label="axes"),
    case("Pad", [X(3, 5), P([1, -1, -1, 2])], opset=13, label="negative-crops"),
    case("Pad", [X(2, 3)], opset=2, pads=[1, 0, 0, 2], value=2.0, label="attrs-opset2"),
    case("DepthToSpace", [X(1, 8, 2, 3)], blocksize=2, mode="DCR", label="dcr"),
    case("DepthToSpace", [X(1, 8, 2, 3)], blocksize=2, mode="CRD", label="crd"),
    case("SpaceToDepth", [X(1, 2, 4, 6)], blocksize=2),
    # quantization
    case("QuantizeLinear", [X(2, 3, 4, lo=-3, hi=3), P(0.02, np.float32), P(128, np.uint8)],
         label="per-tensor"),
    case("QuantizeLinear", [X(2, 3, 4), P([0.01, 0.02, 0.05], np.float32),
                            P([0, 3, -2], np.int8)], axis=1, label="per-axis"),
    case("DequantizeLinear", [X(2, 3, 4, lo=0, hi=255, dtype=np.uint8), P(0.02, np.float32),
                              P(128, np.uint8)], label="per-tensor"),
    case("DequantizeLinear", [X(2, 3, 4, lo=-128, hi=127, dtype=np.int8),
                              P([0.01, 0.02, 0.05], np.float32)], axis=1, label="per-axis"),
    # control
    case("Constant", [], value=numpy_helper.from_array(np.arange(6, dtype=np.float32)
                                                        .reshape(2, 3))),
    case("Constant", [], value_ints=[3, 1, 4], label="ints"),
    case("ConstantOfShape", [P([2, 3])],
         value=numpy_helper.from_array(np.array([1.5], np.float32))),
    case("Shape", [X(2, 3, 4)]),
    case("Shape", [X(2, 3, 4, 5)], opset=15, start=1, end=-1, label="start-end"),
    case("Size", [X(2, 3, 4)]),
    case("Range", [P(1, np.int64), P(11, np.int64), P(3, np.int64)], label="int"),
    case("Range", [P(1.0, np.float32), P(-2.0, np.float32), P(-0.7, np.float32)],
         label="float"),
    case("CastLike", [X(2, 5, lo=-9, hi=9), D(np.zeros(1, np.int32))]),
    case("MatMul", [X(4), X(2, 4, 3)], label="1d-3d"),
    case("MatMul", [X(2, 3, 4), X(4)], label="3d-1d"),
    # resize
    case("Resize", [X(1, 2, 4, 5), P([], np.float32), P([1, 1, 2, 1.5], np.float32)], opset=13,
         mode="nearest", label="nearest"),
    case("Resize", [X(1, 2, 4, 5), NONE, NONE, P([1, 2, 7, 3])], opset=18, mode="linear",
         label="linear-sizes"),
    case("Resize", [X(1, 2, 4, 5), NONE, P([1, 1, 2, 2], np.float32)], opset=13, mode="linear",
         coordinate_transformation_mode="align_corners", label="linear-align-corners"),
    case("Resize", [X(1, 1, 6, 6), NONE, P([1, 1, 0.6, 0.5], np.float32)], opset=18,
         mode="cubic", antialias=1, label="cubic-antialias"),
    case("Resize", [X(1, 2, 5, 4), P([0, 0, 0.1, 0.2, 1, 1, 0.9, 0.8], np.float32), NONE,
                    P([1, 2, 3, 3])], opset=13, mode="linear",
         coordinate_transformation_mode="tf_crop_and_resize", label="crop"),
    case("Resize", [X(1, 1, 3, 4), P([1, 1, 2, 2.5], np.float32)], opset=10, label="opset10"),
    case("Upsample", [X(1, 2, 3, 3), P([1, 1, 2, 3], np.float32)], opset=9, mode="nearest"),
    # recurrent: weights as runtime inputs (the decomposition slices them with ops)
    case("LSTM", [X(3, 2, 4), X(2, 20, 4), X(2, 20, 5), X(2, 40), NONE, X(2, 2, 5),
                  X(2, 2, 5), X(2, 15)], hidden_size=5, direction="bidirectional", outputs=3),
    case("GRU", [X(3, 2, 4), X(1, 15, 4), X(1, 15, 5), X(1, 30)], hidden_size=5,
         linear_before_reset=1, outputs=2, label="lbr"),
    case("GRU", [X(2, 3, 4), X(1, 9, 4), X(1, 9, 3)], hidden_size=3, direction="reverse",
         outputs=2, label="reverse"),
    case("RNN", [X(4, 2, 3), X(1, 5, 3), X(1, 5, 5), X(1, 10)], hidden_size=5,
         activations=["Relu"], outputs=2),
    # integer GEMMs
    case("MatMulInteger", [X(3, 4, lo=0, hi=255, dtype=np.uint8),
                           X(4, 5, lo=-128, hi=127, dtype=np.int8), D(120, np.uint8),
                           D([1, -2, 0, 5, 9], np.int8)]),
    case("ConvInteger", [X(1, 2, 5, 5, lo=0, hi=255, dtype=np.uint8),
                         X(3, 2, 3, 3, lo=0, hi=255, dtype=np.uint8), D(17, np.uint8)],
         pads=[1, 1, 1, 1]),
    case("QLinearMatMul", [X(2, 3, 4, lo=0, hi=255, dtype=np.uint8), P(0.05, np.float32),
                           P(120, np.uint8), X(4, 6, lo=-128, hi=127, dtype=np.int8),
                           P(0.02, np.float32), P(0, np.int8), P(0.3, np.float32),
                           P(10, np.uint8)]),
    case("QLinearConv", [X(1, 2, 6, 6, lo=0, hi=255, dtype=np.uint8), P(0.05, np.float32),
                         P(100, np.uint8), X(4, 2, 3, 3, lo=-100, hi=100, dtype=np.int8),
                         P([0.01, 0.02, 0.03, 0.04], np.float32), P([0, 0, 0, 0], np.int8),
                         P(0.2, np.float32), P(128, np.uint8), X(4, lo=-500, hi=500,
                                                               dtype=np.int32)],
         strides=[2, 2], pads=[1, 1, 1, 1]),
    case("DynamicQuantizeLinear", [X(3, 7, lo=-1, hi=3)], outputs=3),
    # indexing (workloads/ops/indexing.py)
    case("GatherElements", [X(3, 4), D([[0, 2, 1, -1], [2, 0, 0, 1]], np.int64)], axis=0),
    case("ScatterElements", [X(3, 4), D([[1, 0], [2, 2]], np.int64), X(2, 2)], axis=1,
         reduction="add"),
    case("ScatterND", [X(4, 3), D([[1], [3]], np.int64), X(2, 3)], opset=18,
         reduction="max"),
    case("OneHot", [D([[1, 0], [3, -1]], np.int64), P(4, np.int64), P([0.0, 2.5], np.float32)],
         axis=1),
    case("Trilu", [X(2, 4, 5), P(1, np.int64)], upper=0),
    case("TopK", [X(3, 6), P([3], np.int64)], axis=1, largest=0, outputs=2),
    case("CumSum", [X(3, 4), P(1, np.int32)], exclusive=1, reverse=1),
    case("ReverseSequence", [X(4, 3, 2), D([4, 1, 3], np.int64)], batch_axis=1, time_axis=0),
    case("EyeLike", [X(3, 5)], k=1, dtype=TensorProto.INT32),
    case("Compress", [X(3, 4), P([True, False, True, True], np.bool_)], axis=1),
    case("Shrink", [X(2, 6)], lambd=0.7, bias=0.2),
    *(case(op, [X(3, 4, lo=0, hi=250, dtype=np.uint8), X(4, lo=0, hi=250, dtype=np.uint8)])
      for op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor")),
    case("BitwiseNot", [X(3, 4, lo=-100, hi=100, dtype=np.int32)]),
    case("GroupNormalization", [X(2, 6, 3, 3), X(3), X(3)], opset=18, num_groups=3),
    case("RMSNormalization", [X(2, 3, 8), X(8)], opset=23, epsilon=1e-5),
    case("Swish", [X(2, 5)], opset=24, alpha=1.5),
    case("CumProd", [X(3, 4, lo=0.5, hi=1.5), P(0, np.int64)], opset=26),
    # control flow (closed bodies; bodies capturing outer tensors: test_onnx_inputs.py)
    case("Loop", [P(3, np.int64), P(True, np.bool_), X(2, 3)], outputs=2,
         body=helper.make_graph(
             [helper.make_node("Identity", ["c"], ["c_out"]),
              helper.make_node("Mul", ["v", "v"], ["sq"]),
              helper.make_node("Add", ["sq", "v"], ["v_out"]),
              helper.make_node("Cast", ["i"], ["i_f"], to=TensorProto.FLOAT),
              helper.make_node("Add", ["v_out", "i_f"], ["scan"])], "body",
             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
              helper.make_tensor_value_info("c", TensorProto.BOOL, []),
              helper.make_tensor_value_info("v", TensorProto.FLOAT, [2, 3])],
             [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
              helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [2, 3]),
              helper.make_tensor_value_info("scan", TensorProto.FLOAT, [2, 3])])),
    case("Scan", [X(3), X(3, 4)], num_scan_inputs=1, scan_input_axes=[1],
         scan_output_axes=[1], scan_output_directions=[1], outputs=2,
         body=helper.make_graph(
             [helper.make_node("Add", ["acc", "x"], ["acc_out"]),
              helper.make_node("Mul", ["acc_out", "x"], ["y"])], "body",
             [helper.make_tensor_value_info("acc", TensorProto.FLOAT, [3]),
              helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
             [helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [3]),
              helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])),
    case("If", [P(False, np.bool_)], outputs=1,
         then_branch=helper.make_graph(
             [helper.make_node("Constant", [], ["t"], value_floats=[1.0, 2.0])], "then", [],
             [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])]),
         else_branch=helper.make_graph(
             [helper.make_node("Constant", [], ["e"], value_floats=[3.0, 4.0, 5.0])], "else",
             [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [3])])),
]

REDUCE_FORMS = [  # (opset, axes as input?)
    (13, False), (18, True)]
for _op in sorted(ops.reduction.REDUCERS):
    lo = 0.1 if _op in ("ReduceLogSum",) else -2.0
    for _opset, _as_input in REDUCE_FORMS:
        if _op == "ReduceSum":
            _opset = 11 if not _as_input else 13
        axes = [0, -1]
        inputs = [X(3, 4, 5, lo=lo)] + ([P(axes)] if _as_input else [])
        extra = {} if _as_input else {"axes": axes}
        CASES.append(case(_op, inputs, opset=_opset, label="axes-input" if _as_input else
                          "axes-attr", **extra))
    CASES.append(case(_op, [X(3, 4, lo=lo)], opset=18, keepdims=0, label="all-axes"))
CASES.append(case("ReduceSum", [X(3, 4), P([], np.int64)], opset=13, noop_with_empty_axes=1,
                  label="noop"))
CASES.append(case("ReduceMax", [X(3, 4, lo=-9, hi=9, dtype=np.int32), P([1])], opset=18,
                  label="int"))


def _model(c: Case):
    names, inputs, inits = [], [], []
    feeds = {}
    for i, (kind, value) in enumerate(c.inputs):
        if kind == "none":
            names.append("")
            continue
        name = f"in{i}"
        names.append(name)
        if kind == "data":
            inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)))
            feeds[name] = value
        else:
            inits.append(numpy_helper.from_array(value, name))
    outputs = [f"out{i}" for i in range(c.outputs)]
    node = helper.make_node(c.op, names, outputs, name="node", **c.attrs)
    graph = helper.make_graph([node], "one", inputs,
                              [helper.make_empty_tensor_value_info(o) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", c.opset)])
    model.ir_version = 8
    inferred = shape_inference.infer_shapes(model)
    for out in model.graph.output:   # declare the element type only; shapes come from ORT
        elem = next(o for o in inferred.graph.output if o.name == out.name).type
        # (ONNX infers no type for some function ops, e.g. GroupNormalization: X's type)
        out.type.tensor_type.elem_type = elem.tensor_type.elem_type or \
            helper.np_dtype_to_tensor_dtype(c.inputs[0][1].dtype)
    return model, feeds


def _ort(model, feeds) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _compare(ours, ref, what: str) -> None:
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != onnxruntime {ref.shape}"
    assert ours.dtype == ref.dtype, f"{what}: dtype {ours.dtype} != onnxruntime {ref.dtype}"
    if ref.dtype.kind in "fc":
        np.testing.assert_allclose(ours.astype(np.float64), ref.astype(np.float64), rtol=RTOL,
                                   atol=ATOL, err_msg=what, equal_nan=True)
    else:
        np.testing.assert_array_equal(ours, ref, err_msg=what)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_semantics_match_onnxruntime(c):
    """ops.evaluate on the node's decoded attributes (schema defaults filled, the constant-
    folding form) equals onnxruntime, value for value."""
    model, feeds = _model(c)
    reference = _ort(model, feeds)
    values = [None if kind == "none" else value for kind, value in c.inputs]
    attrs = frontend.node_attrs(model.graph.node[0], c.opset)
    ours = ops.evaluate(c.op, values, attrs, opset=c.opset, n_outputs=c.outputs)
    assert len(ours) >= len(reference)
    for i, ref in enumerate(reference):
        _compare(ours[i], ref, f"{c.id} output {i}")


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("infer", [True, False], ids=["inference", "shape-rule"])
def test_import_matches_onnxruntime(monkeypatch, c, infer):
    """The imported one-node model has onnxruntime's output shapes and types (with ONNX shape
    inference, and with the catalogue's shape rules alone); the imported op, with the
    importer's normalised attributes and no opset (functional execution's form), still
    computes onnxruntime's values."""
    model, feeds = _model(c)
    reference = _ort(model, feeds)
    if not infer:
        monkeypatch.setattr(frontend, "infer_types", lambda *args: {})
    graph = frontend.load_onnx(model)
    for i, ref in enumerate(reference):
        tensor = graph.tensor(f"out{i}")
        assert tensor.shape == ref.shape, f"{c.id} output {i}"
        assert np.dtype(tensor.dtype) == ref.dtype, f"{c.id} output {i}"
        if tensor.values is not None:   # folded at import
            _compare(tensor.values, ref, f"{c.id} folded output {i}")
    if not graph.ops:
        return
    if len(graph.ops) != 1 or graph.ops[0].type != c.op:
        # Decomposed at import (control flow, recurrences, integer GEMMs, 1-D MatMul): the
        # imported ops, run by their own semantics, compute onnxruntime's values.
        assert ops.get(c.op).importer.custom is not None, f"{c.id}: unexpected ops"
        everything = ops.run_graph(graph, {n: v for n, v in feeds.items() if n in graph.inputs})
        for i, ref in enumerate(reference):
            _compare(everything[f"out{i}"], ref, f"{c.id} decomposed output {i}")
        return
    (op,) = graph.ops
    values = [None if not n else feeds[n] if graph.tensors[n].values is None else
              graph.tensors[n].values for n in op.inputs]
    ours = ops.evaluate(op.type, values, op.attrs, [graph.tensor(o).shape for o in op.outputs])
    for i, ref in enumerate(reference):
        _compare(ours[i], ref, f"{c.id} imported op output {i}")


def test_every_functional_onnx_operator_has_a_case():
    covered = {c.op for c in CASES}
    listed = {s.op for s in ops.specs() if s.domain == "" and s.functional}
    assert listed - covered == set()
    assert covered <= listed


# ---- the only list ------------------------------------------------------------------------------

def test_every_importable_operator_is_an_onnx_entry_with_semantics():
    onnx_specs = [s for s in ops.specs() if s.domain == ""]
    assert all(s.importable and s.functional for s in onnx_specs)
    assert all(frontend.importable(s.op, "", s.since) for s in onnx_specs)
    assert not frontend.importable("GnnGather", "archsim.gnn")
    assert not frontend.importable("GnnGather")
    assert not frontend.importable("Col2Im")   # not registered: the importer refuses it
    assert not frontend.importable("Gelu", "", 17)   # before its first opset
    assert all(s.category in ops.CATEGORIES for s in ops.specs())


def test_entries_know_their_first_opset():
    for spec in ops.specs():
        if spec.domain:
            continue
        versions = [s.since_version for s in onnx.defs.get_all_schemas_with_history()
                    if s.name == spec.op and s.domain == ""]
        assert spec.since == min(versions), spec.op


def test_specs_sorted_and_lookups():
    keys = [(s.domain, s.op) for s in ops.specs()]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert ops.get("Conv").category == "matmul" and ops.find("Conv", "ai.onnx") is ops.get("Conv")
    assert ops.find("NoSuchOp") is None
    with pytest.raises(WorkloadError, match="NoSuchOp"):
        ops.get("NoSuchOp")
    assert ops.category("Relu") == "elementwise" and ops.category("GnnGather") == "gnn"
    assert ops.category("NoSuchOp") is None
    assert [t for t in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout",
                        "Transpose") if ops.is_view(t)] == ["Reshape", "Flatten", "Squeeze",
                                                            "Unsqueeze", "Identity", "Dropout"]
    assert {s.op for s in ops.specs() if ops.is_matmul(s.op)} == {"Conv", "Gemm", "MatMul"}
    assert ops.has_vector_cost("ConvTranspose") and not ops.is_matmul("ConvTranspose")
    assert not ops.has_vector_cost("Conv") and not ops.has_vector_cost("Reshape")
    assert not ops.has_vector_cost("Range") and not ops.has_vector_cost("GnnGather")


def test_gnn_entries_are_the_ir_op_types():
    from workloads.gnn import ir

    gnn = {s.op for s in ops.specs() if s.domain == ops.GNN_DOMAIN}
    assert gnn == set(ir.GNN_OPS) == set(ir.EDGE_OPS) | set(ir.VERTEX_OPS)
    assert all(ops.get(t, "archsim.gnn").category == "gnn" for t in gnn)


def test_blockskim_carries_what_it_carried_before():
    """The pass's old op-type sets, now catalogue properties."""
    old_elementwise = {"Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Gelu", "Relu", "Tanh",
                       "Sigmoid", "Exp", "Identity", "Dropout", "Clip", "Cast", "Where", "Equal",
                       "Not", "Neg", "IsNaN", "Softmax", "LayerNormalization", "Max", "Min",
                       "Abs", "Reciprocal", "LeakyRelu"}
    assert all(ops.get(t).broadcasts for t in old_elementwise)
    assert not ops.get("BatchNormalization").broadcasts and not ops.get("Transpose").broadcasts
    assert {s.op for s in ops.specs() if s.along_axis} == {"Concat", "Split"}
    assert {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"} <= \
        {s.op for s in ops.specs() if s.reduces_axes}
    assert not ops.get("ArgMax").reduces_axes


def test_importing_the_catalogue_does_not_import_onnx():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, workloads.ops; from workloads import ops; ops.specs(); "
            "assert 'onnx' not in sys.modules and 'simulator' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[1])


# ---- errors -------------------------------------------------------------------------------------

def test_missing_semantics_is_a_user_error_naming_the_op(monkeypatch):
    from workloads.ops import catalogue

    spec = ops.OpSpec("Mystery", "test.archsim", 1, None, "elementwise", "no semantics",
                      cost=ops.VectorCost(per_output=1))
    monkeypatch.setitem(catalogue._REGISTRY, ("test.archsim", "Mystery"), spec)
    assert not spec.functional
    with pytest.raises(WorkloadError, match="no numpy semantics for operator Mystery"):
        ops.evaluate("Mystery", [np.zeros(2)], {}, domain="test.archsim")
    with pytest.raises(WorkloadError, match="unknown operator 'Nope'"):
        ops.evaluate("Nope", [np.zeros(2)], {})


def test_functional_execution_names_missing_tensors_and_semantics(monkeypatch):
    from conftest import systolic_config

    from simulator import api
    from simulator.errors import TraceError
    from simulator.trace.functional import execute
    from workloads.ops import catalogue

    g = Graph("t")
    g.add_tensor(Tensor("x", (4, 4)))
    g.inputs = ["x"]
    g.add_tensor(Tensor("y", (4, 4)))
    g.add_tensor(Tensor("z", (4, 4)))
    g.add_op(Op("act", "HardSwish", ["x"], ["y"]))
    g.add_op(Op("neg", "Neg", ["y"], ["z"]))
    g.outputs = ["z"]
    trace = api.lower(systolic_config(4, 4, "ws"), g)
    x = np.linspace(-4, 4, 16, dtype=np.float32).reshape(4, 4)
    out = execute(trace, {"x": x})["z"]
    np.testing.assert_allclose(out, -(x * np.clip(x / 6 + 0.5, 0, 1)), rtol=1e-6)
    with pytest.raises(TraceError, match="needs tensor 'x'.*layer 'act'|layer 'act'.*tensor 'x'"):
        execute(trace, {})
    bare = ops.OpSpec("HardSwish", "", 14, None, "elementwise", "", cost=ops.VectorCost(1))
    monkeypatch.setitem(catalogue._REGISTRY, ("", "HardSwish"), bare)
    with pytest.raises(WorkloadError, match="no numpy semantics for operator HardSwish"):
        execute(trace, {"x": x})


def test_a_target_names_ops_it_cannot_run():
    from conftest import systolic_config

    from simulator import api

    g = Graph("t")
    for name, shape in (("a", ()), ("b", ()), ("c", ()), ("r", (3,))):
        g.add_tensor(Tensor(name, shape, dtype="int64"))
    g.inputs = ["a", "b", "c"]
    g.add_op(Op("range", "Range", ["a", "b", "c"], ["r"]))
    with pytest.raises(WorkloadError, match="cannot run.*Range.*node 'range'"):
        api.lower(systolic_config(4, 4, "ws"), g)


# ---- vector costs -------------------------------------------------------------------------------

def _one_op_graph(op_type: str, in_shapes, out_shapes, **attrs) -> tuple[Graph, Op]:
    g = Graph("t")
    ins, outs = [], []
    for i, shape in enumerate(in_shapes):
        g.add_tensor(Tensor(f"i{i}", shape))
        ins.append(f"i{i}")
    for i, shape in enumerate(out_shapes):
        g.add_tensor(Tensor(f"o{i}", shape))
        outs.append(f"o{i}")
    op = g.add_op(Op("op", op_type, ins, outs, attrs))
    return g, op


def n(*shape: int) -> int:
    return math.prod(shape)


@pytest.mark.parametrize("op_type, ins, outs, attrs, expected", [
    # closed forms of the former PER_ELEMENT / PER_INPUT_ELEMENT / POOL_OPS / LRN rules
    ("Relu", [(2, 3, 8)], [(2, 3, 8)], {}, 1 * n(2, 3, 8)),
    ("Add", [(2, 8), (8,)], [(2, 8)], {}, n(2, 8)),
    ("Where", [(4, 4), (4, 4), (4, 4)], [(4, 4)], {}, 16),
    ("Cast", [(5, 7)], [(5, 7)], {}, 35),
    ("PRelu", [(2, 3, 4)], [(2, 3, 4)], {}, 24),
    ("HardSwish", [(2, 3, 4)], [(2, 3, 4)], {}, 24),
    ("Transpose", [(3, 5)], [(5, 3)], {}, 15),
    ("Split", [(6, 4)], [(2, 4), (4, 4)], {}, 24),                     # every output counts
    ("Div", [(4, 4), (4, 4)], [(4, 4)], {}, 2 * 16),
    ("Reciprocal", [(4, 4)], [(4, 4)], {}, 2 * 16),
    ("BatchNormalization", [(1, 3, 4, 4)] + [(3,)] * 4, [(1, 3, 4, 4)], {}, 2 * 48),
    ("DequantizeLinear", [(8, 8), (), ()], [(8, 8)], {}, 2 * 64),
    ("QuantizeLinear", [(8, 8), (), ()], [(8, 8)], {}, 3 * 64),
    ("Sigmoid", [(4, 4)], [(4, 4)], {}, 4 * 16),
    ("Pow", [(4, 4), ()], [(4, 4)], {}, 4 * 16),
    ("Erf", [(4, 4)], [(4, 4)], {}, 4 * 16),
    ("Softmax", [(2, 12, 16, 16)], [(2, 12, 16, 16)], {}, 5 * n(2, 12, 16, 16)),
    ("LayerNormalization", [(16, 64), (64,), (64,)], [(16, 64)], {}, 8 * n(16, 64)),
    ("Gelu", [(16, 64)], [(16, 64)], {}, 8 * n(16, 64)),
    ("MaxPool", [(1, 8, 14, 14)], [(1, 8, 12, 12)], {"kernel_shape": [3, 3]}, 9 * n(8, 12, 12)),
    ("AveragePool", [(1, 8, 14, 14)], [(1, 8, 7, 7)], {"kernel_shape": [2, 2]}, 4 * n(8, 7, 7)),
    ("LpPool", [(1, 2, 9)], [(1, 2, 3)], {"kernel_shape": [3]}, 3 * 6),
    ("GlobalAveragePool", [(1, 64, 7, 7)], [(1, 64, 1, 1)], {}, n(64, 7, 7)),
    ("GlobalMaxPool", [(1, 64, 7, 7)], [(1, 64, 1, 1)], {}, n(64, 7, 7)),
    ("ReduceMean", [(4, 128, 64)], [(4, 128, 1)], {}, n(4, 128, 64)),
    ("ReduceSum", [(4, 10)], [(4,)], {}, 40),
    ("ReduceMax", [(4, 10)], [(1, 10)], {}, 40),
    ("ReduceMin", [(4, 10)], [(4, 1)], {}, 40),
    ("ReduceL2", [(4, 10)], [(4, 1)], {}, 40),
    ("LRN", [(1, 16, 8, 8)], [(1, 16, 8, 8)], {"size": 5}, n(16, 8, 8) * (5 + 3)),
    ("LRN", [(1, 16, 8, 8)], [(1, 16, 8, 8)], {"size": 3}, n(16, 8, 8) * (3 + 3)),
    ("ConvTranspose", [(1, 4, 5, 5), (4, 3, 3, 3)], [(1, 3, 7, 7)], {}, n(4, 5, 5) * 3 * 9),
])
def test_default_vector_work(op_type, ins, outs, attrs, expected):
    g, op = _one_op_graph(op_type, ins, outs, **attrs)
    assert ops.vector_work(g, op) == expected


def test_vector_cost_overrides():
    g, sm = _one_op_graph("Softmax", [(4, 8)], [(4, 8)])
    assert ops.vector_work(g, sm, {"Softmax": 3}) == 3 * 32
    assert ops.vector_work(g, sm, {"Softmax": 2.5}) == 80
    assert ops.vector_work(g, sm, {"Softmax": {"per_input": 1}}) == 5 * 32 + 32
    assert ops.vector_work(g, sm, {"Relu": 7}) == 5 * 32          # other ops keep defaults
    g, pool = _one_op_graph("MaxPool", [(1, 2, 6, 6)], [(1, 2, 4, 4)], kernel_shape=[3, 3])
    assert ops.vector_work(g, pool, {"MaxPool": {"per_tap": 2}}) == 2 * 9 * 32
    assert ops.vector_work(g, pool, {"MaxPool": 1}) == 32
    with pytest.raises(WorkloadError, match="per_element"):
        ops.vector_work(g, pool, {"MaxPool": {"per_element": 1}})
    g, conv = _one_op_graph("Conv", [(1, 2, 4, 4), (2, 2, 3, 3)], [(1, 2, 2, 2)])
    with pytest.raises(WorkloadError, match="no vector cost"):
        ops.vector_work(g, conv)


def test_lower_vector_op_takes_cost_overrides():
    from simulator.lower.vector_ops import lower_vector_op

    g, op = _one_op_graph("Softmax", [(4, 8)], [(4, 8)])
    emitted = []

    def emit(kind, unit, layer, dims, nbytes, deps, tensor):
        emitted.append((kind, dims))
        return len(emitted) - 1

    info = lower_vector_op(emit, g, op, {}, 4, costs={"Softmax": 2})
    assert info.vector_ops == 64 and ("VEC", {"work": 64, "elements": 32}) in emitted
    assert lower_vector_op(emit, g, op, {}, 4).vector_ops == 5 * 32


def test_gnn_vector_work_is_op_cost():
    from workloads.gnn import load_gnn_workload
    from workloads.gnn.ir import op_cost

    g = load_gnn_workload("gnn:gat:powerlaw?vertices=60&edges=300&features=8&classes=3")
    assert {op.type for op in g.ops} >= {"GnnScatter", "GnnGather", "GnnEdgeSoftmax"}
    for op in g.ops:
        assert ops.vector_work(g, op) == op_cost(g, op).vector_ops


# ---- GNN semantics ------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["gcn", "gat", "sage", "gin"])
def test_gnn_catalogue_matches_executor_and_scipy(model):
    """Op-by-op catalogue evaluation (ops.run_graph) of a GNN program equals the executor's
    whole-graph run, its tiled run (online softmax across tiles) and the scipy reference."""
    from test_gnn import REFS

    from simulator.passes.gnn_tiling import tile_graph
    from workloads.gnn import load_gnn_workload
    from workloads.gnn.execute import execute

    g = load_gnn_workload(f"gnn:{model}:powerlaw?vertices=80&edges=400&features=12&classes=4"
                          "&hidden=8")
    out = g.outputs[0]
    ours = ops.run_graph(g)[out]
    assert ours.shape == (80, 4)
    np.testing.assert_allclose(ours, execute(g, tiled=False)[out], rtol=1e-5, atol=1e-6)
    tiled = tile_graph(g, 16, 32, 64)
    assert len(tiled.tensors["adj.tiles"].values) > 4
    np.testing.assert_allclose(ours, execute(tiled)[out], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours, REFS[model](g), rtol=1e-4, atol=1e-5)


def test_gnn_gather_semantics():
    adj = np.array([[0, 1, 2, 2], [1, 1, 0, 3]])
    m = np.array([[1.0], [2.0], [3.0], [-4.0]], np.float32)
    gather = ops.get("GnnGather", "archsim.gnn")
    out = {r: gather.evaluate([m, adj], {"reduce": r}, [(5, 1)])[0][:, 0].tolist()
           for r in ("sum", "mean", "max")}
    assert out == {"sum": [3, 3, 0, -4, 0], "mean": [3, 1.5, 0, -4, 0], "max": [3, 2, 0, -4, 0]}
    soft = ops.evaluate("GnnEdgeSoftmax", [np.array([[0.0], [np.log(3)], [1.0], [5.0]],
                                                    np.float32), adj], {})[0][:, 0]
    np.testing.assert_allclose(soft, [0.25, 0.75, 1.0, 1.0], rtol=1e-6)


# ---- real models with operators that used to have no semantics ---------------------------------

def _activation_model():
    """Conv -> PRelu -> HardSwish -> ConvTranspose -> Mish -> InstanceNorm -> LogSoftmax."""
    rng = np.random.default_rng(5)
    init = {"w": rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3,
            "slope": rng.uniform(0, 0.3, (6, 1, 1)).astype(np.float32),
            "wt": rng.standard_normal((6, 4, 2, 2)).astype(np.float32) * 0.3,
            "s": rng.uniform(0.5, 1.5, 4).astype(np.float32),
            "b": rng.standard_normal(4).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("PRelu", ["c", "slope"], ["p"]),
             helper.make_node("HardSwish", ["p"], ["h"]),
             helper.make_node("ConvTranspose", ["h", "wt"], ["t"], strides=[2, 2]),
             helper.make_node("Mish", ["t"], ["m"]),
             helper.make_node("InstanceNormalization", ["m", "s", "b"], ["n"]),
             helper.make_node("LogSoftmax", ["n"], ["y"], axis=1)]
    graph = helper.make_graph(
        nodes, "acts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in init.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("config", ["systolic", "sparse_tc"])
def test_model_with_new_operators_runs_functionally(config):
    from conftest import systolic_config

    from simulator import api
    from simulator.functional import check_functional

    model = _activation_model()
    graph = frontend.load_onnx(model)
    assert [op.type for op in graph.ops] == ["Conv", "PRelu", "HardSwish", "ConvTranspose",
                                             "Mish", "InstanceNormalization", "LogSoftmax"]
    if config == "systolic":
        cfg = systolic_config(8, 8, "ws")
    else:
        cfg = api.load_config(__import__("conftest").CONFIGS / "dstc.yaml")
    trace = api.lower(cfg, graph)
    report = check_functional(graph, trace, onnx_model=model)
    assert report.ok and report.max_rel < 1e-4


# ---- archsim ops --------------------------------------------------------------------------------

def test_cli_ops_json(capsys):
    assert cli.main(["ops", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == len(ops.specs())
    by = {(r["domain"], r["op"]): r for r in rows}
    assert by[("", "PRelu")]["functional"] is True
    assert {"systolic", "npu", "sparse_tc"} <= set(by[("", "Conv")]["targets"])
    assert "zipper" in by[("archsim.gnn", "GnnGather")]["targets"]
    assert by[("archsim.gnn", "GnnGather")]["targets"] == ["systolic", "zipper"]
    assert set(by[("", "Reshape")]["targets"]) == {"systolic", "sparse_tc", "npu"}
    assert by[("", "Constant")]["targets"] == []
    assert by[("", "Softmax")]["vector_cost"] == {"per_output": 5}
    assert by[("", "MaxPool")]["vector_cost"] == {"per_tap": 1}
    assert by[("", "Gelu")]["since"] == 20 and by[("", "Gelu")]["until"] is None
    assert all(r["category"] in ops.CATEGORIES for r in rows)


def test_cli_ops_table(capsys):
    assert cli.main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "operator catalogue" in out and "PRelu" in out and "GnnGather" in out
    assert cli.main(["ops", "--category", "gnn", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["op"] for r in rows} == {"GnnScatter", "GnnApplyEdge", "GnnEdgeSoftmax",
                                       "GnnGather", "GnnApplyVertex", "GnnVertexOp"}
    assert cli.main(["ops", "--category", "nonsense"]) == 2
    assert "unknown category" in capsys.readouterr().err
