"""GNN workloads: graphs, the four models against scipy.sparse references on Cora, and the
redundancy-elimination and tiling passes (exact coverage, saved-op counts, same outputs)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from simulator.passes import apply_passes
from simulator.passes.gnn_redundancy import eliminate_redundancy
from simulator.passes.gnn_tiling import tile_edges, tile_graph
from workloads.errors import ArchsimError, WorkloadError
from workloads.gnn import build_model, from_networkx, load_gnn_workload
from workloads.gnn.execute import execute
from workloads.gnn.graphs import load_planetoid, powerlaw, read_edge_list, rmat
from workloads.gnn.ir import total_cost
from workloads.loader import load_workload

RTOL, ATOL = 1e-4, 1e-5


def P(graph, name):
    return graph.tensors[name].values


def adjacency(graph):
    """A[dst, src] as CSR: row v lists v's in-neighbours."""
    src, dst = graph.tensors["adj"].values
    n = graph.tensor("x").shape[0]
    return sp.csr_matrix((np.ones(src.size, np.float64), (dst, src)), shape=(n, n))


def relu(x):
    return np.maximum(x, 0)


def ref_gcn(g, layers=2):
    a = adjacency(g)
    d_in = np.asarray(a.sum(1)).ravel()
    d_out = np.asarray(a.sum(0)).ravel()
    norm = sp.diags(d_in ** -0.5) @ a @ sp.diags(d_out ** -0.5)
    h = P(g, "x").astype(np.float64)
    for i in range(layers):
        h = norm @ (h @ P(g, f"l{i}.W")) + P(g, f"l{i}.b")
        h = relu(h) if i < layers - 1 else h
    return h


def ref_sage(g, layers=2):
    a = adjacency(g)
    deg = np.maximum(np.asarray(a.sum(1)).ravel(), 1)
    mean = sp.diags(1 / deg) @ a
    h = P(g, "x").astype(np.float64)
    for i in range(layers):
        h = (mean @ h) @ P(g, f"l{i}.W_neigh") + h @ P(g, f"l{i}.W_self") + P(g, f"l{i}.b")
        h = relu(h) if i < layers - 1 else h
    return h


def ref_gin(g, layers=2, eps=0.0):
    a = adjacency(g)
    h = P(g, "x").astype(np.float64)
    for i in range(layers):
        m = (1 + eps) * h + a @ h
        m = relu(m @ P(g, f"l{i}.W1") + P(g, f"l{i}.b1"))
        h = m @ P(g, f"l{i}.W2") + P(g, f"l{i}.b2")
        h = relu(h) if i < layers - 1 else h
    return h


def ref_gat(g, layers=2):
    a = adjacency(g).tocsr()
    a.sort_indices()
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    cols = a.indices
    h = P(g, "x").astype(np.float64)
    for i in range(layers):
        att_s, att_d = P(g, f"l{i}.a_src"), P(g, f"l{i}.a_dst")
        k, f = att_s.shape
        z = (h @ P(g, f"l{i}.W")).reshape(-1, k, f)
        el, er = (z * att_s).sum(-1), (z * att_d).sum(-1)
        e = el[cols] + er[rows]
        e = np.where(e > 0, e, 0.2 * e)
        out = np.zeros((a.shape[0], k, f))
        for head in range(k):   # softmax per destination row through CSR segments
            w = sp.csr_matrix((e[:, head], cols, a.indptr), shape=a.shape)
            row_max = w.max(axis=1).toarray().ravel()
            ex = np.exp(e[:, head] - row_max[rows])
            alpha = sp.csr_matrix((ex, cols, a.indptr), shape=a.shape)
            alpha = sp.diags(1 / np.asarray(alpha.sum(1)).ravel()) @ alpha
            out[:, head] = alpha @ z[:, head]
        if i < layers - 1:
            h = out.reshape(out.shape[0], -1)
            h = np.where(h > 0, h, np.expm1(np.minimum(h, 0)))
        else:
            h = out.mean(1)
    return h


REFS = {"gcn": ref_gcn, "sage": ref_sage, "gin": ref_gin, "gat": ref_gat}


@pytest.fixture(scope="module")
def cora_models():
    return {m: load_gnn_workload(f"gnn:{m}:cora") for m in REFS}


@pytest.mark.parametrize("model", list(REFS))
def test_model_on_cora_matches_scipy_reference(cora_models, model):
    g = cora_models[model]
    out = execute(g)[g.outputs[0]]
    assert out.shape == (2708, 7)
    np.testing.assert_allclose(out, REFS[model](g), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("model", list(REFS))
def test_tiling_and_redundancy_elimination_keep_the_output(cora_models, model):
    g = cora_models[model]
    ref = execute(g)[g.outputs[0]]
    opt, _ = eliminate_redundancy(g)
    tiled = tile_graph(opt, 300, 700, 400)   # many tiles, chunked, online softmax across them
    assert len(tiled.tensors["adj.tiles"].values) > 20
    np.testing.assert_allclose(execute(tiled)[tiled.outputs[0]], ref, rtol=RTOL, atol=ATOL)


def test_gat_redundancy_elimination_counts():
    g = load_gnn_workload("gnn:gat:cora?layers=1&heads=2&hidden=4")
    e, v, f, kh = g.tensor("adj").shape[1], 2708, 1433, 7   # one layer: out_heads=1, 7 classes
    opt, rep = eliminate_redundancy(g)
    # W h moves from both endpoints of every edge (2 E f kh MACs) to one per vertex (V f kh)
    assert rep.saved["macs"] == 2 * e * f * kh - v * f * kh
    assert rep.after["macs"] == v * f * kh
    # two scatters of f-wide features become three scatters: z (kh wide) and two scores
    assert rep.saved["gs_elements"] == 2 * e * f - (e * kh + 2 * e * 1)
    # both head-dot halves now run per vertex: 2 ops per element, V rows instead of E
    assert rep.saved["vector_ops"] == 2 * (2 * e * kh) - 2 * (2 * v * kh)
    assert sorted(rep.hoisted) == ["l0.edst", "l0.esrc", "l0.zdst", "l0.zsrc"]
    assert total_cost(opt) == rep.after
    assert {op.type for op in opt.ops if op.name.endswith("@v")} == {"GnnApplyVertex",
                                                                      "GnnVertexOp"}


def test_redundancy_elimination_leaves_gcn_alone(cora_models):
    opt, rep = eliminate_redundancy(cora_models["gcn"])
    assert rep.saved_total == 0 and [o.name for o in opt.ops] == \
        [o.name for o in cora_models["gcn"].ops]


def test_tiles_cover_every_edge_exactly_once():
    data = rmat(12, 30_000, seed=3)
    order, table = tile_edges(data.src, data.dst, data.num_nodes, 256, 1024, 500)
    assert np.array_equal(np.sort(order), np.arange(data.num_edges))   # a permutation
    e0, e1, v0, dv, u0, du, uniq = table.T
    assert e0[0] == 0 and e1[-1] == data.num_edges and np.array_equal(e0[1:], e1[:-1])
    assert (e1 > e0).all() and (e1 - e0 <= 500).all()   # no empty tiles, chunks fit
    s, d = data.src[order], data.dst[order]
    tile = np.repeat(np.arange(len(table)), e1 - e0)
    assert ((d >= v0[tile]) & (d < v0[tile] + dv[tile])).all()
    assert ((s >= u0[tile]) & (s < u0[tile] + du[tile])).all()
    for t in (0, len(table) // 2, len(table) - 1):
        assert uniq[t] == np.unique(s[e0[t]:e1[t]]).size
    blocks = {(a, b) for a, b in zip(d // 256, s // 1024, strict=True)}
    assert len({(a // 256, b // 1024) for a, b in zip(v0, u0, strict=True)}) == len(blocks)


def test_tiling_pass_from_the_command_line_form():
    g = load_workload("gnn:gcn:cora")
    tiled = apply_passes(g, ["gnn_tiling=512x1024"])
    table = tiled.tensors["adj.tiles"].values
    assert table[:, 3].max() == 512 and table[:, 5].max() == 1024
    with pytest.raises(ArchsimError, match="DSTxSRC"):
        apply_passes(g, ["gnn_tiling=axb"])


def test_planetoid_graphs_are_the_documented_ones():
    cora, citeseer = load_planetoid("cora"), load_planetoid("citeseer")
    assert (cora.num_nodes, cora.num_edges, cora.num_features, cora.num_classes) == \
        (2708, 10556, 1433, 7)
    assert (citeseer.num_nodes, citeseer.num_edges, citeseer.num_features) == (3327, 9104, 3703)
    assert cora.features.sum() == 49216   # binary bag of words


def test_generators_are_seeded_and_sized():
    a, b = rmat(14, 100_000, seed=1), rmat(14, 100_000, seed=1)
    assert a.num_edges == 100_000 and np.array_equal(a.src, b.src)
    assert not np.any(a.src == a.dst)
    assert np.unique(a.src * a.num_nodes + a.dst).size == a.num_edges   # distinct edges
    degree = np.bincount(a.dst, minlength=a.num_nodes)
    assert degree.max() > 20 * degree.mean()   # heavy tail
    p = powerlaw(5000, 20_000, seed=2)
    assert p.num_edges == 20_000 and p.src.max() < 5000


def test_networkx_and_edge_list_graphs(tmp_path):
    data = from_networkx(nx.karate_club_graph(), num_features=8, num_classes=2)
    assert data.num_nodes == 34 and data.num_edges == 2 * 78
    g = build_model("gin", data)
    assert execute(g)[g.outputs[0]].shape == (34, 2)
    path = tmp_path / "g.edges"
    path.write_text("# src dst\n0 1\n1 2\n2,0\n")
    assert read_edge_list(path, undirected=True).num_edges == 6
    g = load_workload(f"gnn:sage:{path}?features=4&classes=3")
    assert g.tensor("x").shape == (3, 4)
    path.write_text("0 1\n1 x\n")
    with pytest.raises(WorkloadError, match=r"g.edges:2"):
        read_edge_list(path)


@pytest.mark.parametrize("spec, message", [
    ("gnn:gcn", "expected gnn:MODEL:GRAPH"),
    ("gnn:foo:cora", "unknown GNN model"),
    ("gnn:gcn:nosuch", "unknown graph"),
    ("gnn:gcn:cora?bogus=1", "unknown option"),
    ("gnn:gat:cora?heads=x", "must be an integer"),
])
def test_bad_gnn_names_are_user_errors(spec, message):
    with pytest.raises(WorkloadError, match=message):
        load_workload(spec)


def test_given_weights_are_used():
    data = from_networkx(nx.path_graph(4), num_features=3, num_classes=2)
    w0 = np.eye(3, 5, dtype=np.float32)
    g = build_model("gcn", data, hidden=5, weights={"l0.W": w0})
    assert np.array_equal(g.tensors["l0.W"].values, w0)
    with pytest.raises(WorkloadError, match="shape"):
        build_model("gcn", data, hidden=4, weights={"l0.W": w0})
