"""The sparse_tc target: bitmap SpGEMM / sparse conv exactness, the cycle rule, and the target."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulator import api
from simulator.api import config_from_dict, load_config
from simulator.lower import bitmap as bm
from simulator.lower.sparse_data import im2col_mask
from simulator.passes.density import apply_density, magnitude_prune, parse_density
from simulator.trace import read_trace, write_trace
from workloads.loader import load_workload

DSTC = "configs/dstc.yaml"


def sparse(rng, shape, density):
    return (rng.random(shape) < density) * rng.standard_normal(shape)


def rule_cycles(a: np.ndarray, b: np.ndarray, lanes: int, banks: int, seg: int = 32,
                om: int = 8, on: int = 16) -> int:
    """The DSTC cycle rule written out from its description, on plain boolean masks: per 32x32
    warp tile and k-step, ceil(nnzA/8) * ceil(nnzB/16) OHMMAs against the accumulator's
    (max A rows in one lane) x (max B columns in one bank) scatter cycles, the larger counts."""
    total = 0
    for i in range(0, a.shape[0], seg):
        for j in range(0, b.shape[1], seg):
            for kk in range(a.shape[1]):
                rows = np.flatnonzero(a[i:i + seg, kk])
                cols = np.flatnonzero(b[kk, j:j + seg])
                if rows.size and cols.size:
                    issue = -(-rows.size // om) * -(-cols.size // on)
                    lane = np.bincount(rows % lanes).max()
                    bank = np.bincount(cols % banks).max()
                    total += max(issue, lane * bank)
    return int(total)


@pytest.mark.parametrize("m,k,n,da,db", [
    (37, 45, 70, 0.3, 0.5),     # odd sizes, no dimension divides the tile
    (64, 32, 64, 1.0, 1.0),     # fully dense tiles
    (50, 20, 40, 0.0, 0.7),     # all-zero A
    (33, 17, 31, 0.05, 0.05),   # mostly empty warp tiles
])
def test_spgemm_equals_numpy_and_replayed_cycles_equal_the_vectorized_rule(m, k, n, da, db):
    rng = np.random.default_rng(m * k + n)
    a, b = sparse(rng, (m, k), da), sparse(rng, (k, n), db)
    a[:32, :16] = 0                         # an all-zero warp tile
    for lanes, banks in ((16, 32), (8, 16)):
        c, cycles, skipped = bm.spgemm(a, b, lanes=lanes, banks=banks)
        np.testing.assert_allclose(c, a @ b, rtol=1e-12, atol=1e-12)
        sa, sb = bm.a_stats(a != 0, 32, lanes), bm.b_stats(b != 0, 32, banks)
        steps, extra, issued = bm.warp_steps(sa, sb, 8, 16, 16, 512)
        assert cycles == rule_cycles(a != 0, b != 0, lanes, banks)   # the rule, from scratch
        assert steps.sum() == cycles        # element-level replay == vectorized rule
        groups = -(-m // 32) * -(-n // 32) * -(-k // 16)
        assert issued.sum() + skipped == groups
        assert (extra >= 0).all() and extra.sum() <= steps.sum()


def test_dense_operands_issue_eight_ohmmas_per_k_step_and_popcounts_set_the_rest():
    a = bm.dense_a_stats(64, 32, 32, 16)
    b = bm.dense_b_stats(32, 64, 32, 32)
    steps, extra, issued = bm.warp_steps(a, b, 8, 16, 16, 512)
    assert (steps == 8 * 32).all() and extra.sum() == 0 and (issued == 2).all()
    # one k-step: nnzA = 9 -> 2 A groups, nnzB = 17 -> 2 B groups -> 4 OHMMAs
    am = np.zeros((32, 1), bool)
    am[:9] = True
    bmask = np.zeros((1, 32), bool)
    bmask[0, :17] = True
    s, _, _ = bm.warp_steps(bm.a_stats(am, 32, 16), bm.b_stats(bmask, 32, 32), 8, 16, 16, 16)
    assert s.sum() == 4
    # bank conflicts: 4 rows in one lane (rows 0, 8, 16, 24 with 8 lanes) x 1 column
    am[:] = False
    am[[0, 8, 16, 24]] = True
    s, e, _ = bm.warp_steps(bm.a_stats(am, 32, 8), bm.b_stats(bmask, 32, 32), 8, 16, 16, 16)
    assert s.sum() == 4 and e.sum() == 2     # issue 1 x 2 = 2, lane load 4 x 1 = 4


def test_sparse_conv_on_bitmaps_equals_onnxruntime():
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    rng = np.random.default_rng(3)
    x = np.maximum(rng.standard_normal((2, 5, 11, 37)), 0).astype(np.float32)  # ReLU zeros
    x[:, :, 2:6] = 0                                                           # zero rows
    w = sparse(rng, (7, 5, 3, 3), 0.4).astype(np.float32)
    attrs = {"kernel_shape": [3, 3], "strides": [2, 1], "pads": [1, 2, 1, 0],
             "dilations": [1, 2]}
    node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    graph = helper.make_graph([node], "c", [helper.make_tensor_value_info("x", 1, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [onnx.numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    ref = ort.InferenceSession(model.SerializeToString(),
                               providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    n, _, oh, ow = ref.shape
    words, offsets, values = bm.encode_ifmap(x.astype(np.float64))
    aw, ao, av = bm.im2col_bitmap(words, offsets, values, 3, 3, 2, 1, 1, 2, 1, 2, oh, ow, 32)
    bw, bo, bv = bm.encode_columns(np.ascontiguousarray(w.reshape(7, -1).astype(np.float64)), 32)
    c, cycles, _ = bm.spgemm_bitmap(aw, ao, av, np.ascontiguousarray(bw.T),
                                    np.ascontiguousarray(bo.T), bv, n * oh * ow, 7, 32, 16, 8,
                                    16, 16, 32)
    y = c.reshape(n, oh, ow, 7).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    # the bitmap im2col (mask, shift, popcount) gives the bitmap the timing model lowers
    from workloads.graph import Op

    op = Op("c", "Conv", ["x", "w"], ["y"], {**attrs, "group": 1})
    lowered = im2col_mask(x != 0, op, 0, 1)
    sa = bm.a_stats(lowered, 32, 16)
    assert (sa.nnz == np.vectorize(lambda v: bin(int(v)).count("1"))(aw)).all()


def test_magnitude_pruning_and_density_parsing():
    w = np.arange(-50, 50, dtype=np.float32).reshape(10, 10)
    p = magnitude_prune(w, 0.3)
    assert np.count_nonzero(p) == 30 and np.abs(p[p != 0]).min() >= np.abs(w).max() - 15
    items, seed = parse_density("a=0.3,b=0.4:rows,seed=7")
    assert items == {"a": (0.3, None), "b": (0.4, "rows")} and seed == 7
    for bad in ("a=1.5", "a", "a=0.3:zigzag", "seed=x"):
        with pytest.raises(Exception) as err:
            parse_density(bad)
        assert type(err.value).__name__ == "DensityError"


def small_config(**over):
    data = {"kind": "sparse_tc", "sms": 8, "block_tile": {"m": 64, "n": 64}, "k_chunk": 128,
            **over}
    return config_from_dict(data)


def test_dense_baseline_is_the_closed_form_and_sparsity_helps_both_sides():
    cfg = small_config(l2={"bandwidth": 1e6}, dram={"bandwidth": 1e6, "latency": 0})
    graph = load_workload("gemm:512,512,1024")
    _, dense = api.run(cfg, graph)
    # 64 tiles of 64x64 on 8 SMs: 8 per SM; 4 warps per tile on 4 sub-cores: 8 steps per k
    per_sm = 8 * 8 * 1024
    assert abs(dense.baselines["dense_tc"]["total_cycles"] - per_sm) < 0.02 * per_sm
    assert dense.baselines["sparse_2_4"]["total_cycles"] < 0.55 * per_sm
    assert 1.0 <= dense.total_cycles / dense.baselines["dense_tc"]["total_cycles"] <= 1.03
    cycles = {}
    for da, db in ((0.5, 1.0), (1.0, 0.4), (0.5, 0.4), (0.2, 0.2)):
        _, r = api.run(cfg, apply_density(graph, f"a={da},b={db}"))
        cycles[(da, db)] = r.total_cycles
        assert r.baselines["dense_tc"]["total_cycles"] == dense.baselines["dense_tc"][
            "total_cycles"]
    assert cycles[(0.5, 0.4)] < min(cycles[(0.5, 1.0)], cycles[(1.0, 0.4)]) < dense.total_cycles
    assert cycles[(0.2, 0.2)] < cycles[(0.5, 0.4)]
    # Against the rule's expectation on random bitmaps at each density (Monte Carlo of one
    # k-step, the test's own code; dense = 8 OHMMAs a step): the simulated ratio to the dense
    # core is never below it and above it only by the per-SpWMMA issue cost and the slowest
    # sub-core (at most 20 %); quantisation keeps 20 %/20 % at ~0.19, far from 1/25
    rng = np.random.default_rng(0)
    for (da, db), c in cycles.items():
        am, bmask = rng.random((20000, 32)) < da, rng.random((20000, 32)) < db
        issue = np.ceil(am.sum(1) / 8) * np.ceil(bmask.sum(1) / 16)
        lane = np.stack([am[:, r::16].sum(1) for r in range(16)], 1).max(1)
        bank = np.stack([bmask[:, q::32].sum(1) for q in range(32)], 1).max(1)
        expect = np.maximum(issue, lane * bank).mean() / 8
        ratio = c / dense.baselines["dense_tc"]["total_cycles"]
        assert expect * 0.99 <= ratio <= expect * 1.2, (da, db, ratio, expect)


def test_trace_round_trip_and_byte_identical_relowering(tmp_path):
    cfg = small_config()
    graph = apply_density(load_workload("conv:20,20,16,3,3,32,1,1"), "a=0.5,b=0.3")
    t1 = api.lower(cfg, graph)
    write_trace(t1, tmp_path / "t1.jsonl")
    write_trace(api.lower(cfg, graph), tmp_path / "t2.jsonl")
    assert (tmp_path / "t1.jsonl").read_bytes() == (tmp_path / "t2.jsonl").read_bytes()
    r1 = api.simulate(t1, cfg)
    r2 = api.simulate(read_trace(tmp_path / "t1.jsonl"))
    assert r1.total_cycles == r2.total_cycles
    assert r1.baselines == r2.baselines
    assert any(ins.dims.get("int_ops") for ins in t1.instructions)   # bitmap im2col work
    assert any(ins.unit == "encode" for ins in t1.instructions)      # run-time encoding


def test_cli_run_json_replay_validate_and_errors(tmp_path, capsys):
    from simulator.cli import main

    assert main(["run", DSTC, "gemm:256,512,384", "--density", "a=0.3,b=0.4",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["baselines"]) == {"dense_tc", "sparse_2_4"}
    assert out["total_cycles"] < out["baselines"]["dense_tc"]["total_cycles"]
    trace = tmp_path / "g.jsonl"
    assert main(["lower", DSTC, "gemm:256,512,384", "--density", "a=0.3,b=0.4",
                 "-o", str(trace)]) == 0
    capsys.readouterr()
    assert main(["replay", str(trace), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_cycles"] == out["total_cycles"]
    assert main(["validate", DSTC]) == 0
    assert "valid sparse_tc config" in capsys.readouterr().out
    assert main(["run", DSTC, "gemm:64,64,64", "--density", "a=2"]) == 2
    assert "--density a=2: density must be a number from 0 to 1" in capsys.readouterr().err
    assert main(["run", DSTC, "gemm:64,64,64", "--density", "nosuch=0.5"]) == 2
    assert "no tensor named 'nosuch'" in capsys.readouterr().err
    small = load_config(DSTC, {"sms": 4})
    with pytest.raises(Exception, match="4-SM config"):
        api.simulate(read_trace(trace), small)


def test_onnx_model_with_weights_is_pruned_and_uses_value_bitmaps():
    graph = load_workload("zoo:tiny_cnn")
    cfg = small_config()
    _, dense = api.run(cfg, graph)
    pruned = apply_density(graph, "b=0.2")
    conv = next(op for op in pruned.ops if op.type == "Conv")
    w = pruned.tensor(conv.inputs[1]).values
    assert abs(np.count_nonzero(w) / w.size - 0.2) < 0.01
    assert np.count_nonzero(graph.tensor(conv.inputs[1]).values) == w.size   # input untouched
    _, r = api.run(cfg, pruned)
    assert r.total_cycles < dense.total_cycles
    assert r.baselines["dense_tc"]["total_cycles"] == dense.baselines["dense_tc"]["total_cycles"]
