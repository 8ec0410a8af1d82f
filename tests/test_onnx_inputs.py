"""What an ONNX model's inputs are pinned to, and control flow that depends on them:
``--input-value`` (If branches, Loop trip counts, shape operands), dims stored as -1/``?``/empty
names, suggested pins (defaults, metadata), If/Loop bodies that capture outer tensors (also
nested) against onnxruntime, and passes that do not apply to a target (a warning, not
silence)."""

from __future__ import annotations

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import CONFIGS
from onnx import TensorProto, helper, numpy_helper

from simulator import api
from simulator.cli import main
from simulator.functional import check_functional
from workloads import ops
from workloads.errors import WorkloadError
from workloads.onnx_frontend import load_onnx, parse_input_shapes, parse_input_values

F = TensorProto.FLOAT


def _ort(model, feeds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds),
                    strict=True))


def _model(nodes, inputs, outputs, inits=(), opset=17, metadata=None):
    graph = helper.make_graph(nodes, "m", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        helper.set_model_props(model, {key: value})
    return model


def if_model():
    """y = If(mode > 0) then x @ W1 (a branch capturing x and W1) else Relu(x) * 2, with a
    nested If inside the then branch on a second flag."""
    w1 = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 4))
                                 .astype(np.float32), "W1")
    inner_then = helper.make_graph([helper.make_node("Neg", ["xw"], ["inner"])], "it", [],
                                   [helper.make_tensor_value_info("inner", F, [2, 4])])
    inner_else = helper.make_graph([helper.make_node("Identity", ["xw"], ["inner2"])], "ie",
                                   [], [helper.make_tensor_value_info("inner2", F, [2, 4])])
    then = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W1"], ["xw"]),
         helper.make_node("If", ["flag"], ["t_out"], then_branch=inner_then,
                          else_branch=inner_else)], "then", [],
        [helper.make_tensor_value_info("t_out", F, [2, 4])])
    other = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("Mul", ["r", "two"], ["e_out"])], "else", [],
        [helper.make_tensor_value_info("e_out", F, [2, 4])],
        [numpy_helper.from_array(np.array(2.0, np.float32), "two")])
    nodes = [helper.make_node("Greater", ["mode", "zero"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], name="switch", then_branch=then,
                              else_branch=other)]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [2, 4]),
                          helper.make_tensor_value_info("mode", TensorProto.INT64, []),
                          helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                  [helper.make_tensor_value_info("y", F, [2, 4])],
                  [w1, numpy_helper.from_array(np.array(0, np.int64), "zero")])


@pytest.mark.parametrize(("mode", "flag"), [(1, True), (1, False), (0, True)])
def test_if_imports_the_branch_the_pinned_values_select(mode, flag):
    model = if_model()
    graph = load_onnx(model, input_values={"mode": mode, "flag": flag})
    assert not any(op.type == "If" for op in graph.ops)
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    reference = _ort(model, {"x": x, "mode": np.array(mode, np.int64),
                             "flag": np.array(flag)})["y"]
    ours = ops.run_graph(graph, {"x": x})["y"]
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
    # and through a lowering and the trace, on two targets
    for config in ("systolic-32-ws.yaml", "mlu.yaml"):
        lowered, trace = api.compile(api.load_config(CONFIGS / config), graph)
        assert check_functional(lowered, trace, onnx_model=model).ok


def test_if_without_a_known_condition_names_the_if_and_its_inputs():
    with pytest.raises(WorkloadError) as info:
        load_onnx(if_model())
    text = str(info.value)
    assert "If node 'switch'" in text and "depends on input mode" in text
    assert "--input-value mode=VALUE" in text


def loop_model():
    """Loop with a trip count from an input, a body that captures the outer ``scale`` and
    carries (acc, count); scan output of every iteration's acc."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]),
         helper.make_node("Mul", ["acc", "scale"], ["scaled"]),
         helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Add", ["scaled", "fi"], ["acc_out"]),
         helper.make_node("Identity", ["acc_out"], ["seen"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", F, [3])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", F, [3]),
         helper.make_tensor_value_info("seen", F, [3])])
    nodes = [helper.make_node("Loop", ["trips", "", "x"], ["final", "history"], name="loop",
                              body=body)]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [3]),
                          helper.make_tensor_value_info("trips", TensorProto.INT64, []),
                          helper.make_tensor_value_info("scale", F, [3])],
                  [helper.make_tensor_value_info("final", F, [3]),
                   helper.make_tensor_value_info("history", F, [None, 3])])


def test_loop_with_a_pinned_trip_count_unrolls_and_matches_onnxruntime():
    model = loop_model()
    graph = load_onnx(model, input_values={"trips": 4})
    assert graph.tensors["history"].shape == (4, 3)
    assert sum(op.type == "Add" for op in graph.ops) == 4      # one body per iteration
    rng = np.random.default_rng(2)
    x, scale = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(
        np.float32)
    reference = _ort(model, {"x": x, "scale": scale, "trips": np.array(4, np.int64)})
    ours = ops.run_graph(graph, {"x": x, "scale": scale})
    for name in ("final", "history"):
        np.testing.assert_allclose(ours[name], reference[name], rtol=1e-6)
    with pytest.raises(WorkloadError, match=r"Loop node 'loop'.*trip count.*--input-value "
                                            r"trips=VALUE"):
        load_onnx(model)


def test_input_value_pins_a_shape_operand_and_functional_feeds_it_to_onnxruntime():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"]),
             helper.make_node("Relu", ["y"], ["z"])]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [2, 6]),
                           helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                   [helper.make_tensor_value_info("z", F, None)])
    with pytest.raises(WorkloadError, match="Reshape"):
        load_onnx(model)
    graph = load_onnx(model, input_values=parse_input_values(["shape=[3, 4]"]))
    assert graph.tensors["z"].shape == (3, 4) and "shape" in graph.inputs
    lowered, trace = api.compile(api.load_config(CONFIGS / "dstc.yaml"), graph)
    assert check_functional(lowered, trace, onnx_model=model).ok


def test_parse_input_values_forms_and_errors():
    values = parse_input_values(["a=3", "b=[1, 2, 3]", "c=[[0.5, 1], [2, 3]]", "d=True"])
    assert values["a"].shape == () and values["b"].tolist() == [1, 2, 3]
    assert values["c"].shape == (2, 2) and values["d"].dtype == bool
    for bad in ("noequals", "x=", "x=abc", "x=[1, 'a']", "x=__import__('os')"):
        with pytest.raises(WorkloadError, match="expected NAME=VALUE"):
            parse_input_values([bad])
    with pytest.raises(WorkloadError, match="given twice"):
        parse_input_values(["a=1", "a=2"])
    model = loop_model()
    with pytest.raises(WorkloadError, match="is int64; --input-value gives non-integer"):
        load_onnx(model, input_values={"trips": 2.5})
    with pytest.raises(WorkloadError, match="unknown input.*model's inputs are: x, trips"):
        load_onnx(model, input_values={"nope": 1})


def conv_model(dims, metadata=None):
    x = helper.make_tensor_value_info("x", F, None)
    shape = x.type.tensor_type.shape
    for d in dims:
        entry = shape.dim.add()
        if isinstance(d, int):
            entry.dim_value = d
        elif d is not None:
            entry.dim_param = d
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    return _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], [x],
                  [helper.make_tensor_value_info("y", F, None)], [w], metadata=metadata)


def test_dims_stored_as_minus_one_question_mark_or_empty_are_dynamic():
    for dims in ([-1, 3, 16, 16], ["?", 3, 16, 16], [None, 3, 16, 16]):
        model = conv_model(dims)
        with pytest.raises(WorkloadError, match=r"dynamic dim 0.*--input-shape x=1x3x16x16"):
            load_onnx(model)
        graph = load_onnx(model, parse_input_shapes(["x=2x3x16x16"]))
        assert graph.tensors["y"].shape == (2, 4, 14, 14)
    with pytest.raises(WorkloadError, match="must be positive integers.*-1 in the model"):
        parse_input_shapes(["x=-1x3x16x16"])


def test_suggested_sizes_come_from_metadata_or_the_documented_defaults():
    model = conv_model(["batch", 3, "h", "w"], metadata={"imgsz": "[320, 256]"})
    with pytest.raises(WorkloadError) as info:
        load_onnx(model)
    text = str(info.value)
    assert "--input-shape x=1x3x320x256" in text and "the image size in the model's metadata" \
        in text
    suggested = re.search(r"--input-shape (\S+)", text).group(1)
    assert load_onnx(model, parse_input_shapes([suggested])).tensors["y"].shape == \
        (1, 4, 318, 254)
    with pytest.raises(WorkloadError, match=r"x=1x3x224x224 .*224, archsim's default image"):
        load_onnx(conv_model(["batch", 3, "h", "w"]))


def test_a_shape_error_names_the_node():
    model = conv_model([1, 3, "h", "w"])
    with pytest.raises(WorkloadError, match=r"Conv node 'conv'.*kernel 3 is larger than the "
                                            r"padded input 2"):
        load_onnx(model, parse_input_shapes(["x=1x3x2x2"]))


def test_cli_input_value_on_run_lower_and_im2col(tmp_path, capsys):
    path = tmp_path / "if.onnx"
    onnx.save(if_model(), path)
    cfg = str(CONFIGS / "systolic-32-ws.yaml")
    pins = ["--input-value", "mode=1", "--input-value", "flag=0"]
    assert main(["run", cfg, str(path), *pins, "--functional", "--json"]) == 0
    assert "functional check vs onnxruntime on the ONNX model" in capsys.readouterr().err
    assert main(["lower", cfg, str(path), *pins, "-o", str(tmp_path / "t.jsonl")]) == 0
    assert main(["im2col", cfg, str(path), *pins, "--json"]) == 0
    capsys.readouterr()
    assert main(["run", cfg, str(path), "--input-value", "mode=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--input-value flag=VALUE" in err
    assert main(["run", cfg, "gemm:8,8,8", "--input-value", "a=1"]) == 2
    assert "apply to ONNX models only" in capsys.readouterr().err


@pytest.mark.parametrize("config", ["mlu.yaml", "dstc.yaml"])
def test_im2col_pass_on_a_target_it_does_not_apply_to_warns(config, capsys):
    workload = "conv:12,12,6,3,3,10,2,1"
    assert main(["run", str(CONFIGS / config), workload, "--pass", "im2col=implicit",
                 "--json"]) == 0
    err = capsys.readouterr().err
    assert "warning: --pass im2col: pass im2col applies to kind systolic only" in err
    assert "changes nothing and was skipped" in err
    # the skipped pass really changed nothing
    cfg = api.load_config(CONFIGS / config)
    with pytest.warns(UserWarning, match="im2col"):
        with_pass = api.run(cfg, workload, passes=["im2col=implicit"])[1]
    assert with_pass.total_cycles == api.run(cfg, workload)[1].total_cycles
    # and where it applies, no warning
    assert main(["run", str(CONFIGS / "systolic-32-ws.yaml"), workload, "--pass",
                 "im2col=implicit", "--json"]) == 0
    assert "warning" not in capsys.readouterr().err
