"""The Graph of one LLM inference step (prefill or decode) from catalogue operators only.

Every op is an ordinary catalogue operator (Gemm, MatMul, Add, Mul, Div, Sqrt, ReduceMean,
Sigmoid, Softmax, Gather, Slice, Concat, Reshape, Transpose, ReduceSum), so every target lowers
the graph and ``--functional`` checks it against onnxruntime with no LLM-specific lowering:

- token embedding: ``Gather`` of the table by the token ids (a graph input);
- per layer: RMSNorm (``x / sqrt(mean(x*x) + eps) * g``), Q/K/V projections (``Gemm`` with the
  weight as stored in GGUF, [out, in], ``transB=1``), RoPE (rotate-half form with cos/sin
  constants of the positions), grouped-query attention (the ``group`` query heads of a KV head
  are one batched GEMM against that KV head, so K and V are read once per KV head), output
  projection, residual, RMSNorm, SwiGLU MLP (``down(silu(gate(x)) * up(x))``) or, for a mixture
  of experts, the router, a softmax over each token's top-k logits and the chosen experts only;
- final RMSNorm and lm_head (prefill: on the last position of each sequence, what the next
  token needs; decode: on the new token).

Prefill: ``seq`` tokens per sequence, causal mask; the layer's K (transposed, [B, KV, hd, S])
and V ([B, KV, S, hd]) are graph outputs (the KV cache written). Decode: one token per sequence
at position ``ctx``; the cache K and V of the ``ctx`` earlier tokens are graph inputs, read from
DRAM by the attention GEMVs; the new token's K and V are attended to separately (scores
concatenated before the softmax), and are graph outputs (the cache append).

Op names start with their group for the reports: ``attn.``, ``mlp.``, ``lm_head``, ``other.``
(embedding, norms, residual adds). The output projections (``attn_output``, ``ffn_down``) carry
``tp = "row"``: a tensor-parallel lowering splits their K (Megatron's row-parallel layer);
the others are column-parallel.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np

from workloads.graph import Graph, Op, Tensor
from workloads.llm.model import LlmSpec, ModelConfig, parse_routing

GROUPS = ("attention", "mlp", "lm_head", "other")
_PREFIX = {"attn": "attention", "mlp": "mlp", "lm_head": "lm_head"}


def layer_group(name: str) -> str:
    """The report group of an op of an LLM graph, from its name's first component."""
    return _PREFIX.get(name.split(".", 1)[0], "other")


def rope_tables(positions: np.ndarray, head_dim: int, theta: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """cos and sign-folded sin [len(positions), head_dim] of the rotate-half RoPE:
    ``rot(x) = x * cos + swap_halves(x) * sin_signed`` with the first half of sin negated."""
    half = head_dim // 2
    inv = theta ** (-np.arange(half, dtype=np.float64) * 2 / head_dim)
    ang = np.outer(positions.astype(np.float64), inv)
    cos = np.concatenate([np.cos(ang)] * 2, axis=1)
    sin = np.concatenate([-np.sin(ang), np.sin(ang)], axis=1)
    return cos.astype(np.float32), sin.astype(np.float32)


def route(spec: LlmSpec, tokens: int) -> list[list[int]]:
    """Each token's top-k experts: drawn at random (``seed:N``) or fixed (``fixed:E1,E2``)."""
    m = spec.model
    kind, arg = parse_routing(spec.routing, m, spec.routing)
    if kind == "fixed":
        return [list(arg) for _ in range(tokens)]  # type: ignore[arg-type]
    rng = np.random.default_rng(int(arg))  # type: ignore[arg-type]
    return [sorted(rng.choice(m.experts, m.top_k, replace=False).tolist())
            for _ in range(tokens)]


class _Builder:
    """Appends ops with fresh output tensors; constants are shared by value key."""

    def __init__(self, name: str, weights: Mapping[str, np.ndarray] | None) -> None:
        self.g = Graph(name)
        self.weights = weights
        self.weight_names: list[str] = []
        self._consts: dict[str, str] = {}

    def weight(self, name: str, shape: tuple[int, ...]) -> str:
        if name not in self.g.tensors:
            values = None
            if self.weights is not None:
                values = np.asarray(self.weights[name], dtype=np.float32)
                if values.shape != shape:
                    raise ValueError(f"weight {name}: shape {values.shape}, graph needs {shape}")
            self.g.add_tensor(Tensor(name, shape, values=values))
            self.weight_names.append(name)
        return name

    def const(self, key: str, array: np.ndarray) -> str:
        if key not in self._consts:
            array = np.asarray(array)
            self.g.add_tensor(Tensor(key, array.shape, values=array, dtype=str(array.dtype)))
            self._consts[key] = key
        return key

    def ints(self, values: list[int]) -> str:
        key = "_".join(map(str, values))
        if len(values) > 4:
            key = f"{len(values)}.{hashlib.sha1(key.encode()).hexdigest()[:12]}"
        return self.const(f"const.i64.{key}", np.asarray(values, dtype=np.int64))

    def input(self, name: str, shape: tuple[int, ...], dtype: str = "float32") -> str:
        self.g.add_tensor(Tensor(name, shape, dtype=dtype))
        self.g.inputs.append(name)
        return name

    def op(self, op_type: str, name: str, inputs: list[str], shape: tuple[int, ...],
           **attrs) -> str:
        self.g.add_tensor(Tensor(name, tuple(int(d) for d in shape)))
        self.g.add_op(Op(name, op_type, inputs, [name], attrs))
        return name

    def reshape(self, name: str, x: str, shape: tuple[int, ...]) -> str:
        return self.op("Reshape", name, [x, self.ints(list(shape))], shape)

    def shape(self, x: str) -> tuple[int, ...]:
        return self.g.tensors[x].shape

    def linear(self, name: str, x: str, weight: str, out: int, tp: str = "col") -> str:
        """``x @ W.T`` with ``W`` [out, in] as GGUF stores it."""
        rows, width = self.shape(x)
        self.weight(weight, (out, width))
        return self.op("Gemm", name, [x, weight], (rows, out), transB=1, tp=tp)

    def rms_norm(self, name: str, x: str, weight: str, eps: float) -> str:
        shape = self.shape(x)
        g = self.weight(weight, (shape[-1],))
        sq = self.op("Mul", f"{name}.sq", [x, x], shape)
        ms = self.op("ReduceMean", f"{name}.mean", [sq, self.ints([-1])],
                     (*shape[:-1], 1), keepdims=1)
        ms = self.op("Add", f"{name}.eps", [ms, self.const(f"const.eps.{eps:g}",
                                                            np.float32(eps))], self.shape(ms))
        rms = self.op("Sqrt", f"{name}.sqrt", [ms], self.shape(ms))
        xn = self.op("Div", f"{name}.div", [x, rms], shape)
        return self.op("Mul", name, [xn, g], shape)

    def rope(self, name: str, x: str, cos: str, sin: str) -> str:
        shape = self.shape(x)
        hd = shape[-1]
        half = hd // 2
        axis = len(shape) - 1
        lo = self.op("Slice", f"{name}.lo", [x, self.ints([0]), self.ints([half]),
                                             self.ints([axis])], (*shape[:-1], half))
        hi = self.op("Slice", f"{name}.hi", [x, self.ints([half]), self.ints([hd]),
                                             self.ints([axis])], (*shape[:-1], half))
        sw = self.op("Concat", f"{name}.swap", [hi, lo], shape, axis=axis)
        a = self.op("Mul", f"{name}.cos", [x, cos], shape)
        b = self.op("Mul", f"{name}.sin", [sw, sin], shape)
        return self.op("Add", name, [a, b], shape)


def build_graph(spec: LlmSpec, weights: Mapping[str, np.ndarray] | None = None,
                name: str | None = None) -> Graph:
    """The graph of one step of ``spec``; ``weights`` (GGUF names) give the weights values
    (functional runs on the real model), otherwise they are shapes only."""
    m = spec.model
    B, L = spec.batch, spec.n_layers
    D, H, KV, hd, g = m.hidden, m.heads, m.kv_heads, m.hd, m.group
    prefill = spec.phase == "prefill"
    S = spec.seq if prefill else 1
    T = B * S
    b = _Builder(name or _name(spec), weights)
    ids = b.input("tokens", (T,), "int64")
    emb = b.weight("token_embd.weight", (m.vocab, D))
    x = b.op("Gather", "other.embed", [emb, ids], (T, D), axis=0, gather_rows=1)
    positions = np.arange(S) if prefill else np.array([spec.ctx])
    cos_v, sin_v = rope_tables(positions, hd, m.rope_theta)
    cos, sin = b.const("const.rope_cos", cos_v), b.const("const.rope_sin", sin_v)
    scale = b.const("const.attn_scale", np.float32(1.0 / math.sqrt(hd)))
    mask = None
    if prefill:
        tri = np.triu(np.full((S, S), -1e9, dtype=np.float32), k=1)
        mask = b.const("const.causal_mask", tri)
    routes = route(spec, T) if m.experts else None
    kv_elements = 0
    for i in range(L):
        p, blk = f"L{i}", f"blk.{i}"
        h = b.rms_norm(f"other.{p}.attn_norm", x, f"{blk}.attn_norm.weight", m.norm_eps)
        q = b.linear(f"attn.{p}.q", h, f"{blk}.attn_q.weight", H * hd)
        k = b.linear(f"attn.{p}.k", h, f"{blk}.attn_k.weight", KV * hd)
        v = b.linear(f"attn.{p}.v", h, f"{blk}.attn_v.weight", KV * hd)
        q = b.op("Transpose", f"attn.{p}.q_t", [b.reshape(f"attn.{p}.q_4d", q, (B, S, H, hd))],
                 (B, H, S, hd), perm=[0, 2, 1, 3])
        k = b.op("Transpose", f"attn.{p}.k_t",
                 [b.reshape(f"attn.{p}.k_4d", k, (B, S, KV, hd))], (B, KV, S, hd),
                 perm=[0, 2, 1, 3])
        v = b.op("Transpose", f"attn.{p}.v_t",
                 [b.reshape(f"attn.{p}.v_4d", v, (B, S, KV, hd))], (B, KV, S, hd),
                 perm=[0, 2, 1, 3])
        q = b.rope(f"attn.{p}.q_rope", q, cos, sin)
        k = b.rope(f"attn.{p}.k_rope", k, cos, sin)
        qg = b.reshape(f"attn.{p}.q_groups", q, (B, KV, g * S, hd))
        if prefill:
            kt = b.op("Transpose", f"attn.{p}.k_cache", [k], (B, KV, hd, S), perm=[0, 1, 3, 2])
            b.g.outputs += [kt, v]
            s = b.op("MatMul", f"attn.{p}.scores", [qg, kt], (B, KV, g * S, S))
            s = b.reshape(f"attn.{p}.scores_5d", s, (B, KV, g, S, S))
            s = b.op("Mul", f"attn.{p}.scale", [s, scale], (B, KV, g, S, S))
            s = b.op("Add", f"attn.{p}.mask", [s, mask], (B, KV, g, S, S))
            pr = b.op("Softmax", f"attn.{p}.softmax", [s], (B, KV, g, S, S), axis=-1)
            pr = b.reshape(f"attn.{p}.probs_4d", pr, (B, KV, g * S, S))
            o = b.op("MatMul", f"attn.{p}.pv", [pr, v], (B, KV, g * S, hd))
            kv_elements += 2 * B * KV * S * hd
        else:
            C = spec.ctx
            kc = b.input(f"kcache.{p}", (B, KV, hd, C))
            vc = b.input(f"vcache.{p}", (B, KV, C, hd))
            kn = b.reshape(f"attn.{p}.k_new", k, (B, KV, hd, 1))
            b.g.outputs += [kn, v]
            sc = b.op("MatMul", f"attn.{p}.scores_cache", [qg, kc], (B, KV, g, C))
            sn = b.op("MatMul", f"attn.{p}.scores_new", [qg, kn], (B, KV, g, 1))
            s = b.op("Concat", f"attn.{p}.scores", [sc, sn], (B, KV, g, C + 1), axis=3)
            s = b.op("Mul", f"attn.{p}.scale", [s, scale], (B, KV, g, C + 1))
            pr = b.op("Softmax", f"attn.{p}.softmax", [s], (B, KV, g, C + 1), axis=-1)
            pc = b.op("Slice", f"attn.{p}.probs_cache",
                      [pr, b.ints([0]), b.ints([C]), b.ints([3])], (B, KV, g, C))
            pn = b.op("Slice", f"attn.{p}.probs_new",
                      [pr, b.ints([C]), b.ints([C + 1]), b.ints([3])], (B, KV, g, 1))
            oc = b.op("MatMul", f"attn.{p}.pv_cache", [pc, vc], (B, KV, g, hd))
            on = b.op("MatMul", f"attn.{p}.pv_new", [pn, v], (B, KV, g, hd))
            o = b.op("Add", f"attn.{p}.pv", [oc, on], (B, KV, g, hd))
            kv_elements += 2 * B * KV * C * hd
        o = b.reshape(f"attn.{p}.o_heads", o, (B, H, S, hd))
        o = b.op("Transpose", f"attn.{p}.o_t", [o], (B, S, H, hd), perm=[0, 2, 1, 3])
        o = b.reshape(f"attn.{p}.o_2d", o, (T, H * hd))
        o = b.linear(f"attn.{p}.o", o, f"{blk}.attn_output.weight", D, tp="row")
        x = b.op("Add", f"other.{p}.attn_residual", [x, o], (T, D))
        h = b.rms_norm(f"other.{p}.ffn_norm", x, f"{blk}.ffn_norm.weight", m.norm_eps)
        if routes is None:
            y = _mlp(b, f"mlp.{p}", h, blk, "", m.ffn, D)
        else:
            y = _moe(b, f"mlp.{p}", h, blk, routes, m, T, D)
        x = b.op("Add", f"other.{p}.ffn_residual", [x, y], (T, D))
    if prefill and S > 1:
        last = b.ints([bi * S + S - 1 for bi in range(B)])
        x = b.op("Gather", "other.last_token", [x, last], (B, D), axis=0, gather_rows=1)
    x = b.rms_norm("other.output_norm", x, "output_norm.weight", m.norm_eps)
    head = "token_embd.weight" if m.tied_embeddings else "output.weight"
    logits = b.linear("lm_head", x, head, m.vocab)
    b.g.outputs.insert(0, logits)
    graph = b.g
    experts_used = sorted({e for r in routes for e in r}) if routes else []
    graph.meta["llm"] = {
        "model": m.name, "phase": spec.phase, "batch": B,
        **({"seq": S} if prefill else {"ctx": spec.ctx}),
        "layers": L, "kv_heads": KV, "head_dim": hd,
        "tokens": T, "kv_elements": kv_elements,
        **({"experts_used": experts_used} if routes else {}),
        # the weights this step reads: all but an untied token table, of which it reads the
        # rows it looks up (a tied table is read whole by lm_head)
        "weights": [n for n in b.weight_names
                    if m.tied_embeddings or n != "token_embd.weight"],
        "lookup_elements": 0 if m.tied_embeddings else T * D,
    }
    graph.validate()
    return graph


def _mlp(b: _Builder, p: str, h: str, blk: str, suffix: str, ffn: int, D: int) -> str:
    rows = b.shape(h)[0]
    gate = b.linear(f"{p}.gate", h, f"{blk}.ffn_gate{suffix}.weight", ffn)
    up = b.linear(f"{p}.up", h, f"{blk}.ffn_up{suffix}.weight", ffn)
    sg = b.op("Sigmoid", f"{p}.sigmoid", [gate], (rows, ffn))
    act = b.op("Mul", f"{p}.silu", [gate, sg], (rows, ffn))
    act = b.op("Mul", f"{p}.swiglu", [act, up], (rows, ffn))
    return b.linear(f"{p}.down", act, f"{blk}.ffn_down{suffix}.weight", D, tp="row")


def _moe(b: _Builder, p: str, h: str, blk: str, routes: list[list[int]], m: ModelConfig,
         T: int, D: int) -> str:
    """Router, softmax over each token's chosen logits, the chosen experts on their tokens,
    weighted and summed back per token."""
    E, k = m.experts, m.top_k
    logits = b.linear(f"{p}.router", h, f"{blk}.ffn_gate_inp.weight", E)
    flat = b.reshape(f"{p}.router_flat", logits, (T * E,))
    chosen = b.ints([t * E + e for t, r in enumerate(routes) for e in r])
    sel = b.op("Gather", f"{p}.router_topk", [flat, chosen], (T * k,), axis=0)
    sel = b.reshape(f"{p}.router_topk_2d", sel, (T, k))
    w = b.op("Softmax", f"{p}.router_softmax", [sel], (T, k), axis=-1)
    w = b.reshape(f"{p}.router_weights", w, (T * k,))
    parts, order = [], []
    for e in sorted({e for r in routes for e in r}):
        rows = [t for t, r in enumerate(routes) if e in r]
        pos = [t * k + r.index(e) for t, r in enumerate(routes) if e in r]
        xe = h if rows == list(range(T)) else \
            b.op("Gather", f"{p}.e{e}.tokens", [h, b.ints(rows)], (len(rows), D), axis=0,
                 gather_rows=1)
        ye = _mlp(b, f"{p}.e{e}", xe, blk, f".{e}", m.ffn, D)
        we = b.op("Gather", f"{p}.e{e}.weight", [w, b.ints(pos)], (len(rows),), axis=0)
        we = b.reshape(f"{p}.e{e}.weight_col", we, (len(rows), 1))
        parts.append(b.op("Mul", f"{p}.e{e}.scaled", [ye, we], (len(rows), D)))
        order += pos
    cat = b.op("Concat", f"{p}.experts", parts, (T * k, D), axis=0) if len(parts) > 1 \
        else parts[0]
    inverse = np.argsort(np.asarray(order)).tolist()
    back = b.op("Gather", f"{p}.unpermute", [cat, b.ints(inverse)], (T * k, D), axis=0)
    back = b.reshape(f"{p}.per_token", back, (T, k, D))
    return b.op("ReduceSum", f"{p}.combine", [back, b.ints([1])], (T, D), keepdims=0)


def _name(spec: LlmSpec) -> str:
    where = f"seq={spec.seq}" if spec.phase == "prefill" else f"ctx={spec.ctx}"
    return f"{spec.model.name}-{spec.phase}-b{spec.batch}-{where}"
