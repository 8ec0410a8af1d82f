"""Built-in model zoo: the GEMM-bearing layers (convolutions, fully connected, attention matmuls)
of well-known networks with their real shapes (padding included), batch 1.

Pooling, activations and residual adds are not GEMMs; where one changes a shape (a max-pool) the
next layer reads a fresh input tensor of the pooled shape, named ``<tensor>.pooled``.
"""

from __future__ import annotations

from collections.abc import Callable

from workloads.errors import WorkloadError
from workloads.graph import Graph, Op, Tensor, add_conv, add_gemm


def _input(graph: Graph, name: str, shape: tuple[int, ...]) -> str:
    graph.add_tensor(Tensor(name, shape))
    graph.inputs.append(name)
    return name


def _pooled(graph: Graph, x: str, size: int) -> str:
    n, c, _, _ = graph.tensor(x).shape
    return _input(graph, f"{x}.pooled", (n, c, size, size))


def _flat(graph: Graph, x: str) -> str:
    n, c, h, w = graph.tensor(x).shape
    return _input(graph, f"{x}.flat", (n, c * h * w))


def resnet18() -> Graph:
    g = Graph("resnet18")
    x = add_conv(g, "conv1", _input(g, "image", (1, 3, 224, 224)), 64, (7, 7), (2, 2),
                 (3, 3, 3, 3))
    x = _pooled(g, x, 56)
    channels = 64
    for stage, out_ch in enumerate((64, 128, 256, 512), start=2):
        for block in (1, 2):
            stride = 2 if stage > 2 and block == 1 else 1
            name = f"layer{stage - 1}.{block}"
            y = add_conv(g, f"{name}.conv1", x, out_ch, (3, 3), (stride, stride), (1, 1, 1, 1))
            y = add_conv(g, f"{name}.conv2", y, out_ch, (3, 3), (1, 1), (1, 1, 1, 1))
            if stride != 1 or channels != out_ch:
                add_conv(g, f"{name}.downsample", x, out_ch, (1, 1), (stride, stride))
            x, channels = y, out_ch
    x = _input(g, "avgpool", (1, 512))
    g.outputs.append(add_gemm(g, "fc", x, 1000))
    return g


def alexnet() -> Graph:
    g = Graph("alexnet")
    x = add_conv(g, "conv1", _input(g, "image", (1, 3, 224, 224)), 64, (11, 11), (4, 4),
                 (2, 2, 2, 2))
    x = add_conv(g, "conv2", _pooled(g, x, 27), 192, (5, 5), (1, 1), (2, 2, 2, 2))
    x = add_conv(g, "conv3", _pooled(g, x, 13), 384, (3, 3), (1, 1), (1, 1, 1, 1))
    x = add_conv(g, "conv4", x, 256, (3, 3), (1, 1), (1, 1, 1, 1))
    x = add_conv(g, "conv5", x, 256, (3, 3), (1, 1), (1, 1, 1, 1))
    x = add_gemm(g, "fc6", _flat(g, _pooled(g, x, 6)), 4096)
    x = add_gemm(g, "fc7", x, 4096)
    g.outputs.append(add_gemm(g, "fc8", x, 1000))
    return g


def mobilenet_v1() -> Graph:
    g = Graph("mobilenet_v1")
    x = add_conv(g, "conv1", _input(g, "image", (1, 3, 224, 224)), 32, (3, 3), (2, 2),
                 (1, 1, 1, 1))
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5,
            (1024, 2), (1024, 1)]
    for i, (out_ch, stride) in enumerate(plan, start=1):
        c = g.tensor(x).shape[1]
        x = add_conv(g, f"dw{i}", x, c, (3, 3), (stride, stride), (1, 1, 1, 1), group=c)
        x = add_conv(g, f"pw{i}", x, out_ch, (1, 1))
    g.outputs.append(add_gemm(g, "fc", _input(g, "avgpool", (1, 1024)), 1000))
    return g


def bert_base_layer(seq: int = 128, hidden: int = 768, heads: int = 12) -> Graph:
    """One BERT-base encoder layer: QKV/output projections, per-head attention, the FFN."""
    g = Graph(f"bert-base-layer-s{seq}")
    x = _input(g, "hidden", (seq, hidden))
    q, k, v = (add_gemm(g, name, x, hidden) for name in ("q_proj", "k_proj", "v_proj"))
    d = hidden // heads
    g.add_tensor(Tensor("scores", (heads * seq, seq)))
    g.add_tensor(Tensor("context", (heads * seq, d)))
    # Batched per-head matmuls expressed as one MatMul each: heads x (seq x d) x (d x seq).
    g.add_tensor(Tensor("q_heads", (heads * seq, d)))
    g.add_tensor(Tensor("k_t", (d, seq)))
    g.add_tensor(Tensor("v_head", (seq, d)))
    g.inputs += ["q_heads", "k_t", "v_head"]
    g.add_op(Op("attn_scores", "MatMul", ["q_heads", "k_t"], ["scores"]))
    g.add_op(Op("attn_context", "MatMul", ["scores", "v_head"], ["context"]))
    ctx = _input(g, "context_merged", (seq, hidden))
    y = add_gemm(g, "out_proj", ctx, hidden)
    h = add_gemm(g, "ffn1", y, 4 * hidden)
    g.outputs += [q, k, v, add_gemm(g, "ffn2", h, hidden)]
    return g


ZOO: dict[str, Callable[[], Graph]] = {
    "resnet18": resnet18,
    "alexnet": alexnet,
    "mobilenet_v1": mobilenet_v1,
    "bert-base-layer": bert_base_layer,
}


def load_zoo(name: str) -> Graph:
    try:
        graph = ZOO[name]()
    except KeyError:
        raise WorkloadError(f"no zoo model {name!r}; available: {', '.join(ZOO)}") from None
    graph.validate()
    return graph
