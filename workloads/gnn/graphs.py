"""Graphs a GNN runs on: the shipped Planetoid citation graphs, networkx graphs, edge-list files
and seeded synthetic generators (RMAT, power law) that reach millions of edges in a second.

Every source becomes a :class:`GraphData`: directed edges ``src -> dst`` (messages flow from
source to destination) and, when the dataset has them, node features. Generators are vectorized
numpy and seeded, so the same name always gives the same graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workloads.errors import WorkloadError
from workloads.files import read_text

DATA_DIR = Path(__file__).resolve().parent / "data"
PLANETOID = ("cora", "citeseer")
GENERATORS = ("rmat", "powerlaw")
EDGE_LIST_SUFFIXES = (".edges", ".edgelist", ".el", ".txt", ".tsv")


@dataclass
class GraphData:
    """A directed graph with ``num_nodes`` vertices; ``features`` is ``None`` for structure-only
    graphs (models then draw seeded random features of width ``num_features``)."""

    name: str
    num_nodes: int
    src: np.ndarray
    dst: np.ndarray
    num_features: int
    num_classes: int
    features: Any = None   # (N, F) float32 ndarray, or None

    @property
    def num_edges(self) -> int:
        return int(self.src.size)

    def feature_matrix(self, seed: int = 0) -> np.ndarray:
        """Dense float32 node features (the dataset's own, else seeded standard normal)."""
        if self.features is not None:
            return np.asarray(self.features, dtype=np.float32)
        rng = np.random.default_rng(seed)
        return rng.standard_normal((self.num_nodes, self.num_features), dtype=np.float32)

    def with_self_loops(self) -> tuple[np.ndarray, np.ndarray]:
        """Edges plus one ``v -> v`` per vertex that lacks one (GCN's A + I)."""
        has = np.zeros(self.num_nodes, dtype=bool)
        has[self.src[self.src == self.dst]] = True
        loops = np.flatnonzero(~has)
        return np.concatenate([self.src, loops]), np.concatenate([self.dst, loops])


def load_planetoid(name: str) -> GraphData:
    """Cora or CiteSeer as shipped in ``workloads/gnn/data`` (see its README for attribution)."""
    path = DATA_DIR / f"{name}.npz"
    if not path.is_file():
        raise WorkloadError(f"dataset file {path} is missing from the installed package",
                            where=name)
    with np.load(path) as z:
        edge_index = z["edge_index"]
        n = int(z["labels"].shape[0])
        f = int(z["num_features"])
        feats = np.zeros((n, f), dtype=np.float32)
        indptr, indices = z["features_indptr"], z["features_indices"]
        rows = np.repeat(np.arange(n), np.diff(indptr))
        feats[rows, indices] = z["features_data"]
        return GraphData(name, n, edge_index[0].astype(np.int64), edge_index[1].astype(np.int64),
                         f, int(z["num_classes"]), feats)


def from_networkx(g: Any, name: str = "networkx", num_features: int = 16,
                  num_classes: int = 4) -> GraphData:
    """Any networkx graph; nodes are renumbered 0..N-1 in iteration order, an undirected edge
    becomes both directions."""
    nodes = list(g.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    pairs = np.array([(index[u], index[v]) for u, v in g.edges()], dtype=np.int64).reshape(-1, 2)
    src, dst = pairs[:, 0], pairs[:, 1]
    if not g.is_directed():
        keep = src != dst
        src, dst = np.concatenate([src, dst[keep]]), np.concatenate([dst, src[keep]])
    return GraphData(name, len(nodes), src, dst, num_features, num_classes)


def read_edge_list(path: str | Path, num_features: int = 16, num_classes: int = 4,
                   undirected: bool = False) -> GraphData:
    """A text file of ``SRC DST`` pairs (whitespace or comma separated, ``#``/``%`` comments);
    vertex ids are non-negative integers, the vertex count is the largest id + 1."""
    path = Path(path)
    text = read_text(path, "edge list", WorkloadError)
    src: list[int] = []
    dst: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].split("%", 1)[0].replace(",", " ").split()
        if not body:
            continue
        try:
            u, v = int(body[0]), int(body[1])
        except (ValueError, IndexError):
            raise WorkloadError(f"expected 'SRC DST' (two non-negative integer vertex ids), got "
                                f"{line.strip()!r}", where=f"{path}:{lineno}") from None
        if u < 0 or v < 0:
            raise WorkloadError("vertex ids must be non-negative", where=f"{path}:{lineno}")
        src.append(u)
        dst.append(v)
    if not src:
        raise WorkloadError("the edge list has no edges", where=str(path))
    s, d = np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)
    if undirected:
        keep = s != d
        s, d = np.concatenate([s, d[keep]]), np.concatenate([d, s[keep]])
    n = int(max(s.max(), d.max())) + 1
    return GraphData(path.stem, n, s, d, num_features, num_classes)


def _dedup(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop self loops and repeated edges (keeps the first of each, sorted by (src, dst))."""
    keep = src != dst
    key = np.unique(src[keep] * n + dst[keep])
    return key // n, key % n


def rmat(scale: int, edges: int, a: float = 0.57, b: float = 0.19, c: float = 0.19,
         seed: int = 0, num_features: int = 16, num_classes: int = 4) -> GraphData:
    """Recursive-matrix (Graph500-style) power-law graph on 2**scale vertices with ``edges``
    distinct directed edges, drawn quadrant by quadrant for all edges at once per bit."""
    if not 1 <= scale <= 30 or edges < 1 or min(a, b, c) < 0 or a + b + c >= 1:
        raise WorkloadError("rmat needs 1 <= scale <= 30, edges >= 1, a,b,c >= 0 and "
                            "a + b + c < 1", where=f"rmat scale={scale} edges={edges}")
    n = 1 << scale
    if edges > n * (n - 1) // 2:
        raise WorkloadError(f"{edges} edges do not fit in 2**{scale} vertices",
                            where="rmat")
    rng = np.random.default_rng(seed)
    src = np.zeros(0, dtype=np.int64)
    dst = np.zeros(0, dtype=np.int64)
    want = edges
    while src.size < edges:
        draw = int((want - src.size) * 1.2) + 16
        s = np.zeros(draw, dtype=np.int64)
        d = np.zeros(draw, dtype=np.int64)
        for bit in range(scale):
            r = rng.random(draw)
            down = r >= a + b          # quadrants c, d: source bit set
            right = ((r >= a) & (r < a + b)) | (r >= a + b + c)
            s |= down.astype(np.int64) << bit
            d |= right.astype(np.int64) << bit
        src, dst = _dedup(n, np.concatenate([src, s]), np.concatenate([dst, d]))
    pick = np.sort(rng.choice(src.size, edges, replace=False))
    # A seeded vertex relabelling spreads the hubs (RMAT puts them at low ids).
    perm = rng.permutation(n)
    return GraphData(f"rmat{scale}", n, perm[src[pick]], perm[dst[pick]], num_features,
                     num_classes)


def powerlaw(vertices: int, edges: int, exponent: float = 2.5, seed: int = 0,
             num_features: int = 16, num_classes: int = 4) -> GraphData:
    """Chung-Lu graph: endpoints drawn with probability proportional to a power-law weight
    ``i ** (-1 / (exponent - 1))``, so degrees follow that exponent; ``edges`` distinct edges."""
    if vertices < 2 or edges < 1 or exponent <= 1 or edges > vertices * (vertices - 1) // 2:
        raise WorkloadError("powerlaw needs vertices >= 2, 1 <= edges <= vertices^2/2 and "
                            "exponent > 1", where=f"powerlaw vertices={vertices}")
    rng = np.random.default_rng(seed)
    weight = np.arange(1, vertices + 1, dtype=np.float64) ** (-1.0 / (exponent - 1.0))
    cdf = np.cumsum(weight / weight.sum())
    cdf[-1] = 1.0
    src = np.zeros(0, dtype=np.int64)
    dst = np.zeros(0, dtype=np.int64)
    while src.size < edges:
        draw = int((edges - src.size) * 1.3) + 16
        s = np.searchsorted(cdf, rng.random(draw), side="right")
        d = np.searchsorted(cdf, rng.random(draw), side="right")
        src, dst = _dedup(vertices, np.concatenate([src, s]), np.concatenate([dst, d]))
    pick = np.sort(rng.choice(src.size, edges, replace=False))
    perm = rng.permutation(vertices)
    return GraphData(f"powerlaw{vertices}", vertices, perm[src[pick]], perm[dst[pick]],
                     num_features, num_classes)


def _int_option(options: dict[str, str], key: str, default: int, where: str) -> int:
    value = options.pop(key, None)
    if value is None:
        return default
    try:
        return int(float(value)) if "e" in value.lower() else int(value)
    except ValueError:
        raise WorkloadError(f"option {key} must be an integer, got {value!r}", where) from None


def _float_option(options: dict[str, str], key: str, default: float, where: str) -> float:
    value = options.pop(key, None)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise WorkloadError(f"option {key} must be a number, got {value!r}", where) from None


def load_graph(spec: str, options: dict[str, str], where: str) -> GraphData:
    """The graph part of a ``gnn:MODEL:GRAPH`` name; consumes the graph's keys from ``options``.

    ``cora``, ``citeseer``; ``rmat`` (``scale``, ``edges``, ``a``, ``b``, ``c``); ``powerlaw``
    (``vertices``, ``edges``, ``exponent``); or an edge-list file (``undirected=1`` to add the
    reverse edges). Generated and file graphs take ``features`` and ``classes`` (widths) and
    ``graph_seed``.
    """
    if spec in PLANETOID:
        return load_planetoid(spec)
    feats = _int_option(options, "features", 16, where)
    classes = _int_option(options, "classes", 4, where)
    seed = _int_option(options, "graph_seed", 0, where)
    if feats < 1 or classes < 1:
        raise WorkloadError("features and classes must be >= 1", where)
    if spec == "rmat":
        edges = _int_option(options, "edges", 100_000, where)
        default_scale = max(2, int(np.ceil(np.log2(max(edges, 4) / 8))))
        scale = _int_option(options, "scale", default_scale, where)
        a = _float_option(options, "a", 0.57, where)
        b = _float_option(options, "b", 0.19, where)
        c = _float_option(options, "c", 0.19, where)
        return rmat(scale, edges, a, b, c, seed, feats, classes)
    if spec == "powerlaw":
        edges = _int_option(options, "edges", 100_000, where)
        vertices = _int_option(options, "vertices", max(16, edges // 8), where)
        exponent = _float_option(options, "exponent", 2.5, where)
        return powerlaw(vertices, edges, exponent, seed, feats, classes)
    path = Path(spec)
    if path.suffix.lower() in EDGE_LIST_SUFFIXES or path.is_file():
        if not path.is_file():
            raise WorkloadError("is a folder, not an edge-list file" if path.is_dir() else
                                "no such edge-list file", where=spec)
        undirected = options.pop("undirected", "0") not in ("0", "false", "no")
        return read_edge_list(path, feats, classes, undirected)
    raise WorkloadError(f"unknown graph {spec!r}; accepted: {', '.join(PLANETOID)}, "
                        f"{', '.join(GENERATORS)} (with ?edges=...), or an edge-list file "
                        f"({', '.join(EDGE_LIST_SUFFIXES)})", where=where)
