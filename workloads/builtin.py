"""Built-in workload names: ``gemm:M,N,K`` and ``conv:H,W,C,KH,KW,N,STRIDE[,PAD]``."""

from __future__ import annotations

from workloads.errors import WorkloadError
from workloads.graph import Graph, Tensor, add_conv, add_gemm

BUILTIN_FORMS = {
    "gemm": ("M,N,K", 3, 3),
    "conv": ("H,W,C,KH,KW,N,STRIDE[,PAD]", 7, 8),
}


def parse_builtin(spec: str) -> Graph:
    """Build a one-layer Graph from a built-in name; errors say the accepted form."""
    kind, _, args = spec.partition(":")
    if kind not in BUILTIN_FORMS:
        accepted = ", ".join(f"{k}:{v[0]}" for k, v in BUILTIN_FORMS.items())
        raise WorkloadError(f"unknown built-in workload {kind!r}; accepted: {accepted}", spec)
    form, lo, hi = BUILTIN_FORMS[kind]
    parts = [p.strip() for p in args.split(",")] if args else []
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if not lo <= len(values) <= hi or any(v < (0 if i == 7 else 1) for i, v in enumerate(values)):
        raise WorkloadError(f"expected {kind}:{form} with positive integers", where=spec)
    graph = Graph(name=spec)
    if kind == "gemm":
        m, n, k = values
        graph.add_tensor(Tensor("A", (m, k)))
        graph.inputs.append("A")
        graph.outputs.append(add_gemm(graph, "gemm", "A", n))
    else:
        h, w, c, kh, kw, n, stride, *pad = values
        p = pad[0] if pad else 0
        if kh > h + 2 * p or kw > w + 2 * p:
            raise WorkloadError(f"filter {kh}x{kw} is larger than the padded input "
                                f"{h + 2 * p}x{w + 2 * p}", where=spec)
        graph.add_tensor(Tensor("X", (1, c, h, w)))
        graph.inputs.append("X")
        graph.outputs.append(add_conv(graph, "conv", "X", n, (kh, kw), (stride, stride),
                                      (p, p, p, p)))
    graph.validate()
    return graph
