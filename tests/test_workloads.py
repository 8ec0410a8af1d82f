"""Built-in workload names, the zoo, and the Graph IR's own checks."""

from __future__ import annotations

import pytest

from workloads.errors import WorkloadError
from workloads.graph import Graph, Op, Tensor, conv_output_size
from workloads.loader import load_workload


def test_gemm_spec():
    g = load_workload("gemm:64,32,16")
    (op,) = g.ops
    assert op.type == "Gemm"
    assert g.tensor(op.inputs[0]).shape == (64, 16)
    assert g.tensor(op.inputs[1]).shape == (16, 32)
    assert g.tensor(op.outputs[0]).shape == (64, 32)


def test_conv_spec_with_and_without_padding():
    g = load_workload("conv:224,224,3,7,7,64,2")
    assert g.tensor(g.ops[0].outputs[0]).shape == (1, 64, 109, 109)
    g = load_workload("conv:224,224,3,7,7,64,2,3")
    assert g.tensor(g.ops[0].outputs[0]).shape == (1, 64, 112, 112)


@pytest.mark.parametrize("spec, message", [
    ("gemm:1,2", "expected gemm:M,N,K"),
    ("gemm:1,x,3", "expected gemm:M,N,K"),
    ("gemm:0,2,3", "positive"),
    ("conv:5,5,3,7,7,8,1", "larger than the padded input"),
    ("resnet19", "unrecognised workload"),
    ("nothere.csv", "no such topology file"),
])
def test_bad_specs(spec, message):
    with pytest.raises(WorkloadError, match=message):
        load_workload(spec)


def test_conv_output_size_floor_and_ceil():
    assert conv_output_size(224, 11, 4) == 54
    assert conv_output_size(224, 11, 4, ceil_mode=True) == 55  # SCALE-Sim's rule
    assert conv_output_size(56, 3, 1, 1, 1) == 56


def test_graph_validation_catches_order_and_unknown_tensors():
    g = Graph("g")
    g.add_tensor(Tensor("a", (2, 2)))
    g.add_tensor(Tensor("b", (2, 2)))
    g.add_tensor(Tensor("c", (2, 2)))
    g.inputs = ["a"]
    g.add_op(Op("second", "Gemm", ["b", "a"], ["c"]))
    g.add_op(Op("first", "Gemm", ["a", "a"], ["b"]))
    with pytest.raises(WorkloadError, match="before it is produced"):
        g.validate()
    g.ops = [Op("x", "Gemm", ["a", "zz"], ["c"])]
    with pytest.raises(WorkloadError, match="unknown tensor 'zz'"):
        g.validate()


@pytest.mark.parametrize("name, macs", [
    ("resnet18", 1_814_073_344), ("alexnet", 714_188_480), ("mobilenet_v1", 568_740_352),
])
def test_zoo_mac_counts(name, macs):
    from workloads.ops import gemm_shapes

    g = load_workload(name)
    assert sum(s.m * s.n * s.k for op in g.ops for s in gemm_shapes(g, op, 1)) == macs


def test_zoo_prefix_is_accepted_and_unknown_names_list_the_zoo():
    assert load_workload("zoo:alexnet").name == "alexnet"
    with pytest.raises(WorkloadError, match="available: resnet18"):
        load_workload("zoo:lenet")
