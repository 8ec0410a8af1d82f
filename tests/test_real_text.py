"""Real text for the transformer studies: the MiniLM WordPiece tokenizer against BERT's known ids,
the Lee corpus readers, sentence embeddings against a plain onnxruntime run of the unmodified
model, and the correlation arithmetic against scipy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workloads.errors import WorkloadError

LEE = Path(__file__).parent / "data" / "lee"
pytest.importorskip("tokenizers")


def test_wordpiece_ids_are_berts():
    from workloads.wordpiece import encode

    # bert-base-uncased's ids (the vocabulary every MiniLM here uses)
    assert encode("Hello world").tolist() == [101, 7592, 2088, 102]
    assert encode("Tokenization!").tolist() == [101, 19204, 3989, 999, 102]
    ids = encode("the " * 50, max_tokens=10)
    assert len(ids) == 10 and ids[0] == 101 and ids[-1] == 102 and set(ids[1:-1]) == {1996}


def test_lee_corpus_readers(tmp_path):
    from workloads.wordpiece import read_documents, read_similarities

    assert len(read_documents(LEE / "lee.cor")) == 50          # latin-1 file
    assert len(read_documents(LEE / "lee_background.cor")) == 300
    human = read_similarities(LEE / "similarities0-1.txt", 50)
    assert human.shape == (1225,) and 0 <= human.min() and human.max() <= 1
    raw = [line.split() for line in (LEE / "similarities0-1.txt").read_text().splitlines()]
    assert human[0] == float(raw[0][1]) and human[-1] == float(raw[48][49])
    bad = tmp_path / "bad.txt"
    bad.write_text("1 0.5\n0.5\n")
    with pytest.raises(WorkloadError, match="matrix"):
        read_similarities(bad)
    with pytest.raises(WorkloadError, match="cannot read"):
        read_documents(tmp_path / "missing.cor")


def minilm(name: str):
    from simulator.scenarios.attention import resolve_model

    try:
        return resolve_model(name)[0]
    except WorkloadError as err:      # the optional wheel is not installed
        pytest.skip(str(err))


def test_embedding_equals_the_unmodified_model_and_ignores_padding():
    """The instrumented model's mean-pooled last hidden state equals mean pooling of the
    original model's ``last_hidden_state`` in plain onnxruntime; padding to a block (hidden by
    the attention mask) changes nothing."""
    import onnxruntime as ort

    from simulator.scenarios.sentence_eval import Encoder, model_inputs, tokenize
    from workloads.wordpiece import read_documents

    model = minilm("minilm-l6-int8")
    text = read_documents(LEE / "lee.cor")[:2]
    enc = Encoder(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for plain, padded in zip(tokenize(text), tokenize(text, block=32), strict=True):
        assert padded.padded % 32 == 0 and padded.padded > plain.padded
        hidden = sess.run(["last_hidden_state"], model_inputs(plain))[0][0]
        want = hidden.astype(np.float64).mean(0)
        np.testing.assert_allclose(enc.embed(plain), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(enc.embed(padded), want, rtol=1e-4, atol=1e-5)


def test_pair_similarities_and_correlations_match_scipy():
    from scipy.spatial.distance import pdist
    from scipy.stats import pearsonr, rankdata

    from simulator.scenarios.sentence_eval import correlations, pair_similarities

    rng = np.random.default_rng(0)
    e = rng.standard_normal((7, 5))
    sims = pair_similarities(e)
    np.testing.assert_allclose(sims, 1 - pdist(e, "cosine"), rtol=1e-12)
    human = rng.random(21)
    p, s = correlations(sims, human)
    assert p == pytest.approx(np.corrcoef(sims, human)[0, 1], rel=1e-12)
    assert s == pytest.approx(np.corrcoef(rankdata(sims), rankdata(human))[0, 1], rel=1e-12)
    assert p == pytest.approx(pearsonr(sims, human)[0])
