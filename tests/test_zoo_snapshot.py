"""The ONNX zoo's snapshots (workloads/zoo_snapshot.py) are the graphs the ONNX import gives.

If a test here fails after a change to the frontend, the catalogue, the zoo or the Graph IR,
rewrite the snapshots: ``python -m workloads.zoo_snapshot``.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest

from workloads import zoo_snapshot
from workloads.graph import LazyTensor
from workloads.loader import load_workload, load_workload_and_model
from workloads.onnx_frontend import load_onnx
from workloads.onnx_zoo import ONNX_ZOO, onnx_zoo_model


def typed(value):
    """A value with its types spelled out (1 != 1.0 != True, list != tuple)."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    return (type(value).__name__, value)


def assert_same_graph(got, want) -> None:
    assert (got.name, got.inputs, got.outputs, got.meta, got.timings) == \
        (want.name, want.inputs, want.outputs, want.meta, want.timings)
    assert [(op.name, op.type, op.inputs, op.outputs, typed(op.attrs)) for op in got.ops] == \
        [(op.name, op.type, op.inputs, op.outputs, typed(op.attrs)) for op in want.ops]
    assert list(got.tensors) == list(want.tensors)
    for name, w in want.tensors.items():
        g = got.tensors[name]
        assert typed((g.shape, g.bits, g.dtype, g.density, g.has_values)) == \
            typed((w.shape, w.bits, w.dtype, w.density, w.values is not None)), name
        if w.values is not None:
            assert g.values.dtype == w.values.dtype and g.values.shape == w.values.shape, name
            assert np.array_equal(g.values, w.values), name
            assert g.values.flags.writeable == w.values.flags.writeable, name


@pytest.mark.parametrize("model", list(ONNX_ZOO))
def test_snapshot_is_the_imported_graph(model):
    imported = load_onnx(onnx_zoo_model(model), None, name=model)
    snap = zoo_snapshot.load_snapshot(f"zoo:{model}")
    assert snap is not None, "stale or missing snapshot: python -m workloads.zoo_snapshot"
    assert_same_graph(snap, imported)


def test_timing_loads_use_the_snapshot_and_functional_gets_the_model():
    graph = load_workload("zoo:tiny_cnn")
    assert any(isinstance(t, LazyTensor) for t in graph.tensors.values())
    graph, model = load_workload_and_model("zoo:tiny_cnn")
    assert model is not None and not any(isinstance(t, LazyTensor)
                                         for t in graph.tensors.values())
    # parameters, or pinned inputs, go through the ONNX import
    graph, _ = load_workload_and_model("zoo:tiny_cnn?size=16", model=False)
    assert not any(isinstance(t, LazyTensor) for t in graph.tensors.values())


def test_values_are_made_on_first_read_only():
    graph = load_workload("tiny_cnn")
    lazy = [t for t in graph.tensors.values() if isinstance(t, LazyTensor)]
    assert lazy and all(t.has_values and t._load is not None for t in lazy)
    graph.validate()   # needs to know which tensors hold values, not the values
    assert all(t._load is not None for t in lazy)
    copied = copy.deepcopy(graph)
    weight = next(t for t in lazy if t.values.size > 4096 or t.name.endswith("weight"))
    assert weight._load is None and weight.values is not None
    same = copied.tensors[weight.name]
    assert np.array_equal(same.values, weight.values)
    same.values = None   # assigning replaces the loader
    assert same.values is None and not same.has_values


def test_stale_snapshot_is_not_used(tmp_path, monkeypatch):
    with open(zoo_snapshot.snapshot_path("tiny_cnn"), encoding="utf-8") as fh:
        data = json.load(fh)
    data["source_digest"] = "0" * 64
    (tmp_path / "zoo-tiny_cnn.json").write_text(json.dumps(data))
    monkeypatch.setattr(zoo_snapshot, "snapshot_path",
                        lambda model: str(tmp_path / f"zoo-{model}.json"))
    assert zoo_snapshot.load_snapshot("tiny_cnn") is None
    graph = load_workload("zoo:tiny_cnn")   # the ONNX import instead
    assert not any(isinstance(t, LazyTensor) for t in graph.tensors.values())


def test_a_zoo_timing_run_imports_no_onnx():
    code = ("import sys\nfrom simulator import api\n"
            "config = api.load_config('configs/tpu-v1-256-ws.yaml')\n"
            "trace, result = api.run(config, 'zoo:resnet50')\n"
            "print(result.total_cycles, sorted(m for m in ('onnx', 'ml_dtypes', 'onnxruntime') "
            "if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["3219734", "[]"]   # the cycles of the ONNX import's graph (see below)


def test_cycles_and_passes_match_the_onnx_import():
    from simulator import api

    config = api.load_config("configs/systolic-32-ws.yaml")
    imported = load_onnx(onnx_zoo_model("tiny_cnn"), None, name="tiny_cnn")
    for passes in ([], ["im2col=implicit"], ["squant"]):
        _, want = api.run(config, copy.deepcopy(imported), passes=passes)
        _, got = api.run(config, "zoo:tiny_cnn", passes=passes)
        assert got.total_cycles == want.total_cycles
        assert [lr.cycles for lr in got.layers] == [lr.cycles for lr in want.layers]
