"""Functional simulation checked against onnxruntime on the same inputs and weights."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import systolic_config

from simulator import api
from simulator.functional import FunctionalMismatch, check_functional
from simulator.trace.functional import execute
from workloads.graph import Graph, Op, Tensor, add_conv


class Builder:
    """Terse Graph construction for tests: each call adds one op and returns its output."""

    def __init__(self, name: str, x: str, shape: tuple[int, ...]) -> None:
        self.g = Graph(name)
        self.g.add_tensor(Tensor(x, shape))
        self.g.inputs.append(x)
        self.count = 0

    def op(self, type_: str, inputs: list[str], shape: tuple[int, ...], **attrs) -> str:
        self.count += 1
        out = f"{type_.lower()}{self.count}"
        self.g.add_tensor(Tensor(out, shape))
        self.g.add_op(Op(f"{type_}_{self.count}", type_, inputs, [out], attrs))
        return out

    def weight(self, name: str, shape: tuple[int, ...], seed: int) -> str:
        rng = np.random.default_rng(seed)
        self.g.add_tensor(Tensor(name, shape, values=(rng.standard_normal(shape) * 0.3)
                                 .astype(np.float32)))
        return name

    def done(self, out: str) -> Graph:
        self.g.outputs = [out]
        self.g.validate()
        return self.g


def small_cnn() -> Graph:
    """Padding, stride, dilation, groups, a residual block, BN, pooling, and a classifier."""
    b = Builder("small_cnn", "x", (1, 4, 16, 16))
    g = b.g
    y = add_conv(g, "c1", "x", 8, (3, 3), (1, 1), (1, 1, 1, 1))
    y = b.op("Relu", [y], (1, 8, 16, 16))
    y2 = add_conv(g, "c2", y, 8, (3, 3), (1, 1), (2, 2, 2, 2), group=2, dilation=(2, 2))
    bn = [b.weight(f"bn.{k}", (8,), i) for i, k in enumerate(("s", "b", "m"))]
    bn.append(b.weight("bn.v", (8,), 9))
    g.tensors["bn.v"].values = np.abs(g.tensors["bn.v"].values) + 0.5
    y2 = b.op("BatchNormalization", [y2, *bn], (1, 8, 16, 16), epsilon=1e-5)
    y = b.op("Add", [y, y2], (1, 8, 16, 16))                      # residual
    y = b.op("Relu", [y], (1, 8, 16, 16))
    y = add_conv(g, "c3", y, 16, (3, 3), (2, 2), (1, 1, 1, 1))      # stride 2
    y = b.op("MaxPool", [y], (1, 16, 4, 4), kernel_shape=[2, 2], strides=[2, 2])
    y = add_conv(g, "dw", y, 16, (3, 3), (1, 1), (1, 1, 1, 1), group=16)  # depthwise
    y = b.op("GlobalAveragePool", [y], (1, 16, 1, 1))
    y = b.op("Flatten", [y], (1, 16), axis=1)
    w = b.weight("fc.w", (16, 10), 3)
    bias = b.weight("fc.b", (10,), 4)
    return b.done(b.op("Gemm", [y, w, bias], (1, 10)))


def encoder(layers: int = 2, seq: int = 12, hidden: int = 16, heads: int = 2) -> Graph:
    """A transformer encoder: attention with per-head batched MatMuls, softmax, layernorm,
    GELU feed-forward, residual adds."""
    b = Builder("encoder", "h0", (seq, hidden))
    d = hidden // heads
    x = "h0"
    for n in range(layers):
        def w(name, shape, seed, n=n):
            return b.weight(f"l{n}.{name}", shape, 100 * n + seed)
        q, k, v = (b.op("MatMul", [x, w(p, (hidden, hidden), i)], (seq, hidden))
                   for i, p in enumerate("qkv"))
        shape_w = b.weight(f"l{n}.split", (3,), 0)
        b.g.tensors[shape_w].values = np.array([seq, heads, d], dtype=np.int64)
        b.g.tensors[shape_w].dtype = "int64"
        qh, kh, vh = (b.op("Reshape", [t, shape_w], (seq, heads, d)) for t in (q, k, v))
        qh = b.op("Transpose", [qh], (heads, seq, d), perm=[1, 0, 2])
        kt = b.op("Transpose", [kh], (heads, d, seq), perm=[1, 2, 0])
        vh = b.op("Transpose", [vh], (heads, seq, d), perm=[1, 0, 2])
        scores = b.op("MatMul", [qh, kt], (heads, seq, seq))
        probs = b.op("Softmax", [scores], (heads, seq, seq), axis=-1)
        ctx = b.op("MatMul", [probs, vh], (heads, seq, d))
        ctx = b.op("Transpose", [ctx], (seq, heads, d), perm=[1, 0, 2])
        merge = b.weight(f"l{n}.merge", (2,), 0)
        b.g.tensors[merge].values = np.array([seq, hidden], dtype=np.int64)
        b.g.tensors[merge].dtype = "int64"
        ctx = b.op("Reshape", [ctx, merge], (seq, hidden))
        att = b.op("MatMul", [ctx, w("o", (hidden, hidden), 4)], (seq, hidden))
        x = b.op("Add", [x, att], (seq, hidden))
        x = b.op("LayerNormalization", [x, w("ln1.g", (hidden,), 5), w("ln1.b", (hidden,), 6)],
                 (seq, hidden), axis=-1, epsilon=1e-5)
        f = b.op("MatMul", [x, w("ff1", (hidden, 4 * hidden), 7)], (seq, 4 * hidden))
        f = b.op("Gelu", [f], (seq, 4 * hidden))
        f = b.op("MatMul", [f, w("ff2", (4 * hidden, hidden), 8)], (seq, hidden))
        x = b.op("Add", [x, f], (seq, hidden))
        x = b.op("LayerNormalization", [x, w("ln2.g", (hidden,), 9), w("ln2.b", (hidden,), 10)],
                 (seq, hidden), axis=-1, epsilon=1e-5)
    return b.done(x)


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("im2col", ["explicit", "implicit"])
def test_small_cnn_matches_onnxruntime(df, im2col):
    g = small_cnn()
    trace = api.lower(systolic_config(8, 8, df, sram={"ifmap_kb": 2, "filter_kb": 2,
                                                      "ofmap_kb": 2}), g, [f"im2col={im2col}"])
    report = check_functional(g, trace, seed=1)
    assert report.ok and report.max_rel < 1e-5
    assert [o.shape for o in report.outputs] == [(1, 10)]


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_transformer_encoder_matches_onnxruntime(df):
    g = encoder()
    trace = api.lower(systolic_config(8, 8, df), g)
    ops = [i.op for i in trace.instructions]
    assert ops.count("VEC") == 2 * 10  # 3 transposes in, 1 out, softmax, 2 adds, 2 LN, GELU
    report = check_functional(g, trace, seed=2)
    assert report.ok and report.max_rel < 1e-5


def test_mismatch_is_detected():
    """Corrupt one GEMM tile's origin: the checker must notice."""
    g = small_cnn()
    trace = api.lower(systolic_config(8, 8, "ws"), g)
    gemm = next(i for i in trace.instructions if i.op == "GEMM" and i.layer == "c3")
    gemm.dims["k0"] += 1
    trace.instructions[gemm.id] = gemm   # instructions are columns: an edit is put back
    with pytest.raises(FunctionalMismatch, match="differs from onnxruntime"):
        check_functional(g, trace, seed=1)


def test_dropped_tile_changes_the_result():
    g = small_cnn()
    trace = api.lower(systolic_config(8, 8, "os"), g)
    from workloads.onnx_export import random_values

    values = random_values(g, 0)
    good = execute(trace, values)[g.outputs[0]]
    trace.instructions = [i for i in trace.instructions
                          if not (i.op == "GEMM" and i.layer == "c1" and i.dims["m0"] == 8)]
    bad = execute(trace, values)[g.outputs[0]]
    assert not np.allclose(good, bad)
