"""Sentence embeddings of real documents and their agreement with human similarity ratings.

The standard Lee-corpus evaluation (Lee, Pincombe and Welsh, CogSci 2005): embed each of the 50
documents, take the cosine similarity of every pair i < j (1,225 pairs) and report the Pearson and
Spearman correlation with the mean human ratings. An embedding is the mean of the model's last
hidden state over the document's tokens (sentence-transformers' mean pooling; the L2
normalisation it adds does not change a cosine).

Documents are tokenized with the real MiniLM WordPiece vocabulary (:mod:`workloads.wordpiece`)
and, for Block-Skim, padded to a whole number of blocks with ``[PAD]`` tokens that the attention
mask hides (at most ``block - 1`` of them, all in the last block, which always holds ``[SEP]``:
no block is padding only). The model runs in onnxruntime, single-threaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.passes.blockskim_maps import MaskedRunner
from workloads.wordpiece import PAD_ID, encode


@dataclass
class Document:
    """One tokenized document, padded to ``padded`` tokens (a multiple of the block)."""

    ids: np.ndarray          # [padded] int64
    length: int              # real tokens ([CLS] and [SEP] included)

    @property
    def padded(self) -> int:
        return len(self.ids)

    @property
    def real(self) -> np.ndarray:
        mask = np.zeros(self.padded, bool)
        mask[:self.length] = True
        return mask


def tokenize(texts: list[str], block: int = 1, max_tokens: int | None = None) -> list[Document]:
    """WordPiece ids of each text, truncated to ``max_tokens`` and padded to a multiple of
    ``block``."""
    docs = []
    for text in texts:
        ids = encode(text, max_tokens)
        padded = -(-len(ids) // block) * block
        docs.append(Document(np.concatenate([ids, np.full(padded - len(ids), PAD_ID, np.int64)]),
                             len(ids)))
    return docs


def model_inputs(doc: Document) -> dict[str, np.ndarray]:
    """input_ids, attention_mask (pads hidden) and token_type_ids for one document, batch 1."""
    mask = doc.real.astype(np.int64)[None]
    return {"input_ids": doc.ids[None], "attention_mask": mask,
            "token_type_ids": np.zeros_like(mask)}


class Encoder:
    """An ONNX sentence encoder with its attention maps, last hidden state and per-layer key
    masks exposed (:class:`simulator.passes.blockskim_maps.MaskedRunner`)."""

    def __init__(self, model: Any) -> None:
        self.runner = MaskedRunner(model, {}, hidden=True)
        self.layers = self.runner.layers

    def for_doc(self, doc: Document) -> MaskedRunner:
        return self.runner.with_feeds(model_inputs(doc))

    def run(self, doc: Document, alive: list[np.ndarray] | None = None
            ) -> tuple[list[np.ndarray], np.ndarray]:
        """Maps [H, L, L] per layer and the last hidden state [L, D]; ``alive[l]`` is the
        boolean token mask of the keys layer ``l`` may attend to (default: all)."""
        alive = alive or [np.ones(doc.padded, bool)] * self.layers
        probs, hidden = self.for_doc(doc).run(alive)
        return probs, hidden

    def embed(self, doc: Document) -> np.ndarray:
        """The full model's mean-pooled embedding."""
        return pool(self.run(doc)[1], doc.real)


def pool(hidden: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Mean of the hidden states at the ``tokens`` positions (float64)."""
    return hidden[tokens].astype(np.float64).mean(axis=0)


def pair_similarities(embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair i < j, in row order (as the human ratings are read)."""
    e = np.asarray(embeddings, np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    return (e @ e.T)[np.triu_indices(len(e), 1)]


def correlations(predicted: np.ndarray, human: np.ndarray) -> tuple[float, float]:
    """(Pearson, Spearman) of the pairs' cosine similarities against the human ratings."""
    from scipy.stats import pearsonr, spearmanr

    return float(pearsonr(predicted, human)[0]), float(spearmanr(predicted, human)[0])
