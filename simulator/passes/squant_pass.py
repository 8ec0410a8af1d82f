"""``--pass squant:bits=4[,mode=squant-k]``: SQuant the weights of a graph before lowering.

Every Conv weight, Gemm ``B`` and MatMul constant ``B`` gets ``bits`` as its element width, so
lowering stores and moves it packed (``bits/8`` bytes per weight) and a precision-scalable array
runs more MACs per PE per cycle on it (``array.datapath_bits``). Weights that carry values
(ONNX models) are replaced by SQuant's dequantized ``w_hat``, so functional runs compute with
the quantized model; weights without values (built-in shapes) only get the width.
"""

from __future__ import annotations

from simulator.passes import PassError, copy_graph, register
from simulator.passes.squant import MAX_BITS, MIN_BITS, MODES, squant
from workloads import ops
from workloads.graph import Graph


def weight_inputs(graph: Graph) -> dict[str, int]:
    """Weight tensor -> channel axis (the issue's rule): Conv weights axis 0, Gemm B axis 0 with
    transB else 1, MatMul B axis 1; B must be a constant (not a graph input, not produced)."""
    produced = {t for op in graph.ops for t in op.outputs}
    out: dict[str, int] = {}
    for op in graph.ops:
        if not ops.is_matmul(op.type) or len(op.inputs) < 2:
            continue
        name = op.inputs[1]
        if name in produced or name in graph.inputs or name in out:
            continue
        tensor = graph.tensor(name)
        if op.type != "Conv" and len(tensor.shape) != 2:
            continue
        out[name] = 0 if op.type == "Conv" or (op.type == "Gemm" and op.attrs.get("transB")) \
            else 1
    return out


@register("squant", default="bits=4")
def squant_graph_pass(graph: Graph, option: str | None) -> Graph:
    """Quantize weights with SQuant (bits=2..8, mode=squant|squant-k|squant-c|rtn)."""
    where = f"--pass squant:{option}"
    settings = {"bits": "4", "mode": "squant"}
    for item in filter(None, (option or "").split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in settings:
            raise PassError(f"expected bits=N and/or mode=NAME, got {item!r}", where=where)
        settings[key] = value
    try:
        bits = int(settings["bits"])
    except ValueError:
        bits = -1
    if not MIN_BITS <= bits <= MAX_BITS:
        raise PassError(f"bits must be an integer from {MIN_BITS} to {MAX_BITS}; got "
                        f"{settings['bits']!r}", where=where)
    if settings["mode"] not in MODES:
        raise PassError(f"unknown mode {settings['mode']!r}; accepted: {', '.join(MODES)}",
                        where=where)
    out = copy_graph(graph)
    for name, axis in weight_inputs(out).items():
        tensor = out.tensors[name]
        tensor.bits = bits
        if tensor.values is not None and tensor.values.size:
            tensor.values = squant(tensor.values, bits, settings["mode"], axis).w_hat
    return out
