"""Block-Skim decided from real attention maps, run in onnxruntime.

Skimming is applied layer by layer as an additive key mask in front of each attention Softmax
(``workloads.onnx_attention.instrument``): a token masked from layer ``l`` on no longer reaches
any kept token, which is exactly what removing it from the hidden states does (the output at the
kept positions is the same up to float rounding), and it works on any export whatever its
reshapes. Layer ``l``'s decision needs layer ``l``'s maps under the masks already decided, so a
model with ``n`` layers is run ``n`` times.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.passes.blockskim_scores import PredictorError, block_mass
from workloads.onnx_attention import Instrumented, instrument

#: Additive mask value for a skimmed key: exp underflows to exactly 0 after max-subtraction.
SKIMMED = np.float32(-1e9)

Score = Callable[[np.ndarray, np.ndarray, int], np.ndarray]   # (probs [H,L,L], alive, layer)


class MaskedRunner:
    """An onnxruntime session over an instrumented model with per-layer skim masks."""

    def __init__(self, model: Any, feeds: dict[str, np.ndarray], hidden: bool = True) -> None:
        import onnxruntime as ort

        self.inst: Instrumented = instrument(model, masks=True, hidden=hidden)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1      # reproducible reductions, and polite on 2 cores
        self.session = ort.InferenceSession(self.inst.model.SerializeToString(), opts,
                                            providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.feeds = {k: v for k, v in feeds.items() if k in self.input_names}
        self.layers = len(self.inst.probs)

    def with_feeds(self, feeds: dict[str, np.ndarray]) -> MaskedRunner:
        """The same session on other inputs (one document after another, no re-compilation)."""
        other = copy.copy(self)
        other.feeds = {k: v for k, v in feeds.items() if k in self.input_names}
        return other

    def run(self, alive: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Per-layer maps [H, L, L] and the last hidden state [L, D] (batch squeezed), with
        layer ``l``'s keys restricted to the boolean token mask ``alive[l]``."""
        feeds = dict(self.feeds)
        for name, mask in zip(self.inst.masks, alive, strict=True):
            feeds[name] = np.where(mask, np.float32(0), SKIMMED).astype(np.float32)
        outs = self.session.run(None, feeds)
        probs = [_squeeze_heads(p) for p in outs[: self.layers]]
        hidden = _squeeze_tokens(outs[-1]) if self.inst.hidden else None
        return probs, hidden


def _squeeze_heads(p: np.ndarray) -> np.ndarray:
    while p.ndim > 3 and p.shape[0] == 1:
        p = p[0]
    if p.ndim != 3:
        raise PredictorError(f"attention output of shape {p.shape} is not [heads, L, L] for one "
                             "sequence")
    return p.astype(np.float32)


def _squeeze_tokens(h: np.ndarray) -> np.ndarray:
    while h.ndim > 2 and h.shape[0] == 1:
        h = h[0]
    return h


@dataclass
class SkimRun:
    """The outcome of a progressive skim: which blocks entered each layer, and the maps."""

    kept_blocks: list[np.ndarray]      # per layer, absolute block ids alive entering it
    probs: list[np.ndarray]            # per layer [H, L, L] under the final masks
    hidden: np.ndarray | None          # last hidden state [L, D] under the final masks
    block: int

    def alive_tokens(self, layer: int, length: int) -> np.ndarray:
        mask = np.zeros(length, bool)
        for b in self.kept_blocks[layer]:
            mask[b * self.block:(b + 1) * self.block] = True
        return mask


def progressive_skim(runner: MaskedRunner, length: int, block: int, score: Score,
                     threshold: float, start: int = 1) -> SkimRun:
    """From layer ``start`` on, each layer keeps the blocks (still alive) whose score on the
    previous layer's maps is >= ``threshold`` (at least the best one)."""
    if length % block:
        raise PredictorError(f"sequence length {length} is not a multiple of the block size "
                             f"{block} (pad the sequence or pick another block)")
    n, k = runner.layers, length // block
    kept = [np.arange(k) for _ in range(n)]
    masks = [np.ones(length, bool) for _ in range(n)]
    for layer in range(max(1, start), n):
        probs, _ = runner.run(masks)
        prev = layer - 1
        s = score(probs[prev], masks[prev], prev)
        alive = kept[prev]
        choose = alive[s[alive] >= threshold]
        if choose.size == 0:
            choose = alive[[int(np.argmax(s[alive]))]]
        for later in range(layer, n):
            kept[later] = choose
            masks[later] = np.repeat(np.isin(np.arange(k), choose), block)
    probs, hidden = runner.run(masks)
    return SkimRun(kept, probs, hidden, block)


def mass_score(block: int) -> Score:
    """The training-free score: attention mass received, relative to a uniform share."""
    def score(probs: np.ndarray, alive: np.ndarray, layer: int) -> np.ndarray:
        return block_mass(probs, block, alive)
    return score


def plan_from_threshold(graph, layers, opts) -> list[np.ndarray]:
    """The pass's ``threshold=T`` mode: run the Graph (its weights, seeded inputs) in
    onnxruntime and skim progressively with the training-free score."""
    from simulator.passes import PassError
    from workloads.onnx_export import graph_to_onnx, random_values

    values = random_values(graph, opts.seed)
    missing = [op.inputs[1] for op in graph.ops if op.type in ("Gemm", "MatMul")
               and len(op.inputs) > 1 and graph.tensor(op.inputs[1]).values is None
               and op.inputs[1] not in graph.inputs and op.inputs[1] in values]
    if missing:
        raise PassError("threshold mode needs a model with weights (an ONNX file or an ONNX "
                        f"zoo model); {missing[0]!r} has none", where="--pass blockskim")
    model = graph_to_onnx(graph, values)
    feeds = {n: values[n] for n in graph.inputs if n in values}
    runner = MaskedRunner(model, feeds, hidden=False)
    length = graph.tensor(layers[0].entry).shape[layers[0].seq_axis]
    run = progressive_skim(runner, length, opts.block, mass_score(opts.block),
                           opts.threshold, opts.start)
    return run.kept_blocks
