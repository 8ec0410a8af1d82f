"""ONNX workloads on the command line: FILE.onnx, the ONNX zoo (zoo:NAME[?k=v]), --input-shape,
run --functional against the user's own model, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import CONFIGS
from onnx import TensorProto, helper, numpy_helper

from simulator.cli import main
from workloads.errors import WorkloadError
from workloads.loader import load_workload, load_workload_and_model

CFG = str(CONFIGS / "systolic-32-ws.yaml")
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
RESNET50_MACS = 4_089_184_256


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def dynamic_model(path: Path, ir_version: int = 8, op: str = "Relu") -> Path:
    """x[batch, 3, 8, 8] -> Conv 3x3/2 pad 1 (8 filters) -> op -> Flatten -> Gemm (10)."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w")
    fc = numpy_helper.from_array(rng.standard_normal((10, 128)).astype(np.float32), "fc")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1],
                              strides=[2, 2]),
             helper.make_node(op, ["c"], ["r"], name="act"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(
        nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], [w, fc])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = ir_version
    onnx.save(model, path)
    return path


def test_zoo_resnet50_runs_from_the_onnx_zoo(capsys):
    code, out, _ = run_cli(capsys, "run", CFG, "zoo:resnet50", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["macs"] == RESNET50_MACS
    assert summary["total_cycles"] * 32 * 32 >= summary["macs"]
    ops = {layer["op"] for layer in summary["layers"]}
    assert {"Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "Gemm"} <= ops


def test_zoo_names_route_to_the_right_zoo():
    assert load_workload("resnet50").name == "resnet50"           # zoo: prefix is optional
    bert, model = load_workload_and_model("zoo:bert_base?seq=16&layers=1")
    assert bert.name == "bert_base?seq=16&layers=1"
    assert model.graph.name == "bert_base" and bert.tensor("embeddings").shape == (16, 768)
    # The layer-list zoo keeps its bare and prefixed names, and has no ONNX model behind it.
    for spec in ("resnet18", "zoo:resnet18", "alexnet", "mobilenet_v1", "bert-base-layer"):
        graph, model = load_workload_and_model(spec)
        assert model is None and {op.type for op in graph.ops} <= {"Conv", "Gemm", "MatMul"}


def test_onnx_file_with_input_shape(tmp_path, capsys):
    path = dynamic_model(tmp_path / "dyn.onnx")
    code, out, _ = run_cli(capsys, "run", CFG, str(path), "--input-shape", "x=2x3x8x8", "--json")
    assert code == 0
    summary = json.loads(out)
    # conv: 2*8*4*4 outputs x 27; fc: 2*10 outputs x 128
    assert summary["macs"] == 2 * 8 * 16 * 27 + 2 * 10 * 128
    assert [layer["name"] for layer in summary["layers"]] == ["conv", "act", "flat", "fc"]


def test_onnx_light_model_path(capsys):
    code, out, _ = run_cli(capsys, "run", str(CONFIGS / "systolic-128-os.yaml"),
                           str(LIGHT / "light_resnet50.onnx"), "--json")
    assert code == 0 and json.loads(out)["macs"] == RESNET50_MACS


def test_input_shape_on_lower_and_im2col(tmp_path, capsys):
    path = dynamic_model(tmp_path / "dyn.onnx")
    trace = tmp_path / "t.jsonl"
    code, _, err = run_cli(capsys, "lower", CFG, str(path), "--input-shape", "x=4x3x8x8",
                           "-o", str(trace))
    assert code == 0 and "instructions" in err
    code, out, _ = run_cli(capsys, "replay", str(trace), "--json")
    assert code == 0 and json.loads(out)["macs"] == 4 * 8 * 16 * 27 + 4 * 10 * 128
    code, out, _ = run_cli(capsys, "im2col", CFG, str(path), "--input-shape", "x=1x3x8x8",
                           "--json")
    assert code == 0
    (row,) = json.loads(out)["layers"]
    assert row["layer"] == "conv" and row["kernel"] == "3x3" and row["stride"] == 2


@pytest.mark.parametrize("im2col", ["explicit", "implicit"])
def test_functional_on_the_users_onnx_file(tmp_path, capsys, im2col):
    path = dynamic_model(tmp_path / "dyn.onnx")
    code, _, err = run_cli(capsys, "run", CFG, str(path), "--input-shape", "x=2x3x8x8",
                           "--functional", "--pass", f"im2col={im2col}", "--json")
    assert code == 0
    assert "functional check vs onnxruntime on the ONNX model: 1 output(s)" in err
    assert err.strip().endswith("OK")


def test_functional_runs_the_users_file_not_an_export(tmp_path, capsys):
    """An IR version onnxruntime refuses: the graph would export fine, so the error proves the
    reference is the user's own file."""
    path = dynamic_model(tmp_path / "new.onnx", ir_version=99)
    code, _, err = run_cli(capsys, "run", CFG, str(path), "--input-shape", "x=1x3x8x8",
                           "--functional", "--json")
    assert code == 2
    assert "onnxruntime cannot run the model" in err and "Traceback" not in err


def test_functional_on_zoo_models(capsys):
    code, _, err = run_cli(capsys, "run", CFG, "zoo:tiny_cnn", "--functional", "--json")
    assert code == 0 and "on the ONNX model" in err and err.strip().endswith("OK")
    code, _, err = run_cli(capsys, "run", CFG, "conv:8,8,4,3,3,8,2,1", "--functional", "--json")
    assert code == 0 and "on the graph exported to ONNX" in err


@pytest.fixture
def bad_models(tmp_path) -> dict[str, str]:
    dynamic_model(tmp_path / "dyn.onnx")
    dynamic_model(tmp_path / "foo.onnx", op="FooOp")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    return {"dyn": str(tmp_path / "dyn.onnx"), "foo": str(tmp_path / "foo.onnx"),
            "junk": str(tmp_path / "junk.onnx"), "missing": str(tmp_path / "missing.onnx")}


@pytest.mark.parametrize("argv, message", [
    (["missing"], "missing.onnx: no such ONNX file"),
    (["junk"], "junk.onnx: cannot read ONNX model"),
    (["foo"], "foo.onnx: unsupported ONNX operator: FooOp x1 (e.g. node 'act', opset 17)"),
    (["dyn"], "dyn.onnx: input 'x' has dynamic dim 0 (batch); pass --input-shape x=1x3x8x8"),
    (["dyn", "--input-shape", "x=2x3"], "input 'x' has rank 4, --input-shape gives 2x3"),
    (["dyn", "--input-shape", "x=2x3x9x9"], "dim 2 is fixed to 8 in the model"),
    (["dyn", "--input-shape", "image=1x3x8x8"], "unknown input(s) image; the model's inputs "
                                                "are: x"),
    (["dyn", "--input-shape", "x=1by3"], "bad input shape; expected NAME=D1xD2x..."),
    (["gemm:8,8,8", "--input-shape", "x=1x3"],
     "--input-shape and --input-value apply to ONNX models only"),
    (["zoo:lenet"], "no zoo model 'lenet'; available: resnet18"),
    (["zoo:bert_base?seq=0"], "parameter seq must be positive"),
    (["zoo:bert_base?depth=2"], "bad parameter 'depth=2' for bert_base"),
    (["model.pt"], "unrecognised workload"),
])
@pytest.mark.parametrize("command", ["run", "lower", "im2col"])
def test_onnx_user_errors_exit_2_with_one_line(tmp_path, capsys, bad_models, command, argv,
                                                message):
    argv = [bad_models.get(argv[0], argv[0]), *argv[1:]]
    extra = ["-o", str(tmp_path / "t.jsonl")] if command == "lower" else []
    code, out, err = run_cli(capsys, command, CFG, *argv, *extra)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_console_script_reports_missing_onnx_file_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "run", CFG,
                           str(tmp_path / "m.onnx")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"archsim run: error: {tmp_path / 'm.onnx'}: no such ONNX file"


def test_loader_api_takes_input_shapes(tmp_path):
    path = dynamic_model(tmp_path / "dyn.onnx")
    graph = load_workload(str(path), {"x": (3, 3, 8, 8)})
    assert graph.name == "dyn" and graph.tensor("y").shape == (3, 10)
    with pytest.raises(WorkloadError, match="dynamic dim 0"):
        load_workload(str(path))
