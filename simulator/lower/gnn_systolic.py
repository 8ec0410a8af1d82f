"""The GNN baseline on the ``systolic`` target: dense ops on the array, sparse ops on its
vector unit, operator by operator through DRAM (what a DNN accelerator without graph support
does).

Apply-vertex GEMMs (and per-edge matmuls) are lowered by the systolic lowering itself as
MatMul layers. Every other op LOADs its inputs whole (a scatter reads the whole vertex tensor and
the edge list), runs one VEC with the op's work (the same counts as the zipper target uses), and
STOREs its output (edge tensors included: E x F through DRAM). Activations and biases of
apply-vertex ops are one more VEC.
"""

from __future__ import annotations

import copy

from simulator.config.systolic import SystolicConfig
from simulator.lower.systolic import SystolicLowering
from simulator.lower.vector_ops import op_args
from simulator.lower.zipper import INDEX_BYTES
from simulator.trace import LayerInfo, Trace
from workloads.gnn.ir import ADJ, APPLY_EDGE, APPLY_VERTEX, EDGE_OPS, STAGE_OF, op_cost
from workloads.graph import Graph, Op
from workloads.ops import vector_work


def lower_gnn_systolic(graph: Graph, config: SystolicConfig, workload: str | None = None
                       ) -> Trace:
    graph.validate()
    graph = copy.copy(graph)          # MatMul outputs get helper tensors; not in the caller's
    graph.tensors = dict(graph.tensors)
    low = SystolicLowering(config)
    wb = config.word_bytes
    emit = low.out.emit
    layers: list[LayerInfo] = []
    costs = config.vector.costs or None
    for op in graph.ops:
        cost = op_cost(graph, op)
        vops = vector_work(graph, op, costs)   # the catalogue's, or the config's override
        stage = {**op_args(graph, op), "stage": STAGE_OF[op.type],
                 "gs_elements": cost.gs_elements}
        matmul = op.type == APPLY_VERTEX or (op.type == APPLY_EDGE and op.attrs["fn"] == "matmul")
        if matmul:
            out = op.outputs[0]
            raw = f"{out}.mm" if vops else out
            if raw != out:
                graph.add_tensor(type(graph.tensor(out))(raw, graph.tensor(out).shape))
            info = low.lower_layer(graph, Op(op.name, "MatMul", op.inputs[:2], [raw]))
            if vops:
                _vector(low, graph, op.name, [raw] + op.inputs[2:], out, vops, wb)
            layers.append(LayerInfo(op.name, op.type, info.macs, info.dims, vops, stage))
            continue
        inputs = [t for t in op.inputs if t and t != ADJ]
        extra = []
        if op.type in EDGE_OPS and ADJ in op.inputs:
            nbytes = graph.tensor(ADJ).shape[1] * 2 * INDEX_BYTES
            extra.append(emit("LOAD", "dma_load", op.name, {}, {"dram_read": nbytes}, [], ADJ))
        work = vops + cost.gs_elements
        _vector(low, graph, op.name, inputs, op.outputs[0], work, wb, extra)
        layers.append(LayerInfo(op.name, op.type, 0, {"elements": graph.tensor(
            op.outputs[0]).numel}, work, stage))
    return low.out.trace("systolic", config, workload or graph.name, layers)


def _vector(low: SystolicLowering, graph: Graph, layer: str, inputs: list[str], out: str,
            work: int, wb: int, extra: list[int] | None = None) -> None:
    """LOAD the inputs, one VEC of ``work`` element operations, STORE the output."""
    loads = list(extra or [])
    for name in dict.fromkeys(inputs):
        nbytes = graph.tensor(name).numel * wb
        loads.append(low.out.emit("LOAD", "dma_load", layer, {}, {"dram_read": nbytes},
                                  [low.last_write.get(name)], name))
    elements = graph.tensor(out).numel
    vec = low.out.emit("VEC", "vector", layer, {"work": work, "elements": elements}, {}, loads,
                       out)
    nbytes = elements * wb
    low.last_write[out] = low.out.emit("STORE", "dma_store", layer, {}, {"dram_write": nbytes},
                                       [vec], out)
