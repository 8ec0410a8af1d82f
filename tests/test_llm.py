"""LLM inference steps (workloads/llm): graphs, closed forms, every target, the npu's tensor
parallelism, the llm result facts and the table. No real weights here (tests/test_llm_real.py).
"""

from __future__ import annotations

import io
import json
import math

import pytest

from simulator import pipeline as api
from simulator.cli import main
from simulator.functional import FunctionalMismatch
from workloads.errors import WorkloadError
from workloads.llm.graph import build_graph, layer_group, route
from workloads.llm.metrics import step_facts
from workloads.llm.model import PRESETS, LlmSpec, ModelConfig
from workloads.llm.spec import parse_spec

# A small GQA model (3 query heads per KV head) and a small mixture of experts.
TINY = ModelConfig("tiny", 2, 64, 6, 2, 96, 128, rope_theta=10000.0)
TINY_MOE = ModelConfig("tiny-moe", 1, 64, 4, 2, 48, 96, experts=4, top_k=2)


def _kv_formula(m: ModelConfig, layers: int, tokens: int, batch: int, wb: int) -> int:
    return layers * 2 * m.kv_heads * m.hd * tokens * batch * wb


# ---------------------------------------------------------------- presets and the graph
def test_preset_parameter_counts_match_the_published_sizes():
    # Llama-2-7B: 6,738,415,616 parameters (Touvron et al. 2023, the HF checkpoint's count);
    # Mixtral-8x7B: 46.7B total (Mistral AI's announcement).
    assert PRESETS["llama2-7b"].params() == 6_738_415_616
    assert abs(PRESETS["mixtral-8x7b"].params() - 46.7e9) / 46.7e9 < 0.005
    assert abs(PRESETS["smollm2-135m"].params() - 134.5e6) / 134.5e6 < 0.01


@pytest.mark.parametrize("model, ctx, batch", [("llama3-8b", 8192, 1), ("mistral-7b", 1000, 3),
                                               ("llama2-7b", 512, 2)])
def test_kv_cache_bytes_exact_with_gqa(model, ctx, batch):
    m = PRESETS[model]
    graph = build_graph(parse_spec(f"llm:{model}?ctx={ctx}&batch={batch}&layers=3"))
    facts = step_facts(graph, 2)
    assert facts["kv_cache_bytes"] == 3 * 2 * m.kv_heads * 128 * ctx * batch * 2
    # the cache inputs hold exactly that: K [B, KV, hd, ctx] and V [B, KV, ctx, hd] per layer
    cache = [graph.tensor(n) for n in graph.inputs if n.startswith(("kcache", "vcache"))]
    assert sum(t.numel for t in cache) * 2 == facts["kv_cache_bytes"]
    if model == "llama3-8b":   # the often-quoted 1 GiB per 8k-token sequence at bf16 ...
        assert facts["kv_cache_bytes"] * 32 // 3 == 2 ** 30   # ... for all 32 layers


def test_kv_cache_reads_in_the_trace_are_exactly_the_cache_once():
    spec = LlmSpec(TINY, "decode", ctx=40, batch=2)
    config = api.load_config("configs/systolic-32-ws.yaml")
    trace, result = api.run(config, build_graph(spec))
    read = sum(ins.bytes.get("dram_read", 0) for ins in trace.instructions
               if ins.op == "LOAD" and (ins.tensor or "").startswith(("kcache", "vcache")))
    assert read == _kv_formula(TINY, 2, 40, 2, config.word_bytes)
    assert result.extras["llm"]["kv_cache_bytes"] == read


def test_prefill_kv_cache_is_the_prompt_and_is_written():
    spec = LlmSpec(TINY, "prefill", seq=24, batch=2)
    graph = build_graph(spec)
    config = api.load_config("configs/systolic-32-ws.yaml")
    trace, result = api.run(config, graph)
    written = {n for n in graph.outputs if ".k_cache" in n or n.endswith(".v_t")}
    assert len(written) == 2 * TINY.layers
    stored = sum(ins.bytes.get("dram_write", 0) for ins in trace.instructions
                 if ins.op == "STORE" and ins.tensor in written)
    assert stored == _kv_formula(TINY, 2, 24, 2, config.word_bytes)
    assert result.extras["llm"]["kv_cache_bytes"] == stored


def test_decode_at_batch_1_is_dram_bound_closed_form():
    """Weights + KV cache are what a decode step reads (within a few percent: activations), and
    it takes at most 20 % more than those bytes over the DRAM bandwidth."""
    m = ModelConfig("mid", 2, 1024, 16, 4, 2816, 4096)
    config = api.load_config("configs/llm-edge.yaml")
    _, r = api.run(config, build_graph(LlmSpec(m, "decode", ctx=256)))
    llm = r.extras["llm"]
    expected = llm["weight_bytes"] + llm["kv_cache_bytes"]
    # the weights read: 2 layers of projections and norms, lm_head, the one embedding row
    params = 2 * (1024 * 64 * (2 * 16 + 2 * 4) + 3 * 1024 * 2816 + 2 * 1024) + 4096 * 1024 \
        + 1024 + 1024
    assert llm["weight_bytes"] == params * 2
    assert expected <= r.bytes["dram_read"] <= 1.03 * expected
    floor = r.bytes["dram_read"] / config.dram.bandwidth
    assert floor <= r.total_cycles <= 1.2 * floor
    assert llm["tpot_ms"] == pytest.approx(r.total_cycles / (config.clock_ghz * 1e6))
    assert llm["tokens_per_s"] == pytest.approx(1e3 / llm["tpot_ms"])
    assert llm["arithmetic_intensity"] == pytest.approx(
        2 * r.macs / (r.bytes["dram_read"] + r.bytes["dram_write"]))


def test_long_prefill_is_within_2x_of_macs_over_the_array():
    m = ModelConfig("m", 1, 2048, 16, 4, 5632, 8192)
    config = api.load_config("configs/llm-edge.yaml", {"dram.bandwidth": 1024})
    _, r = api.run(config, build_graph(LlmSpec(m, "prefill", seq=2048)))
    ideal = r.macs / (config.array.rows * config.array.cols)
    # MACs: projections, MLP, Q.K^T and P.V over 2048 tokens, lm_head on the last one
    hd, S = m.hd, 2048
    macs = S * 2048 * hd * (2 * 16 + 2 * 4) + 3 * S * 2048 * 5632 + 2 * 16 * S * S * hd \
        + 8192 * 2048
    assert r.macs == macs
    assert ideal <= r.total_cycles <= 2 * ideal
    assert r.extras["llm"]["ttft_ms"] == pytest.approx(r.total_cycles / 1e6)
    assert r.extras["llm"]["tokens_per_s"] == pytest.approx(S / (r.total_cycles / 1e9))


# ---------------------------------------------------------------- every target, functional
TARGETS = [("configs/systolic-32-ws.yaml", {}), ("configs/dstc.yaml", {}),
           ("configs/mlu-4.yaml", {"default_cores": 4})]


@pytest.mark.parametrize("path, overrides", TARGETS, ids=["systolic", "sparse_tc", "npu"])
@pytest.mark.parametrize("spec", [LlmSpec(TINY, "decode", ctx=20, batch=2),
                                  LlmSpec(TINY, "prefill", seq=12, batch=2),
                                  LlmSpec(TINY_MOE, "prefill", seq=6, routing="seed:3")],
                         ids=["decode", "prefill", "moe"])
def test_functional_on_every_target(path, overrides, spec):
    config = api.load_config(path, overrides)
    graph = build_graph(spec)
    graph2, trace = api.compile(config, graph)
    report = api.functional(graph2, trace, seed=1)
    assert report.ok and len(report.outputs) == len(graph.outputs)


def test_moe_decode_reads_only_the_chosen_experts():
    spec = LlmSpec(TINY_MOE, "decode", ctx=8, routing="fixed:1,3")
    graph = build_graph(spec)
    assert {n for n in graph.tensors if ".ffn_up." in n} == \
        {"blk.0.ffn_up.1.weight", "blk.0.ffn_up.3.weight"}
    config = api.load_config("configs/systolic-32-ws.yaml")
    trace, r = api.run(config, graph)
    loaded = {ins.tensor for ins in trace.instructions if ins.op == "LOAD"}
    assert {t for t in loaded if t.startswith("blk.0.ffn_") and "inp" not in t \
            and "norm" not in t} == {
        f"blk.0.ffn_{w}.{e}.weight" for w in ("gate", "up", "down") for e in (1, 3)}
    assert r.extras["llm"]["experts_used"] == [1, 3]
    per_expert = 3 * 64 * 48 * config.word_bytes
    rest = 64 * 16 * (2 * 4 + 2 * 2) + 4 * 64 + 2 * 64 + 96 * 64 + 64 + 64  # attn, router...
    assert r.extras["llm"]["weight_bytes"] == 2 * per_expert + rest * config.word_bytes


def test_mixtral_decode_reads_its_active_parameters():
    """Mixtral-8x7B has 12.9B active parameters per token (Mistral AI); a batch-1 decode step
    reads them all but the untied token table, of which it reads one row."""
    graph = build_graph(parse_spec("llm:mixtral-8x7b?ctx=16"))
    read = step_facts(graph, 1)["weight_bytes"]
    active = read - 4096 + 32000 * 4096
    assert abs(active - 12.9e9) / 12.9e9 < 0.01
    assert len(graph.meta["llm"]["experts_used"]) == 2


def test_routing_is_seeded_and_fixed():
    s5 = parse_spec("llm:mixtral-8x7b?routing=seed:5")
    s6 = parse_spec("llm:mixtral-8x7b?routing=seed:6")
    assert route(s5, 16) == route(s5, 16) != route(s6, 16)
    assert all(len(set(r)) == 2 and all(0 <= e < 8 for e in r) for r in route(s5, 16))
    assert route(parse_spec("llm:mixtral-8x7b?routing=fixed:2,7"), 3) == [[2, 7]] * 3


# ---------------------------------------------------------------- npu tensor parallelism
def test_npu_tensor_parallel_split_and_reduce_scatter():
    config = api.load_config("configs/npu-llm.yaml")
    spec = LlmSpec(TINY, "decode", ctx=32)
    trace, r = api.run(config, build_graph(spec))
    c = config.cores
    layers = {lr.name: lr for lr in trace.layers}
    for name in ("attn.L0.o", "mlp.L1.down"):
        assert layers[name].dims["split_k"] == c
        recv = [i for i in trace.instructions if i.layer == name and i.op == "RECV"]
        n = layers[name].dims["n"]
        # each core receives the other c-1 partial sums of its n/c columns
        assert len(recv) == c
        assert sum(i.bytes["noc"] for i in recv) == (c - 1) * n * 1 * config.word_bytes
        gemm_k = sorted({(i.dims["k0"], i.dims["dk"]) for i in trace.instructions
                         if i.layer == name and i.op == "GEMM"})
        assert sum(dk for _, dk in gemm_k) == layers[name].dims["k"]   # K covered once
    for name in ("attn.L0.q", "mlp.L0.gate"):   # column-parallel: every core a block of N
        assert layers[name].dims["split_n"] == c and "split_k" not in layers[name].dims
    assert r.extras["npu"]["noc_bytes"] > 0


def test_npu_functional_fails_when_partial_sums_are_misplaced():
    config = api.load_config("configs/mlu-4.yaml", {"default_cores": 4})
    graph, trace = api.compile(config, build_graph(LlmSpec(TINY, "decode", ctx=8)))
    assert api.functional(graph, trace).ok
    first = next(i for i in trace.instructions if i.layer == "attn.L0.o" and i.op == "GEMM"
                 and i.dims["k0"] > 0)
    first.dims["k0"] = 0   # a core's K block accumulated at the wrong rows of B
    with pytest.raises(FunctionalMismatch):
        api.functional(graph, trace)


# ---------------------------------------------------------------- results and reports
def test_json_llm_keys_and_groups(capsys):
    assert main(["run", "configs/llm-edge.yaml", "llm:smollm2-135m?layers=1&ctx=64",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    llm = out["llm"]
    for key in ("phase", "batch", "ctx", "weight_bytes", "kv_cache_bytes", "tpot_ms",
                "tokens_per_s", "arithmetic_intensity"):
        assert key in llm
    assert "llm" not in out.get("notes", {})
    groups = llm["by_group"]
    assert sum(g["cycles"] for g in groups.values()) == out["total_cycles"]
    assert sum(g["macs"] for g in groups.values()) == out["macs"]
    assert groups["lm_head"]["macs"] == 576 * 49152
    for lr in out["layers"]:
        assert layer_group(lr["name"]) in groups
    assert llm["kv_cache_bytes"] == 1 * 2 * 3 * 64 * 64 * 2


def test_table_groups_rows_by_layer_type():
    from rich.console import Console

    from simulator.report.table import layer_table, totals_lines

    config = api.load_config("configs/llm-edge.yaml")
    _, r = api.run(config, "llm:smollm2-135m?layers=1&phase=prefill&seq=8")
    console = Console(file=io.StringIO(), width=200)
    console.print(layer_table(r))
    text = console.file.getvalue()
    lines = [ln for ln in text.splitlines() if "total" in ln and "ops" in ln]
    assert [ln.split("│")[1].strip() for ln in lines] == [
        "attention total", "mlp total", "lm_head total", "other total"]
    order = [layer_group(name) for name in (ln.split("│")[1].strip() for ln in
             text.splitlines() if ln.count("│") > 5) if name and "total" not in name
             and name != "layer"]
    assert order == sorted(order, key=["attention", "mlp", "lm_head", "other"].index)
    assert any("TTFT" in line for line in totals_lines(r))


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("spec, words", [
    ("llm:gpt5", "unknown model"), ("llm:llama2-7b?phase=train", "phase"),
    ("llm:llama2-7b?layers=40", "layers=40"), ("llm:llama2-7b?seq=0", "seq"),
    ("llm:llama2-7b?beam=2", "unknown option"), ("llm:mixtral-8x7b?routing=fixed:1", "routing"),
    ("llm:missing.gguf", "no such GGUF file")])
def test_bad_specs_are_located_errors(spec, words):
    with pytest.raises(WorkloadError, match=words):
        parse_spec(spec)


def test_cli_bad_workload_exits_2(capsys):
    assert main(["run", "configs/systolic-32-ws.yaml", "llm:llama2-7b?ctx=abc"]) == 2
    err = capsys.readouterr().err
    assert "ctx must be an integer" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_quantized_weights_shrink_weight_bytes():
    config = api.load_config("configs/llm-edge.yaml")
    graph = build_graph(LlmSpec(TINY, "decode", ctx=8))
    full = api.run(config, graph)[1].extras["llm"]["weight_bytes"]
    w4 = api.run(config, graph, passes=["squant:bits=4"])[1].extras["llm"]["weight_bytes"]
    linear = sum(math.prod(graph.tensor(n).shape) for n in graph.meta["llm"]["weights"]
                 if graph.tensor(n).shape and len(graph.tensor(n).shape) == 2)
    assert full - w4 == linear * 2 - linear // 2


def test_roofline_report_and_plot(tmp_path, capsys):
    from simulator.scenarios.llm_roofline import roofline

    config = api.load_config("configs/llm-edge.yaml")
    report = roofline(config, "smollm2-135m", seq=16, ctx=32)
    assert report["peak_flops"] == 2 * 128 * 128 * config.clock_ghz * 1e9
    assert report["bandwidth_bytes_per_s"] == config.dram.bandwidth * config.clock_ghz * 1e9
    _, decode = api.run(config, "llm:smollm2-135m?phase=decode&ctx=32&layers=1")
    points = {p["op"]: p for p in report["points"] if p["phase"] == "decode"}
    assert set(points) == {lr.name for lr in decode.layers if lr.macs}
    for lr in decode.layers:
        if lr.macs:
            moved = lr.bytes["dram_read"] + lr.bytes["dram_write"]
            assert points[lr.name]["intensity"] == pytest.approx(2 * lr.macs / moved)
    plot = tmp_path / "r.png"
    assert main(["llm", "roofline", "configs/llm-edge.yaml", "smollm2-135m", "--seq",
                 "16", "--ctx", "32", "--plot", str(plot), "--json"]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(capsys.readouterr().out)["points"]
