"""``--pass density:a=0.3,b=0.4`` (or ``--density a=0.3,b=0.4``): the operand densities the
sparse tensor core sees.

Keys: ``a`` (every GEMM-like op's activation operand), ``b`` (every op's weight operand; a B
operand another op produces, such as attention's K^T, is an activation and is left alone) or a
tensor name; values are fractions of non-zeros in [0, 1], optionally ``:PATTERN`` (``uniform``,
the default, ``rows``, ``cols``, ``block``); ``seed=N`` seeds the draws. A tensor that has
values (ONNX weights) is magnitude-pruned to the density: its smallest-magnitude entries become
zero. A tensor without values gets ``Tensor.density``, and the lowering draws its bitmap.
The input graph is not changed: tensors and ops are copied.
"""

from __future__ import annotations

import numpy as np

from simulator.errors import ArchsimError
from simulator.passes import copy_graph, register
from workloads import ops
from workloads.graph import SPARSITY_PATTERNS as PATTERNS
from workloads.graph import Graph

FORM = "KEY=DENSITY[:PATTERN],... with KEY a, b or a tensor name, e.g. a=0.3,b=0.4"


class DensityError(ArchsimError):
    """A ``--density`` item that cannot be parsed or names nothing."""


def parse_density(spec: str) -> tuple[dict[str, tuple[float, str | None]], int]:
    """``"a=0.3,b=0.4:rows,seed=1"`` -> ({"a": (0.3, None), "b": (0.4, "rows")}, 1)."""
    out: dict[str, tuple[float, str | None]] = {}
    seed = 0
    for item in (x.strip() for x in spec.split(",") if x.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DensityError(f"expected {FORM}", where=f"--density {item}")
        if key == "seed":
            try:
                seed = int(value)
            except ValueError:
                raise DensityError("seed must be an integer", where=f"--density {item}") \
                    from None
            continue
        text, _, pattern = value.partition(":")
        try:
            density = float(text)
        except ValueError:
            density = -1.0
        if not 0.0 <= density <= 1.0:
            raise DensityError(f"density must be a number from 0 to 1; got {text!r}",
                               where=f"--density {item}")
        if pattern and pattern not in PATTERNS:
            raise DensityError(f"unknown pattern {pattern!r}; accepted: {', '.join(PATTERNS)}",
                               where=f"--density {item}")
        out[key] = (density, pattern or None)
    if not out:
        raise DensityError(f"no densities given; expected {FORM}", where=f"--density {spec}")
    return out, seed


def magnitude_prune(values: np.ndarray, density: float) -> np.ndarray:
    """A copy keeping the ``round(density * size)`` largest-magnitude entries (the rest 0)."""
    flat = np.asarray(values).reshape(-1)
    keep = int(round(density * flat.size))
    out = np.zeros_like(flat)
    if keep:
        idx = np.argpartition(-np.abs(flat), keep - 1)[:keep]
        out[idx] = flat[idx]
    return out.reshape(np.shape(values))


@register("density")
def density_pass(graph: Graph, option: str | None) -> Graph:
    """Set operand densities: density:a=FRACTION,b=FRACTION[:PATTERN],TENSOR=...,seed=N."""
    if not option:
        raise DensityError(f"no densities given; expected {FORM}", where="--pass density")
    return apply_density(graph, option)


def apply_density(graph: Graph, spec: str) -> Graph:
    """The graph with the densities of ``spec`` set (a new graph; see the module doc)."""
    items, seed = parse_density(spec)
    new = copy_graph(graph)
    gemm_ops = [op for op in new.ops if ops.is_matmul(op.type)]
    targets: dict[str, list[tuple[str, str]]] = {}   # key -> [(tensor, role)]
    produced = {out for op in new.ops for out in op.outputs}
    for key in items:
        if key == "a":
            targets[key] = [(op.inputs[0], key) for op in gemm_ops]
        elif key == "b":   # weights only: a B that another op produces is an activation
            targets[key] = [(op.inputs[1], key) for op in gemm_ops
                            if op.inputs[1] not in produced and op.inputs[1] not in new.inputs]
        elif key in new.tensors:
            role = "b" if any(len(op.inputs) > 1 and op.inputs[1] == key for op in gemm_ops) \
                else "a"
            targets[key] = [(key, role)]
        else:
            raise DensityError(f"no tensor named {key!r} in {graph.name!r}; use a, b or a "
                               "tensor name", where=f"--density {key}=...")
    patterns: dict[str, dict[str, str]] = {}
    for key, (density, pattern) in items.items():
        for name, role in dict.fromkeys(targets[key]):
            t = new.tensors[name]
            if t.values is not None:
                t.values = magnitude_prune(t.values, density)
            else:
                t.density = density
            if pattern:
                patterns.setdefault(name, {})[role] = pattern
    touched = {name for pairs in targets.values() for name, _ in pairs}
    for op in gemm_ops:
        if not touched.intersection(op.inputs[:2]):
            continue
        pattern = {}
        for index in (0, 1):
            if len(op.inputs) > index and op.inputs[index] in patterns:
                pattern.update(patterns[op.inputs[index]])
        # marks the op as run on the sparse path (SpWMMA) even where its operands are dense
        op.attrs["sparsity"] = {"pattern": pattern, "seed": seed}
    return new
