"""Control flow: If, Loop and Scan, decomposed at import so every target lowers them unchanged.

- ``If``: the branch its condition selects is imported in place of the node, when the condition
  is known at import (computed from initializers, or from inputs pinned with ``--input-value``);
  otherwise one error names the If and the inputs its condition depends on.
- ``Loop``: unrolled, when the trip count and the condition are known at import (each
  iteration's condition is folded from constants as the body is imported); scan outputs are
  stacked along a new first axis.
- ``Scan`` (opset 9+; opset 8's batched form too): unrolled over the scan axis of its scan
  inputs, each iteration importing the body on one slice (``scan_input_axes``,
  ``scan_input_directions``); scan outputs are stacked along ``scan_output_axes`` in
  ``scan_output_directions`` order.

The bodies' tensors are renamed ``NODE/then/...``, ``NODE/3/...`` (iteration 3). The whole-op
numpy semantics run a body node by node with the catalogue's semantics (constant folding of a
closed subgraph, and a reference for tests).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workloads.errors import WorkloadError
from workloads.ops.catalogue import Call, OpSpec, find, register
from workloads.ops.decompose import Builder, dependencies, inline_body
from workloads.ops.importing import Context, ImportRule, Node, node_attrs

#: Most iterations an unrolled Loop or Scan may have (each iteration copies its body).
MAX_UNROLL = 4096


def _known(ctx: Context, node: Node, name: str, what: str) -> np.ndarray:
    """The value of a control operand, or one error naming the node and what it depends on."""
    value = ctx.const(name)
    if value is None:
        deps = dependencies(ctx, name)
        pins = " ".join(f"--input-value {d}=VALUE" for d in deps) or "(no graph input: it is " \
            "computed from runtime data)"
        raise WorkloadError(f"{what} {name!r} is not known at import: it depends on input"
                            f"{'s' * (len(deps) != 1)} {', '.join(deps) or '(none)'}; "
                            f"archsim imports only the path taken, so pin them: {pins}",
                            where=node.where)
    return np.asarray(value)


# ---- If -----------------------------------------------------------------------------------------

def _import_if(ctx: Context, node: Node, spec: Any) -> None:
    cond = _known(ctx, node, node.inputs[0], "the condition")
    taken = bool(cond.reshape(-1)[0])
    branch = node.attrs["then_branch" if taken else "else_branch"]
    outs = inline_body(ctx, node, branch, {}, f"{node.name}/{'then' if taken else 'else'}/")
    b = Builder(ctx, node)
    for name, source in zip(node.outputs, outs, strict=False):
        if name:
            b.bind(name, source)


# ---- Loop ---------------------------------------------------------------------------------------

def _import_loop(ctx: Context, node: Node, spec: Any) -> None:
    body = node.attrs["body"]
    b = Builder(ctx, node)
    trip = node.input(0)
    cond_name = node.input(1)
    count = int(_known(ctx, node, trip, "the trip count").reshape(-1)[0]) if trip else None
    cond = bool(_known(ctx, node, cond_name, "the loop condition").reshape(-1)[0]) \
        if cond_name else True
    if count is None and not cond_name:
        raise WorkloadError("a Loop without trip count or condition never ends", where=node.where)
    carried = [n for n in node.inputs[2:]]
    n_carried = len(carried)
    names = [vi.name for vi in body.input]
    scans: list[list[str]] = [[] for _ in range(len(body.output) - 1 - n_carried)]
    cond_now = cond_name or b.const(np.array(True), "cond")
    i = 0
    while (count is None or i < count) and cond:
        if i >= MAX_UNROLL:
            raise WorkloadError(f"more than {MAX_UNROLL} iterations to unroll", where=node.where)
        bindings = {names[0]: b.const(np.array(i, np.int64), "iter"), names[1]: cond_now}
        bindings.update(zip(names[2:], carried, strict=False))
        outs = inline_body(ctx, node, body, bindings, f"{node.name}/{i}/")
        cond_now, carried = outs[0], outs[1:1 + n_carried]
        for parts, name in zip(scans, outs[1 + n_carried:], strict=True):
            parts.append(name)
        if cond_name or ctx.const(cond_now) is not None:
            cond = bool(_known(ctx, node, cond_now, "the loop condition").reshape(-1)[0])
        i += 1
    for name, source in zip(node.outputs[:n_carried], carried, strict=False):
        if name:
            b.bind(name, source)
    for name, parts in zip(node.outputs[n_carried:], scans, strict=False):
        if not name:
            continue
        if not parts:
            raise WorkloadError("a Loop that runs no iteration has empty scan outputs, which "
                                "archsim cannot represent", where=node.where)
        b.bind(name, _stack(b, parts, 0))


def _stack(b: Builder, parts: list[str], axis: int) -> str:
    """Stack same-shaped tensors along a new ``axis`` (Unsqueeze each, Concat)."""
    rank = len(b.shape(parts[0]))
    axis = axis % (rank + 1)
    axes = b.const(np.array([axis], np.int64), "axes")
    grown = [b.one("Unsqueeze", [p, axes]) for p in parts]
    return grown[0] if len(grown) == 1 else b.one("Concat", grown, axis=axis)


# ---- Scan ---------------------------------------------------------------------------------------

def _scan_attrs(attrs: dict, n_scan_in: int, n_scan_out: int) -> tuple[list[int], ...]:
    in_axes = list(attrs.get("scan_input_axes") or [0] * n_scan_in)
    in_dirs = list(attrs.get("scan_input_directions") or [0] * n_scan_in)
    out_axes = list(attrs.get("scan_output_axes") or [0] * n_scan_out)
    out_dirs = list(attrs.get("scan_output_directions") or [0] * n_scan_out)
    return in_axes, in_dirs, out_axes, out_dirs


def _import_scan(ctx: Context, node: Node, spec: Any) -> None:
    body = node.attrs["body"]
    b = Builder(ctx, node)
    legacy = node.opset < 9
    inputs = list(node.inputs[1:] if legacy else node.inputs)
    if legacy and node.input(0):
        lens = _known(ctx, node, node.input(0), "sequence_lens")
        xs = [i for i in inputs[-int(node.attrs["num_scan_inputs"]):]]
        if not np.all(lens == ctx.shape(xs[0])[1]):
            raise WorkloadError("Scan-8 with sequence_lens shorter than the sequence is not "
                                "supported", where=node.where)
    n_scan_in = int(node.attrs["num_scan_inputs"])
    n_state = len(inputs) - n_scan_in
    n_scan_out = len(body.output) - n_state
    in_axes, in_dirs, out_axes, out_dirs = _scan_attrs(node.attrs, n_scan_in, n_scan_out)
    names = [vi.name for vi in body.input]
    batches = ctx.shape(inputs[n_state])[0] if legacy else 1
    finals: list[list[str]] = [[] for _ in range(n_state)]
    stacked: list[list[str]] = [[] for _ in range(n_scan_out)]
    for batch in range(batches):
        states, seqs = inputs[:n_state], inputs[n_state:]
        if legacy:   # opset 8: axis 0 is the batch, the sequence runs along axis 1
            index = b.const(np.array(batch, np.int64), "batch")
            states = [b.one("Gather", [s, index], axis=0) for s in states]
            seqs = [b.one("Gather", [s, index], axis=0) for s in seqs]
        axes = [a % len(ctx.shape(s)) for a, s in zip(in_axes, seqs, strict=True)]
        length = ctx.shape(seqs[0])[axes[0]]
        if length > MAX_UNROLL:
            raise WorkloadError(f"more than {MAX_UNROLL} iterations to unroll", where=node.where)
        parts: list[list[str]] = [[] for _ in range(n_scan_out)]
        for t in range(length):
            bindings = dict(zip(names[:n_state], states, strict=True))
            for j, (seq, axis, direction) in enumerate(zip(seqs, axes, in_dirs, strict=True)):
                index = b.const(np.array(length - 1 - t if direction else t, np.int64), "t")
                bindings[names[n_state + j]] = b.one("Gather", [seq, index], axis=axis)
            outs = inline_body(ctx, node, body, bindings, f"{node.name}/{batch}.{t}/"
                               if legacy else f"{node.name}/{t}/")
            states = outs[:n_state]
            for k, name in enumerate(outs[n_state:]):
                parts[k].append(name)
        for k, state in enumerate(states):
            finals[k].append(state)
        for k, (axis, direction) in enumerate(zip(out_axes, out_dirs, strict=True)):
            ordered = parts[k][::-1] if direction else parts[k]
            stacked[k].append(_stack(b, ordered, axis))
    for name, values in zip(node.outputs[:n_state], finals, strict=False):
        if name:
            b.bind(name, _stack(b, values, 0) if legacy else values[0])
    for name, values in zip(node.outputs[n_state:], stacked, strict=False):
        if name:
            b.bind(name, _stack(b, values, 0) if legacy else values[0])


# ---- numpy semantics: run a body node by node -------------------------------------------------

def run_body(body: Any, env: dict[str, np.ndarray], opset: int) -> list[np.ndarray]:
    """Evaluate a subgraph with the catalogue's semantics; ``env`` holds its inputs and the
    enclosing scopes' tensors it may capture."""
    from onnx import numpy_helper

    scope = dict(env)
    scope.update({i.name: numpy_helper.to_array(i) for i in body.initializer})
    for proto in body.node:
        spec = find(proto.op_type, proto.domain)
        if spec is None or spec.semantics is None:
            raise WorkloadError(f"no numpy semantics for {proto.op_type} inside a subgraph")
        attrs = node_attrs(proto, opset)
        if spec.op in ("If", "Loop", "Scan"):
            attrs["_scope"] = scope
        missing = [n for n in proto.input if n and n not in scope]
        if missing:
            raise WorkloadError(f"the subgraph reads {missing[0]!r}, which nothing provides")
        values = spec.evaluate([scope[n] if n else None for n in proto.input], attrs, None,
                               opset, len(proto.output))
        scope.update({n: v for n, v in zip(proto.output, values, strict=False) if n})
    return [scope[o.name] for o in body.output]


def _opset(c: Call) -> int:
    return c.opset or 21


def _if(c: Call) -> list[np.ndarray]:
    taken = bool(np.asarray(c.inputs[0]).reshape(-1)[0])
    branch = c.attrs["then_branch" if taken else "else_branch"]
    return run_body(branch, c.attrs.get("_scope", {}), _opset(c))


def _loop(c: Call) -> list[np.ndarray]:
    body = c.attrs["body"]
    scope = c.attrs.get("_scope", {})
    trip, cond = c.input(0), c.input(1)
    count = None if trip is None else int(np.asarray(trip).reshape(-1)[0])
    go = True if cond is None else bool(np.asarray(cond).reshape(-1)[0])
    carried = [np.asarray(v) for v in c.inputs[2:]]
    names = [vi.name for vi in body.input]
    scans: list[list[np.ndarray]] = []
    i = 0
    while (count is None or i < count) and go:
        env = {**scope, names[0]: np.array(i, np.int64), names[1]: np.array(go)}
        env.update(zip(names[2:], carried, strict=False))
        outs = run_body(body, env, _opset(c))
        go = bool(np.asarray(outs[0]).reshape(-1)[0])
        carried = outs[1:1 + len(carried)]
        rest = outs[1 + len(carried):]
        scans = scans or [[] for _ in rest]
        for parts, v in zip(scans, rest, strict=True):
            parts.append(v)
        i += 1
    return [*carried, *(np.stack(p) for p in scans)]


def _scan(c: Call) -> list[np.ndarray]:
    if c.opset is not None and c.opset < 9:
        raise WorkloadError("numpy semantics of Scan-8 are not provided (imported as unrolled "
                            "ops instead)")
    body = c.attrs["body"]
    scope = c.attrs.get("_scope", {})
    n_scan_in = int(c.attrs["num_scan_inputs"])
    inputs = [np.asarray(v) for v in c.inputs]
    n_state = len(inputs) - n_scan_in
    n_scan_out = len(body.output) - n_state
    in_axes, in_dirs, out_axes, out_dirs = _scan_attrs(c.attrs, n_scan_in, n_scan_out)
    seqs = [np.moveaxis(x, a, 0) for x, a in zip(inputs[n_state:], in_axes, strict=True)]
    seqs = [s[::-1] if d else s for s, d in zip(seqs, in_dirs, strict=True)]
    states = inputs[:n_state]
    names = [vi.name for vi in body.input]
    parts: list[list[np.ndarray]] = [[] for _ in range(n_scan_out)]
    for t in range(seqs[0].shape[0]):
        env = {**scope, **dict(zip(names, [*states, *(s[t] for s in seqs)], strict=True))}
        outs = run_body(body, env, _opset(c))
        states = outs[:n_state]
        for k, v in enumerate(outs[n_state:]):
            parts[k].append(v)
    stacked = [np.stack(p[::-1] if d else p, axis=a)
               for p, a, d in zip(parts, out_axes, out_dirs, strict=True)]
    return [*states, *stacked]


register(OpSpec("If", "", 1, None, "control", "the branch its (known) condition selects",
                importer=ImportRule(custom=_import_if), semantics=_if))
register(OpSpec("Loop", "", 1, None, "control",
                "unrolled: known trip count and condition, scan outputs stacked",
                importer=ImportRule(custom=_import_loop), semantics=_loop))
register(OpSpec("Scan", "", 8, None, "control",
                "unrolled over the scan axis (directions, output axes)",
                importer=ImportRule(custom=_import_scan), semantics=_scan))
