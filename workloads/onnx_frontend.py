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
from workloads.ops.importing import Context, Node, Shape, node_attrs

INPUT_SHAPE_FORM = "NAME=D1xD2x... (e.g. input=1x3x224x224)"
INPUT_VALUE_FORM = "NAME=VALUE (a number, or a nested list such as [1,2,3])"
#: Sizes suggested for a dynamic dim nothing else tells: a batch of 1, 3 image channels, a
#: 224x224 image (the ImageNet size most vision models are trained at), 128 for any other axis
#: (a sequence length). docs/onnx.md lists these defaults.
DEFAULT_BATCH, DEFAULT_CHANNELS, DEFAULT_IMAGE, DEFAULT_LENGTH = 1, 3, 224, 128
DEFAULT_DOMAINS = ("", "ai.onnx")
# Initializers up to this many elements are kept for shape inference (shape-like constants);
# larger ones are weights, passed to inference as typed inputs to avoid copying them.
SMALL_INITIALIZER = 4096


def parse_input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """``["x=1x3x224x224", ...]`` -> ``{"x": (1, 3, 224, 224)}`` (the ``--input-shape`` flag)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, dims = item.rpartition("=")
        if not sep or not name or not re.fullmatch(r"-?\d+([x,]-?\d+)*", dims.strip()):
            raise WorkloadError(f"bad input shape; expected {INPUT_SHAPE_FORM}", where=item)
        shape = tuple(int(d) for d in re.split(r"[x,]", dims.strip()))
        if any(d < 1 for d in shape):
            raise WorkloadError("input dims must be positive integers (a -1 in the model marks "
                                "a dynamic dim: give the size to simulate, e.g. 1)", where=item)
        if name in shapes:
            raise WorkloadError(f"input {name!r} given twice", where=item)
        shapes[name] = shape
    return shapes


def parse_input_values(items: list[str] | None) -> dict[str, np.ndarray]:
    """``["cond=1", "sr=16000", "axes=[0,1]"]`` -> arrays (the ``--input-value`` flag): a
    number or a small literal tensor (nested lists); the model's input type is applied later."""
    import ast

    values: dict[str, np.ndarray] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise WorkloadError(f"bad input value; expected {INPUT_VALUE_FORM}", where=item)
        try:
            literal = ast.literal_eval(text.strip())
            value = np.asarray(literal)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
        if value is None or value.dtype.kind not in "biuf":
            raise WorkloadError(f"not a number or a list of numbers; expected {INPUT_VALUE_FORM}",
                                where=item)
        if name in values:
            raise WorkloadError(f"input {name!r} given twice", where=item)
        values[name] = value
    return values


def load_onnx(path_or_model: Any, input_shapes: dict[str, tuple[int, ...]] | None = None,
              name: str | None = None, where: str | None = None,
              input_values: dict[str, Any] | None = None) -> Graph:
    """Import an ONNX model (path or ``onnx.ModelProto``) as a Graph with static shapes.
    ``where`` names the model in error messages (default: the path, or the graph's name);
    ``input_values`` pins inputs to values (``--input-value``): they stay graph inputs but
    carry their values, so control flow and shape operands that depend on them resolve."""
    model, read_where = read_model(path_or_model)
    where = where or read_where
    if model.functions:
        from onnx import inliner

        model = inliner.inline_local_functions(model)
    check_supported(model, where)
    values = typed_values(model.graph, input_values or {}, where)
    shapes = {**(input_shapes or {})}
    for key, value in values.items():
        if key in shapes and tuple(shapes[key]) != value.shape:
            raise WorkloadError(f"input {key!r}: --input-shape gives "
                                f"{'x'.join(map(str, shapes[key]))} but --input-value has shape "
                                f"{'x'.join(map(str, value.shape)) or 'scalar'}", where)
        shapes[key] = value.shape
    pinned = pin_inputs(model, shapes, where)
    graph = Graph(name or model.graph.name or Path(where).stem)
    ctx = Context(graph, infer_types(model, pinned, where, values))
    add_initializers(ctx, model.graph)
    for vi in model.graph.input:
        if vi.name in values:
            ctx.add_const(vi.name, values[vi.name])
            graph.inputs.append(vi.name)
        elif vi.name in pinned:
            elem = vi.type.tensor_type.elem_type
            graph.add_tensor(Tensor(vi.name, pinned[vi.name], dtype=dtype_name(elem)))
            graph.inputs.append(vi.name)
    ctx.inline = lambda body, prefix: subgraph_nodes(body, prefix, opsets(model), where)
    for node in decoded_nodes(model, where):
        import_node(ctx, node)
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
        raise WorkloadError("is a folder, not an ONNX file" if Path(where).is_dir() else
                            "no such ONNX file", where=where)
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


def import_node(ctx: Context, node: Node) -> None:
    """One node through its catalogue entry; an error from a shape rule names the node."""
    try:
        ops.get(node.op_type).import_node(ctx, node)
    except WorkloadError as err:
        if err.where:
            raise
        raise WorkloadError(err.what, where=node.where) from None


def graph_nodes(graph: Any) -> list[Any]:
    """Every node of ``graph`` and of its subgraphs (If branches, Loop and Scan bodies)."""
    from onnx import AttributeProto

    out = []
    for node in graph.node:
        out.append(node)
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                out += graph_nodes(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    out += graph_nodes(sub)
    return out


def check_supported(model: Any, where: str) -> None:
    """One error for every operator the catalogue cannot import (subgraphs included), grouped
    by type with counts and the first node of each (``Resize x6, If x1``)."""
    versions = opsets(model)
    bad: dict[str, list[str]] = {}
    for index, node in enumerate(graph_nodes(model.graph)):
        if not importable(node.op_type, node.domain, versions.get(node.domain, versions[""])):
            op = f"{node.domain}.{node.op_type}" if node.domain not in DEFAULT_DOMAINS \
                else node.op_type
            opset = versions.get(node.domain, "?")
            bad.setdefault(f"{op} (opset {opset})", []).append(
                node.name or f"{node.op_type}_{index}")
    if bad:
        listed = ", ".join(f"{op.split(' ')[0]} x{len(names)} (e.g. node {names[0]!r}, "
                           f"{op.split(' ', 1)[1][1:-1]})"
                           for op, names in sorted(bad.items(), key=lambda kv: -len(kv[1])))
        total = sum(map(len, bad.values()))
        raise WorkloadError(f"unsupported ONNX operator{'s' * (total > 1)}: {listed}; "
                            "`archsim ops` lists the supported ones (docs/onnx.md)", where)


def typed_values(graph: Any, given: dict[str, Any], where: str) -> dict[str, np.ndarray]:
    """``--input-value`` pins as arrays of the inputs' declared element types."""
    inits = {i.name for i in graph.initializer}
    runtime = {vi.name: vi for vi in graph.input if vi.name not in inits}
    unknown = sorted(set(given) - set(runtime))
    if unknown:
        raise WorkloadError(f"--input-value names unknown input(s) {', '.join(unknown)}; the "
                            f"model's inputs are: {', '.join(runtime)}", where)
    out = {}
    for name, value in given.items():
        elem = runtime[name].type.tensor_type.elem_type
        dtype = np.dtype(dtype_name(elem)) if elem else np.asarray(value).dtype
        value = np.asarray(value)
        if dtype.kind in "biu" and value.dtype.kind == "f" and \
                not np.array_equal(value, np.round(value)):
            raise WorkloadError(f"input {name!r} is {dtype.name}; --input-value gives "
                                f"non-integer {value.tolist()}", where)
        dims = declared_dims(runtime[name], where)
        typed = value.astype(dtype)
        if dims != [None] and len(dims) != typed.ndim and typed.size == 1:
            typed = typed.reshape([1] * len(dims))   # a scalar for a [1] input
        out[name] = typed
    return out


def pin_inputs(model: Any, given: dict[str, tuple[int, ...]], where: str) -> dict[str, Shape]:
    """A static shape for every runtime input: declared dims, ``given`` pins, and symbolic dims
    named in a pinned input reused where the same symbol appears elsewhere. A dim stored as -1,
    ``?`` or an empty name is dynamic; unpinned dynamic dims get one error with a suggestion."""
    graph = model.graph
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
            dynamic.append((vi, shape))
        shapes[vi.name] = shape
    if dynamic:
        raise WorkloadError("; ".join(suggest(model, vi, shape, symbols)
                                      for vi, shape in dynamic), where)
    return shapes


def _metadata_sizes(model: Any) -> list[int]:
    """Image sizes a model's metadata states (``imgsz: [640, 640]``, ``input_size: 320``...)."""
    sizes: list[int] = []
    for prop in model.metadata_props:
        key = prop.key.lower()
        if any(word in key for word in ("imgsz", "img_size", "image_size", "input_size",
                                        "input_shape", "resolution")):
            sizes = [int(v) for v in re.findall(r"\d+", prop.value) if 8 <= int(v) <= 8192]
            if sizes:
                break
    return sizes


def suggest(model: Any, vi: Any, shape: tuple, symbols: dict[str, int]) -> str:
    """What to pin a dynamic input to, and where each suggested size comes from."""
    if shape == (None,):
        return (f"input {vi.name!r} has a dynamic shape (unknown rank); pass "
                f"--input-shape {vi.name}=D1xD2x...")
    meta = _metadata_sizes(model)
    image = len(shape) == 4 and vi.type.tensor_type.elem_type in (1, 10, 11, 16)
    picks, reasons = [], []
    for i, d in enumerate(shape):
        if isinstance(d, int):
            picks.append(d)
            continue
        name = d if isinstance(d, str) else ""
        if name in symbols:
            size, why = symbols[name], f"{name} as pinned on another input"
        elif i == 0 or re.fullmatch(r"(?i)(n|b|bs|batch\w*|\w*_batch)", name):
            size, why = DEFAULT_BATCH, "batch 1"
        elif image and i == 1:
            size, why = DEFAULT_CHANNELS, "3 channels"
        elif image and i in (2, 3) and meta:
            size = meta[min(i - 2, len(meta) - 1)]
            why = "the image size in the model's metadata"
        elif image and i in (2, 3):
            size, why = DEFAULT_IMAGE, f"{DEFAULT_IMAGE}, archsim's default image size"
        else:
            size, why = DEFAULT_LENGTH, f"{DEFAULT_LENGTH}, archsim's default length"
        picks.append(size)
        label = f"dim {i}{f' ({name})' if name else ''}"
        reasons.append(f"{label}: {why}")
    free = ", ".join(f"dim {i} ({d if isinstance(d, str) else '?'})"
                     for i, d in enumerate(shape) if not isinstance(d, int))
    return (f"input {vi.name!r} has dynamic {free}; pass --input-shape "
            f"{vi.name}={'x'.join(map(str, picks))} (suggested: {'; '.join(reasons)})")


def declared_dims(vi: Any, where: str) -> list[int | str | None]:
    """Dims as declared: int, symbol name, or None (unknown: no value, a negative value such as
    old exporters' -1, or a ``?``/empty name); rank unknown -> one None."""
    if vi.type.WhichOneof("value") != "tensor_type":
        raise WorkloadError(f"input {vi.name!r} is not a tensor; only tensor inputs are supported",
                            where)
    tensor_type = vi.type.tensor_type
    if not tensor_type.HasField("shape"):
        return [None]
    dims: list[int | str | None] = []
    for d in tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:
            dims.append(d.dim_value)
        elif d.HasField("dim_param") and d.dim_param.strip() not in ("", "?"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def check_pin(name: str, dims: list[int | str | None], pin: Shape, where: str) -> None:
    if dims != [None] and len(dims) != len(pin):
        raise WorkloadError(f"input {name!r} has rank {len(dims)}, --input-shape gives "
                            f"{'x'.join(map(str, pin)) or 'a scalar'}", where)
    for i, (d, p) in enumerate(zip(dims, pin, strict=False)):
        if isinstance(d, int) and d != p:
            raise WorkloadError(f"input {name!r} dim {i} is fixed to {d} in the model, "
                                f"--input-shape gives {p}", where)


def infer_types(model: Any, pinned: dict[str, Shape], where: str,
                values: dict[str, np.ndarray] | None = None
                ) -> dict[str, tuple[Shape | None, str | None]]:
    """ONNX shape inference (with data propagation) on a copy holding only small initializers
    and the pinned input values (as initializers, so shapes computed from them resolve)."""
    from onnx import helper, numpy_helper, shape_inference

    g = model.graph
    values = values or {}
    small = [i for i in g.initializer if math.prod(i.dims) <= SMALL_INITIALIZER]
    small += [numpy_helper.from_array(v, name) for name, v in values.items()]
    declared = {vi.name for vi in g.input}
    inputs = [helper.make_tensor_value_info(vi.name, vi.type.tensor_type.elem_type,
                                            pinned[vi.name])
              if vi.name in pinned else vi for vi in g.input if vi.name not in values]
    inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims))
               for i in g.initializer if i.name not in declared and math.prod(i.dims) >
               SMALL_INITIALIZER]
    outputs = [helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None)
               for o in g.output]
    stripped = helper.make_model(helper.make_graph(g.node, g.name, inputs, outputs, small),
                                 opset_imports=model.opset_import)
    stripped.ir_version = max(model.ir_version or stripped.ir_version, 4)
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


def subgraph_nodes(body: Any, prefix: str, versions: dict[str, int],
                   where: str) -> tuple[list[Node], list[tuple[str, np.ndarray]]]:
    """A subgraph's (If branch, Loop/Scan body) decoded nodes, named ``prefix`` + their name,
    and its initializers; the caller renames its tensors (:func:`workloads.ops.control`)."""
    from onnx import numpy_helper

    nodes = []
    for index, proto in enumerate(body.node):
        opset = versions.get(proto.domain, versions[""])
        nodes.append(Node(f"{prefix}{proto.name or f'{proto.op_type}_{index}'}", proto.op_type,
                          list(proto.input), list(proto.output), node_attrs(proto, opset),
                          opset))
    inits = [(i.name, numpy_helper.to_array(i)) for i in body.initializer]
    return nodes, inits


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


def prune(graph: Graph) -> None:
    """Drop tensors nothing refers to (e.g. the shape operands of folded ConstantOfShape)."""
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.ops:
        used.update(op.inputs)
        used.update(op.outputs)
    graph.tensors = {k: t for k, t in graph.tensors.items() if k in used}
