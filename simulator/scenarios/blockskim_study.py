"""Block-Skim on a target: simulated cycles per encoder layer with and without skimming, next
to the MAC (FLOP) ratio the pass predicts.

The FLOP ratio counts multiply-accumulates only; cycles also pay for what does not shrink with
the sequence (weight loads: every layer still streams its full 7M weights from DRAM), for the
parts that shrink quadratically (attention MatMuls, Softmax) and for array under-utilization of
short GEMMs (a 96-row operand on a 256-row array wastes folds), so the two differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator import api
from simulator.passes import apply_passes
from simulator.passes.blockskim import encoder_layers, layer_of_ops
from simulator.passes.blockskim_maps import progressive_skim
from simulator.passes.blockskim_scores import CnnPredictor, cnn_keep_probability, diagonal_blocks
from simulator.passes.blockskim_train import TrainReport, train_predictor
from simulator.scenarios.sentence_eval import Document, Encoder, pool
from workloads.loader import load_workload


@dataclass
class LayerRow:
    layer: int          # -1: ops before the first encoder layer
    tokens: int
    macs_base: int
    macs_skim: int
    cycles_base: int
    cycles_skim: int

    @property
    def flop_speedup(self) -> float:
        return self.macs_base / max(1, self.macs_skim)

    @property
    def cycle_speedup(self) -> float:
        return self.cycles_base / max(1, self.cycles_skim)


@dataclass
class StudyResult:
    config: str
    kind: str
    workload: str
    option: str
    rows: list[LayerRow]
    flop_speedup: float         # the pass's prediction, predictor MACs included
    cycles_base: int
    cycles_skim: int

    @property
    def cycle_speedup(self) -> float:
        return self.cycles_base / max(1, self.cycles_skim)

    def to_json(self) -> dict:
        return {"config": self.config, "kind": self.kind, "workload": self.workload,
                "pass": f"blockskim:{self.option}", "flop_speedup": self.flop_speedup,
                "cycle_speedup": self.cycle_speedup, "cycles_base": self.cycles_base,
                "cycles_skim": self.cycles_skim,
                "layers": [{**row.__dict__, "flop_speedup": row.flop_speedup,
                            "cycle_speedup": row.cycle_speedup} for row in self.rows]}


def _cycles_by_layer(graph, result, n: int) -> list[int]:
    layer_of = layer_of_ops(graph, encoder_layers(graph))
    out = [0] * (n + 1)                      # index 0: before layer 0
    for row in result.layers:
        out[layer_of.get(row.name, -1) + 1] += row.cycles
    return out


def blockskim_study(config, workload: str, option: str) -> StudyResult:
    """Simulate ``workload`` plain and with ``--pass blockskim:<option>`` on ``config``."""
    base = load_workload(workload)
    skim = apply_passes(base, [f"blockskim:{option}"])
    meta = skim.meta["blockskim"]
    results = [api.simulate(api.lower(config, g), config) for g in (base, skim)]
    n = len(meta["tokens"])
    cb, cs = (_cycles_by_layer(g, r, n) for g, r in zip((base, skim), results, strict=True))
    rows = [LayerRow(-1, meta["length"], 0, 0, cb[0], cs[0])] if cb[0] or cs[0] else []
    rows += [LayerRow(i, meta["tokens"][i], meta["macs_before"][i], meta["macs_after"][i],
                      cb[i + 1], cs[i + 1]) for i in range(n)]
    return StudyResult(getattr(config, "name", ""), config.kind, workload, option, rows,
                       meta["flop_speedup"], results[0].total_cycles, results[1].total_cycles)


# ---------------------------------------------------------------------------------------------
# The trained predictor on real text (``archsim blockskim-study``)

#: The model the shipped predictor was trained for, and its file (package data).
PACKAGED_MODEL = "minilm-l6-int8"
PACKAGED_WEIGHTS = Path(__file__).resolve().parents[1] / "passes" / "data" / \
    "blockskim-minilm-l6-int8.npz"


@dataclass
class TrainingSet:
    """Per decision layer ``l`` (1..n-1): the diagonal blocks of layer ``l - 1``'s maps and
    each block's label (1 keep, 0 skim) and measured effect."""

    images: dict[int, list[np.ndarray]] = field(default_factory=dict)
    effects: dict[int, list[np.ndarray]] = field(default_factory=dict)
    docs: int = 0

    def arrays(self, layer: int, tau: float) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate(self.images[layer])
        d = np.concatenate(self.effects[layer])
        return x, (d > tau).astype(np.int64)


def block_effects(encoder: Encoder, doc: Document, block: int, start: int = 1
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """The full model's maps, and for every decision layer ``l >= start`` and block ``k`` the
    cosine distance between the full embedding and the embedding with block ``k`` removed from
    layer ``l`` on (masked as a key in every later layer and left out of the mean pooling):
    how much the pooled sentence embedding needs that block from that layer on."""
    n, k = encoder.layers, doc.padded // block
    probs, hidden = encoder.run(doc)
    full = pool(hidden, doc.real)
    runner = encoder.for_doc(doc)
    effects = np.zeros((n, k))
    for layer in range(max(1, start), n):
        for b in range(k):
            gone = np.ones(doc.padded, bool)
            gone[b * block:(b + 1) * block] = False
            masks = [np.ones(doc.padded, bool)] * layer + [gone] * (n - layer)
            _, h = runner.run(masks)
            e = pool(h, doc.real & gone)
            effects[layer, b] = 1 - e @ full / (np.linalg.norm(e) * np.linalg.norm(full))
    return probs, effects


def training_set(encoder: Encoder, docs: list[Document], block: int, start: int = 1,
                 progress=None) -> TrainingSet:
    """Images and measured block effects of every document (see :func:`block_effects`)."""
    out = TrainingSet(docs=len(docs))
    for i, doc in enumerate(docs):
        probs, effects = block_effects(encoder, doc, block, start)
        for layer in range(max(1, start), encoder.layers):
            out.images.setdefault(layer, []).append(diagonal_blocks(probs[layer - 1], block))
            out.effects.setdefault(layer, []).append(effects[layer])
        if progress is not None:
            progress(i + 1, len(docs))
    return out


def train_predictors(data: TrainingSet, tau: float, epochs: int, seed: int = 0
                     ) -> tuple[dict[int, CnnPredictor], dict[int, TrainReport]]:
    """One predictor per deciding layer, keyed like the shipped ``.npz``: the predictor of
    layer ``L`` reads layer ``L``'s maps and decides which blocks enter layer ``L + 1``."""
    preds, reports = {}, {}
    for layer in sorted(data.images):
        x, y = data.arrays(layer, tau)
        preds[layer - 1], reports[layer - 1] = train_predictor(x, y, epochs, seed + layer)
    return preds, reports


def save_predictors(preds: dict[int, CnnPredictor], path: str | Path, **meta) -> None:
    """Write ``layer<L>.<param>`` arrays (and ``meta.*`` facts) to an ``.npz``."""
    arrays = {f"layer{layer}.{k}": v for layer, p in preds.items() for k, v in p.params.items()}
    arrays.update({f"meta.{k}": np.asarray(v) for k, v in meta.items()})
    np.savez_compressed(path, **arrays)


@dataclass
class DocSkim:
    """One evaluation document skimmed by the predictors."""

    padded: int
    length: int
    kept_blocks: list[list[int]]      # per layer, the blocks alive entering it

    def tokens(self, block: int) -> list[int]:
        return [len(k) * block for k in self.kept_blocks]


def skim_documents(encoder: Encoder, docs: list[Document], preds: dict[int, CnnPredictor],
                   block: int, threshold: float = 0.5, start: int = 1
                   ) -> tuple[np.ndarray, np.ndarray, list[DocSkim]]:
    """Full and skimmed mean-pooled embeddings of every document, and what was kept. The
    skimmed embedding pools the last hidden state over the real tokens still alive at the last
    layer, as the pass's shrunk graph computes it."""
    def score(probs: np.ndarray, alive: np.ndarray, layer: int) -> np.ndarray:
        return cnn_keep_probability(probs, block, preds[layer])

    full, skim, kept = [], [], []
    for doc in docs:
        full.append(encoder.embed(doc))
        run = progressive_skim(encoder.for_doc(doc), doc.padded, block, score, threshold, start)
        alive = run.alive_tokens(encoder.layers - 1, doc.padded) & doc.real
        skim.append(pool(run.hidden, alive))
        kept.append(DocSkim(doc.padded, doc.length, [k.tolist() for k in run.kept_blocks]))
    return np.array(full), np.array(skim), kept


@dataclass
class RealTextStudy:
    """What ``archsim blockskim-study`` reports."""

    model: str
    block: int
    threshold: float
    documents: int
    pearson_full: float
    pearson_skim: float
    spearman_full: float
    spearman_skim: float
    tokens_full: list[float]           # mean tokens entering each layer, unskimmed (padded)
    tokens_skim: list[float]           # mean tokens entering each layer, skimmed
    macs_full: int                     # summed over the documents
    macs_skim: int                     # predictor MACs included
    predictor_macs: int
    cycles: dict[str, dict]            # config name -> kind, base, skim cycles
    predictor: dict
    docs: list[DocSkim] = field(repr=False, default_factory=list)

    @property
    def flop_speedup(self) -> float:
        return self.macs_full / max(1, self.macs_skim)

    @property
    def cycle_speedup(self) -> dict[str, float]:
        return {name: c["base"] / max(1, c["skim"]) for name, c in self.cycles.items()}

    def to_json(self) -> dict:
        return {"model": self.model, "block": self.block, "threshold": self.threshold,
                "documents": self.documents, "pairs": self.documents * (self.documents - 1) // 2,
                "pearson_full": self.pearson_full, "pearson_skim": self.pearson_skim,
                "spearman_full": self.spearman_full, "spearman_skim": self.spearman_skim,
                "spearman_drop": self.spearman_full - self.spearman_skim,
                "tokens_full": self.tokens_full, "tokens_skim": self.tokens_skim,
                "macs_full": self.macs_full, "macs_skim": self.macs_skim,
                "predictor_macs": self.predictor_macs, "flop_speedup": self.flop_speedup,
                "cycle_speedup": self.cycle_speedup, "cycles": self.cycles,
                "predictor": self.predictor,
                "kept_blocks": [d.kept_blocks for d in self.docs]}


def skim_pass_spec(doc: DocSkim, block: int, weights: str) -> str:
    """The ``--pass blockskim`` option that reproduces one document's skim in the graph, the
    trained predictors run from layer 1 on (every decision a real run makes)."""
    k = doc.padded // block
    keep = ",".join(f"{len(b) / k:.6g}" for b in doc.kept_blocks)
    return f"blockskim:keep={keep},block={block},predictor=cnn,weights={weights},predict_from=1"


def skim_costs(model_path: str, docs: list[DocSkim], block: int, weights: str, configs: list,
               progress=None, inputs: tuple[str, ...] = ("input_ids", "attention_mask",
                                                          "token_type_ids")
               ) -> tuple[int, int, int, dict[str, dict]]:
    """MACs (the pass's count, predictor included) and simulated cycles on each config, summed
    over the documents: each distinct (length, kept-per-layer) schedule is built by the pass on
    the ONNX graph at that length, lowered and simulated once."""
    from simulator.passes import apply_passes

    graphs: dict[int, object] = {}
    skims: dict[tuple, object] = {}
    macs_full = macs_skim = pred_macs = 0
    cycles = {getattr(c, "name", c.kind): {"kind": c.kind, "base": 0, "skim": 0}
              for c in configs}
    sim_cache: dict[tuple, int] = {}

    def simulate(key, graph, cfg) -> int:
        ck = (key, id(cfg))
        if ck not in sim_cache:
            sim_cache[ck] = api.simulate(api.lower(cfg, graph), cfg).total_cycles
        return sim_cache[ck]

    for i, doc in enumerate(docs):
        if doc.padded not in graphs:
            shape = (1, doc.padded)
            graphs[doc.padded] = api.load(model_path, dict.fromkeys(inputs, shape))
        base = graphs[doc.padded]
        key = (doc.padded, tuple(len(b) for b in doc.kept_blocks))
        if key not in skims:
            skims[key] = apply_passes(base, [skim_pass_spec(doc, block, weights)])
        skim = skims[key]
        meta = skim.meta["blockskim"]
        macs_full += sum(meta["macs_before"])
        macs_skim += sum(meta["macs_after"])
        pred_macs += meta["predictor_macs"]
        for cfg in configs:
            name = getattr(cfg, "name", cfg.kind)
            cycles[name]["base"] += simulate(("base", doc.padded), base, cfg)
            cycles[name]["skim"] += simulate(key, skim, cfg)
        if progress is not None:
            progress(i + 1, len(docs))
    for c in cycles.values():
        c["schedules_simulated"] = len(skims)
    return macs_full, macs_skim, pred_macs, cycles


def real_text_study(model_spec: str, eval_docs: list[str], human: np.ndarray, configs: list,
                    train_docs: list[str] | None = None, weights: str | None = None,
                    block: int = 32, threshold: float = 0.5, tau: float = 0.03,
                    epochs: int = 10, max_train_tokens: int = 128, seed: int = 0,
                    weights_out: str | None = None, progress=None) -> RealTextStudy:
    """Train (or load) the per-layer predictors, skim every evaluation document, correlate the
    full and skimmed embeddings' pair similarities with the human ratings, and cost the skimmed
    graphs on ``configs``."""
    from simulator.passes.blockskim_scores import load_predictors, predictor_meta
    from simulator.scenarios.attention import resolve_model
    from simulator.scenarios.sentence_eval import (
        correlations,
        pair_similarities,
        tokenize,
    )
    from workloads.onnx_packaged import PACKAGED, packaged_model_path

    model, name = resolve_model(model_spec)
    model_path = str(packaged_model_path(model_spec)) if model_spec in PACKAGED else model_spec
    encoder = Encoder(model)
    if train_docs is not None:
        data = training_set(encoder, tokenize(train_docs, block, max_train_tokens), block,
                            progress=progress and (lambda d, n: progress("label", d, n)))
        preds, reports = train_predictors(data, tau, epochs, seed)
        info = {"trained": True, "train_docs": data.docs, "epochs": epochs, "tau": tau,
                "seed": seed, "max_train_tokens": max_train_tokens, "labels": "model",
                "layers": {str(k): {"samples": r.samples, "keep_fraction": r.keep_fraction,
                                    "train_accuracy": r.train_accuracy}
                           for k, r in reports.items()}}
        weights_path = weights_out
        if weights_path is None:
            import tempfile

            weights_path = str(Path(tempfile.mkdtemp(prefix="archsim-blockskim-")) /
                               "predictor.npz")
        save_predictors(preds, weights_path, model=name, train_docs=data.docs, epochs=epochs,
                        tau=tau, block=block, seed=seed, max_train_tokens=max_train_tokens)
    else:
        weights_path = weights or str(PACKAGED_WEIGHTS)
        preds = load_predictors(weights_path)
        meta = predictor_meta(weights_path)
        if weights is None and meta.get("model") != name:
            from simulator.passes.blockskim_scores import PredictorError

            raise PredictorError(f"the shipped predictor was trained for {meta.get('model')}; "
                                 f"for {name} give --train FILE (or --weights FILE.npz)",
                                 where=model_spec)
        info = {"trained": True, "weights": weights_path, **meta}
        block = int(meta.get("block", block))
    docs = tokenize(eval_docs, block)
    full, skim, kept = skim_documents(encoder, docs, preds, block, threshold)
    human = np.asarray(human, np.float64)
    pf, sf = correlations(pair_similarities(full), human)
    ps, ss = correlations(pair_similarities(skim), human)
    inputs = tuple(i.name for i in model.graph.input
                   if i.name in ("input_ids", "attention_mask", "token_type_ids"))
    macs_full, macs_skim, pred_macs, cycles = skim_costs(
        model_path, kept, block, weights_path, configs,
        progress and (lambda d, n: progress("simulate", d, n)), inputs)
    n = encoder.layers
    tokens_full = [float(np.mean([d.padded for d in kept]))] * n
    tokens_skim = [float(np.mean([len(d.kept_blocks[i]) * block for d in kept]))
                   for i in range(n)]
    return RealTextStudy(name, block, threshold, len(docs), pf, ps, sf, ss, tokens_full,
                         tokens_skim, macs_full, macs_skim, pred_macs, cycles, info, kept)
