"""Numpy inference of a Llama-family decoder: the reference the graph is checked against, and
what ``archsim llm generate`` and ``archsim llm perplexity`` run on the real weights.

Written directly from the model's definition (RMSNorm, rotate-half RoPE, grouped-query
attention with a KV cache, SwiGLU, top-k mixture of experts), sharing nothing with the graph
builder but the RoPE tables, so the two computations check each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from workloads.llm.graph import rope_tables
from workloads.llm.model import ModelConfig


def rms_norm(x: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(eps)) * g


def _rope(x: np.ndarray, cos: np.ndarray, sin_signed: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    swapped = np.concatenate([x[..., half:], x[..., :half]], axis=-1)
    return x * cos + swapped * sin_signed


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@dataclass
class KvCache:
    """Per layer, K and V of the tokens so far: [KV heads, tokens, head_dim]."""

    k: list[np.ndarray] = field(default_factory=list)
    v: list[np.ndarray] = field(default_factory=list)

    @property
    def length(self) -> int:
        return self.k[0].shape[1] if self.k else 0


class NumpyLlama:
    """``forward(ids, cache)``: logits of every position of ``ids``, appending to ``cache``."""

    def __init__(self, model: ModelConfig, weights: Mapping[str, np.ndarray]) -> None:
        self.m = model
        self.w = weights

    def _mlp(self, h: np.ndarray, blk: str, suffix: str = "") -> np.ndarray:
        w = self.w
        gate = h @ w[f"{blk}.ffn_gate{suffix}.weight"].T
        up = h @ w[f"{blk}.ffn_up{suffix}.weight"].T
        act = gate / (1 + np.exp(-gate)) * up
        return act @ w[f"{blk}.ffn_down{suffix}.weight"].T

    def _moe(self, h: np.ndarray, blk: str) -> np.ndarray:
        m = self.m
        logits = h @ self.w[f"{blk}.ffn_gate_inp.weight"].T
        top = np.argsort(-logits, axis=-1, kind="stable")[:, :m.top_k]
        weights = _softmax(np.take_along_axis(logits, top, axis=-1))
        out = np.zeros_like(h)
        for e in np.unique(top):
            rows, slot = np.nonzero(top == e)
            out[rows] += weights[rows, slot][:, None] * self._mlp(h[rows], blk, f".{e}")
        return out

    def forward(self, ids: list[int] | np.ndarray, cache: KvCache | None = None) -> np.ndarray:
        m, w = self.m, self.w
        ids = np.asarray(ids, dtype=np.int64)
        cache = cache if cache is not None else KvCache()
        start, n = cache.length, len(ids)
        H, KV, hd, g = m.heads, m.kv_heads, m.hd, m.group
        cos, sin = rope_tables(np.arange(start, start + n), hd, m.rope_theta)
        total = start + n
        mask = np.triu(np.full((n, total), -np.inf, dtype=np.float32), k=start + 1)
        x = w["token_embd.weight"][ids]
        for i in range(m.layers):
            blk = f"blk.{i}"
            h = rms_norm(x, w[f"{blk}.attn_norm.weight"], m.norm_eps)
            q = (h @ w[f"{blk}.attn_q.weight"].T).reshape(n, H, hd).transpose(1, 0, 2)
            k = (h @ w[f"{blk}.attn_k.weight"].T).reshape(n, KV, hd).transpose(1, 0, 2)
            v = (h @ w[f"{blk}.attn_v.weight"].T).reshape(n, KV, hd).transpose(1, 0, 2)
            q, k = _rope(q, cos, sin), _rope(k, cos, sin)
            if i < len(cache.k):
                cache.k[i] = np.concatenate([cache.k[i], k], axis=1)
                cache.v[i] = np.concatenate([cache.v[i], v], axis=1)
            else:
                cache.k.append(k)
                cache.v.append(v)
            kk, vv = cache.k[i], cache.v[i]
            qg = q.reshape(KV, g * n, hd)       # query heads of one KV head together
            s = (qg @ kk.transpose(0, 2, 1)).reshape(KV, g, n, total) * np.float32(hd ** -0.5)
            p = _softmax(s + mask).reshape(KV, g * n, total)
            o = (p @ vv).reshape(H, n, hd).transpose(1, 0, 2).reshape(n, H * hd)
            x = x + o @ w[f"{blk}.attn_output.weight"].T
            h = rms_norm(x, w[f"{blk}.ffn_norm.weight"], m.norm_eps)
            x = x + (self._moe(h, blk) if m.experts else self._mlp(h, blk))
        x = rms_norm(x, w["output_norm.weight"], m.norm_eps)
        head = w["token_embd.weight"] if m.tied_embeddings else w["output.weight"]
        return x @ head.T

    def generate(self, prompt: list[int], tokens: int, eos: int | None = None) -> list[int]:
        """Greedy decoding: the prompt in one prefill, then one token per step."""
        cache = KvCache()
        logits = self.forward(prompt, cache)
        out: list[int] = []
        for _ in range(tokens):
            nxt = int(np.argmax(logits[-1]))
            out.append(nxt)
            if nxt == eos:
                break
            logits = self.forward([nxt], cache)
        return out

    def nll(self, ids: list[int], chunk: int = 256) -> np.ndarray:
        """Negative log-likelihood of each token after the first, given those before it
        (the sequence fed in chunks through the KV cache)."""
        cache = KvCache()
        out = []
        for lo in range(0, len(ids) - 1, chunk):
            part = ids[lo:min(lo + chunk, len(ids) - 1)]
            logits = self.forward(part, cache).astype(np.float64)
            top = logits.max(axis=-1, keepdims=True)
            logz = np.log(np.exp(logits - top).sum(axis=-1)) + top[:, 0]
            targets = np.asarray(ids[lo + 1:lo + 1 + len(part)])
            out.append(logz - logits[np.arange(len(part)), targets])
        return np.concatenate(out)


def perplexity(model: NumpyLlama, ids: list[int]) -> float:
    return float(np.exp(model.nll(ids).mean()))
