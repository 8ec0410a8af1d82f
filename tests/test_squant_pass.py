"""``--pass squant:bits=B``: packed weight bytes and the datapath's MAC rate, as closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import CONFIGS, systolic_config

from simulator import api
from simulator.cli import main
from simulator.passes import PassError, apply_passes
from simulator.passes.squant import squant
from simulator.trace import read_trace, write_trace
from workloads.graph import Graph, Tensor, add_conv
from workloads.loader import load_workload

BIG = {"ifmap_kb": 4096, "filter_kb": 4096, "ofmap_kb": 4096}


def array_busy(result) -> int:
    return next(u.busy for u in result.units if u.name == "array")


def closed_form(df: str, rows: int, cols: int, m: int, n: int, k: int, pack: int) -> int:
    """Array cycles when every operand fits: K on the rows (ws/is) folds R*pack at a time; K
    streamed (os) takes ceil(K/pack) cycles."""
    if df == "os":
        return math.ceil(m / rows) * math.ceil(n / cols) * (math.ceil(k / pack) + rows + cols - 2)
    sc, t = (n, m) if df == "ws" else (m, n)
    return math.ceil(k / (rows * pack)) * math.ceil(sc / cols) * (t + 2 * rows + cols - 2)


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("bits,extra,pack", [
    (8, {}, 1), (4, {}, 2), (3, {}, 2), (2, {}, 4),
    (4, {"precision_scalable": False}, 1),            # fixed-rate multipliers
    (4, {"datapath_bits": 16}, 4), (8, {"datapath_bits": 16}, 2),
    (8, {"word_bytes": 2}, 2),                         # 16-bit datapath by default
])
def test_weight_bytes_and_cycles_follow_bits_and_datapath(df, bits, extra, pack):
    m, n, k = 100, 72, 200
    cfg = systolic_config(16, 16, df, sram=BIG, **extra)
    spec = f"gemm:{m},{n},{k}"
    _, base = api.run(cfg, spec)
    trace, quant = api.run(cfg, spec, passes=[f"squant:bits={bits}"])
    word = cfg.word_bytes
    # unquantized weights have the word's width: a wider datapath packs those too
    assert array_busy(base) == closed_form(df, 16, 16, m, n, k, cfg.macs_per_pe(None))
    assert array_busy(quant) == closed_form(df, 16, 16, m, n, k, pack)
    # activations in and out keep the word; the weights are read once, packed
    assert quant.bytes["dram_read"] == m * k * word + k * n * bits // 8
    assert base.bytes["dram_read"] == (m * k + k * n) * word
    assert quant.bytes["dram_write"] == base.bytes["dram_write"] == m * n * word
    assert quant.macs == base.macs == m * n * k
    assert all(i.dims.get("pack", 1) == pack for i in trace.instructions if i.op == "GEMM")


def test_unquantized_models_are_unchanged_by_the_new_fields():
    for spec in ("conv:28,28,32,3,3,64,2,1", "gemm:100,72,200"):
        a = api.run(systolic_config(16, 16, "ws", datapath_bits=8, bandwidth=16), spec)[1]
        b = api.run(systolic_config(16, 16, "ws", bandwidth=16), spec)[1]
        assert a.total_cycles == b.total_cycles and a.bytes == b.bytes


@pytest.mark.parametrize("df", ["os", "ws"])
def test_cnn_with_implicit_im2col_gets_faster_and_smaller(df, tmp_path):
    cfg = systolic_config(32, 32, df, bandwidth=32, latency=50)
    spec = "conv:28,28,64,3,3,64,1,1"
    trace8, r8 = api.run(cfg, spec, passes=["im2col=implicit", "squant:bits=8"])
    trace4, r4 = api.run(cfg, spec, passes=["im2col=implicit", "squant:bits=4"])
    assert array_busy(r4) < array_busy(r8)
    weights8 = sum(i.bytes["dram_read"] for i in trace8.instructions
                   if i.op == "LOAD" and i.tensor.endswith(".W"))
    weights4 = sum(i.bytes["dram_read"] for i in trace4.instructions
                   if i.op == "LOAD" and i.tensor.endswith(".W"))
    assert weights8 == 64 * 64 * 9 and weights4 == weights8 // 2
    # a trace with packed GEMMs replays to the same cycles
    write_trace(trace4, tmp_path / "t.jsonl")
    assert api.simulate(read_trace(tmp_path / "t.jsonl"), cfg).total_cycles == r4.total_cycles


def test_pass_quantizes_values_and_sets_bits_only_on_weights():
    g = Graph("g")
    g.add_tensor(Tensor("x", (1, 4, 6, 6)))
    g.inputs = ["x"]
    y = add_conv(g, "conv", "x", 8, (3, 3))
    w = np.random.default_rng(1).normal(0.0, 0.1, size=(8, 4, 3, 3)).astype(np.float32)
    g.tensors["conv.W"].values = w
    out = apply_passes(g, ["squant:bits=3,mode=squant-k"])
    assert out.tensors["conv.W"].bits == 3 and out.tensors[y].bits is None
    assert out.tensors["x"].bits is None
    assert np.array_equal(out.tensors["conv.W"].values, squant(w, 3, "squant-k").w_hat)
    assert g.tensors["conv.W"].bits is None and g.tensors["conv.W"].values is w  # input intact


def test_attention_matmul_of_two_activations_is_not_a_weight():
    g = apply_passes(load_workload("bert-base-layer"), ["squant:bits=4"])
    produced = {t for op in g.ops for t in op.outputs}
    for op in g.ops:
        if op.type in ("MatMul", "Gemm") and op.inputs[1] in produced:
            assert g.tensors[op.inputs[1]].bits is None
    assert any(t.bits == 4 for t in g.tensors.values())


@pytest.mark.parametrize("spec,message", [
    ("squant:bits=9", "bits must be an integer from 2 to 8; got '9'"),
    ("squant:bits=x", "bits must be an integer from 2 to 8; got 'x'"),
    ("squant:mode=int", "unknown mode 'int'"),
    ("squant:width=4", "expected bits=N and/or mode=NAME"),
])
def test_bad_pass_settings(spec, message):
    with pytest.raises(PassError, match=message):
        apply_passes(load_workload("gemm:4,4,4"), [spec])


def test_cli_run_with_the_pass(capsys):
    assert main(["run", str(CONFIGS / "systolic-32-ws.yaml"), "gemm:64,64,256", "--json",
                 "--pass", "squant:bits=4"]) == 0
    quant = json.loads(capsys.readouterr().out)
    assert main(["run", str(CONFIGS / "systolic-32-ws.yaml"), "gemm:64,64,256", "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    assert quant["bytes"]["dram_read"] == base["bytes"]["dram_read"] - 64 * 256 // 2
    assert quant["total_cycles"] < base["total_cycles"]
    assert main(["run", str(CONFIGS / "systolic-32-ws.yaml"), "gemm:4,4,4",
                 "--pass", "squant:bits=1"]) == 2
    assert "bits must be an integer from 2 to 8" in capsys.readouterr().err
