"""``im2col``: choose how convolutions are lowered to GEMMs.

``explicit`` materialises the lowered (output pixels x KH*KW*C) matrix in memory before the
GEMM, KH*KW times the input for stride 1. ``implicit`` (Zhou et al., IISWC'21: the TPU's
channel-first algorithm) keeps the input feature map in its natural layout and splits the filter
into KH*KW 1x1 convolutions whose GEMMs accumulate into the same outputs, generating addresses on
the fly; small channel counts pack several filter positions (up to all KH*KW) onto the array
rows.
"""

from __future__ import annotations

from simulator.passes import copy_graph, register
from workloads.graph import Graph, conv_needs_im2col


@register("im2col", options=("explicit", "implicit"), default="implicit", kinds=("systolic",),
          elsewhere="warn")
def im2col_pass(graph: Graph, mode: str | None) -> Graph:
    """Lower convolutions by explicit or implicit (channel-first) im2col."""
    out = copy_graph(graph)
    for op in out.ops:
        if conv_needs_im2col(op):
            op.attrs["im2col"] = mode or "implicit"
    return out
