"""Attention-pattern analysis and Block-Skim on a real transformer, in onnxruntime.

- :func:`collect` exposes every attention Softmax of an ONNX model and returns the maps
  [layers, heads, L, L] for one sequence.
- :func:`head_features` describes each head by where its attention goes (after "How Far Does
  BERT Look At", Guan et al., COLING 2020): mass on the diagonal band, on the first token, on the
  special tokens, on the previous and next token, within the own 32-token block, normalized
  entropy, and the mean and spread of the attended distance.
- :func:`kmeans` clusters heads on standardized features (seeded k-means++, Lloyd), and
  :func:`pattern_names` names each cluster from its centroid.
- :func:`skim_real` runs Block-Skim on the model and compares the kept positions' output with
  the full model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator.errors import ArchsimError
from simulator.passes.blockskim_maps import MaskedRunner, SkimRun, mass_score, progressive_skim
from simulator.passes.blockskim_scores import CnnPredictor, cnn_keep_probability
from workloads.onnx_attention import CLS_ID, SEP_ID, feeds, random_ids, vocab_size
from workloads.onnx_packaged import PACKAGED, packaged_model_path

FEATURES = ("band", "first", "special", "prev", "next", "block", "entropy", "distance",
            "distance_std")

class AttentionError(ArchsimError):
    """A model, token list or option the attention analysis cannot use."""


@dataclass
class AttentionMaps:
    probs: np.ndarray              # [layers, heads, L, L]
    ids: np.ndarray | None         # token ids (None for float-input models)
    special: np.ndarray            # boolean [L]: [CLS]/[SEP] (or first/last) positions
    model: Any = field(repr=False, default=None)
    feeds: dict = field(repr=False, default_factory=dict)
    documents: int = 0             # real documents the maps average (0: one given sequence)

    @property
    def shape(self) -> tuple[int, int, int]:
        layers, heads, length, _ = self.probs.shape
        return layers, heads, length


def resolve_model(spec: str) -> tuple[Any, str]:
    """An ``onnx.ModelProto`` and a display name from a file, ``zoo:NAME?...`` or a packaged
    MiniLM short name (``minilm-l3``, ``minilm-l6-int8``, installed from PyPI)."""
    import onnx

    if spec in PACKAGED:
        return onnx.load(str(packaged_model_path(spec))), spec
    kind, _, _ = spec.partition(":")
    if kind == "zoo":
        from workloads.onnx_zoo import onnx_zoo_model

        return onnx_zoo_model(spec), spec
    path = Path(spec)
    if not path.is_file():
        raise AttentionError("no such model file; give FILE.onnx, zoo:NAME[?k=v] or one of "
                             f"{', '.join(PACKAGED)}", where=spec)
    try:
        return onnx.load(str(path)), path.stem
    except Exception as err:  # noqa: BLE001  (onnx raises several types for a bad file)
        raise AttentionError(f"cannot read ONNX model: {err}", where=spec) from None


def model_feeds(model: Any, text_ids: list[int] | None, random_seq: int | None,
                seed: int) -> tuple[dict, np.ndarray | None, int]:
    """Inputs for one sequence: given ids, seeded random ids, or (float-input models such as
    the zoo BERT) seeded embeddings of the model's own length."""
    has_ids = any(i.type.tensor_type.elem_type in (6, 7) for i in model.graph.input)
    if has_ids:
        if text_ids:
            ids = np.asarray(text_ids, np.int64)
        elif random_seq:
            ids = random_ids(random_seq, vocab_size(model), seed)
        else:
            raise AttentionError("this model takes token ids: give --text-ids or --random-seq")
        return feeds(model, ids, len(ids), seed), ids, len(ids)
    if text_ids:
        raise AttentionError("this model takes embeddings, not token ids; use --random-seq")
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    length = random_seq or (dims[-2] if len(dims) >= 2 and dims[-2] else 128)
    return feeds(model, None, length, seed), None, length


def collect(model: Any, text_ids: list[int] | None = None, random_seq: int | None = None,
            seed: int = 0) -> AttentionMaps:
    """Run the model once with every attention Softmax exposed."""
    f, ids, length = model_feeds(model, text_ids, random_seq, seed)
    runner = MaskedRunner(model, f, hidden=False)
    probs, _ = runner.run([np.ones(length, bool)] * runner.layers)
    shapes = {p.shape for p in probs}
    if len(shapes) != 1:
        raise AttentionError(f"attention maps differ in shape across layers: {sorted(shapes)}")
    if ids is not None:
        special = np.isin(ids, [CLS_ID, SEP_ID])
    else:
        special = np.zeros(length, bool)
        special[[0, -1]] = True
    return AttentionMaps(np.stack(probs), ids, special, model, f)


def collect_text(model: Any, texts: list[str], max_tokens: int = 128,
                 docs: int = 8) -> AttentionMaps:
    """Maps averaged over the first ``docs`` documents of real text that have at least
    ``max_tokens`` WordPiece tokens, each truncated to exactly ``max_tokens`` (``[CLS]`` first,
    ``[SEP]`` last), so every map is over real tokens and no padding. ``feeds`` are the first
    document's (what ``--skim`` runs on)."""
    from workloads.wordpiece import encode

    if docs < 1 or max_tokens < 4:
        raise AttentionError(f"need --docs >= 1 and --max-tokens >= 4; got {docs}, {max_tokens}")
    has_ids = any(i.type.tensor_type.elem_type in (6, 7) for i in model.graph.input)
    if not has_ids:
        raise AttentionError("this model takes embeddings, not token ids; use --random-seq")
    chosen = []
    for text in texts:
        ids = encode(text, max_tokens)
        if len(ids) == max_tokens:
            chosen.append(ids)
            if len(chosen) == docs:
                break
    if not chosen:
        raise AttentionError(f"no document has {max_tokens} tokens; lower --max-tokens",
                             where="--text")
    first_feeds = feeds(model, chosen[0], max_tokens)
    base = MaskedRunner(model, first_feeds, hidden=False)
    total = np.zeros(0)
    for ids in chosen:
        runner = base.with_feeds(feeds(model, ids, max_tokens))
        probs, _ = runner.run([np.ones(max_tokens, bool)] * runner.layers)
        stack = np.stack(probs).astype(np.float64)
        total = stack if not total.size else total + stack
    special = np.zeros(max_tokens, bool)
    special[[0, -1]] = True
    return AttentionMaps((total / len(chosen)).astype(np.float32), chosen[0], special, model,
                         first_feeds, len(chosen))


def head_features(probs: np.ndarray, special: np.ndarray, block: int = 32) -> np.ndarray:
    """[layers, heads, L, L] -> [layers * heads, len(FEATURES)], each averaged over queries."""
    layers, heads, length, _ = probs.shape
    p = probs.reshape(layers * heads, length, length).astype(np.float64)
    i = np.arange(length)
    dist = np.abs(i[:, None] - i[None, :]).astype(np.float64)
    same_block = (i[:, None] // block) == (i[None, :] // block)
    band = (p * (dist <= 1)).sum(-1).mean(-1)
    prev = p[:, 1:, :-1].diagonal(0, 1, 2).sum(-1) / length    # query i -> key i - 1
    nxt = p[:, :-1, 1:].diagonal(0, 1, 2).sum(-1) / length
    first = p[:, :, 0].mean(-1)
    spec = p[:, :, special].sum(-1).mean(-1)
    blk = (p * same_block).sum(-1).mean(-1)
    ent = -(p * np.log(np.clip(p, 1e-12, None))).sum(-1).mean(-1) / np.log(length)
    mean_d = (p * dist).sum(-1)                                 # per query
    var_d = (p * dist ** 2).sum(-1) - mean_d ** 2
    distance = mean_d.mean(-1) / length
    spread = np.sqrt(np.clip(var_d, 0, None)).mean(-1) / length
    return np.stack([band, first, spec, prev, nxt, blk, ent, distance, spread], axis=1)


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_init: int = 10,
           iters: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Labels and centers (in the standardized space) of seeded k-means++ / Lloyd, best of
    ``n_init`` restarts by inertia; features are z-scored first so no unit dominates.

    Kept rather than ``scipy.cluster.vq.kmeans2`` (k-means++, the same restarts) by
    measurement: on the MiniLM heads (L6 on text and random ids, L3; k = 3-8; seeds 0-2: 45
    cases) both give the same labels, but kmeans2 has no convergence test, so it runs all its
    ``iter`` steps (300: 120-290 ms against 5-33 ms here), and importing it costs ~0.6 s.
    tests/test_kmeans.py checks this one against kmeans2."""
    if not 1 <= k <= len(x):
        raise AttentionError(f"cannot make {k} clusters of {len(x)} heads")
    z = standardize(x)
    rng = np.random.default_rng(seed)
    best = (np.inf, None, None)
    for _ in range(n_init):
        centers = z[[rng.integers(len(z))]]
        for _ in range(1, k):                                  # k-means++ seeding
            d2 = ((z[:, None, :] - centers[None]) ** 2).sum(-1).min(1)
            prob = d2 / d2.sum() if d2.sum() > 0 else np.full(len(z), 1 / len(z))
            centers = np.vstack([centers, z[rng.choice(len(z), p=prob)]])
        labels = np.zeros(len(z), int)
        for step in range(iters):
            d2 = ((z[:, None, :] - centers[None]) ** 2).sum(-1)
            new = d2.argmin(1)
            if step and np.array_equal(new, labels):
                break
            labels = new
            for c in range(k):
                if np.any(labels == c):
                    centers[c] = z[labels == c].mean(0)
        inertia = ((z - centers[labels]) ** 2).sum()
        if inertia < best[0] - 1e-12:
            best = (inertia, labels.copy(), centers.copy())
    _, labels, centers = best
    # relabel clusters by first appearance so the output is stable and readable
    order = list(dict.fromkeys(labels.tolist()))
    remap = {old: new for new, old in enumerate(order)}
    return np.array([remap[v] for v in labels]), centers[order]


def standardize(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1)


def pattern_names(features: np.ndarray, labels: np.ndarray) -> list[str]:
    """A name per cluster from its mean raw features: vertical (special tokens), previous /
    next token, diagonal, local (within its block), broad, or mixed; repeated names get a number."""
    names: list[str] = []
    col = {n: i for i, n in enumerate(FEATURES)}
    for c in range(labels.max() + 1):
        m = features[labels == c].mean(0)
        if m[col["special"]] >= 0.5:
            name = "vertical"
        elif m[col["prev"]] >= 0.4:
            name = "previous"
        elif m[col["next"]] >= 0.4:
            name = "next"
        elif m[col["band"]] >= 0.5:
            name = "diagonal"
        elif m[col["entropy"]] >= 0.75:
            name = "broad"
        elif m[col["block"]] >= 0.5:
            name = "local"
        else:
            name = "mixed"
        names.append(name)
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        dup = names.count(name) > 1
        out.append(f"{name}-{seen[name]}" if dup else name)
    return out


@dataclass
class SkimReport:
    """Block-Skim on a real model: blocks kept per layer and the output drift it causes."""

    tokens: list[int]                  # tokens alive entering each layer
    length: int
    max_abs: float                     # over the positions alive at the end
    mean_abs: float
    rel: float                         # ||skim - full|| / ||full|| over those positions
    cosine: float                      # mean per-token cosine similarity
    run: SkimRun = field(repr=False)

    @property
    def keep(self) -> list[float]:
        return [t / self.length for t in self.tokens]


def skim_real(maps: AttentionMaps, threshold: float, block: int = 32, start: int = 1,
              predictors: dict[int, CnnPredictor] | None = None) -> SkimReport:
    """Skim the model progressively (training-free mass score, or the CNN predictors when
    given) and compare the last hidden state at the surviving positions with the full run."""
    layers, heads, length = maps.shape
    runner = MaskedRunner(maps.model, maps.feeds, hidden=True)
    _, full = runner.run([np.ones(length, bool)] * runner.layers)
    if predictors:
        def score(probs: np.ndarray, alive: np.ndarray, layer: int) -> np.ndarray:
            pred = predictors.get(layer, predictors.get(-1))
            if pred is None:
                raise AttentionError(f"no predictor weights for layer {layer}")
            return cnn_keep_probability(probs, block, pred)
    else:
        score = mass_score(block)
    run = progressive_skim(runner, length, block, score, threshold, start)
    alive = run.alive_tokens(layers - 1, length)
    a, b = run.hidden[alive].astype(np.float64), full[alive].astype(np.float64)
    diff = np.abs(a - b)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return SkimReport([len(k) * block for k in run.kept_blocks], length, float(diff.max()),
                      float(diff.mean()), float(np.linalg.norm(a - b) / np.linalg.norm(b)),
                      float(cos.mean()), run)
