"""Importer-side machinery: a decoded ONNX :class:`Node`, the graph under construction
(:class:`Context`) and :class:`ImportRule`, the shape rule and import steps of an entry.

The default rule folds a node whose inputs are all constants with the entry's numpy semantics
(one implementation per operator), else records its constant parameter inputs as attributes and
appends it as a Graph op whose output shapes come from ONNX shape inference or, when inference
did not resolve them, from the entry's shape rule. Kept free of onnx imports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Graph, Op, Tensor

Shape = tuple[int, ...]
Arrays = list[np.ndarray]


@dataclass
class Node:
    """One ONNX node with decoded attributes (schema defaults filled in) and a unique name."""

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    opset: int

    @property
    def where(self) -> str:
        return f"{self.op_type} node {self.name!r}"

    def input(self, index: int) -> str:
        """Input name ``index``, '' when omitted."""
        return self.inputs[index] if index < len(self.inputs) else ""


class Context:
    """The graph under construction plus what shape inference knew about each tensor."""

    def __init__(self, graph: Graph, inferred: dict[str, tuple[Shape | None, str | None]]) -> None:
        self.graph = graph
        self.inferred = inferred
        #: The frontend's subgraph decoder, for control flow: ``inline(body, prefix)`` -> (its
        #: nodes named ``prefix`` + name, its initializers); the caller renames the tensors.
        self.inline: Callable[[Any, str], tuple[list[Node], list[tuple[str, np.ndarray]]]] | \
            None = None
        #: Enclosing subgraphs' renamed tensors (original name -> graph name) while a
        #: subgraph is inlined; names it captures from outer scopes resolve through it.
        self.renames: dict[str, str] = {}

    def shape(self, name: str) -> Shape:
        return self.graph.tensors[name].shape

    def dtype(self, name: str) -> str:
        return self.graph.tensors[name].dtype

    def const(self, name: str) -> np.ndarray | None:
        tensor = self.graph.tensors.get(name) if name else None
        return None if tensor is None else tensor.values

    def known_shape(self, name: str) -> bool:
        """Shape inference fully resolved this tensor's shape."""
        shape = self.inferred.get(name, (None, None))[0]
        return shape is not None and None not in shape

    def stand_in(self, name: str) -> np.ndarray:
        """The constant, or zeros of the tensor's shape (a zero-stride view: costs no memory)."""
        value = self.const(name)
        if value is not None:
            return value
        return np.broadcast_to(np.zeros((), self.dtype(name)), self.shape(name))

    def add_const(self, name: str, value: np.ndarray) -> None:
        value = np.asarray(value)
        self.graph.add_tensor(Tensor(name, tuple(int(d) for d in value.shape), values=value,
                                     dtype=value.dtype.name))

    def try_fold(self, node: Node, fn: Callable[[Arrays], Sequence[np.ndarray]]) -> bool:
        """Fold ``node`` into constants when every input is one; True when it did. ``fn`` gets
        the values aligned with ``node.inputs`` (None for an omitted optional input)."""
        values = [self.const(name) for name in node.inputs]
        if any(v is None for name, v in zip(node.inputs, values, strict=True) if name):
            return False
        for name, value in zip(node.outputs, guard(node, lambda: fn(values)), strict=False):
            if name:
                self.add_const(name, value)
        return True

    def emit(self, node: Node, shapes: Callable[[], Sequence[Shape]],
             attrs: dict[str, Any] | None = None, dtypes: Sequence[str | None] = (),
             exact: bool = False) -> Op:
        """Append ``node`` as an Op; each output takes the inferred shape when it is fully known,
        else ``shapes()`` (called at most once). ``exact``: ``shapes()`` is a cheap closed form
        checked against onnxruntime, so it wins (ONNX inference misses e.g. the ceil-mode rule
        that drops a pooling window starting in the padding)."""
        computed: list[Sequence[Shape]] = []
        for i, name in enumerate(node.outputs):
            if not name:
                continue
            shape, dtype = self.inferred.get(name, (None, None))
            if exact or not self.known_shape(name):
                if not computed:
                    computed.append(guard(node, shapes))
                shape = computed[0][i]
            dtype = dtype or (dtypes[i] if i < len(dtypes) else None)
            dtype = dtype or (self.dtype(node.inputs[0]) if node.inputs else "float32")
            self.graph.add_tensor(Tensor(name, tuple(int(d) for d in shape), dtype=dtype))
        inputs = list(node.inputs)
        while inputs and not inputs[-1]:
            inputs.pop()
        return self.graph.add_op(Op(node.name, node.op_type, inputs,
                                    [o for o in node.outputs if o],
                                    {**node.attrs, **(attrs or {})}))


def guard(node: Node, fn: Callable[[], Any]) -> Any:
    """Run a shape or fold computation; a model inconsistency becomes an error at the node."""
    try:
        return fn()
    except WorkloadError as err:
        raise WorkloadError(err.what, where=node.where) from None
    except (ValueError, IndexError, TypeError, ZeroDivisionError) as err:
        raise WorkloadError(f"inconsistent shapes or attributes ({err})",
                            where=node.where) from None


def missing_param(ctx: Context, node: Node, name: str) -> None:
    """Fail clearly when a shape depends on a runtime value and inference could not resolve it."""
    if not all(ctx.known_shape(o) for o in node.outputs if o):
        raise WorkloadError(f"output shape depends on the runtime value of {name!r}; only "
                            "shapes known before running are supported (make it a constant)",
                            where=node.where)


ShapeRule = Callable[[Context, Node], Sequence[Shape]]
DtypeRule = Callable[[Context, Node], Sequence[str | None]]
AttrRule = Callable[[Context, Node], dict[str, Any]]
Hook = Callable[[Context, Node], None]
EmitHook = Callable[[Context, Node, Op], None]


@dataclass(frozen=True)
class ImportRule:
    """How one ONNX node of an operator enters the Graph.

    ``fold``: fold on constant inputs with the entry's semantics (compute-heavy categories keep
    their ops); ``params``: input index -> attribute name of parameter inputs (recorded as
    attributes when constant); ``shape``: the shape rule (None: run the semantics on zero-stride
    stand-ins of the inputs); ``exact``: the shape rule wins over shape inference; ``dtypes``:
    output element types when inference does not know them; ``attrs``: importer-normalised
    attributes (explicit pads...); ``prepare``: checks before anything else; ``on_fold`` /
    ``on_emit``: bookkeeping after folding or emitting (weight bits, implied attributes);
    ``custom``: the whole import by hand (Constant, Shape, Size)."""

    fold: bool = True
    params: tuple[tuple[int, str], ...] = ()
    shape: ShapeRule | None = None
    exact: bool = False
    dtypes: DtypeRule | None = None
    attrs: AttrRule | None = None
    prepare: Hook | None = None
    on_fold: Hook | None = None
    on_emit: EmitHook | None = None
    custom: Callable[[Context, Node, Any], None] | None = None

    def __call__(self, ctx: Context, node: Node, spec: Any) -> None:
        if self.custom is not None:
            try:
                self.custom(ctx, node, spec)
            except (ValueError, IndexError, TypeError, ZeroDivisionError) as err:
                raise WorkloadError(f"inconsistent shapes or attributes ({err})",
                                    where=node.where) from None
            return
        if self.prepare is not None:
            guard(node, lambda: self.prepare(ctx, node))
        if self.fold and spec.semantics is not None and ctx.try_fold(
                node, lambda v: spec.evaluate(v, node.attrs, None, node.opset,
                                              len(node.outputs))):
            if self.on_fold is not None:
                self.on_fold(ctx, node)
            return
        attrs = dict(guard(node, lambda: self.attrs(ctx, node))) if self.attrs else {}
        recorded: dict[str, Any] = {}
        for index, key in self.params:
            name = node.input(index)
            if not name:
                continue
            value = ctx.const(name)
            if value is None:
                missing_param(ctx, node, name)
                continue
            recorded.setdefault(key, np.asarray(value).reshape(-1).tolist())
        attrs.update({k: v for k, v in recorded.items() if k not in node.attrs})
        dtypes = list(self.dtypes(ctx, node)) if self.dtypes else []

        def shapes() -> Sequence[Shape]:
            if self.shape is not None:
                return self.shape(ctx, node)
            values = [ctx.stand_in(name) if name else None for name in node.inputs]
            merged = {**node.attrs, **attrs}
            return [out.shape for out in spec.evaluate(values, merged, None, node.opset,
                                                       len(node.outputs))]

        op = ctx.emit(node, shapes, attrs, dtypes, self.exact)
        if self.on_emit is not None:
            self.on_emit(ctx, node, op)


DEFAULT_RULE = ImportRule()


# ---- shape rules shared by several families ------------------------------------------------

def broadcast_shape(ctx: Context, node: Node) -> list[Shape]:
    """Multidirectional (numpy) broadcast of every given input."""
    return [tuple(np.broadcast_shapes(*(ctx.shape(i) for i in node.inputs if i)))]


def first_input_shape(ctx: Context, node: Node) -> list[Shape]:
    """Every output has the first input's shape."""
    x = ctx.shape(node.inputs[0])
    return [x] * len(node.outputs)


# ---- decoding ONNX nodes (the frontend's and control flow's) --------------------------------

def node_attrs(proto: Any, opset: int) -> dict[str, Any]:
    """A NodeProto's attributes as plain Python values, with the operator schema's defaults
    filled in (subgraphs stay GraphProtos)."""
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
