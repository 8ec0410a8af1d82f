"""Decompositions at import: :class:`Builder` emits catalogue nodes on behalf of one ONNX node
(an If's branch, an unrolled Loop or Scan, an LSTM's time steps, an integer GEMM's zero-point
arithmetic, a 1-D convolution as a 2-D one), so every target lowers the result with no change
of its own; :func:`inline_body` imports a subgraph in place; :func:`dependencies` says which
graph inputs a tensor depends on (for errors that tell what to pin)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from workloads.errors import WorkloadError
from workloads.ops.catalogue import get
from workloads.ops.importing import Context, Node, Shape

#: Opset of the nodes a decomposition emits: operands in their input forms (Reshape's shape,
#: Unsqueeze's axes, Split's split, Slice's starts/ends are inputs).
BUILD_OPSET = 17


class Builder:
    """Emits catalogue nodes into the graph on behalf of one node that an import rule
    decomposes (an If's branch, an unrolled Loop, an LSTM's time steps...). Every node goes
    through its operator's entry, so constants fold and shapes follow the shape rules; names
    are the decomposed node's name + ``/`` + a counter, so errors point at it."""

    def __init__(self, ctx: Context, node: Node) -> None:
        self.ctx = ctx
        self.node = node
        self.count = 0

    def fresh(self, hint: str) -> str:
        while True:
            self.count += 1
            name = f"{self.node.name}/{hint}{self.count}"
            if name not in self.ctx.graph.tensors:
                return name

    def const(self, value: Any, hint: str = "c", dtype: Any = None) -> str:
        name = self.fresh(hint)
        self.ctx.add_const(name, np.asarray(value, dtype=dtype))
        return name

    def op(self, op_type: str, inputs: Sequence[str], attrs: dict[str, Any] | None = None,
           n_out: int = 1, outputs: Sequence[str] | None = None) -> list[str]:
        """Import one node; returns its output names."""
        outs = list(outputs) if outputs is not None else \
            [self.fresh(op_type.lower()) for _ in range(n_out)]
        node = Node(self.fresh(op_type), op_type, list(inputs), outs, dict(attrs or {}),
                    BUILD_OPSET)
        get(op_type).import_node(self.ctx, node)
        return outs

    def one(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        return self.op(op_type, inputs, attrs)[0]

    def bind(self, name: str, source: str) -> None:
        """Make the decomposed node's output ``name`` the value of ``source`` (a free view)."""
        self.op("Identity", [source], outputs=[name])

    def shape(self, name: str) -> Shape:
        return self.ctx.shape(name)


def dependencies(ctx: Context, name: str) -> list[str]:
    """The graph inputs (without pinned values) a tensor's value depends on."""
    producers = ctx.graph.producers()
    seen, stack, found = set(), [name], []
    while stack:
        t = stack.pop()
        if t in seen or not t:
            continue
        seen.add(t)
        if t in ctx.graph.inputs and ctx.const(t) is None:
            found.append(t)
        op = producers.get(t)
        if op is not None:
            stack.extend(op.inputs)
    return sorted(found)


def inline_body(ctx: Context, node: Node, body: Any, bindings: dict[str, str],
                prefix: str) -> list[str]:
    """Import a subgraph (If branch, Loop/Scan body) in place: its inputs bound to
    ``bindings`` (body input name -> tensor), its tensors renamed with ``prefix``, names it
    captures from enclosing scopes resolved through them. Returns its outputs' new names."""
    if ctx.inline is None:
        raise WorkloadError("subgraphs can only be imported from an ONNX model", where=node.where)
    nodes, inits = ctx.inline(body, prefix)
    outer = ctx.renames
    mapping = {**outer, **bindings}
    for name, value in inits:
        mapping[name] = f"{prefix}{name}"
        ctx.add_const(mapping[name], value)
    ctx.renames = mapping
    try:
        for sub in nodes:
            sub.inputs = [mapping.get(i, i) if i else "" for i in sub.inputs]
            renamed = []
            for o in sub.outputs:
                if o:
                    mapping[o] = f"{prefix}{o}"
                renamed.append(mapping[o] if o else "")
            sub.outputs = renamed
            try:
                get(sub.op_type).import_node(ctx, sub)
            except WorkloadError as err:
                if err.where:
                    raise
                raise WorkloadError(err.what, where=sub.where) from None
    finally:
        ctx.renames = outer
    return [mapping.get(o.name, o.name) for o in body.output]
