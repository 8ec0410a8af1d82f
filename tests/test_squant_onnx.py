"""``archsim quantize``: which weights, which axis, QDQ and --fake models run in onnxruntime with
the reference's own dequantized weights."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_squant import SQUANT_REF

from simulator.cli import main
from simulator.passes.squant import squant
from simulator.passes.squant_onnx import quantize_model, weight_axes

RNG = np.random.default_rng(11)
W_CONV = RNG.normal(0.0, 0.1, size=(8, 3, 3, 3)).astype(np.float32)
W_DW = RNG.normal(0.0, 0.1, size=(8, 1, 3, 3)).astype(np.float32)
W_GEMM_T = RNG.normal(0.0, 0.1, size=(16, 8 * 4 * 4)).astype(np.float32)   # [N, K], transB=1
W_GEMM = RNG.normal(0.0, 0.1, size=(16, 12)).astype(np.float32)            # [K, N]
W_MATMUL = RNG.normal(0.0, 0.1, size=(12, 10)).astype(np.float32)          # [K, N]
BIAS = RNG.normal(0.0, 0.1, size=(16,)).astype(np.float32)
X = RNG.normal(size=(2, 3, 6, 6)).astype(np.float32)
WEIGHTS = {"conv.W": (W_CONV, 0), "dw.W": (W_DW, 0), "fc1.W": (W_GEMM_T, 0),
           "fc2.W": (W_GEMM, 1), "fc3.W": (W_MATMUL, 1)}


def small_model(opset: int = 13) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "conv.W"], ["c1"], name="conv"),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "dw.W"], ["c2"], group=8, pads=[1, 1, 1, 1], name="dw",
                         strides=[1, 1]),
        helper.make_node("Flatten", ["c2"], ["f"]),
        helper.make_node("Gemm", ["f", "fc1.W", "fc1.b"], ["g1"], transB=1, name="fc1"),
        helper.make_node("Relu", ["g1"], ["r2"]),
        helper.make_node("Gemm", ["r2", "fc2.W"], ["g2"], name="fc2"),
        helper.make_node("MatMul", ["g2", "fc3.W"], ["y"], name="fc3"),
    ]
    inits = [numpy_helper.from_array(w, name) for name, (w, _) in WEIGHTS.items()]
    inits.append(numpy_helper.from_array(BIAS, "fc1.b"))
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _with_outputs(model, names):
    out = onnx.ModelProto()
    out.CopyFrom(model)
    out.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                            for n in names)
    return out


def _float_model(model):
    """The reference: the original graph with SQuant's w_hat put in by hand."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for init in out.graph.initializer:
        if init.name in WEIGHTS:
            w, axis = WEIGHTS[init.name]
            init.CopyFrom(numpy_helper.from_array(squant(w, 4, "squant", axis).w_hat, init.name))
    return out


def test_weights_and_axes_follow_the_issue():
    assert weight_axes(small_model()) == {name: axis for name, (_, axis) in WEIGHTS.items()}


@pytest.mark.parametrize("bits,storage", [(4, TensorProto.INT4), (8, TensorProto.INT8)])
def test_qdq_model_runs_and_dequantizes_to_w_hat(tmp_path, bits, storage):
    src, out = tmp_path / "m.onnx", tmp_path / "q.onnx"
    onnx.save(small_model(), src)
    assert main(["quantize", str(src), "-o", str(out), "--bits", str(bits)]) == 0
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    inits = {i.name: i for i in model.graph.initializer}
    assert "fc1.b" in inits and inits["fc1.b"].data_type == TensorProto.FLOAT
    dq = {n.input[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    deq_names = []
    for name, (w, axis) in WEIGHTS.items():
        ref = squant(w, bits, "squant", axis)
        node = dq[f"{name}_quantized"]
        assert helper.get_attribute_value(node.attribute[0]) == axis
        q_init = inits[f"{name}_quantized"]
        assert q_init.data_type == storage and name not in inits
        assert np.array_equal(numpy_helper.to_array(q_init).astype(np.int8), ref.q)
        zp = numpy_helper.to_array(inits[f"{name}_zero_point"]).astype(np.float32)
        assert np.array_equal(zp, -ref.zero_point)
        deq_names.append(node.output[0])
    outs = _session(_with_outputs(model, deq_names))
    for (w, axis), deq in zip(WEIGHTS.values(), outs[1:], strict=True):
        # (q - zp) * (1/s) in ORT vs (q + z) / s in SPEC: equal to a couple of ulps
        np.testing.assert_allclose(deq, squant(w, bits, "squant", axis).w_hat,
                                   rtol=3e-7, atol=1e-9)
    fp = _session(small_model())[0]
    assert outs[0].shape == fp.shape and np.abs(outs[0] - fp).max() < 0.5 * np.abs(fp).max()


def _session(model):
    """onnxruntime at its BASIC level: EXTENDED rewrites DQ+MatMul into MatMulNBits, which
    changes the numerics (it quantizes the activations too)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(model.SerializeToString(), options)
    return sess.run(None, {"x": X})


def test_fake_model_holds_w_hat_bit_for_bit_and_matches_qdq(tmp_path):
    src, fake, qdq = tmp_path / "m.onnx", tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(small_model(), src)
    assert main(["quantize", str(src), "-o", str(fake), "--bits", "4", "--fake"]) == 0
    assert main(["quantize", str(src), "-o", str(qdq), "--bits", "4"]) == 0
    model = onnx.load(fake)
    assert [n.op_type for n in model.graph.node] == [n.op_type for n in small_model().graph.node]
    for init in model.graph.initializer:
        if init.name in WEIGHTS:
            w, axis = WEIGHTS[init.name]
            assert init.data_type == TensorProto.FLOAT
            got = numpy_helper.to_array(init)
            assert np.array_equal(got.view(np.uint32),
                                  squant(w, 4, "squant", axis).w_hat.view(np.uint32))
    y_fake = _session(model)[0]
    np.testing.assert_array_equal(y_fake, _session(_float_model(small_model()))[0])
    np.testing.assert_allclose(_session(onnx.load(qdq))[0], y_fake, rtol=1e-5, atol=1e-5)


def test_reference_vectors_through_the_command(tmp_path):
    """The authors' tensors as a Conv and a Gemm(transB=1) weight: --fake writes their w_hat."""
    path = SQUANT_REF / "public_vectors.npz"
    if not path.exists():
        pytest.skip("SQuant reference vectors not present")
    v = np.load(path)
    conv, lin = v["w.conv3x3_64x64"], v["w.linear_10x7"]
    nodes = [helper.make_node("Conv", ["x", "conv"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Slice", ["f", "starts", "ends", "axes"], ["s"]),
             helper.make_node("Gemm", ["s", "lin"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(conv, "conv"), numpy_helper.from_array(lin, "lin"),
             numpy_helper.from_array(np.array([0]), "starts"),
             numpy_helper.from_array(np.array([7]), "ends"),
             numpy_helper.from_array(np.array([1]), "axes")]
    graph = helper.make_graph(
        nodes, "ref", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    src = tmp_path / "ref.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), src)
    for bits, mode, tag in [(4, "squant", "EKC"), (3, "squant-c", "EC"), (8, "rtn", "E")]:
        out = tmp_path / f"ref-{bits}.onnx"
        assert main(["quantize", str(src), "-o", str(out), "--bits", str(bits), "--mode", mode,
                     "--fake"]) == 0
        got = {i.name: numpy_helper.to_array(i) for i in onnx.load(out).graph.initializer}
        for name, key in (("conv", "conv3x3_64x64"), ("lin", "linear_10x7")):
            ref = v[f"w_hat.{key}__w{bits}__{tag}"]
            assert np.array_equal(got[name].view(np.uint32), ref.view(np.uint32))
        ort.InferenceSession(str(out)).run(None, {"x": np.ones((1, 64, 5, 5), np.float32)})


def test_old_opset_is_converted_for_int4_and_offset_channels_use_int16(tmp_path):
    w = W_CONV.copy()
    w[0] = np.abs(w[0]) + 5.0  # a channel whose range excludes 0: zero point far outside int8
    model = small_model(opset=11)
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "conv.W"))
    new, summary = quantize_model(model, 4)
    storages = {t.name: t.storage for t in summary.tensors}
    assert storages["conv.W"] == "int16" and storages["fc3.W"] == "int4"
    assert summary.opset == 21
    ref = squant(w, 4, "squant", 0)
    deq = _session_out(new, "conv.W_dequantized")
    np.testing.assert_allclose(deq, ref.w_hat, rtol=3e-7, atol=1e-9)


def _session_out(model, name):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(_with_outputs(model, [name]).SerializeToString(), options)
    return sess.run([name], {"x": X})[0]


@pytest.mark.parametrize("argv,message", [
    (["missing.onnx", "--bits", "4"], "missing.onnx: no such file"),
    (["MODEL", "--bits", "9"], "bits must be an integer from 2 to 8; got 9"),
    (["MODEL", "--bits", "1"], "bits must be an integer from 2 to 8; got 1"),
    (["MODEL", "--bits", "four"], "bits must be an integer from 2 to 8; got 'four'"),
    (["NOTONNX", "--bits", "4"], "not a readable ONNX model"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    onnx.save(small_model(), tmp_path / "MODEL")
    (tmp_path / "NOTONNX").write_bytes(b"\x00garbage")
    out = tmp_path / "out.onnx"
    assert main(["quantize", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("archsim quantize: error")
    assert not out.exists() and not list(tmp_path.glob(".out.onnx.*"))
