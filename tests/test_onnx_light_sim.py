"""Every architecture-exact model the onnx wheel ships (onnx/backend/test/data/light/) imports and
simulates on every shipped systolic config (configs/: YAML and SCALE-Sim .cfg), and the simulation
accounts for the model's real work: the MACs, computed here independently of archsim from ONNX's
own shape inference, all reach the array; no layer beats the array's peak; weights are read from
DRAM at least once; every compute and vector operator of the file shows up as a layer."""

from __future__ import annotations

import math
from collections import Counter
from functools import cache
from pathlib import Path

import onnx
import pytest
from conftest import CONFIGS
from onnx import shape_inference

from simulator import api
from simulator.api import load_config
from workloads.onnx_frontend import load_onnx

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
# Named, not globbed: a wheel without the models fails here instead of running zero tests.
MODELS = ["light_bvlc_alexnet", "light_densenet121", "light_inception_v1", "light_inception_v2",
          "light_resnet50", "light_shufflenet", "light_squeezenet", "light_vgg19",
          "light_zfnet512"]
# archsim's own YAML configs and the SCALE-Sim .cfg files shipped under configs/scalesim/.
# (configs/sweeps/ and configs/scenarios/ hold sweep and scenario specs, not hardware configs)
CONFIG_FILES = sorted(str(p.relative_to(CONFIGS)) for p in [*CONFIGS.glob("*.yaml"),
                                                            *CONFIGS.rglob("*.cfg")]
                      if load_config(p).kind == "systolic")
# Operators that read activations, so the import can never fold them: each must be a layer.
ACTIVATION_OPS = {"Conv", "Gemm", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool",
                  "BatchNormalization", "LRN", "Softmax", "Concat", "Sum", "Dropout"}


@cache
def onnx_facts(model: str) -> tuple[list[int], int, Counter]:
    """(MACs of each Conv/Gemm node, weight elements of those nodes, activation-op counts), from
    the ONNX file and onnx's shape inference alone."""
    proto = shape_inference.infer_shapes(onnx.load(LIGHT / f"{model}.onnx"), data_prop=True)
    g = proto.graph
    shapes = {i.name: list(i.dims) for i in g.initializer}
    for vi in [*g.input, *g.value_info, *g.output]:
        dims = vi.type.tensor_type.shape.dim
        shapes.setdefault(vi.name, [d.dim_value for d in dims])
    macs, weights = [], 0
    for node in g.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        out, a, w = (shapes[n] for n in (node.output[0], node.input[0], node.input[1]))
        assert all(out) and all(w), f"{model}: shape inference left {node.name} unknown"
        if node.op_type == "Conv":
            macs.append(math.prod(out) * math.prod(w[1:]))  # w = [N, C/group, KH, KW]
        else:
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            macs.append(math.prod(out) * (a[0] if trans_a else a[1]))
        weights += math.prod(w)
    ops = Counter(n.op_type for n in g.node if n.op_type in ACTIVATION_OPS)
    return macs, weights, ops


@cache
def graph(model: str):
    return load_onnx(LIGHT / f"{model}.onnx")


@cache
def config(name: str):
    return load_config(CONFIGS / name)


def test_every_shipped_systolic_config_is_swept():
    assert {"systolic-32-ws.yaml", "systolic-128-os.yaml", "tpu-v1-256-ws.yaml"} <= \
        set(CONFIG_FILES)


def check_result(model: str, cfg, trace, result) -> None:
    macs, weights, ops = onnx_facts(model)
    peak = cfg.array.rows * cfg.array.cols
    assert result.macs == sum(macs)
    assert sorted(lr.macs for lr in result.layers if lr.op in ("Conv", "Gemm")) == sorted(macs)
    assert result.total_cycles == sum(lr.cycles for lr in result.layers)
    assert result.total_cycles * peak >= result.macs
    assert 0 < result.utilization <= 1
    for lr in result.layers:
        assert (lr.end - lr.start) * peak >= lr.macs, lr.name
    assert result.bytes["dram_read"] >= weights * cfg.word_bytes
    assert Counter(lr.op for lr in result.layers if lr.op in ACTIVATION_OPS) == ops
    assert result.instructions == len(trace.instructions)


@pytest.mark.parametrize("cfg_name", CONFIG_FILES)
@pytest.mark.parametrize("model", MODELS)
def test_light_model_simulates(model, cfg_name):
    cfg = config(cfg_name)
    trace, result = api.run(cfg, graph(model))
    check_result(model, cfg, trace, result)
    assert any(i.op == "IM2COL" for i in trace.instructions)  # explicit im2col by default


@pytest.mark.parametrize("model", MODELS)
def test_light_model_simulates_with_implicit_im2col(model):
    """The implicit pass on the fastest config: the same work, no lowered matrix built, and less
    DRAM traffic than explicit im2col."""
    cfg = config("systolic-128-os.yaml")
    trace, result = api.run(cfg, graph(model), passes=["im2col=implicit"])
    check_result(model, cfg, trace, result)
    assert not any(i.op == "IM2COL" for i in trace.instructions)
    _, explicit = api.run(cfg, graph(model))
    dram = ("dram_read", "dram_write")
    assert sum(result.bytes[k] for k in dram) < sum(explicit.bytes[k] for k in dram)
