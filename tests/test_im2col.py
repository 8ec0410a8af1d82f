"""The im2col pass: implicit lowering keeps the input in place, explicit materialises it."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS, systolic_config

from simulator import api
from simulator.cli import main
from simulator.functional import check_functional
from simulator.lower.implicit_conv import ConvGeometry
from simulator.passes import PassError, apply_passes
from simulator.scenarios.im2col_study import compare_im2col
from workloads.graph import Graph, Tensor, add_conv
from workloads.loader import load_workload


def test_pass_marks_only_convs_that_need_lowering():
    g = load_workload("resnet18")
    out = apply_passes(g, ["im2col=implicit"])
    marked = {op.name for op in out.ops if op.attrs.get("im2col") == "implicit"}
    assert "conv1" in marked and "layer2.1.downsample" in marked  # 1x1 but strided
    assert "fc" not in marked
    assert not any("im2col" in op.attrs for op in g.ops)  # the input graph is untouched


def test_bad_pass_names_and_options():
    with pytest.raises(PassError, match="unknown pass 'im2cl'"):
        apply_passes(load_workload("gemm:4,4,4"), ["im2cl=implicit"])
    with pytest.raises(PassError, match="takes one of explicit, implicit"):
        apply_passes(load_workload("gemm:4,4,4"), ["im2col=diagonal"])


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_implicit_has_no_im2col_and_reads_the_input_not_the_lowered_matrix(df):
    cfg = systolic_config(32, 32, df, sram={"ifmap_kb": 4096, "filter_kb": 4096,
                                            "ofmap_kb": 4096})
    spec = "conv:28,28,32,3,3,64,1,1"
    explicit = api.lower(cfg, spec, ["im2col=explicit"])
    implicit = api.lower(cfg, spec, ["im2col=implicit"])
    assert [i.op for i in explicit.instructions].count("IM2COL") == 1
    assert "IM2COL" not in [i.op for i in implicit.instructions]
    a_reads = sum(i.bytes["dram_read"] for i in implicit.instructions
                  if i.op == "LOAD" and i.tensor == "X")
    assert a_reads == 28 * 28 * 32  # the feature map, once: it fits on chip
    lowered = sum(i.bytes["dram_read"] for i in explicit.instructions
                  if i.op == "LOAD" and i.tensor == "conv.im2col")
    assert lowered == 28 * 28 * 9 * 32


def test_channel_packing_follows_the_tpu_policy():
    g = load_workload("conv:32,32,3,7,7,16,2,3")
    geo = ConvGeometry.of(g, g.ops[0])
    # C=3 on 128 rows: 42 of the 49 filter positions fit a fold, across filter rows; two folds
    # are needed, balanced to 25 + 24 positions
    assert geo.positions_per_fold(128) == 25
    assert geo.row_folds(128) == [(0, 75), (75, 72)]
    # C=3 on 16 rows: 5 positions fit, 10 folds of 5 (the last 4), contiguous over K
    assert geo.row_folds(16) == [(15 * i, 15) for i in range(9)] + [(135, 12)]
    # C=300 > 128 rows: each position splits into channel blocks
    g = load_workload("conv:8,8,300,3,3,16,1,1")
    folds = ConvGeometry.of(g, g.ops[0]).row_folds(128)
    assert folds[:3] == [(0, 128), (128, 128), (256, 44)] and len(folds) == 27


def test_depthwise_packs_all_filter_positions_on_one_fold():
    g = load_workload("zoo:mobilenet_v2?size=32")
    dw = next(op for op in g.ops if op.type == "Conv" and op.attrs.get("group", 1) > 1)
    geo = ConvGeometry.of(g, dw)
    assert geo.channels == 1 and geo.row_folds(256) == [(0, 9)]
    assert geo.row_folds(4) == [(0, 3), (3, 3), (6, 3)]
    # a fold spanning filter rows reads exactly the input rows those filter rows touch
    rows_read = {key[1] for key, _ in geo.region_tiles(0, geo.out_w, 0, 9, 256)}
    top = -geo.pad_top
    assert rows_read == {y for y in range(top, top + 3) if 0 <= y < geo.height}
    rows_read = {key[1] for key, _ in geo.region_tiles(0, geo.out_w, 3, 3, 256)}
    assert rows_read == {top + 1} & set(range(geo.height))


@pytest.mark.parametrize("df", ["ws", "is", "os"])
@pytest.mark.parametrize("shape, filters, kernel, stride, pad, dilation, group", [
    ((1, 8, 13, 11), 8, (3, 3), 1, 1, 1, 8),     # depthwise: 9 positions on one fold
    ((1, 6, 14, 12), 6, (3, 3), 2, 1, 2, 6),     # depthwise, strided and dilated
    ((2, 12, 9, 10), 24, (3, 3), 2, 2, 1, 12),   # depthwise multiplier 2, batch 2
    ((1, 3, 17, 15), 5, (3, 3), 2, 2, 1, 1),     # C=3: folds of 5 + 4 positions
    ((1, 2, 16, 16), 4, (5, 5), 1, 3, 2, 1),     # C=2: 7 + 7 + 7 + 4 positions, dilated
    ((1, 4, 12, 12), 6, (3, 2), 1, 0, 2, 2),     # 2 channels a group, non-square kernel
])
def test_packed_implicit_conv_matches_onnxruntime(df, shape, filters, kernel, stride, pad,
                                                  dilation, group):
    """Folds packing several filter positions, across filter rows, onto the array rows
    accumulate to the convolution: every GEMM tile of the trace runs on real numbers and the
    output is checked against onnxruntime's Conv."""
    g = Graph("packed")
    g.add_tensor(Tensor("x", shape))
    g.inputs = ["x"]
    y = add_conv(g, "c", "x", filters, kernel, (stride, stride), (pad,) * 4, group,
                 dilation=(dilation, dilation))
    g.outputs = [y]
    cfg = systolic_config(16, 8, df, sram={"ifmap_kb": 2, "filter_kb": 2, "ofmap_kb": 2})
    trace = api.lower(cfg, g, ["im2col=implicit"])
    geo = ConvGeometry.of(g, g.ops[0])
    if df != "os":   # K on the array rows: the trace's folds are the packed ones
        folds = geo.row_folds(16)
        assert sorted({(i.dims["k0"], i.dims["dk"]) for i in trace.instructions
                       if i.op == "GEMM"}) == folds
        cg, kw = geo.channels, geo.kw
        assert any(k0 // cg // kw != (k0 + dk - 1) // cg // kw for k0, dk in folds)
    report = check_functional(g, trace, seed=sum(shape) + filters)
    assert report.ok and report.max_rel < 1e-5


def test_study_shows_explicit_footprint_and_cost():
    # A TPU-like unified buffer large enough to keep partial sums on chip (with a small one,
    # implicit's extra K folds on 3-channel conv1 spill more partial sums than explicit's).
    cfg = systolic_config(128, 128, "ws", bandwidth=32, latency=100,
                          sram={"ifmap_kb": 4096, "filter_kb": 512, "ofmap_kb": 8192})
    study = compare_im2col(cfg, "resnet18")
    rows = {r.layer: r for r in study.rows}
    assert rows["layer1.1.conv1"].footprint_ratio == pytest.approx(9.0)
    assert rows["layer2.1.conv1"].footprint_ratio == pytest.approx(2.25)  # 3x3 stride 2
    # every row's footprint ratio is the lowered matrix over the input feature map, computed
    # here from the layer list's own shapes: OH * OW * KH * KW / (H * W)
    graph = load_workload("resnet18")
    want = {}
    for op in graph.ops:
        if op.type == "Conv":
            x, y = graph.tensor(op.inputs[0]).shape, graph.tensor(op.outputs[0]).shape
            w = graph.tensor(op.inputs[1]).shape
            want[op.name] = y[-2] * y[-1] * w[-2] * w[-1] / (x[-2] * x[-1])
    assert len(study.rows) > 10
    for r in study.rows:
        assert r.footprint_ratio == pytest.approx(want[r.layer]), r.layer
    for r in study.rows:
        if r.kernel != "1x1":
            assert r.implicit_dram_bytes < r.explicit_dram_bytes
    assert study.implicit.total_cycles < study.explicit.total_cycles
    assert study.implicit.macs == study.explicit.macs


def test_im2col_command_json(capsys):
    assert main(["im2col", str(CONFIGS / "systolic-32-ws.yaml"), "alexnet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["layer"] for r in out["layers"]] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert out["totals"]["implicit_dram_bytes"] < out["totals"]["explicit_dram_bytes"]
