"""GNN models as GNN IR programs: GCN, GraphSAGE (mean), GIN and GAT (multi-head).

Each builder writes the layer math in SAGA form (scatter, apply-edge, gather, apply-vertex).
GAT is written the way its equations read, with ``W h`` and both halves of the attention score
computed per edge: the redundancy-elimination pass is what moves them to the vertices. Weights
are seeded Glorot-uniform unless given by name (``{"l0.W": array, ...}``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workloads.errors import WorkloadError
from workloads.gnn.graphs import GraphData
from workloads.gnn.ir import ADJ, GnnBuilder
from workloads.graph import Graph, Tensor

MODELS = ("gcn", "sage", "gin", "gat")
DEFAULTS = {"gcn": {"layers": 2, "hidden": 16}, "sage": {"layers": 2, "hidden": 16},
            "gin": {"layers": 2, "hidden": 64}, "gat": {"layers": 2, "hidden": 8, "heads": 8}}


class _Weights:
    """Seeded Glorot-uniform parameters, or the caller's where it names them."""

    def __init__(self, builder: GnnBuilder, seed: int, given: dict[str, np.ndarray] | None):
        self.b = builder
        self.rng = np.random.default_rng(seed)
        self.given = dict(given or {})

    def __call__(self, name: str, shape: tuple[int, ...], zero: bool = False) -> str:
        if name in self.given:
            values = np.asarray(self.given.pop(name), dtype=np.float32)
            if values.shape != shape:
                raise WorkloadError(f"weight {name} has shape {values.shape}, the model needs "
                                    f"{shape}")
        elif zero:
            values = np.zeros(shape, dtype=np.float32)
        else:
            fan = shape[0] + (shape[-1] if len(shape) > 1 else 0)
            limit = np.sqrt(6.0 / max(fan, 1))
            values = self.rng.uniform(-limit, limit, size=shape).astype(np.float32)
        return self.b.param(name, values)


def _base(data: GraphData, name: str, self_loops: bool, feature_seed: int
          ) -> tuple[Graph, GnnBuilder, np.ndarray, np.ndarray]:
    src, dst = data.with_self_loops() if self_loops else (data.src, data.dst)
    graph = Graph(name=name)
    graph.add_tensor(Tensor(ADJ, (2, src.size), values=np.stack([src, dst]), dtype="int64"))
    graph.add_tensor(Tensor("x", (data.num_nodes, data.num_features)))
    graph.inputs.append("x")
    graph.tensors["x"].values = data.feature_matrix(feature_seed)
    return graph, GnnBuilder(graph, data.num_nodes, int(src.size)), src, dst


def _widths(data: GraphData, layers: int, hidden: int) -> list[int]:
    return [data.num_features] + [hidden] * (layers - 1) + [data.num_classes]


def gcn(data: GraphData, layers: int, hidden: int, w: Callable, b: GnnBuilder,
        src: np.ndarray, dst: np.ndarray, **_) -> str:
    """Kipf & Welling: h' = act(D_in^-1/2 (A + I) D_out^-1/2 h W + b); transform first when it
    narrows the features (fewer edge elements), aggregate first otherwise."""
    n = data.num_nodes
    out_deg = np.bincount(src, minlength=n).astype(np.float32)
    in_deg = np.bincount(dst, minlength=n).astype(np.float32)
    norm = (out_deg[src] ** -0.5 * in_deg[dst] ** -0.5).astype(np.float32)[:, None]
    b.param("gcn.norm", norm)
    dims = _widths(data, layers, hidden)
    h = "x"
    for layer in range(layers):
        f_in, f_out = dims[layer], dims[layer + 1]
        act = "relu" if layer < layers - 1 else "none"
        p = f"l{layer}"
        weight, bias = w(f"{p}.W", (f_in, f_out)), w(f"{p}.b", (f_out,), zero=True)
        if f_out <= f_in:
            z = b.apply_vertex(f"{p}.xw", h, weight)
            m = b.row(f"{p}.msg", "edge", "mul", [b.scatter(f"{p}.src", z, "src"), "gcn.norm"],
                      f_out)
            h = b.row(f"{p}.out", "vertex", "bias", [b.gather(f"{p}.agg", m), bias], f_out,
                      activation=act)
        else:
            m = b.row(f"{p}.msg", "edge", "mul", [b.scatter(f"{p}.src", h, "src"), "gcn.norm"],
                      f_in)
            h = b.apply_vertex(f"{p}.out", b.gather(f"{p}.agg", m), weight, bias, act)
    return h


def sage(data: GraphData, layers: int, hidden: int, w: Callable, b: GnnBuilder, **_) -> str:
    """GraphSAGE, mean aggregator: h' = act(h W_self + mean_{u->v} h_u W_neigh + b)."""
    dims = _widths(data, layers, hidden)
    h = "x"
    for layer in range(layers):
        f_in, f_out = dims[layer], dims[layer + 1]
        act = "relu" if layer < layers - 1 else "none"
        p = f"l{layer}"
        agg = b.gather(f"{p}.agg", b.scatter(f"{p}.src", h, "src"), "mean")
        neigh = b.apply_vertex(f"{p}.neigh", agg, w(f"{p}.W_neigh", (f_in, f_out)))
        self_ = b.apply_vertex(f"{p}.self", h, w(f"{p}.W_self", (f_in, f_out)),
                               w(f"{p}.b", (f_out,), zero=True))
        h = b.row(f"{p}.out", "vertex", "add", [neigh, self_], f_out, activation=act)
    return h


def gin(data: GraphData, layers: int, hidden: int, w: Callable, b: GnnBuilder,
        eps: float = 0.0, **_) -> str:
    """GIN: h' = MLP((1 + eps) h + sum_{u->v} h_u), a two-layer ReLU MLP per layer."""
    dims = _widths(data, layers, hidden)
    h = "x"
    for layer in range(layers):
        f_in, f_out = dims[layer], dims[layer + 1]
        p = f"l{layer}"
        agg = b.gather(f"{p}.agg", b.scatter(f"{p}.src", h, "src"))
        mixed = b.row(f"{p}.mix", "vertex", "axpy", [h, agg], f_in, eps=float(eps))
        hid = b.apply_vertex(f"{p}.mlp1", mixed, w(f"{p}.W1", (f_in, hidden)),
                             w(f"{p}.b1", (hidden,), zero=True), "relu")
        h = b.apply_vertex(f"{p}.mlp2", hid, w(f"{p}.W2", (hidden, f_out)),
                           w(f"{p}.b2", (f_out,), zero=True),
                           "relu" if layer < layers - 1 else "none")
    return h


def gat(data: GraphData, layers: int, hidden: int, w: Callable, b: GnnBuilder,
        heads: int = 8, out_heads: int = 1, **_) -> str:
    """GAT (Velickovic et al.): per head k, e_uv = LeakyReLU(a_l . W h_v + a_r . W h_u) over
    in-edges u -> v (self loops added), alpha = softmax_u(e), h'_v = sum_u alpha_uv W h_u;
    heads concatenated with ELU in hidden layers, averaged in the last."""
    dims = [data.num_features] + [hidden] * (layers - 1) + [data.num_classes]
    h, width_in = "x", data.num_features
    for layer in range(layers):
        last = layer == layers - 1
        k = out_heads if last else heads
        f_out = dims[layer + 1]
        p = f"l{layer}"
        weight = w(f"{p}.W", (width_in, k * f_out))
        att_src, att_dst = w(f"{p}.a_src", (k, f_out)), w(f"{p}.a_dst", (k, f_out))
        hs, hd = b.scatter(f"{p}.hsrc", h, "src"), b.scatter(f"{p}.hdst", h, "dst")
        zs = b.row(f"{p}.zsrc", "edge", "matmul", [hs, weight], k * f_out)
        zd = b.row(f"{p}.zdst", "edge", "matmul", [hd, weight], k * f_out)
        es = b.row(f"{p}.esrc", "edge", "head_dot", [zs, att_src], k)
        ed = b.row(f"{p}.edst", "edge", "head_dot", [zd, att_dst], k)
        score = b.row(f"{p}.score", "edge", "add", [es, ed], k, activation="leaky_relu")
        alpha = b.edge_softmax(f"{p}.alpha", score)
        agg = b.gather(f"{p}.agg", zs, "sum", weight=alpha)
        if last:
            h = b.row(f"{p}.out", "vertex", "head_mean", [agg], f_out, heads=k)
        else:
            h = b.row(f"{p}.out", "vertex", "act", [agg], k * f_out, activation="elu")
        width_in = k * f_out
    return h


_BUILDERS = {"gcn": gcn, "sage": sage, "gin": gin, "gat": gat}
_SELF_LOOPS = {"gcn": True, "sage": False, "gin": False, "gat": True}


def build_model(model: str, data: GraphData, *, layers: int | None = None,
                hidden: int | None = None, heads: int | None = None, out_heads: int = 1,
                eps: float = 0.0, seed: int = 0, weights: dict[str, np.ndarray] | None = None,
                name: str | None = None) -> Graph:
    """The GNN IR program of ``model`` on ``data``; the input ``x`` carries the features as its
    values (the dataset's, or seeded random ones) so functional runs need nothing else."""
    if model not in _BUILDERS:
        raise WorkloadError(f"unknown GNN model {model!r}; accepted: {', '.join(MODELS)}")
    d = DEFAULTS[model]
    layers = d["layers"] if layers is None else layers
    hidden = d["hidden"] if hidden is None else hidden
    heads = d.get("heads", 1) if heads is None else heads
    if layers < 1 or hidden < 1 or heads < 1 or out_heads < 1:
        raise WorkloadError("layers, hidden, heads and out_heads must be >= 1",
                            where=name or model)
    graph, builder, src, dst = _base(data, name or f"gnn:{model}:{data.name}",
                                     _SELF_LOOPS[model], seed)
    w = _Weights(builder, seed, weights)
    out = _BUILDERS[model](data, layers, hidden, w, builder, src=src, dst=dst, heads=heads,
                           out_heads=out_heads, eps=eps)
    if w.given:
        raise WorkloadError(f"unknown weight name(s) {', '.join(sorted(w.given))} for {model}")
    graph.outputs.append(out)
    graph.validate()
    return graph
