"""Functional execution of lowered traces: every tile, gather and accumulation on real numbers,
checked against plain numpy on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import systolic_config
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import api
from simulator.trace.functional import execute, im2col
from workloads.graph import Graph, Op, Tensor, add_conv

TINY_SRAM = {"ifmap_kb": 1, "filter_kb": 1, "ofmap_kb": 1}


def reference_conv(x, w, stride, pads, dilation, group):
    """Direct loops over output pixels: the textbook definition, no im2col."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - (kh - 1) * dilation - 1) // stride + 1
    ow = (wd + pl + pr - (kw - 1) * dilation - 1) // stride + 1
    out = np.zeros((n, f, oh, ow))
    fg = f // group
    for fi in range(f):
        g = fi // fg
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * stride:i * stride + (kh - 1) * dilation + 1:dilation,
                           j * stride:j * stride + (kw - 1) * dilation + 1:dilation]
                out[:, fi, i, j] = (patch * w[fi]).sum(axis=(1, 2, 3))
    return out


@settings(max_examples=25, deadline=None)
@given(df=st.sampled_from(["os", "ws", "is"]), m=st.integers(1, 40), n=st.integers(1, 40),
       k=st.integers(1, 40), rows=st.sampled_from([4, 8]), tiny=st.booleans())
def test_gemm_trace_computes_the_product(df, m, n, k, rows, tiny):
    rng = np.random.default_rng(m * 10000 + n * 100 + k)
    cfg = systolic_config(rows, rows, df, **({"sram": TINY_SRAM} if tiny else {}))
    trace = api.lower(cfg, f"gemm:{m},{n},{k}")
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    out = execute(trace, {"A": a, "gemm.B": b})["gemm.C"]
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("stride, pad, dilation, group", [
    (1, 1, 1, 1), (2, 1, 1, 2), (2, 0, 2, 1), (1, 2, 1, 6),
])
@pytest.mark.parametrize("im2col", ["explicit", "implicit"])
def test_conv_trace_matches_direct_convolution(df, stride, pad, dilation, group, im2col):
    rng = np.random.default_rng(stride * 100 + pad * 10 + dilation + group)
    g = Graph("conv")
    g.add_tensor(Tensor("x", (1, 6, 11, 9)))
    g.inputs = ["x"]
    y = add_conv(g, "c", "x", 12, (3, 3), (stride, stride), (pad, pad, pad, pad), group)
    op = g.ops[0]
    op.attrs["dilations"] = [dilation, dilation]
    op.attrs["im2col"] = im2col
    eff = 2 * dilation + 1
    oh, ow = (11 + 2 * pad - eff) // stride + 1, (9 + 2 * pad - eff) // stride + 1
    g.tensors[y].shape = (1, 12, oh, ow)
    x = rng.standard_normal((1, 6, 11, 9)).astype(np.float32)
    w = rng.standard_normal((12, 6 // group, 3, 3)).astype(np.float32)
    trace = api.lower(systolic_config(8, 8, df, sram=TINY_SRAM), g)
    out = execute(trace, {"x": x, "c.W": w})[y]
    np.testing.assert_allclose(out, reference_conv(x, w, stride, (pad,) * 4, dilation, group),
                               rtol=1e-4, atol=1e-4)


def test_im2col_orders_k_like_flattened_weights():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    lowered = im2col(x, {"kernel_shape": [2, 2], "strides": [2, 2]}, groups=1)
    assert lowered.shape == (1, 2 * 2 * 2, 3 * 2 * 2)
    # row 0 = image 0, output pixel (0, 0): channel-major 2x2 patches
    assert lowered[0, 0].tolist() == [0, 1, 4, 5, 16, 17, 20, 21, 32, 33, 36, 37]


def test_vector_and_view_ops_run_in_program_order():
    rng = np.random.default_rng(1)
    g = Graph("mlp")
    g.add_tensor(Tensor("x", (4, 8)))
    g.inputs = ["x"]
    for name, shape in [("w", (8, 6)), ("h", (4, 6)), ("r", (4, 6)), ("f", (24,)),
                        ("s", (4, 6)), ("o", (4, 6))]:
        g.add_tensor(Tensor(name, shape))
    g.tensors["w"].values = rng.standard_normal((8, 6)).astype(np.float32)
    g.add_op(Op("mm", "MatMul", ["x", "w"], ["h"]))
    g.add_op(Op("relu", "Relu", ["h"], ["r"]))
    g.add_op(Op("flat", "Reshape", ["r"], ["f"]))
    g.add_op(Op("back", "Reshape", ["f"], ["s"]))
    g.add_op(Op("sm", "Softmax", ["s"], ["o"], {"axis": -1}))
    trace = api.lower(systolic_config(4, 4, "ws"), g)
    assert [i.op for i in trace.instructions].count("VEC") == 2
    x = rng.standard_normal((4, 8)).astype(np.float32)
    out = execute(trace, {"x": x, "w": g.tensors["w"].values})["o"]
    h = np.maximum(x @ g.tensors["w"].values, 0)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)
