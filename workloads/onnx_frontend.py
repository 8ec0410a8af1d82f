"""ONNX frontend: any ONNX model (file or ModelProto) -> :class:`workloads.graph.Graph`.

Steps: read, inline model-local functions, refuse unsupported operators (all listed at once), pin
dynamic input dims (``--input-shape NAME=1x3x224x224``), run ONNX shape inference on a copy without
the large weights, then hand each node to its operator's entry in the catalogue
(:mod:`workloads.ops`: shape rule, constant folding with the numpy semantics). onnx is imported
inside the functions: it is heavy, and ``import workloads`` must not pay for it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from workloads import ops
from workloads.errors import WorkloadError
from workloads.graph import Graph, Tensor
from workloads.ops.importing import Context, Node, Shape

INPUT_SHAPE_FORM = "NAME=D1xD2x... (e.g. input=1x3x224x224)"
DEFAULT_DOMAINS = ("", "ai.onnx")
# Initializers up to this many elements are kept for shape inference (shape-like constants);
# larger ones are weights, passed to inference as typed inputs to avoid copying them.
SMALL_INITIALIZER = 4096


def parse_input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """``["x=1x3x224x224", ...]`` -> ``{"x": (1, 3, 224, 224)}`` (the ``--input-shape`` flag)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, dims = item.rpartition("=")
        if not sep or not name or not re.fullmatch(r"\d+([x,]\d+)*", dims.strip()):
            raise WorkloadError(f"bad input shape; expected {INPUT_SHAPE_FORM}", where=item)
        shape = tuple(int(d) for d in re.split(r"[x,]", dims.strip()))
        if any(d < 1 for d in shape):
            raise WorkloadError("input dims must be positive integers", where=item)
        if name in shapes:
            raise WorkloadError(f"input {name!r} given twice", where=item)
        shapes[name] = shape
    return shapes


def load_onnx(path_or_model: Any, input_shapes: dict[str, tuple[int, ...]] | None = None,
              name: str | None = None, where: str | None = None) -> Graph:
    """Import an ONNX model (path or ``onnx.ModelProto``) as a Graph with static shapes.
    ``where`` names the model in error messages (default: the path, or the graph's name)."""
    model, read_where = read_model(path_or_model)
    where = where or read_where
    if model.functions:
        from onnx import inliner

        model = inliner.inline_local_functions(model)
    check_supported(model, where)
    pinned = pin_inputs(model.graph, input_shapes or {}, where)
    graph = Graph(name or model.graph.name or Path(where).stem)
    ctx = Context(graph, infer_types(model, pinned, where))
    add_initializers(ctx, model.graph)
    for vi in model.graph.input:
        if vi.name in pinned:
            elem = vi.type.tensor_type.elem_type
            graph.add_tensor(Tensor(vi.name, pinned[vi.name], dtype=dtype_name(elem)))
            graph.inputs.append(vi.name)
    for node in decoded_nodes(model, where):
        ops.get(node.op_type).import_node(ctx, node)
    graph.outputs = [o.name for o in model.graph.output]
    prune(graph)
    graph.validate()
    return graph


def read_model(path_or_model: Any) -> tuple[Any, str]:
    """The ModelProto and a ``where`` for error messages (the path, or the graph's name)."""
    import onnx

    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model, path_or_model.graph.name or "<onnx model>"
    where = str(path_or_model)
    if not Path(where).is_file():
        raise WorkloadError("no such ONNX file", where=where)
    try:
        model = onnx.load(where)
    except Exception as err:  # protobuf decode errors, missing external data...
        raise WorkloadError(f"cannot read ONNX model: {err}", where=where) from None
    if not model.HasField("graph") or not model.graph.node:
        raise WorkloadError("not an ONNX model (no graph nodes)", where=where)
    return model, where


def opsets(model: Any) -> dict[str, int]:
    versions = {imp.domain: imp.version for imp in model.opset_import}
    versions.setdefault("", versions.get("ai.onnx", 1))
    return versions


def importable(op_type: str, domain: str = "", opset: int | None = None) -> bool:
    """The catalogue has an ONNX import rule for the operator at this opset."""
    spec = ops.find(op_type) if domain in DEFAULT_DOMAINS else None
    return spec is not None and spec.importable and spec.supports(opset)


def check_supported(model: Any, where: str) -> None:
    """One error listing every node whose operator the catalogue cannot import."""
    versions = opsets(model)
    bad = []
    for index, node in enumerate(model.graph.node):
        if not importable(node.op_type, node.domain, versions.get(node.domain, versions[""])):
            op = f"{node.domain}.{node.op_type}" if node.domain not in DEFAULT_DOMAINS \
                else node.op_type
            bad.append(f"{op} (node '{node.name or f'{node.op_type}_{index}'}', "
                       f"opset {versions.get(node.domain, '?')})")
    if bad:
        raise WorkloadError(f"unsupported ONNX operator{'s' * (len(bad) > 1)}: "
                            f"{', '.join(bad)}; see docs/onnx.md for the supported list", where)


def pin_inputs(graph: Any, given: dict[str, tuple[int, ...]], where: str) -> dict[str, Shape]:
    """A static shape for every runtime input: declared dims, ``given`` pins, and symbolic dims
    named in a pinned input reused where the same symbol appears elsewhere."""
    inits = {i.name for i in graph.initializer}
    runtime = [vi for vi in graph.input if vi.name not in inits]
    unknown = sorted(set(given) - {vi.name for vi in runtime})
    if unknown:
        raise WorkloadError(f"--input-shape names unknown input(s) {', '.join(unknown)}; the "
                            f"model's inputs are: {', '.join(vi.name for vi in runtime)}", where)
    symbols: dict[str, int] = {}
    for vi in runtime:
        if vi.name in given:
            dims = declared_dims(vi, where)
            pin = tuple(given[vi.name])
            check_pin(vi.name, dims, pin, where)
            if len(dims) == len(pin):
                symbols.update({d: p for d, p in zip(dims, pin, strict=True) if isinstance(d, str)})
    shapes, dynamic = {}, []
    for vi in runtime:
        dims = [symbols.get(d, d) if isinstance(d, str) else d for d in declared_dims(vi, where)]
        shape = tuple(given.get(vi.name, dims))
        if not all(isinstance(d, int) for d in shape):
            free = "shape (unknown rank)" if shape == (None,) else ", ".join(
                f"dim {i} ({d or '?'})" for i, d in enumerate(shape) if not isinstance(d, int))
            example = "D1xD2x..." if shape == (None,) else "x".join(
                str(d) if isinstance(d, int) else "1" for d in shape)
            dynamic.append(f"input {vi.name!r} has dynamic {free}; pass "
                           f"--input-shape {vi.name}={example}")
        shapes[vi.name] = shape
    if dynamic:
        raise WorkloadError("; ".join(dynamic), where)
    return shapes


def declared_dims(vi: Any, where: str) -> list[int | str | None]:
    """Dims as declared: int, symbol name, or None (unknown); rank unknown -> one None."""
    if vi.type.WhichOneof("value") != "tensor_type":
        raise WorkloadError(f"input {vi.name!r} is not a tensor; only tensor inputs are supported",
                            where)
    tensor_type = vi.type.tensor_type
    if not tensor_type.HasField("shape"):
        return [None]
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tensor_type.shape.dim]


def check_pin(name: str, dims: list[int | str | None], pin: Shape, where: str) -> None:
    if dims != [None] and len(dims) != len(pin):
        raise WorkloadError(f"input {name!r} has rank {len(dims)}, --input-shape gives "
                            f"{'x'.join(map(str, pin))}", where)
    for i, (d, p) in enumerate(zip(dims, pin, strict=False)):
        if isinstance(d, int) and d != p:
            raise WorkloadError(f"input {name!r} dim {i} is fixed to {d} in the model, "
                                f"--input-shape gives {p}", where)


def infer_types(model: Any, pinned: dict[str, Shape],
                where: str) -> dict[str, tuple[Shape | None, str | None]]:
    """ONNX shape inference (with data propagation) on a copy holding only small initializers."""
    from onnx import helper, shape_inference

    g = model.graph
    small = [i for i in g.initializer if math.prod(i.dims) <= SMALL_INITIALIZER]
    declared = {vi.name for vi in g.input}
    inputs = [helper.make_tensor_value_info(vi.name, vi.type.tensor_type.elem_type,
                                            pinned[vi.name])
              if vi.name in pinned else vi for vi in g.input]
    inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims))
               for i in g.initializer if i.name not in declared and math.prod(i.dims) >
               SMALL_INITIALIZER]
    outputs = [helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None)
               for o in g.output]
    stripped = helper.make_model(helper.make_graph(g.node, g.name, inputs, outputs, small),
                                 opset_imports=model.opset_import)
    stripped.ir_version = model.ir_version or stripped.ir_version
    try:
        inferred = shape_inference.infer_shapes(stripped, strict_mode=False, data_prop=True)
    except Exception as err:  # inference rejects the model itself (bad types, ranks...)
        raise WorkloadError(f"ONNX shape inference failed: {err}", where) from None
    return read_value_infos(inferred.graph)


def read_value_infos(graph: Any) -> dict[str, tuple[Shape | None, str | None]]:
    types: dict[str, tuple[Shape | None, str | None]] = {}
    for vi in [*graph.value_info, *graph.output]:
        tensor_type = vi.type.tensor_type
        dtype = dtype_name(tensor_type.elem_type) if tensor_type.elem_type else None
        shape = None
        if tensor_type.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else None
                          for d in tensor_type.shape.dim)
        types[vi.name] = (shape, dtype)
    return types


def dtype_name(elem_type: int) -> str:
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name


def add_initializers(ctx: Context, graph: Any) -> None:
    from onnx import numpy_helper

    for init in graph.initializer:
        ctx.add_const(init.name, numpy_helper.to_array(init))
    for sparse in graph.sparse_initializer:
        dense = np.zeros(tuple(sparse.dims), numpy_helper.to_array(sparse.values).dtype)
        indices = numpy_helper.to_array(sparse.indices)
        values = numpy_helper.to_array(sparse.values)
        if indices.ndim == 1:
            dense.reshape(-1)[indices] = values
        else:
            dense[tuple(indices.T)] = values
        ctx.add_const(sparse.values.name, dense)


def decoded_nodes(model: Any, where: str) -> list[Node]:
    """Nodes in topological order, uniquely named, with attributes decoded and defaults filled."""
    versions = opsets(model)
    used: set[str] = set()
    nodes = []
    for index, proto in topological(model.graph, where):
        name = base = proto.name or f"{proto.op_type}_{index}"
        suffix = 1
        while name in used:
            name, suffix = f"{base}_{suffix}", suffix + 1
        used.add(name)
        opset = versions.get(proto.domain, versions[""])
        nodes.append(Node(name, proto.op_type, list(proto.input), list(proto.output),
                          node_attrs(proto, opset), opset))
    return nodes


def topological(graph: Any, where: str) -> list[tuple[int, Any]]:
    """(original index, node) in a topological order, keeping file order where it already is."""
    available = {vi.name for vi in graph.input} | {i.name for i in graph.initializer} | {""}
    available |= {s.values.name for s in graph.sparse_initializer}
    pending = list(enumerate(graph.node))
    ordered: list[tuple[int, Any]] = []
    while pending:
        waiting = []
        for index, node in pending:
            if all(name in available for name in node.input):
                ordered.append((index, node))
                available.update(node.output)
            else:
                waiting.append((index, node))
        if len(waiting) == len(pending):
            index, node = waiting[0]
            missing = next(n for n in node.input if n not in available)
            raise WorkloadError(f"node {node.name or index!r} reads {missing!r}, which no node, "
                                "input or initializer provides (or the graph has a cycle)", where)
        pending = waiting
    return ordered


def node_attrs(proto: Any, opset: int) -> dict[str, Any]:
    """Attributes as plain Python values, with the operator schema's defaults filled in."""
    from onnx import defs, helper

    attrs = {}
    try:
        schema = defs.get_schema(proto.op_type, opset, proto.domain)
        for key, spec in schema.attributes.items():
            if spec.default_value.type:
                attrs[key] = plain(helper.get_attribute_value(spec.default_value))
    except defs.SchemaError:
        pass
    for attr in proto.attribute:
        attrs[attr.name] = plain(helper.get_attribute_value(attr))
    return attrs


def plain(value: Any) -> Any:
    from onnx import TensorProto, numpy_helper

    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def prune(graph: Graph) -> None:
    """Drop tensors nothing refers to (e.g. the shape operands of folded ConstantOfShape)."""
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.ops:
        used.update(op.inputs)
        used.update(op.outputs)
    graph.tensors = {k: t for k, t in graph.tensors.items() if k in used}
