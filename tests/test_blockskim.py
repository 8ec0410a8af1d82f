"""Block-Skim: the graph pass (shapes, MACs, keep-all identity, functional and trace round-trip),
its scores (diagonal blocks, attention mass, the CNN predictor vs onnxruntime), and the masked
emulation used on real models vs actually removing the tokens."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import CONFIGS, systolic_config
from onnx import TensorProto, helper, numpy_helper

from simulator import api
from simulator.cli import main
from simulator.passes import PassError, apply_passes
from simulator.passes.blockskim import (
    SkimOptions,
    blocks_per_layer,
    encoder_layers,
    layer_of_ops,
    rewrite,
)
from simulator.passes.blockskim_maps import MaskedRunner
from simulator.passes.blockskim_scores import (
    block_mass,
    cnn_keep_probability,
    cnn_logits,
    diagonal_blocks,
    random_predictor,
)
from simulator.trace import read_trace, write_trace
from workloads.loader import load_workload
from workloads.onnx_export import graph_to_onnx, random_values

SEQ, HIDDEN, HEADS, LAYERS = 128, 64, 2, 4
SMALL = f"zoo:bert_base?seq={SEQ}&layers={LAYERS}&hidden={HIDDEN}&heads={HEADS}"


@pytest.fixture(scope="module")
def bert():
    return load_workload(SMALL)


def layer_macs(length: int, d: int = HIDDEN, ff: int = 4 * HIDDEN) -> int:
    """Closed form of one encoder layer: projections and FFN per token, QK^T and PV."""
    return length * (4 * d * d + 2 * d * ff) + 2 * length * length * d


def test_keep_all_changes_nothing(bert):
    cfg = systolic_config()
    out = apply_passes(bert, ["blockskim:keep=1"])
    assert [(op.name, op.type, op.inputs, op.outputs) for op in out.ops] == \
        [(op.name, op.type, op.inputs, op.outputs) for op in bert.ops]
    assert {n: t.shape for n, t in out.tensors.items()} == \
        {n: t.shape for n, t in bert.tensors.items()}
    plain = api.simulate(api.lower(cfg, bert), cfg).total_cycles
    assert api.simulate(api.lower(cfg, out), cfg).total_cycles == plain
    assert out.meta["blockskim"]["flop_speedup"] == 1.0


def test_shapes_shrink_exactly_as_the_masks_say(bert):
    keep = [1, 0.75, 0.5, 0.25]
    out = apply_passes(bert, ["blockskim:keep=1,0.75,0.5,0.25,predictor=none"])
    tokens = [int(f * SEQ) for f in keep]
    meta = out.meta["blockskim"]
    assert meta["tokens"] == tokens
    layers = encoder_layers(out)
    layer_of = layer_of_ops(out, layers)
    for op in out.ops:
        n = tokens[layer_of[op.name]]
        shape = out.tensor(op.outputs[0]).shape
        if op.type == "Gemm":
            assert shape[0] == n, op.name
        elif op.name.endswith(".scores"):
            assert shape == (HEADS, n, n), op.name
        elif op.name.endswith(".context"):
            assert shape == (HEADS, n, HIDDEN // HEADS), op.name
    # the skim Gathers keep whole blocks, in order, relative to the previous layer's tokens
    gathers = [op for op in out.ops if op.attrs.get("blockskim")]
    assert [len(out.tensor(op.inputs[1]).values) for op in gathers] == tokens[1:]
    # MACs per layer equal the closed form at the reduced lengths
    assert meta["macs_after"] == [layer_macs(n) for n in tokens]
    assert meta["macs_before"] == [layer_macs(SEQ)] * LAYERS
    assert meta["flop_speedup"] == pytest.approx(LAYERS * layer_macs(SEQ) /
                                                 sum(layer_macs(n) for n in tokens))
    assert out.tensor(out.outputs[0]).shape == (tokens[-1], HIDDEN)


def test_predictor_ops_cost_what_the_paper_says(bert):
    out = apply_passes(bert, ["blockskim:keep=1,0.5"])
    meta = out.meta["blockskim"]
    b, h = 32, HEADS
    # from the first layer that drops on, layer l - 1's predictor runs before every layer l:
    # layers 0, 1, 2 at 128, 64, 64 tokens; per block 2 conv3x3 (H->H) and a 2-way linear
    kept = [SEQ, SEQ // 2, SEQ // 2]
    expect = sum((n // b) * (9 * h * h * b * b + 9 * h * h * (b // 2) ** 2 + 2 * h * (b // 4) ** 2)
                 for n in kept)
    assert meta["predictor_macs"] == expect
    convs = [op for op in out.ops if op.type == "Conv"]
    assert len(convs) == 2 * (LAYERS - 1)
    assert all(out.tensor(c.outputs[0]).shape[1:] in ((h, 32, 32), (h, 16, 16)) for c in convs)


def test_skimmed_trace_is_functionally_exact_and_round_trips(bert, tmp_path):
    from simulator.functional import check_functional

    cfg = systolic_config()
    g = apply_passes(bert, ["blockskim:keep=1,0.75,0.5,0.5,predictor=mass"])
    trace = api.lower(cfg, g)
    report = check_functional(g, trace, seed=0)
    assert report.outputs[0].shape == (64, HIDDEN)
    path = tmp_path / "skim.jsonl"
    write_trace(trace, path)
    assert api.replay(path).total_cycles == api.simulate(trace, cfg).total_cycles
    assert read_trace(path).instructions == trace.instructions


def test_removal_equals_masking_at_kept_positions(bert):
    """The pass's Gather-and-shrink graph (run in onnxruntime) and the key-mask emulation on
    the unskimmed model give the same last hidden state at the kept positions."""
    layers = encoder_layers(bert)
    plan = [np.arange(4), np.array([0, 2, 3]), np.array([0, 3]), np.array([3])]
    skimmed, _ = rewrite(bert, layers, plan, SkimOptions(keep=[1], predictor="none"))
    values = random_values(bert, 0)
    import onnxruntime as ort

    sess = ort.InferenceSession(graph_to_onnx(skimmed, random_values(skimmed, 0))
                                .SerializeToString(), providers=["CPUExecutionProvider"])
    removed = sess.run(None, {"embeddings": values["embeddings"]})[0]
    runner = MaskedRunner(graph_to_onnx(bert, values), {"embeddings": values["embeddings"]})
    masks = [np.repeat(np.isin(np.arange(4), p), 32) for p in plan]
    _, hidden = runner.run(masks)
    assert removed.shape == (32, HIDDEN)
    np.testing.assert_allclose(removed, hidden[96:128], rtol=1e-4, atol=1e-4)
    full = runner.run([np.ones(SEQ, bool)] * LAYERS)[1]
    assert np.abs(full[96:128] - removed).max() > 1e-3       # skimming did change something


def test_blocks_round_to_whole_blocks_and_never_grow():
    assert blocks_per_layer([1, 0.9, 0.8, 0.7, 0.3], 6, 384, 32) == [12, 11, 10, 8, 4, 4]
    assert blocks_per_layer([0.01], 2, 128, 32) == [1, 1]


@pytest.mark.parametrize("spec, message", [
    ("blockskim:keep=1,0.5,0.8", "non-increasing"),
    ("blockskim:keep=1,1.5", "(0, 1]"),
    ("blockskim:keep=1,threshold=0.3", "either"),
    ("blockskim:keep=1,block=30", "multiple of 4"),
    ("blockskim:keep=1,predictor=rnn", "predictor"),
    ("blockskim:keep=1,bogus=1", "unknown option"),
    ("blockskim:keep=1,block=48", "not a multiple of block"),
])
def test_bad_options_are_user_errors(bert, spec, message):
    with pytest.raises(PassError, match=message.replace("(", r"\(").replace("]", r"\]")):
        apply_passes(bert, [spec])


def test_graph_without_attention_is_rejected():
    with pytest.raises(PassError, match="no attention layers"):
        apply_passes(load_workload("gemm:64,64,64"), ["blockskim:keep=1,0.5"])


def test_threshold_mode_derives_the_schedule_from_attention(bert):
    keep_all = apply_passes(bert, ["blockskim:threshold=0"])
    assert keep_all.meta["blockskim"]["tokens"] == [SEQ] * LAYERS
    skim = apply_passes(bert, ["blockskim:threshold=1.0,predictor=none"])
    tokens = skim.meta["blockskim"]["tokens"]
    assert tokens[0] == SEQ and all(b <= a for a, b in zip(tokens, tokens[1:], strict=False))
    assert tokens[-1] < SEQ                       # a block below its uniform share is dropped


# -- scores -------------------------------------------------------------------------------------

def test_diagonal_blocks_and_mass_closed_forms():
    rng = np.random.default_rng(0)
    p = rng.random((3, 64, 64)).astype(np.float32)
    d = diagonal_blocks(p, 16)
    assert d.shape == (4, 3, 16, 16)
    for k in range(4):
        np.testing.assert_array_equal(d[k], p[:, 16 * k:16 * k + 16, 16 * k:16 * k + 16])
    uniform = np.full((2, 64, 64), 1 / 64)
    np.testing.assert_allclose(block_mass(uniform, 16), [1, 1, 1, 1])
    to_first = np.zeros((2, 64, 64))
    to_first[:, :, 0] = 1
    np.testing.assert_allclose(block_mass(to_first, 16), [4, 0, 0, 0])
    alive = np.repeat([True, False, True, True], 16)
    masked = uniform * alive / alive.mean()       # keys masked: mass spread over live blocks
    np.testing.assert_allclose(block_mass(masked, 16, alive), [1, 0, 1, 1])


def cnn_as_onnx(pred, heads: int, block: int):
    """The predictor as an ONNX graph (Conv, BatchNormalization, Relu, AveragePool, Gemm)."""
    p = pred.params
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in p.items()]
    nodes, x = [], "x"
    for i in (1, 2):
        nodes += [
            helper.make_node("Conv", [x, f"conv{i}.weight", f"conv{i}.bias"], [f"c{i}"],
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", [f"c{i}", f"bn{i}.weight", f"bn{i}.bias",
                                                    f"bn{i}.running_mean", f"bn{i}.running_var"],
                             [f"b{i}"], epsilon=pred.eps),
            helper.make_node("Relu", [f"b{i}"], [f"r{i}"]),
            helper.make_node("AveragePool", [f"r{i}"], [f"p{i}"], kernel_shape=[2, 2],
                             strides=[2, 2])]
        x = f"p{i}"
    nodes += [helper.make_node("Flatten", [x], ["f"], axis=1),
              helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "predictor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, heads, block, block])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


def test_cnn_predictor_matches_onnxruntime():
    import onnxruntime as ort

    heads, block = 12, 32
    pred = random_predictor(heads, block, seed=3)
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(128), size=(heads, 128)).astype(np.float32)
    images = diagonal_blocks(probs, block)
    sess = ort.InferenceSession(cnn_as_onnx(pred, heads, block).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": images})[0]
    np.testing.assert_allclose(cnn_logits(images, pred), want, rtol=1e-4, atol=1e-5)
    p_keep = cnn_keep_probability(probs, block, pred)
    z = np.exp(want - want.max(1, keepdims=True))
    np.testing.assert_allclose(p_keep, z[:, 1] / z.sum(1), rtol=1e-4)


def test_predictor_weights_are_checked():
    from simulator.passes.blockskim_scores import PredictorError

    pred = random_predictor(4, 32)
    with pytest.raises(PredictorError, match="conv1.weight"):
        cnn_keep_probability(np.zeros((12, 64, 64), np.float32), 32, pred)


# -- command line -------------------------------------------------------------------------------

def test_run_cli_with_the_pass_and_the_blockskim_report(capsys):
    cfg = str(CONFIGS / "systolic-32-ws.yaml")
    assert main(["run", cfg, SMALL, "--pass", "blockskim:keep=1,1,0.5,0.25", "--json"]) == 0
    skim = json.loads(capsys.readouterr().out)
    assert main(["run", cfg, SMALL, "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    assert skim["total_cycles"] < base["total_cycles"]
    assert main(["blockskim", cfg, SMALL, "--keep", "1,1,0.5,0.25", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [r["tokens"] for r in rep["layers"]] == [128, 128, 64, 32]
    assert rep["cycles_base"] == base["total_cycles"]
    assert rep["cycles_skim"] == skim["total_cycles"]
    assert 1 < rep["cycle_speedup"] and 1 < rep["flop_speedup"]


def test_cli_bad_keep_exits_2(capsys):
    cfg = str(CONFIGS / "systolic-32-ws.yaml")
    assert main(["run", cfg, SMALL, "--pass", "blockskim:keep=1,0.5,0.9"]) == 2
    err = capsys.readouterr().err
    assert "non-increasing" in err and "Traceback" not in err


def test_the_pass_on_a_real_exported_minilm():
    """Layers are found structurally in a real torch export (MiniLM-L3 from PyPI), the
    attention mask and the mean-pooling mask are gathered along, and the result simulates."""
    from simulator.scenarios.attention import resolve_model
    from workloads.errors import WorkloadError
    from workloads.onnx_frontend import load_onnx

    try:
        model, _ = resolve_model("minilm-l3")
    except WorkloadError as err:  # the optional wheel is not installed
        pytest.skip(str(err))
    g = load_onnx(model, {"input_ids": (1, 64), "attention_mask": (1, 64)}, name="minilm")
    assert len(encoder_layers(g)) == 3
    cfg = systolic_config()
    out = apply_passes(g, ["blockskim:keep=1,0.5,predictor=none"])
    meta = out.meta["blockskim"]
    assert meta["tokens"] == [64, 32, 32] and meta["flop_speedup"] > 1.4
    masks = [op for op in out.ops if ".skim_in" in op.name]
    assert len(masks) == 3                 # the mask of layers 1 and 2, and of the pooling
    assert all(out.tensor(op.outputs[0]).shape[-2 if op.name.endswith("Mul_1.skim_in1") else -1]
               == 32 for op in masks)
    onnx.checker.check_model(graph_to_onnx(out, random_values(out, 0)))
    assert api.simulate(api.lower(cfg, out), cfg).total_cycles < \
        api.simulate(api.lower(cfg, g), cfg).total_cycles


# -- the trained predictor ----------------------------------------------------------------------

def test_training_gradients_equal_finite_differences():
    """The numpy backward pass (conv, train-mode BatchNorm, ReLU, avgpool, linear, weighted
    cross-entropy) against central differences of the loss, in float64."""
    import copy

    from simulator.passes.blockskim_train import TRAINABLE, init_params, loss_and_grads

    rng = np.random.default_rng(0)
    x = rng.random((6, 3, 8, 8))
    labels = np.array([0, 1, 1, 0, 1, 1])
    weights = np.array([1.5, 0.75])
    p = {k: v.astype(np.float64) for k, v in init_params(3, 8, rng).items()}
    _, grads = loss_and_grads(x, labels, weights, copy.deepcopy(p))
    for key in TRAINABLE:
        for flat in (0, p[key].size // 2, p[key].size - 1):
            idx = np.unravel_index(flat, p[key].shape)
            up, down = copy.deepcopy(p), copy.deepcopy(p)
            up[key][idx] += 1e-6
            down[key][idx] -= 1e-6
            numeric = (loss_and_grads(x, labels, weights, up)[0]
                       - loss_and_grads(x, labels, weights, down)[0]) / 2e-6
            assert grads[key][idx] == pytest.approx(numeric, rel=1e-5, abs=1e-9), (key, idx)


def test_training_learns_a_separable_rule_deterministically():
    """Blocks whose attention sits on the diagonal vs spread out: the trained predictor
    separates them, identically for a seed, and its eval-mode forward is cnn_logits'."""
    from simulator.passes.blockskim_train import forward, train_predictor

    rng = np.random.default_rng(1)
    n, heads, b = 64, 2, 8
    images = rng.random((n, heads, b, b)).astype(np.float32) * 0.1
    labels = rng.integers(0, 2, n)
    images[labels == 1] += np.eye(b, dtype=np.float32)
    pred, report = train_predictor(images, labels, epochs=15, seed=3, batch=16)
    again, _ = train_predictor(images, labels, epochs=15, seed=3, batch=16)
    assert all(np.array_equal(pred.params[k], again.params[k]) for k in pred.params)
    assert report.train_accuracy == 1.0
    np.testing.assert_allclose(forward(images, pred.params)[0], cnn_logits(images, pred),
                               rtol=1e-4, atol=1e-4)


def test_pass_inserts_the_trained_weights(tmp_path, bert):
    """``weights=FILE``: the predictor ops carry the file's parameters (BatchNorm's running
    statistics included); ``predict_from=1`` runs them even where nothing is dropped."""
    from simulator.passes.blockskim_train import init_params

    rng = np.random.default_rng(0)
    params = [init_params(HEADS, 32, rng) for _ in range(LAYERS)]
    for p in params:
        p["bn1.running_mean"] = rng.random(HEADS).astype(np.float32)
    path = tmp_path / "w.npz"
    np.savez(path, **{f"layer{i}.{k}": v for i, p in enumerate(params) for k, v in p.items()})
    out = apply_passes(bert, [f"blockskim:keep=1,1,1,0.5,weights={path},predict_from=1"])
    for layer in range(LAYERS - 1):
        base = f"blockskim.predict{layer}"
        np.testing.assert_array_equal(out.tensor(f"{base}.conv1.weight").values,
                                      params[layer]["conv1.weight"])
        np.testing.assert_array_equal(out.tensor(f"{base}.bn1.mean").values,
                                      params[layer]["bn1.running_mean"])
        np.testing.assert_array_equal(out.tensor(f"{base}.fc.bias").values,
                                      params[layer]["fc.bias"])
    assert len([op for op in out.ops if op.type == "Conv"]) == 2 * (LAYERS - 1)
    with pytest.raises(PassError, match="lack conv1.bias"):
        np.savez(tmp_path / "bad.npz", **{"layer0.conv1.weight": np.zeros((1, 1, 3, 3))})
        apply_passes(bert, [f"blockskim:keep=1,0.5,weights={tmp_path / 'bad.npz'}"])


def test_blockskim_study_cli_on_real_text(tmp_path, capsys):
    """The study end to end on a few real documents (MiniLM-L3, 2 training documents, 1 epoch):
    the JSON contract, the unskimmed correlations equal scipy's on the model's own embeddings,
    the FLOP ratio is the MAC sums', and the base cycles are the unskimmed graphs simulated."""
    pytest.importorskip("tokenizers")
    from pathlib import Path

    from scipy.stats import spearmanr

    from simulator.scenarios.attention import resolve_model
    from simulator.scenarios.sentence_eval import Encoder, pair_similarities, tokenize
    from workloads.errors import WorkloadError
    from workloads.onnx_packaged import packaged_model_path
    from workloads.wordpiece import read_documents

    try:
        model, _ = resolve_model("minilm-l3")
    except WorkloadError as err:
        pytest.skip(str(err))
    lee = Path(__file__).parent / "data" / "lee"
    docs = read_documents(lee / "lee.cor")[:4]
    (tmp_path / "eval.cor").write_text("\n".join(docs) + "\n")
    rows = [line.split() for line in (lee / "similarities0-1.txt").read_text().splitlines()]
    (tmp_path / "sim.txt").write_text("\n".join("\t".join(r[:4]) for r in rows[:4]) + "\n")
    cfg = str(CONFIGS / "systolic-128-os.yaml")
    assert main(["blockskim-study", "minilm-l3", "--train", str(lee / "lee_background.cor"),
                 "--train-docs", "2", "--epochs", "1", "--max-train-tokens", "64",
                 "--eval-docs", str(tmp_path / "eval.cor"), "--eval-sim",
                 str(tmp_path / "sim.txt"), "--config", cfg, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("spearman_full", "spearman_skim", "pearson_full", "pearson_skim",
                "flop_speedup", "cycle_speedup", "predictor"):
        assert key in out
    assert out["predictor"]["trained"] is True
    assert out["predictor"]["train_docs"] == 2 and out["predictor"]["epochs"] == 1
    human = np.array([float(rows[i][j]) for i in range(4) for j in range(i + 1, 4)])
    enc = Encoder(model)
    padded = tokenize(docs, 32)
    full = np.array([enc.embed(d) for d in padded])
    assert out["spearman_full"] == pytest.approx(spearmanr(pair_similarities(full), human)[0])
    assert out["flop_speedup"] == pytest.approx(out["macs_full"] / out["macs_skim"])
    cfg_obj = api.load_config(cfg)
    base = 0
    for d in padded:
        shape = (1, d.padded)
        g = api.load(str(packaged_model_path("minilm-l3")),
                     {"input_ids": shape, "attention_mask": shape})
        base += api.simulate(api.lower(cfg_obj, g), cfg_obj).total_cycles
    (cycles,) = out["cycles"].values()
    assert cycles["base"] == base
    assert out["cycle_speedup"] == {name: c["base"] / c["skim"]
                                    for name, c in out["cycles"].items()}
    assert [len(k) for k in out["kept_blocks"]] == [3, 3, 3, 3]
    # the shipped predictor is MiniLM-L6's: another model needs --train or --weights
    assert main(["blockskim-study", "minilm-l3", "--eval-docs", str(tmp_path / "eval.cor"),
                 "--eval-sim", str(tmp_path / "sim.txt")]) == 2
    assert "trained for minilm-l6-int8" in capsys.readouterr().err


def test_packaged_predictor_decides_what_onnxruntime_computes():
    """The shipped weights (trained on the Lee background corpus for MiniLM-L6): one predictor
    per deciding layer, of the model's shapes; on a real evaluation document the study's first
    skim decision is exactly the blocks onnxruntime's run of the predictor network keeps."""
    pytest.importorskip("tokenizers")
    import onnxruntime as ort

    from simulator.passes.blockskim_scores import (
        PACKAGED_PREDICTOR,
        predictor_meta,
        predictor_weights,
    )
    from simulator.scenarios.attention import resolve_model
    from simulator.scenarios.blockskim_study import skim_documents
    from simulator.scenarios.sentence_eval import Encoder, tokenize
    from workloads.errors import WorkloadError
    from workloads.wordpiece import read_documents

    preds = predictor_weights("packaged")
    assert sorted(preds) == [0, 1, 2, 3, 4]
    for p in preds.values():
        p.check(12, 32)
    meta = predictor_meta(PACKAGED_PREDICTOR)
    assert meta["model"] == "minilm-l6-int8" and meta["train_docs"] == 300
    try:
        model, _ = resolve_model("minilm-l6-int8")
    except WorkloadError as err:
        pytest.skip(str(err))
    from pathlib import Path

    doc = tokenize(read_documents(Path(__file__).parent / "data" / "lee" / "lee.cor")[:1], 32)
    enc = Encoder(model)
    _, _, (kept,) = skim_documents(enc, doc, preds, 32, 0.5)
    probs, _ = enc.run(doc[0])
    sess = ort.InferenceSession(cnn_as_onnx(preds[0], 12, 32).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"x": diagonal_blocks(probs[0], 32)})[0]
    p_keep = np.exp(logits[:, 1]) / np.exp(logits).sum(1)
    want = np.flatnonzero(p_keep >= 0.5)
    if want.size == 0:
        want = np.array([int(np.argmax(p_keep))])
    assert kept.kept_blocks[1] == want.tolist()
    assert kept.kept_blocks[0] == list(range(doc[0].padded // 32))


def test_removal_equals_masking_on_the_real_int8_minilm():
    """MiniLM-L6 int8 (an export with an expanded [1, 1, L, L] attention mask, gathered on both
    axes): the pass's shrunk graph run in onnxruntime equals the key-mask emulation of the
    unmodified model at the kept positions."""
    import onnxruntime as ort

    from simulator.scenarios.attention import resolve_model
    from workloads.errors import WorkloadError
    from workloads.onnx_packaged import packaged_model_path

    try:
        model, _ = resolve_model("minilm-l6-int8")
    except WorkloadError as err:
        pytest.skip(str(err))
    shape = (1, 64)
    g = api.load(str(packaged_model_path("minilm-l6-int8")),
                 {"input_ids": shape, "attention_mask": shape, "token_type_ids": shape})
    layers = encoder_layers(g)
    assert len(layers) == 6
    plan = [np.arange(2)] * 2 + [np.array([1])] * 4
    skimmed, _ = rewrite(g, layers, plan, SkimOptions(keep=[1], predictor="none"))
    ids = np.random.default_rng(0).integers(1000, 20000, 64)
    ids[0], ids[-1] = 101, 102
    feeds = {"input_ids": ids[None], "attention_mask": np.ones((1, 64), np.int64),
             "token_type_ids": np.zeros((1, 64), np.int64)}
    sess = ort.InferenceSession(graph_to_onnx(skimmed, random_values(skimmed, 0))
                                .SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    removed = sess.run(None, {k: v for k, v in feeds.items() if k in names})[0]
    runner = MaskedRunner(model, feeds)
    _, hidden = runner.run([np.repeat(np.isin(np.arange(2), p), 32) for p in plan])
    np.testing.assert_allclose(removed.reshape(32, -1), hidden[32:], rtol=1e-3, atol=1e-3)
