"""GNN workloads: ``gnn:MODEL:GRAPH[?key=value&...]`` names, models, graphs and the GNN IR.

Examples: ``gnn:gcn:cora``, ``gnn:gat:citeseer?heads=4&hidden=16``,
``gnn:sage:rmat?edges=1000000&features=64``, ``gnn:gin:graphs/my.edges?undirected=1``.
Model keys: ``layers``, ``hidden``, ``heads``, ``out_heads``, ``eps``, ``seed``; graph keys are
those of :func:`workloads.gnn.graphs.load_graph`.
"""

from __future__ import annotations

from workloads.errors import WorkloadError
from workloads.gnn.graphs import GraphData, from_networkx, load_graph
from workloads.gnn.models import MODELS, build_model
from workloads.graph import Graph

FORM = "gnn:MODEL:GRAPH[?key=value&...]"


def parse_options(text: str, where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in filter(None, text.split("&")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise WorkloadError(f"option {item!r} is not key=value", where=where)
        options[key.strip()] = value.strip()
    return options


def load_gnn_workload(spec: str) -> Graph:
    """Parse a ``gnn:`` workload name into its GNN IR program."""
    body, _, query = spec.partition("?")
    parts = body.split(":", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise WorkloadError(f"expected {FORM}; models: {', '.join(MODELS)}; graphs: cora, "
                            "citeseer, rmat, powerlaw or an edge-list file", where=spec)
    _, model, graph_spec = parts
    if model not in MODELS:
        raise WorkloadError(f"unknown GNN model {model!r}; accepted: {', '.join(MODELS)}",
                            where=spec)
    options = parse_options(query, spec)
    data = load_graph(graph_spec, options, spec)
    kwargs: dict = {}
    for key in ("layers", "hidden", "heads", "out_heads", "seed"):
        if key in options:
            value = options.pop(key)
            try:
                kwargs[key] = int(value)
            except ValueError:
                raise WorkloadError(f"option {key} must be an integer, got {value!r}",
                                    where=spec) from None
    if "eps" in options:
        value = options.pop("eps")
        try:
            kwargs["eps"] = float(value)
        except ValueError:
            raise WorkloadError(f"option eps must be a number, got {value!r}", spec) from None
    if options:
        raise WorkloadError(f"unknown option(s) {', '.join(sorted(options))}; accepted: layers, "
                            "hidden, heads, out_heads, eps, seed, and for generated or file "
                            "graphs features, classes, graph_seed, edges, scale, vertices, "
                            "exponent, a, b, c, undirected", where=spec)
    return build_model(model, data, name=spec, **kwargs)


__all__ = ["FORM", "MODELS", "GraphData", "build_model", "from_networkx", "load_gnn_workload",
           "load_graph"]
