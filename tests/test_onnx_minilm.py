"""Real MiniLM transformers (PyPI wheels) through the ONNX frontend and functional execution:
MACs against ONNX shape inference, the lowered trace's numbers against onnxruntime, and the new
handlers (GatherND, Expand, Quantize/DequantizeLinear, int8 weight folding) on tiny hand-made
models against onnxruntime."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, shape_inference

from simulator import api
from simulator.api import load_config
from simulator.functional import check_functional
from workloads.errors import WorkloadError
from workloads.onnx_frontend import load_onnx

SEQ = 32
FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64
CONFIG = "configs/systolic-128-os.yaml"


def packaged(name: str):
    """The packaged model, or a skip when its (optional test-extra) wheel is missing."""
    from simulator.scenarios.attention import resolve_model

    try:
        return resolve_model(name)[0]
    except WorkloadError as err:
        pytest.skip(str(err))


def matmul_macs_by_onnx(model, shapes: dict[str, tuple[int, ...]]) -> int:
    """MACs of every MatMul from ONNX shape inference on the model with pinned inputs, with the
    dims inference cannot resolve (the exports slice position ids by a computed length) taken
    from onnxruntime's actual tensors."""
    import onnxruntime as ort

    pinned = helper.make_graph(
        model.graph.node, model.graph.name,
        [helper.make_tensor_value_info(i.name, i.type.tensor_type.elem_type, shapes[i.name])
         for i in model.graph.input],
        [helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None)
         for o in model.graph.output], model.graph.initializer)
    inferred = shape_inference.infer_shapes(
        helper.make_model(pinned, opset_imports=model.opset_import), data_prop=True)
    known = {vi.name: tuple(d.dim_value if d.HasField("dim_value") else None
                            for d in vi.type.tensor_type.shape.dim)
             for vi in [*inferred.graph.value_info, *inferred.graph.input]}
    known.update({i.name: tuple(i.dims) for i in model.graph.initializer})
    matmuls = [n for n in model.graph.node if n.op_type == "MatMul"]
    names = sorted({t for n in matmuls for t in (n.input[0], n.output[0])} - set(known) |
                   {t for n in matmuls for t in (n.input[0], n.output[0])
                    if None in known.get(t, (None,))})
    run = helper.make_model(helper.make_graph(
        model.graph.node, "probe", list(pinned.input),
        [helper.make_tensor_value_info(t, TensorProto.FLOAT, None) for t in names],
        model.graph.initializer), opset_imports=model.opset_import)
    feeds = {i.name: np.ones(shapes[i.name], np.int64) for i in model.graph.input}
    session = ort.InferenceSession(run.SerializeToString(), providers=["CPUExecutionProvider"])
    actual = dict(zip(names, (v.shape for v in session.run(names, feeds)), strict=True))
    total = 0
    for node in matmuls:
        a = actual.get(node.input[0], known.get(node.input[0]))
        out = actual.get(node.output[0], known.get(node.output[0]))
        total += math.prod(out) * a[-1]
    return total


def graph_macs(graph) -> int:
    return sum(math.prod(graph.tensor(op.outputs[0]).shape) * graph.tensor(op.inputs[0]).shape[-1]
               for op in graph.ops if op.type == "MatMul")


def text_feeds(graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Realistic inputs: token ids in the vocabulary, [CLS] ... [SEP], padded mask, segment 0."""
    from workloads.onnx_export import random_values

    values = random_values(graph, seed)
    ids = np.random.default_rng(seed).integers(1000, 20000, (1, SEQ), dtype=np.int64)
    ids[0, 0], ids[0, -1] = 101, 102
    values["input_ids"] = ids
    values["attention_mask"] = np.ones((1, SEQ), np.int64)
    values["attention_mask"][0, -5:] = 0  # padding: the mask path (GatherND, Where) matters
    if "token_type_ids" in values:
        values["token_type_ids"] = np.zeros((1, SEQ), np.int64)
    return values


@pytest.mark.parametrize("name, layers", [("minilm-l3", 3), ("minilm-l6-int8", 6)])
def test_minilm_imports_with_the_macs_shape_inference_counts(name, layers):
    model = packaged(name)
    shapes = {i.name: (1, SEQ) for i in model.graph.input}
    graph = load_onnx(model, shapes, name=name)
    expected = matmul_macs_by_onnx(model, shapes)
    # Closed form for a BERT encoder (hidden 384, FFN 1536): 4 h^2 + 2 h * 1536 per token, plus
    # the two attention products, L^2 * h each.
    per_layer = SEQ * (4 * 384 * 384 + 2 * 384 * 1536) + 2 * SEQ * SEQ * 384
    assert graph_macs(graph) == expected == layers * per_layer


@pytest.mark.parametrize("name", ["minilm-l3", "minilm-l6-int8"])
def test_minilm_trace_matches_onnxruntime(name):
    model = packaged(name)
    graph = load_onnx(model, {i.name: (1, SEQ) for i in model.graph.input}, name=name)
    trace = api.lower(load_config(CONFIG), graph)
    report = check_functional(graph, trace, onnx_model=model, values=text_feeds(graph))
    assert report.ok and report.max_rel < 1e-4
    result = api.simulate(trace, load_config(CONFIG))
    assert result.total_cycles > 0 and result.macs == graph_macs(graph)


def test_int8_weights_fold_exactly_and_keep_eight_bits():
    """The weight-only int8 export (Cast(int8) * scale on constants) folds to float weights that
    keep ``bits`` = 8, so the lowering moves the stored 1-byte codes whatever the config word."""
    model = packaged("minilm-l6-int8")
    graph = load_onnx(model, {i.name: (1, SEQ) for i in model.graph.input})
    weights = [graph.tensor(op.inputs[1]) for op in graph.ops if op.type == "MatMul"
               and graph.tensor(op.inputs[1]).values is not None]
    assert len(weights) == 36 and all(w.bits == 8 for w in weights)
    q = next(w for w in weights if w.shape == (384, 384))
    raw = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    codes = raw[q.name + "_q"].astype(np.float32) * raw[q.name + "_scale"]
    np.testing.assert_array_equal(q.values, codes)


# ---- Handlers on tiny models, against onnxruntime ----------------------------------------------

def run_tiny(nodes, inputs, outputs, inits=(), feeds=None, opset=17):
    """Import, lower on the shipped config, execute the trace and compare with onnxruntime."""
    model = helper.make_model(helper.make_graph(nodes, "tiny", inputs, outputs, list(inits)),
                              opset_imports=[helper.make_opsetid("", opset)])
    graph = load_onnx(model)
    trace = api.lower(load_config(CONFIG), graph)
    from workloads.onnx_export import random_values

    values = {**random_values(graph, 0), **(feeds or {})}
    report = check_functional(graph, trace, onnx_model=model, values=values, rtol=1e-6)
    return graph, report


@pytest.mark.parametrize("data, indices, batch_dims", [
    ((2, 3, 4), [[0, 1], [1, -1], [0, 2]], 0),        # k = 2 of 3 dims, negative coordinate
    ((2, 3, 4), [[[1], [0]], [[2], [2]]], 1),          # one batch dim
    ((5, 6), [[[4]], [[0]], [[-5]]], 0),               # whole rows
])
def test_gather_nd_matches_onnxruntime(data, indices, batch_dims):
    idx = np.array(indices, np.int64)
    node = helper.make_node("GatherND", ["x", "i"], ["y"], batch_dims=batch_dims)
    graph, report = run_tiny(
        [node], [helper.make_tensor_value_info("x", FLOAT, data),
                 helper.make_tensor_value_info("i", INT64, idx.shape)],
        [helper.make_tensor_value_info("y", FLOAT, None)], feeds={"i": idx})
    assert report.ok
    assert graph.ops[0].type == "GatherND" and graph.ops[0].attrs["batch_dims"] == batch_dims


def test_gather_nd_folds_on_constants_and_rejects_bad_indices():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    idx = np.array([[1, 2], [0, 0]], np.int64)
    nodes = [helper.make_node("GatherND", ["c", "i"], ["g"]),
             helper.make_node("Add", ["x", "g"], ["y"])]
    graph, report = run_tiny(
        nodes, [helper.make_tensor_value_info("x", FLOAT, (2, 4))],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        [numpy_helper.from_array(x, "c"), numpy_helper.from_array(idx, "i")])
    assert report.ok and [op.type for op in graph.ops] == ["Add"]
    np.testing.assert_array_equal(graph.tensor("g").values, x[[1, 0], [2, 0]])
    bad = helper.make_model(helper.make_graph(
        nodes, "bad", [helper.make_tensor_value_info("x", FLOAT, (2, 4))],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        [numpy_helper.from_array(x, "c"),
         numpy_helper.from_array(np.array([[2, 0]], np.int64), "i")]),
        opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(WorkloadError, match="GatherND.*out of range"):
        load_onnx(bad)


def test_expand_on_activations_matches_onnxruntime():
    shape = numpy_helper.from_array(np.array([2, 1, 3, 4], np.int64), "s")
    nodes = [helper.make_node("Expand", ["x", "s"], ["y"])]
    graph, report = run_tiny(nodes, [helper.make_tensor_value_info("x", FLOAT, (3, 1))],
                             [helper.make_tensor_value_info("y", FLOAT, None)], [shape])
    assert report.ok and graph.tensor("y").shape == (2, 1, 3, 4)


def test_mask_logic_and_cast_follow_onnx_types():
    """Cast to bool, GreaterOrEqual, And, Where, IsNaN: the mask path of the L6 export."""
    mask = np.array([[1, 0, 2, 0]], np.int64)
    nodes = [helper.make_node("Cast", ["m"], ["b"], to=TensorProto.BOOL),
             helper.make_node("GreaterOrEqual", ["x", "zero"], ["ge"]),
             helper.make_node("And", ["b", "ge"], ["keep"]),
             helper.make_node("IsNaN", ["x"], ["nan"]),
             helper.make_node("Where", ["keep", "x", "neg"], ["w"]),
             helper.make_node("Cast", ["nan"], ["nf"], to=FLOAT),
             helper.make_node("Add", ["w", "nf"], ["y"])]
    inits = [numpy_helper.from_array(np.array(0, np.float32), "zero"),
             numpy_helper.from_array(np.array(-7, np.float32), "neg")]
    _, report = run_tiny(nodes, [helper.make_tensor_value_info("x", FLOAT, (1, 4)),
                                 helper.make_tensor_value_info("m", INT64, (1, 4))],
                         [helper.make_tensor_value_info("y", FLOAT, None)], inits,
                         feeds={"m": mask, "x": np.array([[1, -1, -2, np.nan]], np.float32)})
    assert report.ok


@pytest.mark.parametrize("scale, zero, axis", [
    (np.array(0.05, np.float32), np.array(3, np.int8), 1),
    (np.array([0.02, 0.1, 0.07], np.float32), np.array([0, 10, 250], np.uint8), 1),
    (np.array([0.03, 0.2], np.float32), None, 0),
])
def test_quantize_dequantize_on_activations_match_onnxruntime(scale, zero, axis):
    zp = [] if zero is None else [numpy_helper.from_array(zero, "z")]
    ins = ["x", "s"] + ([] if zero is None else ["z"])
    q_type = helper.np_dtype_to_tensor_dtype(np.dtype(np.uint8) if zero is None else zero.dtype)
    nodes = [helper.make_node("QuantizeLinear", ins, ["q"], axis=axis),
             helper.make_node("DequantizeLinear", ["q", *ins[1:]], ["y"], axis=axis)]
    graph, report = run_tiny(nodes, [helper.make_tensor_value_info("x", FLOAT, (2, 3))],
                             [helper.make_tensor_value_info("y", FLOAT, None),
                              helper.make_tensor_value_info("q", q_type, None)],
                             [numpy_helper.from_array(scale, "s"), *zp],
                             feeds={"x": np.array([[-3, 0.4, 9], [1e3, -0.051, 0.5]],
                                                  np.float32)})
    assert report.ok and [op.type for op in graph.ops] == ["QuantizeLinear", "DequantizeLinear"]
    assert graph.tensor("q").bits == 8
    assert graph.tensor("q").dtype == ("uint8" if zero is None else zero.dtype.name)


def test_dequantized_constant_weight_folds_to_eight_bit_gemm_operand():
    w = np.random.default_rng(0).integers(-128, 128, (8, 4), dtype=np.int8)
    nodes = [helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["w"], axis=1),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    inits = [numpy_helper.from_array(w, "wq"),
             numpy_helper.from_array(np.array([0.1, 0.2, 0.3, 0.4], np.float32), "s"),
             numpy_helper.from_array(np.array([0, 1, -1, 2], np.int8), "z")]
    graph, report = run_tiny(nodes, [helper.make_tensor_value_info("x", FLOAT, (3, 8))],
                             [helper.make_tensor_value_info("y", FLOAT, None)], inits)
    assert report.ok and [op.type for op in graph.ops] == ["MatMul"]
    assert graph.tensor("w").bits == 8


def test_cli_runs_packaged_minilm_by_short_name_and_checks_numbers(capsys):
    """``archsim run CONFIG minilm-l6-int8 --functional``: the short name resolves to the wheel's
    file, and seeded random token ids stay inside the embedding tables onnxruntime indexes."""
    from simulator.cli import main

    packaged("minilm-l6-int8")
    assert main(["run", CONFIG, "minilm-l6-int8", "--input-shape", f"input_ids=1x{SEQ}",
                 "--input-shape", f"attention_mask=1x{SEQ}", "--functional", "--json"]) == 0
    err = capsys.readouterr().err
    assert "functional check vs onnxruntime on the ONNX model" in err and "OK" in err


def test_unknown_packaged_name_lists_the_packaged_models(capsys):
    from simulator.cli import main

    assert main(["run", CONFIG, "minilm-l12"]) == 2
    assert "minilm-l3, minilm-l6-int8" in capsys.readouterr().err
