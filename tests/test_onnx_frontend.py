"""ONNX frontend and ONNX zoo: real models import with static shapes, MAC counts match the
architectures, zoo models run in onnxruntime with the shapes the Graph claims, errors are clear."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import workloads.onnx_frontend as frontend
from workloads.errors import WorkloadError
from workloads.graph import Graph
from workloads.onnx_frontend import importable, load_onnx, parse_input_shapes
from workloads.onnx_zoo import ONNX_ZOO, load_onnx_zoo, onnx_zoo_model

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = sorted(p.name for p in LIGHT.glob("light_*.onnx"))
FLOAT = TensorProto.FLOAT


def macs(graph: Graph) -> int:
    """Multiply-accumulates of the Conv, Gemm and MatMul ops, from the Graph's shapes."""
    total = 0
    for op in graph.ops:
        out = graph.tensors[op.outputs[0]].shape
        a = graph.tensors[op.inputs[0]].shape
        if op.type == "Conv":
            total += math.prod(out) * math.prod(graph.tensors[op.inputs[1]].shape[1:])
        elif op.type == "Gemm":
            total += math.prod(out) * (a[0] if op.attrs["transA"] else a[1])
        elif op.type == "MatMul":
            total += math.prod(out) * a[-1]
    return total


def conv_macs(size: int, c_in: int, c_out: int, k: int, stride: int = 1, pad: int = 0,
              group: int = 1) -> tuple[int, int]:
    """(output size, MACs) of a square conv, by the textbook formula."""
    out = (size + 2 * pad - k) // stride + 1
    return out, out * out * c_out * (c_in // group) * k * k


def resnet50_macs() -> int:
    """ResNet-50 v1.5 at 224 (stride on the 3x3 conv), derived from the architecture."""
    size, total = conv_macs(224, 3, 64, 7, 2, 3)
    size, c_in = 56, 64  # after the 3x3/2 max-pool
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            s = stride if i == 0 else 1
            _, a = conv_macs(size, c_in, width, 1)
            out, b = conv_macs(size, width, width, 3, s, 1)
            _, c = conv_macs(out, width, 4 * width, 1)
            total += a + b + c
            if i == 0:
                total += conv_macs(size, c_in, 4 * width, 1, s)[1]
            size, c_in = out, 4 * width
    return total + 2048 * 1000


def vgg19_macs() -> int:
    size, c_in, total = 224, 3, 0
    for item in [64, 64, "M", 128, 128, "M", *[256] * 4, "M", *[512] * 4, "M", *[512] * 4, "M"]:
        if item == "M":
            size //= 2
            continue
        total += conv_macs(size, c_in, item, 3, 1, 1)[1]
        c_in = item
    return total + 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * 1000


def mobilenet_v2_macs() -> int:
    size, total = conv_macs(224, 3, 32, 3, 2, 1)
    c_in = 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            hidden = c_in * t
            total += conv_macs(size, c_in, hidden, 1)[1] if t != 1 else 0
            size, dw = conv_macs(size, hidden, hidden, 3, s if i == 0 else 1, 1, hidden)
            total += dw + conv_macs(size, hidden, c, 1)[1]
            c_in = c
    return total + conv_macs(size, 320, 1280, 1)[1] + 1280 * 1000


def bert_layer_macs(seq: int, hidden: int = 768, heads: int = 12) -> int:
    projections = 4 * seq * hidden * hidden
    attention = 2 * heads * seq * seq * (hidden // heads)
    return projections + attention + 2 * seq * hidden * 4 * hidden


def make_model(nodes, inputs, outputs, inits=(), opset=17, extra_opsets=()):
    graph = helper.make_graph(nodes, "t", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    *extra_opsets])
    model.ir_version = 10
    return model


def vinfo(name, shape, elem=FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def run_ort(model, graph: Graph, every_tensor: bool = False) -> dict[str, np.ndarray]:
    """Outputs (or, with ``every_tensor``, every node output) of ``model`` on random inputs."""
    if every_tensor:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        declared = {o.name for o in model.graph.output}
        model.graph.output.extend(helper.make_empty_tensor_value_info(t) for n in model.graph.node
                                  for t in n.output if t and t not in declared)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(graph.tensors[n].shape).astype(graph.tensors[n].dtype)
             for n in graph.inputs}
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds), strict=True))


def without_inference(monkeypatch, load):
    """Import with ONNX shape inference disabled: every shape comes from the handlers."""
    monkeypatch.setattr(frontend, "infer_types", lambda *args: {})
    return load()


# ---- Real models -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def light() -> dict[str, Graph]:
    return {name: load_onnx(LIGHT / name) for name in LIGHT_MODELS}


def test_all_light_models_are_present():
    assert len(LIGHT_MODELS) == 9


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_imports_with_static_shapes(light, name):
    graph = light[name]
    assert graph.inputs and graph.outputs
    assert all(importable(op.type) for op in graph.ops)
    assert all(isinstance(d, int) and d >= 0 for t in graph.tensors.values() for d in t.shape)
    assert not any(op.type in ("Constant", "ConstantOfShape", "Unsqueeze") for op in graph.ops)
    for op in graph.ops:
        if op.type == "Conv":
            assert op.attrs["auto_pad"] == "NOTSET" and len(op.attrs["pads"]) == 4
            assert graph.tensors[op.inputs[1]].values is not None  # weights folded from consts
    assert graph.tensors[graph.outputs[0]].shape in ((1, 1000), (1, 1000, 1, 1))


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_handlers_compute_the_same_shapes_as_shape_inference(light, monkeypatch, name):
    graph = without_inference(monkeypatch, lambda: load_onnx(LIGHT / name))
    expected = light[name]
    assert {k: (t.shape, t.dtype) for k, t in graph.tensors.items()} == \
        {k: (t.shape, t.dtype) for k, t in expected.tensors.items()}


def backend_test_models() -> list[Path]:
    """The single-operator and small models onnx ships with expected outputs."""
    data = LIGHT.parent
    return sorted(p.parent for kind in ("pytorch-converted", "pytorch-operator", "simple")
                  for p in (data / kind).glob("*/model.onnx"))


def test_onnx_backend_models_get_the_expected_output_shapes(monkeypatch):
    checked, runtime_shaped = 0, []
    for folder in backend_test_models():
        model = onnx.load(folder / "model.onnx")
        if not all(importable(n.op_type) and n.domain == "" for n in model.graph.node):
            continue
        expected = {}
        for i, out in enumerate(model.graph.output):
            tensor = onnx.TensorProto()
            tensor.ParseFromString((folder / "test_data_set_0" / f"output_{i}.pb").read_bytes())
            expected[out.name] = tuple(tensor.dims)
        for infer in (True, False):
            if not infer:
                monkeypatch.setattr(frontend, "infer_types", lambda *args: {})
            try:
                graph = load_onnx(model)
            except WorkloadError as err:  # Expand to a shape fed at run time
                assert "runtime value of 'shape'" in str(err)
                runtime_shaped.append(folder.name)
                continue
            finally:
                monkeypatch.undo()
            assert {k: graph.tensors[k].shape for k in expected} == expected, folder.name
            checked += 1
    assert checked >= 200 and len(set(runtime_shaped)) == 4


def test_resnet50_macs(light):
    assert resnet50_macs() == 4_089_184_256
    assert macs(light["light_resnet50.onnx"]) == 4_089_184_256
    assert macs(load_onnx_zoo("zoo:resnet50")) == 4_089_184_256


def test_vgg19_macs(light):
    assert vgg19_macs() == 19_632_062_464
    assert macs(light["light_vgg19.onnx"]) == 19_632_062_464


def test_mobilenet_v2_and_bert_macs():
    assert mobilenet_v2_macs() == 300_774_272
    assert macs(load_onnx_zoo("mobilenet_v2")) == 300_774_272
    assert bert_layer_macs(128) == 931_135_488
    assert macs(load_onnx_zoo("bert_base?seq=128&layers=1")) == 931_135_488
    assert macs(load_onnx_zoo("bert_base?seq=64&layers=2")) == 2 * bert_layer_macs(64)


# ---- Zoo -------------------------------------------------------------------------------------

ZOO_RUNS = ["tiny_cnn", "tiny_transformer", "mobilenet_v2", "resnet50",
            "bert_base?seq=16&layers=1"]


@pytest.mark.parametrize("spec", ZOO_RUNS)
def test_zoo_model_runs_in_onnxruntime_with_graph_output_shapes(spec):
    model = onnx_zoo_model(spec)
    graph = load_onnx(model, name=spec)
    outputs = run_ort(model, graph)
    assert list(outputs) == graph.outputs
    for name, value in outputs.items():
        assert value.shape == graph.tensors[name].shape
        assert np.isfinite(value).all()


@pytest.mark.parametrize("spec", ["tiny_cnn", "tiny_transformer"])
def test_tiny_zoo_every_tensor_matches_onnxruntime(spec, monkeypatch):
    model = onnx_zoo_model(spec)
    values = run_ort(model, load_onnx(model), every_tensor=True)
    for graph in (load_onnx(model), without_inference(monkeypatch, lambda: load_onnx(model))):
        for name, value in values.items():
            tensor = graph.tensors.get(name)
            if tensor is None:  # a folded Constant that no op reads after folding
                continue
            assert (tensor.shape, tensor.dtype) == (value.shape, value.dtype.name), name
            if tensor.values is not None:
                np.testing.assert_array_equal(tensor.values, value)


def test_tiny_cnn_conv_attributes():
    graph = load_onnx_zoo("tiny_cnn")
    convs = {op.name: op.attrs for op in graph.ops if op.type == "Conv"}
    assert convs["conv2"] == {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [2, 2, 2, 2],
                              "dilations": [2, 2], "group": 2, "auto_pad": "NOTSET"}
    assert convs["dw"]["pads"] == [0, 0, 1, 1] and convs["dw"]["group"] == 32
    assert graph.tensors["dw"].shape == (1, 32, 8, 8)
    assert graph.tensors["maxpool"].shape == (1, 64, 5, 5)  # ceil_mode (floor would be 4)
    clip = next(op for op in graph.ops if op.type == "Clip")
    assert (clip.attrs["min"], clip.attrs["max"]) == (0.0, 6.0)


def test_bert_attention_is_batched_matmul_per_head():
    graph = load_onnx_zoo("zoo:bert_base?seq=32&layers=2&hidden=128&heads=4")
    scores = [op for op in graph.ops if op.name.endswith(".scores")]
    assert len(scores) == 2
    q, k = (graph.tensors[n].shape for n in scores[0].inputs)
    assert (q, k, graph.tensors[scores[0].outputs[0]].shape) == \
        ((4, 32, 32), (4, 32, 32), (4, 32, 32))
    types = {op.type for op in graph.ops}
    assert {"Gemm", "MatMul", "Softmax", "LayerNormalization", "Gelu", "Add"} <= types
    assert graph.name == "bert_base?seq=32&layers=2&hidden=128&heads=4"


def test_zoo_is_deterministic_and_spec_errors_are_clear():
    assert onnx_zoo_model("tiny_cnn").SerializeToString() == \
        onnx_zoo_model("zoo:tiny_cnn").SerializeToString()
    with pytest.raises(WorkloadError, match="available: " + ", ".join(ONNX_ZOO)):
        onnx_zoo_model("zoo:resnet51")
    with pytest.raises(WorkloadError, match="accepted: seq=INT, layers=INT"):
        onnx_zoo_model("bert_base?sequence=3")
    with pytest.raises(WorkloadError, match="integer"):
        onnx_zoo_model("bert_base?seq=many")


# ---- Operator mapping --------------------------------------------------------------------------

def conv_model(auto_pad=None, stride=1, shape=(1, 3, 8, 8)):
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    attrs = {"auto_pad": auto_pad, "strides": [stride, stride]} if auto_pad else {}
    node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    return make_model([node], [vinfo("x", list(shape))], [vinfo("y", None)], [w])


def test_conv_defaults_are_filled_in():
    graph = load_onnx(conv_model())
    op = graph.ops[0]
    assert op.name == "Conv_0"
    assert op.attrs == {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [0, 0, 0, 0],
                        "dilations": [1, 1], "group": 1, "auto_pad": "NOTSET"}
    assert graph.tensors["y"].shape == (1, 4, 6, 6)
    assert graph.inputs == ["x"] and graph.tensors["w"].values is not None


@pytest.mark.parametrize(("auto_pad", "pads"), [("SAME_UPPER", [0, 0, 1, 1]),
                                                ("SAME_LOWER", [1, 1, 0, 0]),
                                                ("VALID", [0, 0, 0, 0])])
def test_conv_auto_pad_resolves_to_explicit_pads(auto_pad, pads, monkeypatch):
    model = conv_model(auto_pad, stride=2)
    graph = load_onnx(model)
    assert graph.ops[0].attrs["pads"] == pads and graph.ops[0].attrs["auto_pad"] == "NOTSET"
    assert run_ort(model, graph)["y"].shape == graph.tensors["y"].shape
    assert without_inference(monkeypatch, lambda: load_onnx(model)).tensors["y"].shape == \
        graph.tensors["y"].shape


@pytest.mark.parametrize("attrs", [{"strides": [2, 2], "auto_pad": "SAME_UPPER"},
                                   {"strides": [2, 2], "output_shape": [10, 9]},
                                   {"strides": [3, 2], "pads": [1, 0, 2, 1],
                                    "output_padding": [1, 0], "dilations": [2, 1]}])
def test_conv_transpose_shapes_match_onnxruntime(attrs):
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], **attrs)
    model = make_model([node], [vinfo("x", [1, 4, 5, 5])], [vinfo("y", None)], [w])
    graph = load_onnx(model)
    assert graph.tensors["y"].shape == run_ort(model, graph)["y"].shape
    assert "output_shape" not in graph.ops[0].attrs and len(graph.ops[0].attrs["pads"]) == 4


def test_model_local_functions_are_inlined():
    body = helper.make_function("local", "Double", ["a"], ["b"],
                                [helper.make_node("Add", ["a", "a"], ["b"])],
                                [helper.make_opsetid("", 17)])
    node = helper.make_node("Double", ["x"], ["y"], domain="local")
    model = make_model([node], [vinfo("x", [2, 3])], [vinfo("y", None)],
                       extra_opsets=[helper.make_opsetid("local", 1)])
    model.functions.append(body)
    graph = load_onnx(model)
    assert [op.type for op in graph.ops] == ["Add"] and graph.tensors["y"].shape == (2, 3)


def test_ceil_mode_pool_drops_a_window_starting_in_the_padding(monkeypatch):
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2],
                            pads=[1, 1, 1, 1], ceil_mode=1)
    model = make_model([node], [vinfo("x", [1, 1, 5, 5])], [vinfo("y", None)])
    graph = load_onnx(model)
    assert graph.tensors["y"].shape == (1, 1, 3, 3) == run_ort(model, graph)["y"].shape
    assert without_inference(monkeypatch, lambda: load_onnx(model)).tensors["y"].shape == \
        (1, 1, 3, 3)
    assert graph.ops[0].attrs["storage_order"] == 0  # schema defaults filled in


def test_constant_nodes_fold_into_valued_tensors():
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    nodes = [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(weight)),
             helper.make_node("Constant", [], ["shape"], value_ints=[3, 1]),
             helper.make_node("MatMul", ["x", "c"], ["m"], name="mm"),
             helper.make_node("Reshape", ["m", "shape"], ["y"], name="reshape")]
    graph = load_onnx(make_model(nodes, [vinfo("x", [1, 2])], [vinfo("y", None)]))
    assert [op.type for op in graph.ops] == ["MatMul", "Reshape"]
    np.testing.assert_array_equal(graph.tensors["c"].values, weight)
    assert graph.tensors["c"].dtype == "float32" and graph.tensors["shape"].dtype == "int64"
    assert graph.ops[1].attrs == {"allowzero": 0, "shape": [3, 1]}
    assert graph.tensors["y"].shape == (3, 1) and graph.tensors["y"].bits is None


def shape_ops_model():
    """A dynamic-export pattern (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) and the
    other shape operators on activations, over a symbolic batch dim."""
    ints = {"zero": [0], "minus1": [-1], "starts": [2], "ends": [-2], "axis1": [1],
            "steps": [2], "axis0": [0], "rep": [3, 1, 1], "pads": [0, 1, 0, 2], "idx": [[0, 2]]}
    inits = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in ints.items()]
    n = helper.make_node
    nodes = [n("Shape", ["x"], ["s"]), n("Gather", ["s", "axis0"], ["n0"], axis=0),
             n("Squeeze", ["n0", "axis0"], ["n"]), n("Unsqueeze", ["n", "axis0"], ["n1"]),
             n("Concat", ["n1", "minus1"], ["new_shape"], axis=0),
             n("Reshape", ["x", "new_shape"], ["flat"]),
             n("Slice", ["flat", "starts", "ends", "axis1", "steps"], ["sl"]),
             n("Unsqueeze", ["sl", "axis0"], ["uq"]), n("Expand", ["uq", "rep"], ["ex"]),
             n("ReduceMean", ["ex", "axis0"], ["rm"], keepdims=0),
             n("Split", ["rm"], ["sp1", "sp2"], axis=1, num_outputs=2),
             n("Pad", ["sp1", "pads"], ["pd"]), n("Transpose", ["pd"], ["tr"]),
             n("Gather", ["x", "idx"], ["gx"], axis=2), n("Flatten", ["gx"], ["fl"], axis=-1),
             n("Cast", ["fl"], ["half"], to=TensorProto.FLOAT16)]
    return make_model(nodes, [vinfo("x", ["batch", 4, 6])],
                      [vinfo("tr", None), vinfo("sp2", None),
                       vinfo("half", None, TensorProto.FLOAT16)], inits, opset=18)


def test_shape_ops_fold_constants_and_keep_activation_ops(monkeypatch):
    model = shape_ops_model()
    graph = load_onnx(model, {"x": (3, 4, 6)})
    assert [op.type for op in graph.ops] == ["Reshape", "Slice", "Unsqueeze", "Expand",
                                             "ReduceMean", "Split", "Pad", "Transpose", "Gather",
                                             "Flatten", "Cast"]
    np.testing.assert_array_equal(graph.tensors["new_shape"].values, [3, -1])
    attrs = {op.type: op.attrs for op in graph.ops}
    assert attrs["Slice"] == {"starts": [2], "ends": [-2], "axes": [1], "steps": [2]}
    assert attrs["Pad"]["pads"] == [0, 1, 0, 2] and attrs["Pad"]["mode"] == "constant"
    assert attrs["Transpose"]["perm"] == [1, 0] and attrs["Split"]["split"] == [5, 5]
    values = run_ort(model, graph, every_tensor=True)
    fallback = without_inference(monkeypatch, lambda: load_onnx(model, {"x": (3, 4, 6)}))
    for g in (graph, fallback):
        for name, value in values.items():
            if name in g.tensors:
                assert (g.tensors[name].shape, g.tensors[name].dtype) == \
                    (value.shape, value.dtype.name), name


def test_unsupported_ops_are_grouped_by_type_with_counts():
    nodes = [helper.make_node("FooOp", ["x"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("BarOp", ["b"], ["c"], domain="custom.domain")]
    nodes += [helper.make_node("FooOp", [f"c{i}" if i else "c"], [f"c{i + 1}"])
              for i in range(45)]
    model = make_model(nodes, [vinfo("x", [1, 4])], [vinfo("c45", [1, 4])],
                       extra_opsets=[helper.make_opsetid("custom.domain", 3)])
    with pytest.raises(WorkloadError) as info:
        load_onnx(model)
    message = str(info.value)
    # Most frequent first, each type once with its count and first node.
    assert "FooOp x46 (e.g. node 'first', opset 17), custom.domain.BarOp x1 (e.g. node " \
        "'BarOp_2', opset 3)" in message
    assert "Relu" not in message
    assert len(message) < 300 and message.count("FooOp") == 1


def test_dynamic_dims_must_be_pinned():
    model = conv_model(shape=["batch", 3, "height", 8])
    with pytest.raises(WorkloadError) as info:
        load_onnx(model)
    message = str(info.value)
    assert "'x'" in message and "dim 0 (batch)" in message and "dim 2 (height)" in message
    # A plausible size for each unknown dim, each with where it comes from; taking the
    # suggestion imports the model.
    assert "--input-shape x=1x3x224x8" in message
    assert "dim 0 (batch): batch 1" in message and "224, archsim's default image size" in message
    suggested = re.search(r"--input-shape (\S+)", message).group(1)
    assert load_onnx(model, parse_input_shapes([suggested])).tensors["y"].shape == (1, 4, 222, 6)
    graph = load_onnx(model, parse_input_shapes(["x=2x3x10x8"]))
    assert graph.tensors["x"].shape == (2, 3, 10, 8)
    assert graph.tensors["y"].shape == (2, 4, 8, 6)


def test_pinning_errors_and_shared_symbols():
    model = conv_model(shape=["batch", 3, 8, 8])
    with pytest.raises(WorkloadError, match="unknown input.*model's inputs are: x"):
        load_onnx(model, {"image": (1, 3, 8, 8)})
    with pytest.raises(WorkloadError, match="rank 4"):
        load_onnx(model, {"x": (1, 3, 8)})
    with pytest.raises(WorkloadError, match="dim 1 is fixed to 3"):
        load_onnx(model, {"x": (1, 4, 8, 8)})
    add = helper.make_node("Add", ["a", "b"], ["y"])
    shared = make_model([add], [vinfo("a", ["n", 5]), vinfo("b", ["n", 5])], [vinfo("y", None)])
    assert load_onnx(shared, {"a": (7, 5)}).tensors["b"].shape == (7, 5)
    rankless = make_model([helper.make_node("Relu", ["x"], ["y"])],
                          [helper.make_tensor_value_info("x", FLOAT, None)], [vinfo("y", None)])
    with pytest.raises(WorkloadError, match=r"unknown rank\); pass --input-shape x=D1xD2x"):
        load_onnx(rankless)
    assert load_onnx(rankless, {"x": (2, 3)}).tensors["y"].shape == (2, 3)


def test_parse_input_shapes():
    assert parse_input_shapes(["gpu_0/data_0=1x3x224x224", "ids=1,128"]) == \
        {"gpu_0/data_0": (1, 3, 224, 224), "ids": (1, 128)}
    assert parse_input_shapes(None) == {}
    for bad in ["x", "x=", "=1x3", "x=1x-3", "x=1xx3", "x=0x3", "x=ax3"]:
        with pytest.raises(WorkloadError, match=r"NAME=D1xD2x|positive") as info:
            parse_input_shapes([bad])
        assert info.value.where == bad
    with pytest.raises(WorkloadError, match="twice"):
        parse_input_shapes(["x=1", "x=2"])


def test_unreadable_files_name_the_path(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(WorkloadError) as info:
        load_onnx(bad)
    assert info.value.where == str(bad)
    with pytest.raises(WorkloadError, match="no such ONNX file"):
        load_onnx(tmp_path / "missing.onnx")


def test_op_names_are_unique():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Relu", ["b"], ["y"], name="Relu_1")]
    graph = load_onnx(make_model(nodes, [vinfo("x", [2])], [vinfo("y", None)]))
    assert [op.name for op in graph.ops] == ["Relu_0", "Relu_1", "Relu_1_1"]


def test_nodes_out_of_order_are_sorted():
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="second"),
             helper.make_node("Relu", ["x"], ["a"], name="first")]
    model = helper.make_model(helper.make_graph(nodes, "t", [vinfo("x", [2])],
                                                [vinfo("y", None)]))
    assert [op.name for op in load_onnx(model).ops] == ["first", "second"]


def test_importing_workloads_does_not_import_onnx():
    code = ("import sys, workloads, workloads.onnx_frontend, workloads.onnx_zoo, "
            "workloads.ops; assert 'onnx' not in sys.modules, 'onnx imported'")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[1])
