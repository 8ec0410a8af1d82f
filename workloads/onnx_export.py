"""Graph -> ONNX, so any workload (built-in, zoo, topology) can be run in onnxruntime as the
reference for functional simulation. Tensors without values that no op produces and that are not
graph inputs are weights: they get seeded random values."""

from __future__ import annotations

import numpy as np

from workloads.graph import Graph


def random_values(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Values for every graph input and every valueless weight, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    produced = {t for op in graph.ops for t in op.outputs}
    values: dict[str, np.ndarray] = {}
    for op in graph.ops:
        for name in op.inputs:
            if not name or name in produced or name in values:
                continue
            t = graph.tensor(name)
            if t.values is not None:
                values[name] = np.asarray(t.values)
            elif np.issubdtype(np.dtype(t.dtype), np.integer):
                values[name] = rng.integers(0, _index_bound(graph, name), t.shape).astype(t.dtype)
            else:
                fan_in = max(1, t.numel // t.shape[0])
                scale = 1.0 if name in graph.inputs else 1.0 / np.sqrt(fan_in)
                values[name] = (rng.standard_normal(t.shape) * scale).astype(t.dtype)
    for name in graph.inputs:   # inputs pinned to a value (--input-value) keep it
        tensor = graph.tensors.get(name)
        if tensor is not None and tensor.values is not None:
            values[name] = np.asarray(tensor.values)
    return values


def _index_bound(graph: Graph, name: str) -> int:
    """Integer inputs are token ids, positions or masks: draw them from [0, bound), where bound is
    the smallest table they index (a Gather's data along its axis), or 2 (a 0/1 mask)."""
    bounds = [graph.tensor(op.inputs[0]).shape[op.attrs.get("axis", 0)]
              for op in graph.ops if op.type == "Gather" and op.inputs[1:2] == [name]]
    return max(1, min(bounds)) if bounds else 2


def graph_to_onnx(graph: Graph, values: dict[str, np.ndarray], opset: int = 20):
    """An ONNX model computing ``graph``; ``values`` of non-input tensors become initializers.
    Attributes ONNX does not define for an op (archsim's own annotations) are left out."""
    import onnx
    from onnx import helper, numpy_helper

    inputs = [n for n in graph.inputs if any(n in op.inputs for op in graph.ops)]
    produced = {t for op in graph.ops for t in op.outputs}
    consumed = {t for op in graph.ops for t in op.inputs}
    outputs = graph.outputs or [t for t in produced if t not in consumed]

    def info(name: str):
        t = graph.tensor(name)
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(t.dtype))
        return helper.make_tensor_value_info(name, elem, list(t.shape))

    nodes = []
    for op in graph.ops:
        schema = onnx.defs.get_schema(op.type, opset)
        attrs = {k: v for k, v in op.attrs.items() if k in schema.attributes}
        nodes.append(helper.make_node(op.type, op.inputs, op.outputs, name=op.name, **attrs))
    inits = [numpy_helper.from_array(np.asarray(v), name) for name, v in values.items()
             if name not in inputs]
    model = helper.make_model(
        helper.make_graph(nodes, graph.name, [info(n) for n in inputs],
                          [info(n) for n in outputs], inits),
        opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 9)
    return model
