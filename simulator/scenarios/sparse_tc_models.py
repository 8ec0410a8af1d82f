"""Model-level study of the sparse tensor core: pruned ResNet-50 and BERT, per-layer speedups.

ResNet-50 is the onnx wheel's ``light_resnet50.onnx``. Its weights are ``ConstantOfShape``
fills (0.02 everywhere), which magnitude pruning cannot rank and which make every channel alike,
so they are replaced by seeded He-normal weights of the same shapes (BatchNorm as identity)
before pruning. Every Conv/Gemm weight is then magnitude-pruned to the target sparsity, the
pruned model runs in onnxruntime on a seeded input and every Conv/Gemm input activation is
captured: the A bitmaps the lowering counts are the real ReLU zeros. BERT (``zoo:bert_base``)
has seeded weights, pruned the same way, and dense activations (GELU leaves no zeros).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.passes import copy_graph
from simulator.passes.density import magnitude_prune
from workloads import ops
from workloads.graph import Graph


def light_resnet50_path() -> Path:
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / \
        "light_resnet50.onnx"


def materialize_resnet50(seed: int = 0):
    """The light ResNet-50 with seeded He-normal weights in place of its constant fills."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(light_resnet50_path()))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    rng = np.random.default_rng(seed)
    keep, new_inits = [], []
    for node in model.graph.node:
        if node.op_type != "ConstantOfShape":
            keep.append(node)
            continue
        shape = tuple(int(d) for d in inits[node.input[0]])
        name = node.output[0]
        if name.endswith("_w_0") and len(shape) >= 2:
            fan_in = int(np.prod(shape[1:]))
            value = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        elif name.endswith(("_s_0", "_riv_0")):
            value = np.ones(shape)
        else:
            value = np.zeros(shape)
        new_inits.append(numpy_helper.from_array(value.astype(np.float32), name))
    del model.graph.node[:]
    model.graph.node.extend(keep)
    used = {n for node in keep for n in node.input}
    old = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(old + new_inits)
    names = {i.name for i in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name in used and vi.name not in names]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return model


def prune_model(model, density: float):
    """A copy of an ONNX model with every Conv/Gemm/MatMul weight initializer magnitude-pruned."""
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    weights = {n.input[1] for n in model.graph.node if ops.is_matmul(n.op_type)}
    for i, init in enumerate(model.graph.initializer):
        if init.name in weights and density < 1.0:
            pruned = magnitude_prune(numpy_helper.to_array(init), density)
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(pruned, init.name))
    return model


def capture_activations(model, graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Run onnxruntime on a seeded input; return every GEMM-like op's A input activation."""
    import onnx
    import onnxruntime as ort

    wanted = [op.inputs[0] for op in graph.ops if ops.is_matmul(op.type)
              and graph.tensor(op.inputs[0]).values is None]
    wanted = list(dict.fromkeys(wanted))
    model = onnx.ModelProto.FromString(model.SerializeToString())
    existing = {o.name for o in model.graph.output}
    for name in wanted:
        if name not in existing:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    feeds = {}
    rng = np.random.default_rng(seed)
    init_names = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in init_names:
            continue
        shape = [d.dim_value or 1 for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outs = session.run(None, feeds)
    got = dict(zip(names, outs, strict=True))
    got.update(feeds)
    return {name: got[name] for name in wanted if name in got}


@dataclass
class LayerRow:
    name: str
    shape: str
    a_density: float
    b_density: float
    dense: int
    s24: int
    sparse: int


@dataclass
class ModelStudy:
    workload: str
    weight_density: float
    rows: list[LayerRow]
    total_dense: int
    total_s24: int
    total_sparse: int


def study(graph: Graph, config, workload: str, weight_density: float) -> ModelStudy:
    """Simulate a graph (densities already in it) and tabulate its GEMM layers."""
    from simulator import api
    from workloads.ops import gemm_shapes

    trace, result = api.run(config, graph)
    dense = result.baselines["dense_tc"]["layers"]
    s24 = result.baselines["sparse_2_4"]["layers"]
    by_name = {lr.name: lr for lr in result.layers}
    rows = []
    for op in graph.ops:
        if not ops.is_matmul(op.type):
            continue
        g = gemm_shapes(graph, op, config.word_bytes)[0]

        def dens(name: str) -> float:
            t = graph.tensor(name)
            return float(np.count_nonzero(t.values) / t.values.size) if t.values is not None \
                else t.density

        rows.append(LayerRow(op.name, f"{g.m}x{g.n}x{g.k}", dens(op.inputs[0]),
                             dens(op.inputs[1]), dense[op.name], s24[op.name],
                             by_name[op.name].cycles))
    return ModelStudy(workload, weight_density, rows, result.baselines["dense_tc"]["total_cycles"],
                      result.baselines["sparse_2_4"]["total_cycles"], result.total_cycles)


def resnet50_study(config, sparsity: float, seed: int = 0) -> ModelStudy:
    from workloads.onnx_frontend import load_onnx

    model = prune_model(materialize_resnet50(seed), 1.0 - sparsity)
    graph = load_onnx(model, name="light_resnet50")
    acts = capture_activations(model, graph, seed)
    graph = copy_graph(graph)
    for name, value in acts.items():
        graph.tensors[name].values = value
    return study(graph, config, "light_resnet50.onnx", 1.0 - sparsity)


def bert_study(config, sparsity: float, spec: str = "zoo:bert_base?seq=128&layers=12"
               ) -> ModelStudy:
    from simulator.passes.density import apply_density
    from workloads.loader import load_workload

    graph = apply_density(load_workload(spec), f"b={1.0 - sparsity}")
    return study(graph, config, spec, 1.0 - sparsity)
