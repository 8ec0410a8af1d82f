"""SCALE-Sim topology CSVs: the rows as SCALE-Sim parses them, and the Graph ``archsim run`` uses.

SCALE-Sim's parsing rules are kept on purpose (see ../shared/reference/scalesim/SEMANTICS.md §2.5):
the first line is a header and is skipped, blank lines are skipped, columns are positional, and the
text after the last comma of a row is dropped (so every row must end with a trailing comma). A
conv row is ``name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride,`` and a
GEMM row ``name, M, N, K,``; either may carry an ``N:M`` sparsity ratio after it, which is read
and ignored. A layer whose name contains ``DP`` is depthwise: one filter bank per channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from workloads.errors import WorkloadError
from workloads.files import read_text

if TYPE_CHECKING:
    from workloads.graph import Graph

CONV_COLUMNS = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")
GEMM_COLUMNS = ("M", "N", "K")


class TopologyLayer(NamedTuple):
    """One row, in SCALE-Sim's conv terms (a GEMM row M,N,K is H=M, W=K, F=1xK, C=1, NF=N, S=1)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    num_filters: int
    stride: int
    line: int
    is_gemm: bool = False

    @property
    def depthwise(self) -> bool:
        """SCALE-Sim's own rule: the substring ``DP`` anywhere in the name (case-sensitive)."""
        return not self.is_gemm and "DP" in self.name


def read_topology_layers(path: str | Path, input_type: str = "conv") -> list[TopologyLayer]:
    """Parse a topology CSV as SCALE-Sim 3.0.0 does; errors name the file, line and column."""
    path = Path(path)
    if input_type not in ("conv", "gemm"):
        raise WorkloadError(f"input type {input_type!r}; accepted: conv, gemm", where=str(path))
    text = read_text(path, "topology", WorkloadError)
    columns = GEMM_COLUMNS if input_type == "gemm" else CONV_COLUMNS
    layers = []
    for number, raw in enumerate(text.splitlines()[1:], start=2):
        row = raw.strip()
        if not row:
            continue
        where = f"{path}:{number}"
        fields = [f.strip() for f in row.split(",")[:-1]]
        if len(fields) < 1 + len(columns):
            hint = "" if row.endswith(",") else " (SCALE-Sim drops the text after the last comma:" \
                                                " end every row with a trailing comma)"
            raise WorkloadError(
                f"a {input_type} row needs name,{','.join(columns)}, and has "
                f"{len(fields)} field(s){hint}", where=where)
        values = []
        for column, text_value in zip(columns, fields[1:], strict=False):
            try:
                value = int(text_value)
            except ValueError:
                value = 0
            if value < 1:
                raise WorkloadError(f"{column}: got {text_value!r}; expected a positive integer",
                                    where=where)
            values.append(value)
        name = fields[0] or f"layer{len(layers)}"
        if input_type == "gemm":
            m, n, k = values
            layers.append(TopologyLayer(name, m, k, 1, k, 1, n, 1, number, is_gemm=True))
            continue
        h, w, fh, fw, c, nf, s = values
        if fh > h or fw > w:
            raise WorkloadError(f"filter {fh}x{fw} is larger than the {h}x{w} IFMAP "
                                "(SCALE-Sim applies no padding)", where=where)
        layers.append(TopologyLayer(name, h, w, fh, fw, c, nf, s, number))
    if not layers:
        raise WorkloadError("the topology has no layer rows after its header line", str(path))
    return layers


def read_topology(path: str | Path, input_type: str = "conv") -> Graph:
    """The topology as a Graph for the native model: unpadded convs with the real (floor) output
    size; a ``DP`` row is one grouped conv with ``Num Filter`` filters per channel."""
    from workloads.graph import Graph, Tensor, add_conv, add_gemm  # numpy: only for a Graph

    path = Path(path)
    graph = Graph(name=path.stem)
    for layer in read_topology_layers(path, input_type):
        x = f"{layer.name}.in"
        if x in graph.tensors:
            raise WorkloadError(f"layer name {layer.name!r} is used twice",
                                where=f"{path}:{layer.line}")
        if layer.is_gemm:
            graph.add_tensor(Tensor(x, (layer.ifmap_h, layer.ifmap_w)))
            graph.inputs.append(x)
            graph.outputs.append(add_gemm(graph, layer.name, x, layer.num_filters))
            continue
        graph.add_tensor(Tensor(x, (1, layer.channels, layer.ifmap_h, layer.ifmap_w)))
        graph.inputs.append(x)
        group = layer.channels if layer.depthwise else 1
        c_out = layer.channels * layer.num_filters if layer.depthwise else layer.num_filters
        graph.outputs.append(add_conv(graph, layer.name, x, c_out,
                                      (layer.filter_h, layer.filter_w),
                                      (layer.stride, layer.stride), group=group))
    graph.validate()
    return graph
