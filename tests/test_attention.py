"""Attention analysis: exposing Softmax outputs of ONNX models, per-head features on maps with
known answers, seeded k-means vs scikit-learn, Block-Skim on a real MiniLM, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulator.cli import main
from simulator.scenarios import attention as att
from workloads.errors import WorkloadError
from workloads.onnx_attention import attention_softmaxes, instrument
from workloads.onnx_zoo import onnx_zoo_model

ZOO = "zoo:bert_base?seq=64&layers=2&hidden=64&heads=4"


def minilm(name: str = "minilm-l3"):
    try:
        return att.resolve_model(name)[0]
    except WorkloadError as err:  # the optional wheel is not installed
        pytest.skip(str(err))


def test_instrument_exposes_every_attention_softmax():
    model = onnx_zoo_model(ZOO)
    inst = instrument(model, masks=True, hidden=True)
    assert len(inst.probs) == 2 == len(inst.masks)
    assert [o.name for o in inst.model.graph.output] == [*inst.probs, inst.hidden]
    maps = att.collect(model, random_seq=64)
    assert maps.probs.shape == (2, 4, 64, 64)
    np.testing.assert_allclose(maps.probs.sum(-1), 1, rtol=1e-5)
    # the zoo's own classifier Softmax in tiny_cnn is not an attention Softmax
    assert attention_softmaxes(onnx_zoo_model("tiny_cnn")) == []


@pytest.mark.parametrize("name, layers", [("minilm-l3", 3), ("minilm-l6-int8", 6)])
def test_real_minilm_maps(name, layers):
    maps = att.collect(minilm(name), random_seq=64, seed=1)
    assert maps.probs.shape == (layers, 12, 64, 64)
    np.testing.assert_allclose(maps.probs.sum(-1), 1, rtol=1e-4)
    assert maps.special[0] and maps.special[-1] and maps.special.sum() == 2


def synthetic_heads(length: int = 64) -> np.ndarray:
    eye = np.eye(length)
    prev = np.roll(eye, -1, axis=1)
    prev[0] = eye[0]                              # the first token attends to itself
    first = np.zeros((length, length))
    first[:, 0] = 1
    uniform = np.full((length, length), 1 / length)
    return np.stack([eye, prev, first, uniform])[None]   # [1 layer, 4 heads, L, L]


def test_features_closed_forms():
    length = 64
    special = np.zeros(length, bool)
    special[[0, -1]] = True
    f = att.head_features(synthetic_heads(length), special, block=16)
    col = {n: i for i, n in enumerate(att.FEATURES)}
    eye, prev, first, uniform = f
    assert eye[col["band"]] == 1 and eye[col["distance"]] == 0 and eye[col["entropy"]] == 0
    assert prev[col["prev"]] == pytest.approx((length - 1) / length)
    assert prev[col["distance"]] == pytest.approx((length - 1) / length / length)
    assert first[col["first"]] == 1 and first[col["special"]] == 1
    assert first[col["distance"]] == pytest.approx(np.arange(length).mean() / length)
    assert uniform[col["entropy"]] == pytest.approx(1)
    assert uniform[col["block"]] == pytest.approx(16 / length)
    # mean |i - j| under a uniform row, averaged over rows: (L^2 - 1) / (3L)
    assert uniform[col["distance"]] == pytest.approx((length ** 2 - 1) / (3 * length) / length)


def test_kmeans_finds_the_planted_clusters_and_matches_sklearn():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0], [5, 5, 0], [0, 5, 5], [5, 0, 5]], float)
    x = np.vstack([c + 0.3 * rng.standard_normal((20, 3)) for c in centers])
    labels, _ = att.kmeans(x, 4, seed=0)
    truth = np.repeat(np.arange(4), 20)
    assert np.array_equal(labels, truth)           # relabelled by first appearance
    again, _ = att.kmeans(x, 4, seed=0)
    assert np.array_equal(labels, again)
    sklearn = pytest.importorskip("sklearn.cluster")
    z = att.standardize(x)
    theirs = sklearn.KMeans(4, n_init=10, random_state=0).fit(z)
    ours_inertia = sum(((z[labels == c] - z[labels == c].mean(0)) ** 2).sum() for c in range(4))
    assert ours_inertia == pytest.approx(theirs.inertia_, rel=1e-9)


def test_pattern_names_from_centroids():
    f = att.head_features(synthetic_heads(), np.eye(64, dtype=bool)[0] | np.eye(64, dtype=bool)[-1])
    names = att.pattern_names(f, np.arange(4))
    assert names == ["diagonal", "previous", "vertical", "broad"]


def test_skim_on_real_minilm_keep_all_is_exact_and_skimming_drifts():
    maps = att.collect(minilm(), random_seq=128, seed=0)
    exact = att.skim_real(maps, threshold=0.0)
    assert exact.tokens == [128, 128, 128] and exact.max_abs < 1e-5
    rep = att.skim_real(maps, threshold=0.9)
    assert rep.tokens[0] == 128 and rep.tokens[-1] < 128
    assert all(b <= a for a, b in zip(rep.tokens, rep.tokens[1:], strict=False))
    assert 0 < rep.rel < 0.5 and rep.cosine > 0.9
    assert 0 in rep.run.kept_blocks[-1]            # the [CLS] block draws the most attention


def test_skim_with_cnn_predictor_weights(tmp_path):
    """With CNN predictor weights, the first skim decision is exactly the blocks whose P(keep),
    computed by onnxruntime running the predictor network on layer 0's diagonal blocks, reaches
    the threshold; a predictor biased to keep keeps everything and changes nothing, one biased
    to skim keeps only its best block."""
    import onnxruntime as ort
    from test_blockskim import cnn_as_onnx

    from simulator.passes.blockskim_scores import (
        CnnPredictor,
        diagonal_blocks,
        load_predictors,
        random_predictor,
    )

    pred = random_predictor(4, 32, seed=2)
    path = tmp_path / "pred.npz"
    np.savez(path, **{f"layer0.{k}": v for k, v in pred.params.items()},
             **{f"layer1.{k}": v for k, v in pred.params.items()})
    loaded = load_predictors(path)
    assert set(loaded) == {0, 1}
    maps = att.collect(onnx_zoo_model("zoo:bert_base?seq=128&layers=3&hidden=64&heads=4"),
                       random_seq=128)
    sess = ort.InferenceSession(cnn_as_onnx(pred, 4, 32).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"x": diagonal_blocks(maps.probs[0], 32)})[0]
    p_keep = np.exp(logits[:, 1]) / np.exp(logits).sum(1)
    threshold = float(np.median(p_keep))
    rep = att.skim_real(maps, threshold=threshold, predictors=loaded)
    want = np.flatnonzero(p_keep >= threshold)
    assert rep.run.kept_blocks[1].tolist() == want.tolist() and 0 < len(want) < 4
    assert set(rep.run.kept_blocks[2]) <= set(want.tolist())

    def biased(keep: bool) -> dict:
        params = dict(pred.params, **{"fc.weight": np.zeros_like(pred.params["fc.weight"]),
                                      "fc.bias": np.array([0, 10] if keep else [10, 0],
                                                          np.float32)})
        return {-1: CnnPredictor(params)}

    every = att.skim_real(maps, threshold=0.5, predictors=biased(True))
    assert every.tokens == [128] * 3 and every.max_abs < 1e-5
    none = att.skim_real(maps, threshold=0.5, predictors=biased(False))
    assert none.tokens == [128, 32, 32]


def test_attention_on_real_text_averages_the_documents(capsys):
    """``--text``: maps averaged over real documents of exactly --max-tokens WordPiece tokens
    equal the mean of the per-document maps collected from their ids."""
    pytest.importorskip("tokenizers")
    from pathlib import Path

    from workloads.wordpiece import encode, read_documents

    lee = Path(__file__).parent / "data" / "lee" / "lee_background.cor"
    model = minilm("minilm-l3")
    texts = read_documents(lee)[:6]
    maps = att.collect_text(model, texts, max_tokens=64, docs=2)
    chosen = [encode(t, 64) for t in texts if len(encode(t, 64)) == 64][:2]
    want = np.mean([att.collect(model, ids.tolist()).probs for ids in chosen], axis=0)
    assert maps.documents == 2 and maps.probs.shape == (3, 12, 64, 64)
    np.testing.assert_allclose(maps.probs, want, rtol=1e-5, atol=1e-7)
    assert main(["attention", "minilm-l3", "--text", str(lee), "--docs", "2", "--max-tokens",
                 "64", "--clusters", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["documents"] == 2 and out["tokens"] == 64 and sum(out["patterns"].values()) == 36


def test_attention_cli_json_and_plot(tmp_path, capsys):
    png = tmp_path / "grid.png"
    assert main(["attention", ZOO, "--random-seq", "64", "--clusters", "3", "--json",
                 "--plot", str(png), "--skim", "threshold=0.8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["layers"] == 2 and out["heads"] == 4 and len(out["heads_table"]) == 8
    assert sum(out["patterns"].values()) == 8
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["skim"]["pass"].startswith("blockskim:keep=1,")


@pytest.mark.parametrize("argv, message", [
    (["attention", "nope.onnx", "--random-seq", "8"], "no such model file"),
    (["attention", "minilm-l3", "--text-ids", "1,x"], "integers"),
    (["attention", ZOO, "--random-seq", "64", "--skim", "block=32"], "threshold=T"),
    (["attention", ZOO, "--random-seq", "64", "--clusters", "99"], "clusters"),
])
def test_attention_cli_errors(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
